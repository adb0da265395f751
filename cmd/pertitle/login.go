package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

type discoveryDoc struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	ScopesSupported       []string `json:"scopes_supported"`
}

// scope is what the CLI asks for: offline_access (a refresh token) only from
// a provider that has it or does not say. Cognito has not (it hands out
// refresh tokens all the same) and refuses a sign-in that asks for a scope
// its app client does not allow.
func (d *discoveryDoc) scope() string {
	if len(d.ScopesSupported) == 0 || slices.Contains(d.ScopesSupported, "offline_access") {
		return "openid profile offline_access"
	}
	return "openid profile"
}

// defaultCallback is where the browser comes back after sign-in. Providers
// that match redirect URIs exactly (Cognito) must list it: Terraform's CLI
// app client does (var.cli_callback_urls), and prints it as
// PERTITLE_OIDC_CALLBACK.
const defaultCallback = "http://localhost:8400/callback"

func discover(ctx context.Context, issuer string) (*discoveryDoc, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the identity provider %s (is the stack running? `make run`): %w", issuer, err)
	}
	defer resp.Body.Close()
	var d discoveryDoc
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&d) != nil || d.TokenEndpoint == "" {
		return nil, fmt.Errorf("%s has no usable OpenID configuration (%s)", issuer, resp.Status)
	}
	if strings.TrimSuffix(d.Issuer, "/") != issuer {
		return nil, fmt.Errorf("%s says it is issuer %q", issuer, d.Issuer)
	}
	return &d, nil
}

// cmdLogin signs in and saves the tokens: in a browser (authorization code with
// PKCE, redirected to a one-off loopback listener at the callback URL), or with
// a password read from stdin (the issuer's password grant, for scripts).
func cmdLogin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("login", "pertitle login [--username U --password-stdin] [--callback URL] [--timeout D]", stderr)
	username := fs.String("username", "", "sign in as this user with the password grant (needs --password-stdin)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the browser")
	callback := fs.String("callback", envOr("PERTITLE_OIDC_CALLBACK", defaultCallback),
		"where the browser comes back: http://localhost:PORT/PATH or a loopback address, exactly as the identity provider lists it (env PERTITLE_OIDC_CALLBACK)")
	pos, err := parseArgs(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 || (*username != "") != *pwStdin {
		return exitError{2, errors.New("usage: pertitle login [--username U --password-stdin]")}
	}
	s := oidcFromEnv()
	d, err := discover(ctx, s.Issuer)
	if err != nil {
		return err
	}
	var tc *tokenCache
	if *username != "" {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		password := strings.TrimRight(line, "\r\n")
		if password == "" {
			return errors.New("no password on stdin")
		}
		tc, err = postToken(ctx, s, d.TokenEndpoint, url.Values{"grant_type": {"password"},
			"username": {*username}, "password": {password}, "scope": {d.scope()}})
		if err != nil {
			return err
		}
	} else {
		bctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		tc, err = browserLogin(bctx, s, d, *callback, stderr)
		if err != nil {
			return err
		}
	}
	if err := saveToken(tc); err != nil {
		return fmt.Errorf("cannot save the token: %w", err)
	}
	p, _ := tokenPath()
	fmt.Fprintf(stderr, "signed in to %s; token saved in %s\n", s.Issuer, p)
	return nil
}

