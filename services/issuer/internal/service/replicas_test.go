package service

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/issuer/internal/adapters/files"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// process runs the issuer as its main would, until stop is called.
func process(t *testing.T, vars map[string]string) (base string, stop func()) {
	t.Helper()
	addr := freeAddr(t)
	vars["PERTITLE_ISSUER_ADDR"], vars["PERTITLE_ISSUER_OPS_ADDR"] = addr, freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, zap.NewNop(), nil, svc.NewEnvFrom(Name, vars), nil, io.Discard) }()
	base = "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "the issuer did not start")
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(t, <-done)
		}
	}
	t.Cleanup(stop)
	return base, stop
}

func issuerVars(t *testing.T, dir, db string) map[string]string {
	usersFile := filepath.Join(dir, "users.json")
	_, err := files.PutUser(usersFile, "bob", "bob-pw", nil, bcrypt.MinCost)
	require.NoError(t, err)
	return map[string]string{"PERTITLE_ISSUER_USERS": usersFile, "PERTITLE_ISSUER_KEY": filepath.Join(dir, "key.pem"),
		"PERTITLE_ISSUER_DB": db, "PERTITLE_ISSUER_URL": "http://issuer.test", "PERTITLE_ISSUER_WEB_REDIRECT_URIS": "http://app.test/"}
}

