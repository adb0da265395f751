package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/issuer/internal/adapters/files"
	"github.com/pertitle/pertitle/services/issuer/internal/adapters/sqlstore"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

type fixture struct {
	url   string
	srv   *httptest.Server
	keys  *files.KeySet
	cfg   Config
	users string
	h     http.Handler
}

// start runs an issuer with alice (admin) and bob on an httptest server.
func start(t *testing.T, passwordGrant bool, opts ...func(*Config)) *fixture {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		testKey, err = rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
	})
	keys, err := files.NewKeySet(testKey)
	require.NoError(t, err)
	usersFile := filepath.Join(t.TempDir(), "users.json")
	_, err = files.PutUser(usersFile, "alice", "alice-pw", []string{auth.AdminGroup}, bcrypt.MinCost)
	require.NoError(t, err)
	_, err = files.PutUser(usersFile, "bob", "bob-pw", nil, bcrypt.MinCost)
	require.NoError(t, err)
	users, err := files.LoadUsers(usersFile)
	require.NoError(t, err)
	f := &fixture{keys: keys, users: usersFile}
	var h http.Handler
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(f.srv.Close)
	f.url = f.srv.URL
	cfg := Config{URL: f.url, Audience: "pertitle", WebRedirectURIs: "http://app.test/", AccessTTL: 15 * time.Minute,
		RefreshTTL: time.Hour, PasswordGrant: passwordGrant, DB: filepath.Join(t.TempDir(), "issuer.db")}
	for _, o := range opts {
		o(&cfg)
	}
	store, err := sqlstore.Open(context.Background(), cfg.DB)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	h, err = Handler(context.Background(), cfg, keys, users, store, zap.NewNop())
	require.NoError(t, err)
	f.h, f.cfg = h, cfg
	return f
}

func (f *fixture) verifier(t *testing.T) *auth.Verifier {
	v, err := auth.NewVerifier(context.Background(), auth.Config{Issuer: f.url, Audience: "pertitle"})
	require.NoError(t, err)
	return v
}

func postForm(t *testing.T, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func (f *fixture) password(t *testing.T, client, user, pw string) (int, map[string]any) {
	return postForm(t, f.url+"/token", url.Values{"grant_type": {"password"}, "client_id": {client},
		"username": {user}, "password": {pw}})
}

func TestDiscoveryAndJWKS(t *testing.T) {
	t.Parallel()
	f := start(t, true)
	var doc map[string]any
	resp, err := http.Get(f.url + "/.well-known/openid-configuration")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	resp.Body.Close()
	assert.Equal(t, f.url, doc["issuer"])
	assert.Equal(t, f.url+"/jwks.json", doc["jwks_uri"])
	assert.Equal(t, f.url+"/authorize", doc["authorization_endpoint"])
	assert.Equal(t, []any{"S256"}, doc["code_challenge_methods_supported"])
	assert.Contains(t, doc["grant_types_supported"], "password")

	require.NoError(t, f.verifier(t).Ping(context.Background()), "a verifier finds the keys through discovery")
}

// browserLogin runs the authorization request and the login form as a browser
// would, and returns where the issuer redirected to.
func browserLogin(t *testing.T, f *fixture, client, redirect, challenge, user, pw string) (*http.Response, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect}, "state": {"st-1"},
		"nonce": {"n-1"}, "scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	resp, err := c.Get(f.url + "/authorize?" + q.Encode())
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", page)
	assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
	m := regexp.MustCompile(`name="login_id" value="([^"]+)"`).FindSubmatch(page)
	require.NotNil(t, m, "%s", page)
	resp, err = c.PostForm(f.url+"/authorize", url.Values{"login_id": {string(m[1])}, "username": {user}, "password": {pw}})
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestAuthorizationCodeWithPKCE(t *testing.T) {
	t.Parallel()
	f := start(t, true)
	v := f.verifier(t)
	tests := []struct {
		name, client, redirect string
		wrongVerifier          bool
		wantOK                 bool
	}{
		{"web app", "pertitle-web", "http://app.test/", false, true},
		{"cli on a loopback port", "pertitle-cli", "http://127.0.0.1:53127/callback", false, true},
		{"wrong verifier", "pertitle-web", "http://app.test/", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			verifier, challenge := pkce()
			resp, _ := browserLogin(t, f, tc.client, tc.redirect, challenge, "bob", "bob-pw")
			require.Equal(t, http.StatusSeeOther, resp.StatusCode)
			loc, err := url.Parse(resp.Header.Get("Location"))
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(loc.String(), tc.redirect))
			assert.Equal(t, "st-1", loc.Query().Get("state"))
			assert.Equal(t, f.url, loc.Query().Get("iss"))
			code := loc.Query().Get("code")
			require.NotEmpty(t, code)
			if tc.wrongVerifier {
				verifier, _ = pkce()
			}
			exchange := url.Values{"grant_type": {"authorization_code"}, "client_id": {tc.client}, "code": {code},
				"redirect_uri": {tc.redirect}, "code_verifier": {verifier}}
			status, tok := postForm(t, f.url+"/token", exchange)
			if !tc.wantOK {
				assert.Equal(t, http.StatusBadRequest, status)
				assert.Equal(t, "invalid_grant", tok["error"])
				return
			}
			require.Equal(t, http.StatusOK, status, tok)
			p, err := v.Verify(context.Background(), tok["access_token"].(string))
			require.NoError(t, err)
			assert.Equal(t, "bob", p.Username)
			assert.NotEmpty(t, p.Subject)
			assert.NotEmpty(t, tok["id_token"])
			assert.EqualValues(t, 900, tok["expires_in"])
			// The code is single-use.
			status, tok = postForm(t, f.url+"/token", exchange)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_grant", tok["error"])
		})
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	f := start(t, true)
	_, challenge := pkce()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		name  string
		query url.Values
		code  int
		loc   string
	}{
		{"unknown client", url.Values{"client_id": {"evil"}, "redirect_uri": {"http://app.test/"}}, 400, ""},
		{"unregistered redirect", url.Values{"client_id": {"pertitle-web"}, "redirect_uri": {"https://evil.example/"}}, 400, ""},
		{"cli to a non-loopback host", url.Values{"client_id": {"pertitle-cli"}, "redirect_uri": {"http://evil.example:8000/cb"}}, 400, ""},
		{"no PKCE", url.Values{"client_id": {"pertitle-web"}, "redirect_uri": {"http://app.test/"}, "response_type": {"code"}}, 303, "error=invalid_request"},
		{"plain PKCE", url.Values{"client_id": {"pertitle-web"}, "redirect_uri": {"http://app.test/"}, "response_type": {"code"},
			"code_challenge": {challenge}, "code_challenge_method": {"plain"}}, 303, "error=invalid_request"},
		{"implicit flow", url.Values{"client_id": {"pertitle-web"}, "redirect_uri": {"http://app.test/"}, "response_type": {"token"}}, 303, "error=unsupported_response_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := c.Get(f.url + "/authorize?" + tc.query.Encode())
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tc.code, resp.StatusCode)
			if tc.loc != "" {
				assert.Contains(t, resp.Header.Get("Location"), tc.loc)
				assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), "http://app.test/"))
			} else {
				assert.Empty(t, resp.Header.Get("Location"), "never redirect to an unregistered URI")
			}
		})
	}
}

