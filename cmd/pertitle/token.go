package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Defaults of the CLI's sign-in settings.
const (
	defaultIssuer   = "http://127.0.0.1:8084"
	defaultClientID = "pertitle-cli"
)

// errNotSignedIn is returned when there is no usable token.
var errNotSignedIn = errors.New("not signed in: run `pertitle login` (or `pertitle login --username U --password-stdin`)")

// oidcSettings are where the CLI signs in.
type oidcSettings struct {
	Issuer   string
	ClientID string
}

func oidcFromEnv() oidcSettings {
	return oidcSettings{Issuer: strings.TrimSuffix(envOr("PERTITLE_OIDC_ISSUER", defaultIssuer), "/"),
		ClientID: envOr("PERTITLE_OIDC_CLIENT_ID", defaultClientID)}
}

// tokenCache is what `pertitle login` saves: token.json in the user's config dir.
type tokenCache struct {
	Issuer        string    `json:"issuer"`
	ClientID      string    `json:"client_id"`
	TokenEndpoint string    `json:"token_endpoint"`
	AccessToken   string    `json:"access_token"`
	RefreshToken  string    `json:"refresh_token,omitempty"`
	IDToken       string    `json:"id_token,omitempty"`
	Expiry        time.Time `json:"expiry"`
}

// tokenPath is os.UserConfigDir()/pertitle/token.json.
func tokenPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("cannot find a config directory for the token: %w", err)
	}
	return filepath.Join(dir, "pertitle", "token.json"), nil
}

func loadToken() (*tokenCache, error) {
	p, err := tokenPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNotSignedIn
	}
	if err != nil {
		return nil, err
	}
	var tc tokenCache
	if err := json.Unmarshal(b, &tc); err != nil || tc.AccessToken == "" {
		return nil, errNotSignedIn
	}
	return &tc, nil
}

// saveToken writes the cache readable by the user only (dir 0700, file 0600).
func saveToken(tc *tokenCache) error {
	p, err := tokenPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	_ = os.Chmod(filepath.Dir(p), 0o700)
	b, err := json.MarshalIndent(tc, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".token-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// tokenResponse is a token endpoint's answer (RFC 6749 5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	ExpiresIn    int    `json:"expires_in"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// postToken calls the token endpoint with form and returns the new cache entry.
func postToken(ctx context.Context, s oidcSettings, endpoint string, form url.Values) (*tokenCache, error) {
	form.Set("client_id", s.ClientID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the identity provider at %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, fmt.Errorf("unexpected answer from %s (%d)", endpoint, resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		msg := tr.Error
		if tr.Description != "" {
			msg += ": " + tr.Description
		}
		return nil, &tokenError{status: resp.StatusCode, msg: msg}
	}
	tc := &tokenCache{Issuer: s.Issuer, ClientID: s.ClientID, TokenEndpoint: endpoint, AccessToken: tr.AccessToken,
		RefreshToken: tr.RefreshToken, IDToken: tr.IDToken}
	if tr.ExpiresIn > 0 {
		tc.Expiry = time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return tc, nil
}

type tokenError struct {
	status int
	msg    string
}

func (e *tokenError) Error() string { return fmt.Sprintf("sign-in refused (%d): %s", e.status, e.msg) }

var httpClient = &http.Client{Timeout: 30 * time.Second}

// refreshMargin: a token expiring sooner than this is refreshed before use.
const refreshMargin = time.Minute

// tokenSource hands out a valid access token, refreshing and saving it when it
// is about to expire. PERTITLE_TOKEN, when set, is used as it is (CI, scripts).
type tokenSource struct {
	settings oidcSettings
	mu       sync.Mutex
	cached   *tokenCache
}

func newTokenSource() *tokenSource { return &tokenSource{settings: oidcFromEnv()} }

func (ts *tokenSource) Token(ctx context.Context) (string, error) {
	if t := os.Getenv("PERTITLE_TOKEN"); t != "" {
		return t, nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.cached == nil {
		tc, err := loadToken()
		if err != nil {
			return "", err
		}
		if tc.Issuer != ts.settings.Issuer {
			return "", fmt.Errorf("signed in with %s, not %s: %w", tc.Issuer, ts.settings.Issuer, errNotSignedIn)
		}
		ts.cached = tc
	}
	if ts.cached.Expiry.IsZero() || time.Until(ts.cached.Expiry) > refreshMargin {
		return ts.cached.AccessToken, nil
	}
	if ts.cached.RefreshToken == "" {
		return "", fmt.Errorf("the token has expired: %w", errNotSignedIn)
	}
	fresh, err := postToken(ctx, ts.settings, ts.cached.TokenEndpoint,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ts.cached.RefreshToken}})
	var te *tokenError
	if errors.As(err, &te) {
		return "", fmt.Errorf("the session has ended (%s): %w", te.msg, errNotSignedIn)
	}
	if err != nil {
		return "", err
	}
	if fresh.RefreshToken == "" {
		fresh.RefreshToken = ts.cached.RefreshToken // providers that do not rotate
	}
	if err := saveToken(fresh); err != nil {
		return "", fmt.Errorf("cannot save the refreshed token: %w", err)
	}
	ts.cached = fresh
	return fresh.AccessToken, nil
}

// cmdToken prints a valid access token, like `gh auth token`:
// curl -H "Authorization: Bearer $(pertitle token)" ...
func cmdToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	pos, err := parseArgs(newFlags("token", "pertitle token\n\nPrints a valid access token (refreshing the saved one when needed).", stderr), args, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return exitError{2, errors.New("usage: pertitle token")}
	}
	tok, err := newTokenSource().Token(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