func refreshAt(t *testing.T, base, tok string) (int, map[string]any) {
	return postForm(t, base+"/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"pertitle-cli"}, "refresh_token": {tok}})
}

// openForm starts a sign-in in a browser (its cookie jar) and returns the form's login_id.
func openForm(t *testing.T, c *http.Client, base string) string {
	_, challenge := pkce()
	q := url.Values{"response_type": {"code"}, "client_id": {"pertitle-web"}, "redirect_uri": {"http://app.test/"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	resp, err := c.Get(base + "/authorize?" + q.Encode())
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="login_id" value="([^"]+)"`).FindSubmatch(page)
	require.NotNil(t, m, "%s", page)
	return string(m[1])
}

func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestRestartKeepsSignIns (issue 13): an issuer restarted on its SQLite file
// (the default) still honours the refresh tokens and the sign-in forms it
// handed out before, and still catches the replay of a rotated-out token.
func TestRestartKeepsSignIns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := issuerVars(t, dir, filepath.Join(dir, "state", "issuer.db"))
	base, stop := process(t, vars)
	status, tok := postForm(t, base+"/token", url.Values{"grant_type": {"password"}, "client_id": {"pertitle-cli"},
		"username": {"bob"}, "password": {"bob-pw"}})
	require.Equal(t, http.StatusOK, status, tok)
	status, rotated := refreshAt(t, base, tok["refresh_token"].(string))
	require.Equal(t, http.StatusOK, status, rotated)
	c := browser()
	form := openForm(t, c, base)
	stop()

	base, _ = process(t, vars)
	status, again := refreshAt(t, base, rotated["refresh_token"].(string))
	require.Equal(t, http.StatusOK, status, again)
	status, body := refreshAt(t, base, tok["refresh_token"].(string))
	assert.Equal(t, http.StatusBadRequest, status, "a replay of a token rotated out before the restart: %v", body)
	status, _ = refreshAt(t, base, again["refresh_token"].(string))
	assert.Equal(t, http.StatusBadRequest, status, "and the replay revoked the family")

	resp, err := c.PostForm(base+"/authorize", url.Values{"login_id": {form}, "username": {"bob"}, "password": {"bob-pw"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "a form opened before the restart signs in after it")
}

// TestReplicasShareSignIns (issue 13): two issuers on one PostgreSQL database
// and one key file are interchangeable behind a load balancer: a form opened at
// one is posted to the other, a code from one is exchanged at the other,
// refresh tokens rotate across them, a replay at one revokes the family at
// both, and an access token from either verifies against either's JWKS.
func TestReplicasShareSignIns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := issuerVars(t, dir, testenv.Postgres(t))
	require.NoError(t, files.RotateKeyFile(vars["PERTITLE_ISSUER_KEY"], 0), "replicas share a key file made beforehand")
	varsB := map[string]string{}
	for k, v := range vars {
		varsB[k] = v
	}
	a, _ := process(t, vars)
	b, _ := process(t, varsB)

	c := browser()
	verifier, challenge := pkce()
	q := url.Values{"response_type": {"code"}, "client_id": {"pertitle-web"}, "redirect_uri": {"http://app.test/"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	resp, err := c.Get(a + "/authorize?" + q.Encode())
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := regexp.MustCompile(`name="login_id" value="([^"]+)"`).FindSubmatch(page)[1]
	u, _ := url.Parse(b)
	c.Jar.SetCookies(u, c.Jar.Cookies(mustURL(a))) // one site behind a load balancer: one cookie
	resp, err = c.PostForm(b+"/authorize", url.Values{"login_id": {string(form)}, "username": {"bob"}, "password": {"bob-pw"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "a form sealed by A is accepted by B")
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	status, tok := postForm(t, a+"/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"pertitle-web"},
		"code": {loc.Query().Get("code")}, "redirect_uri": {"http://app.test/"}, "code_verifier": {verifier}})
	require.Equal(t, http.StatusOK, status, "a code from B is exchanged at A: %v", tok)
	status, _ = postForm(t, b+"/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"pertitle-web"},
		"code": {loc.Query().Get("code")}, "redirect_uri": {"http://app.test/"}, "code_verifier": {verifier}})
	assert.Equal(t, http.StatusBadRequest, status, "and only once, at either")

	status, cli := postForm(t, a+"/token", url.Values{"grant_type": {"password"}, "client_id": {"pertitle-cli"},
		"username": {"bob"}, "password": {"bob-pw"}})
	require.Equal(t, http.StatusOK, status)
	status, fromB := refreshAt(t, b, cli["refresh_token"].(string))
	require.Equal(t, http.StatusOK, status, "A's refresh token works at B: %v", fromB)
	status, fromA := refreshAt(t, a, fromB["refresh_token"].(string))
	require.Equal(t, http.StatusOK, status, "and B's at A: %v", fromA)
	status, _ = refreshAt(t, b, cli["refresh_token"].(string))
	assert.Equal(t, http.StatusBadRequest, status, "a replay at B")
	status, _ = refreshAt(t, a, fromA["refresh_token"].(string))
	assert.Equal(t, http.StatusBadRequest, status, "revokes the family at A too")

	for _, replica := range []string{a, b} {
		lb := &http.Client{Transport: to(replica)}
		v, err := auth.NewVerifier(context.Background(), auth.Config{Issuer: "http://issuer.test", Audience: "pertitle", HTTPClient: lb})
		require.NoError(t, err)
		for _, at := range []any{tok["access_token"], fromB["access_token"]} {
			_, err := v.Verify(context.Background(), at.(string))
			assert.NoError(t, err, "token verified with the keys %s publishes", replica)
		}
	}
}

// to sends every request to one replica, as a load balancer in front of
// http://issuer.test might.
type to string

func (r to) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Host = mustURL(string(r)).Host
	return http.DefaultTransport.RoundTrip(req)
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestSharedStateNeedsAKeyFile: replicas on PostgreSQL do not each invent a
// signing key (their JWKS would disagree); the issuer says what it needs.
func TestSharedStateNeedsAKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := issuerVars(t, dir, "postgres://u@127.0.0.1:1/x")
	var cfg Config
	cfg.FromEnv(svc.NewEnvFrom(Name, vars))
	require.NoError(t, cfg.Validate())
	_, err := loadKeys(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "secret")
}

// TestReplicasShareSignInBackoff (issue 13): wrong passwords sent to two
// issuers on one database add up, so guessing at several replicas backs off
// as soon as at one: after four failures split between A and B (three are
// free), even the right password is refused at either.
func TestReplicasShareSignInBackoff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := issuerVars(t, dir, testenv.Postgres(t))
	vars["PERTITLE_ISSUER_SIGNIN_USER_FAILURES"] = "3"
	require.NoError(t, files.RotateKeyFile(vars["PERTITLE_ISSUER_KEY"], 0))
	varsB := map[string]string{}
	for k, v := range vars {
		varsB[k] = v
	}
	a, _ := process(t, vars)
	b, _ := process(t, varsB)
	guess := func(base, pw string) int {
		status, _ := postForm(t, base+"/token", url.Values{"grant_type": {"password"}, "client_id": {"pertitle-cli"},
			"username": {"bob"}, "password": {pw}})
		return status
	}
	for _, base := range []string{a, b, a, b} {
		require.Equal(t, http.StatusBadRequest, guess(base, "wrong"))
	}
	assert.Equal(t, http.StatusTooManyRequests, guess(a, "bob-pw"), "A counts B's failures")
	assert.Equal(t, http.StatusTooManyRequests, guess(b, "bob-pw"), "and B A's")
}