func TestLoginForm(t *testing.T) {
	t.Parallel()
	f := start(t, true)
	_, challenge := pkce()
	t.Run("wrong password shows the form again", func(t *testing.T) {
		t.Parallel()
		resp, body := browserLogin(t, f, "pertitle-web", "http://app.test/", challenge, "bob", "nope")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Contains(t, body, "Wrong username or password")
		assert.Contains(t, body, `name="login_id"`)
		assert.Empty(t, resp.Header.Get("Location"))
	})
	t.Run("unknown user answers the same", func(t *testing.T) {
		t.Parallel()
		resp, body := browserLogin(t, f, "pertitle-web", "http://app.test/", challenge, "mallory", "bob-pw")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Contains(t, body, "Wrong username or password")
	})
	t.Run("a form posted from another browser is refused (login CSRF)", func(t *testing.T) {
		t.Parallel()
		jar, _ := cookiejar.New(nil)
		attacker := &http.Client{Jar: jar}
		q := url.Values{"response_type": {"code"}, "client_id": {"pertitle-web"}, "redirect_uri": {"http://app.test/"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		resp, err := attacker.Get(f.url + "/authorize?" + q.Encode())
		require.NoError(t, err)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := regexp.MustCompile(`name="login_id" value="([^"]+)"`).FindSubmatch(page)[1]
		// The victim's browser has no (or another) binding cookie.
		resp, err = http.PostForm(f.url+"/authorize", url.Values{"login_id": {string(id)}, "username": {"bob"}, "password": {"bob-pw"}})
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	f := start(t, true)
	status, first := f.password(t, "pertitle-cli", "alice", "alice-pw")
	require.Equal(t, http.StatusOK, status, first)
	refresh := func(tok string) (int, map[string]any) {
		return postForm(t, f.url+"/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"pertitle-cli"}, "refresh_token": {tok}})
	}
	status, second := refresh(first["refresh_token"].(string))
	require.Equal(t, http.StatusOK, status, second)
	assert.NotEqual(t, first["refresh_token"], second["refresh_token"], "a new refresh token each time")
	p, err := f.verifier(t).Verify(context.Background(), second["access_token"].(string))
	require.NoError(t, err)
	assert.True(t, p.Admin())

	status, body := postForm(t, f.url+"/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"pertitle-web"},
		"refresh_token": {second["refresh_token"].(string)}})
	assert.Equal(t, http.StatusBadRequest, status, "another client cannot use it")
	assert.Equal(t, "invalid_grant", body["error"])

	status, third := refresh(second["refresh_token"].(string))
	require.Equal(t, http.StatusOK, status, "the rotated token works once")
	assert.NotEqual(t, second["refresh_token"], third["refresh_token"])
}

// TestRefreshReplayRevokesFamily: a rotated-out refresh token presented again
// means it leaked, so the whole family dies, the newest token included; other
// sign-ins of the same user are unaffected.
func TestRefreshReplayRevokesFamily(t *testing.T) {
	t.Parallel()
	f := start(t, true)
	_, first := f.password(t, "pertitle-cli", "bob", "bob-pw")
	refresh := func(tok string) (int, map[string]any) {
		return postForm(t, f.url+"/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"pertitle-cli"}, "refresh_token": {tok}})
	}
	status, second := refresh(first["refresh_token"].(string))
	require.Equal(t, http.StatusOK, status)
	status, _ = refresh(first["refresh_token"].(string))
	require.Equal(t, http.StatusBadRequest, status, "replay refused")
	status, _ = refresh(second["refresh_token"].(string))
	assert.Equal(t, http.StatusBadRequest, status, "the newest token of the family is revoked too")
	_, other := f.password(t, "pertitle-cli", "bob", "bob-pw")
	status, _ = refresh(other["refresh_token"].(string))
	assert.Equal(t, http.StatusOK, status, "other sign-ins are unaffected")
}

func TestPasswordGrant(t *testing.T) {
	t.Parallel()
	on, off := start(t, true), start(t, false)
	tests := []struct {
		name         string
		f            *fixture
		client, user string
		pw           string
		status       int
		errCode      string
	}{
		{"own user", on, "pertitle-cli", "bob", "bob-pw", 200, ""},
		{"wrong password", on, "pertitle-cli", "bob", "alice-pw", 400, "invalid_grant"},
		{"unknown user", on, "pertitle-cli", "carol", "x", 400, "invalid_grant"},
		{"not for the web client", on, "pertitle-web", "bob", "bob-pw", 400, "unauthorized_client"},
		{"unknown client", on, "someone", "bob", "bob-pw", 401, "invalid_client"},
		{"disabled", off, "pertitle-cli", "bob", "bob-pw", 400, "unauthorized_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, body := tc.f.password(t, tc.client, tc.user, tc.pw)
			assert.Equal(t, tc.status, status, body)
			if tc.errCode != "" {
				assert.Equal(t, tc.errCode, body["error"])
				assert.Nil(t, body["access_token"])
			} else {
				assert.NotEmpty(t, body["access_token"])
			}
		})
	}
}

func TestKeyRotationKeepsOldTokensValid(t *testing.T) {
	t.Parallel()
	f := start(t, true)
	v := f.verifier(t)
	_, before := f.password(t, "pertitle-cli", "bob", "bob-pw")
	require.NoError(t, f.keys.Rotate())
	_, after := f.password(t, "pertitle-cli", "bob", "bob-pw")
	for _, tok := range []map[string]any{before, after} {
		_, err := v.Verify(context.Background(), tok["access_token"].(string))
		require.NoError(t, err)
	}
	assert.Len(t, f.keys.JWKS().Keys, 2)
}

func TestKeyFileAndUsersFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "sub", "key.pem")
	ks, err := files.LoadKeyFile(keyFile)
	require.NoError(t, err)
	st, err := os.Stat(keyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	first := ks.JWKS().Keys[0].Kid
	require.NoError(t, files.RotateKeyFile(keyFile, 1))
	require.NoError(t, files.RotateKeyFile(keyFile, 1))
	ks, err = files.LoadKeyFile(keyFile)
	require.NoError(t, err)
	keys := ks.JWKS().Keys
	require.Len(t, keys, 2, "newest plus one previous")
	assert.NotEqual(t, first, keys[0].Kid)

	var out bytes.Buffer
	cfg := Config{UsersFile: filepath.Join(dir, "users.json"), KeyFile: keyFile}
	require.NoError(t, addUser(cfg, []string{"demo", "--groups", "admin", "--cost", "4"}, strings.NewReader("demo\n"), &out))
	u1, err := files.LoadUsers(cfg.UsersFile)
	require.NoError(t, err)
	usr, ok := u1.Authenticate("demo", "demo")
	require.True(t, ok)
	assert.Equal(t, []string{"admin"}, usr.Groups)
	require.NoError(t, addUser(cfg, []string{"demo", "--cost", "4"}, strings.NewReader("new\n"), &out))
	u2, err := files.LoadUsers(cfg.UsersFile)
	require.NoError(t, err)
	again, ok := u2.Authenticate("demo", "new")
	require.True(t, ok)
	assert.Equal(t, usr.Sub, again.Sub, "changing the password keeps the stable id")
	st, err = os.Stat(cfg.UsersFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestConfig(t *testing.T) {
	t.Parallel()
	var cfg Config
	cfg.FromEnv(svc.NewEnvFrom(Name, map[string]string{}))
	require.NoError(t, cfg.Validate())
	assert.Equal(t, "http://127.0.0.1:8084", cfg.URL)
	assert.Equal(t, 15*time.Minute, cfg.AccessTTL)
	cfg.FromEnv(svc.NewEnvFrom(Name, map[string]string{"PERTITLE_ISSUER_URL": "nope", "PERTITLE_ISSUER_ACCESS_TTL": "1s"}))
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PERTITLE_ISSUER_URL")
	assert.Contains(t, err.Error(), "PERTITLE_ISSUER_ACCESS_TTL")
}
