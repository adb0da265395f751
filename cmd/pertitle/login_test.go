package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cognitoLike is an authorization server that behaves as Cognito's hosted UI
// does where the CLI could go wrong: the redirect URI must be one of the app
// client's callback URLs exactly (no loopback port freedom), every requested
// scope must be one the client allows, PKCE S256 is checked, and discovery
// lists no offline_access. Signing in needs no user: it answers at once.
type cognitoLike struct {
	callbacks []string
	mu        sync.Mutex
	pending   map[string][2]string // code -> challenge, redirect_uri
}

func (c *cognitoLike) handler(base func() string) http.Handler {
	allowedScopes := []string{"openid", "profile", "email"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]any{"issuer": base(), "authorization_endpoint": base() + "/oauth2/authorize",
				"token_endpoint": base() + "/oauth2/token", "scopes_supported": []string{"openid", "email", "phone", "profile"}})
		case "/oauth2/authorize":
			q := r.URL.Query()
			redirect := q.Get("redirect_uri")
			if !slices.Contains(c.callbacks, redirect) || q.Get("client_id") != "pertitle-cli" {
				http.Error(w, "redirect_mismatch", http.StatusBadRequest)
				return
			}
			back, _ := url.Parse(redirect)
			v := url.Values{"state": {q.Get("state")}}
			for _, s := range strings.Fields(q.Get("scope")) {
				if !slices.Contains(allowedScopes, s) {
					v.Set("error", "invalid_scope")
				}
			}
			if v.Get("error") == "" && q.Get("code_challenge_method") == "S256" {
				c.mu.Lock()
				code := strconv.Itoa(len(c.pending) + 1)
				c.pending[code] = [2]string{q.Get("code_challenge"), redirect}
				c.mu.Unlock()
				v.Set("code", code)
			}
			back.RawQuery = v.Encode()
			http.Redirect(w, r, back.String(), http.StatusFound)
		case "/oauth2/token":
			_ = r.ParseForm()
			c.mu.Lock()
			p, ok := c.pending[r.PostForm.Get("code")]
			c.mu.Unlock()
			sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
			if !ok || p[0] != base64.RawURLEncoding.EncodeToString(sum[:]) || p[1] != r.PostForm.Get("redirect_uri") {
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-cognito", "refresh_token": "rt-cognito", "expires_in": 3600})
		default:
			http.NotFound(w, r)
		}
	})
}

// lockedBuffer is a bytes.Buffer written by the CLI and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// The browser sign-in comes back to the callback the provider lists, taken
// from PERTITLE_OIDC_CALLBACK (or --callback), asks only for scopes the
// provider has, and ends with the tokens saved.
func TestBrowserLoginComesBackToTheListedCallback(t *testing.T) {
	callback := "http://localhost:" + strconv.Itoa(freePort(t)) + "/callback"
	idp := &cognitoLike{callbacks: []string{callback}, pending: map[string][2]string{}}
	var srv *httptest.Server
	srv = httptest.NewServer(idp.handler(func() string { return srv.URL }))
	t.Cleanup(srv.Close)
	cfgDir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfgDir)
	t.Setenv("HOME", cfgDir)
	t.Setenv("PERTITLE_OIDC_ISSUER", srv.URL)
	t.Setenv("PERTITLE_OIDC_CALLBACK", callback)
	t.Setenv("PERTITLE_TOKEN", "")

	stderr := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- cmdLogin(context.Background(), []string{"--timeout", "30s"}, strings.NewReader(""), io.Discard, stderr)
	}()
	authURL := regexp.MustCompile(`(?m)^\s+(http\S+)$`)
	var open string
	require.Eventually(t, func() bool {
		m := authURL.FindStringSubmatch(stderr.String())
		if m != nil {
			open = m[1]
		}
		return m != nil
	}, 10*time.Second, 20*time.Millisecond, "the CLI prints the URL to open")
	u, err := url.Parse(open)
	require.NoError(t, err)
	assert.Equal(t, callback, u.Query().Get("redirect_uri"))

	// The browser: the provider sends it back to the callback, where the CLI answers.
	resp, err := http.Get(open)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(page), "Signed in to pertitle", "no invalid_scope: the CLI asked only for scopes the provider has")
	require.NoError(t, <-done)
	tc, err := loadToken()
	require.NoError(t, err)
	assert.Equal(t, "at-cognito", tc.AccessToken)
	assert.Equal(t, "rt-cognito", tc.RefreshToken)
}

// The default callback is the one Terraform's CLI app client lists
// (TestCognitoListsTheCLICallback), and a callback that is not a loopback
// http URL with a port is refused before anything is opened.
func TestCallbackURLs(t *testing.T) {
	assert.Equal(t, "http://localhost:8400/callback", defaultCallback)
	for _, bad := range []string{"https://localhost:8400/callback", "http://localhost/callback", "http://example.com:8400/callback",
		"http://10.0.0.1:8400/callback", "http://localhost:8400", "http://localhost:8400/callback?x=1", "::"} {
		_, _, err := listenCallback(bad)
		var ee exitError
		assert.True(t, errors.As(err, &ee) && ee.code == 2, "%s: refused as a usage error (%v)", bad, err)
	}
	lns, u, err := listenCallback("http://127.0.0.1:0/cb")
	require.NoError(t, err)
	for _, ln := range lns {
		ln.Close()
	}
	assert.Regexp(t, `^http://127\.0\.0\.1:[1-9]\d*/cb$`, u.String(), "port 0 takes a free port, which the redirect names")

	// A discovery document without offline_access (Cognito) is not asked for it.
	assert.Equal(t, "openid profile", (&discoveryDoc{ScopesSupported: []string{"openid", "profile", "email"}}).scope())
	assert.Equal(t, "openid profile offline_access", (&discoveryDoc{ScopesSupported: []string{"openid", "offline_access"}}).scope())
	assert.Equal(t, "openid profile offline_access", (&discoveryDoc{}).scope())
}