func randomURLSafe(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// browserLogin runs the authorization code flow with PKCE (RFC 7636) on a
// loopback redirect (RFC 8252): it prints the URL to open and waits for the
// browser to come back with a code.
func browserLogin(ctx context.Context, s oidcSettings, d *discoveryDoc, callback string, stderr io.Writer) (*tokenCache, error) {
	if d.AuthorizationEndpoint == "" {
		return nil, errors.New("the identity provider has no authorization endpoint; use --username U --password-stdin")
	}
	lns, cb, err := listenCallback(callback)
	if err != nil {
		return nil, err
	}
	redirect := cb.String()
	verifier, state := randomURLSafe(32), randomURLSafe(16)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {s.ClientID}, "redirect_uri": {redirect},
		"scope": {d.scope()}, "state": {state}, "nonce": {randomURLSafe(16)},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	authURL := d.AuthorizationEndpoint + "?" + q.Encode()
	fmt.Fprintf(stderr, "Open this URL in your browser to sign in:\n\n  %s\n\nWaiting for the browser...\n", authURL)

	type result struct {
		code string
		err  error
	}
	done := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != cb.Path {
			http.NotFound(w, r)
			return
		}
		rq := r.URL.Query()
		var res result
		switch {
		case subtle.ConstantTimeCompare([]byte(rq.Get("state")), []byte(state)) != 1:
			http.Error(w, "state mismatch: start again with pertitle login", http.StatusBadRequest)
			return // not ours (or forged): keep waiting for the real answer
		case rq.Get("error") != "":
			res.err = fmt.Errorf("sign-in refused: %s %s", rq.Get("error"), rq.Get("error_description"))
		case rq.Get("iss") != "" && strings.TrimSuffix(rq.Get("iss"), "/") != s.Issuer:
			res.err = fmt.Errorf("the answer came from issuer %q, not %q", rq.Get("iss"), s.Issuer)
		default:
			res.code = rq.Get("code")
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if res.err != nil {
			fmt.Fprintln(w, "Sign-in failed; see the terminal.")
		} else {
			fmt.Fprintln(w, "Signed in to pertitle. You can close this tab.")
		}
		select {
		case done <- res:
		default:
		}
	})}
	for _, ln := range lns {
		go func() { _ = srv.Serve(ln) }()
	}
	defer srv.Close()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer from the browser: %w", ctx.Err())
	}
	if res.err != nil {
		return nil, res.err
	}
	return postToken(ctx, s, d.TokenEndpoint, url.Values{"grant_type": {"authorization_code"}, "code": {res.code},
		"redirect_uri": {redirect}, "code_verifier": {verifier}})
}

// listenCallback listens where callback (http, a loopback host, a port) says.
// localhost is 127.0.0.1 and, when this machine has it, ::1, for the browser
// may try either. Port 0 takes a free port (for providers that accept any
// loopback port, RFC 8252 7.3); the URL returned has the port taken.
func listenCallback(callback string) ([]net.Listener, *url.URL, error) {
	u, err := url.Parse(callback)
	if err != nil || u.Scheme != "http" || u.Port() == "" || !strings.HasPrefix(u.Path, "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, nil, exitError{2, fmt.Errorf("callback %q must be http://localhost:PORT/PATH (or a loopback address for localhost)", callback)}
	}
	hosts := []string{u.Hostname()}
	if u.Hostname() == "localhost" {
		hosts = []string{"127.0.0.1", "::1"}
	} else if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return nil, nil, exitError{2, fmt.Errorf("callback %q is not on a loopback address: the browser must come back to this machine", callback)}
	}
	first, err := net.Listen("tcp", net.JoinHostPort(hosts[0], u.Port()))
	if err != nil {
		return nil, nil, fmt.Errorf("cannot listen for the sign-in callback %s (another pertitle login running? --callback or PERTITLE_OIDC_CALLBACK choose another, which the identity provider must list): %w", callback, err)
	}
	port := strconv.Itoa(first.Addr().(*net.TCPAddr).Port)
	lns := []net.Listener{first}
	for _, h := range hosts[1:] {
		if ln, err := net.Listen("tcp", net.JoinHostPort(h, port)); err == nil {
			lns = append(lns, ln) // best effort: a machine without IPv6 has 127.0.0.1 only
		}
	}
	out := *u
	out.Host = net.JoinHostPort(u.Hostname(), port)
	return lns, &out, nil
}

// cmdLogout forgets the saved tokens.
func cmdLogout(_ context.Context, args []string, stdout, stderr io.Writer) error {
	pos, err := parseArgs(newFlags("logout", "pertitle logout\n\nForgets the saved token.", stderr), args, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return exitError{2, errors.New("usage: pertitle logout")}
	}
	p, err := tokenPath()
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintln(stderr, "signed out")
	return nil
}
