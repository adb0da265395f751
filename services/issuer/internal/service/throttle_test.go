package service

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/services/issuer/internal/ports/oidc"
)

// quick are sign-in limits with the default counts and a short backoff, so that a
// test can wait it out.
func quick(c *Config) {
	c.SignIn = oidc.DefaultSignInLimits
	c.SignIn.Backoff, c.SignIn.BackoffMax = 500*time.Millisecond, time.Second
	c.SignIn.AddressPerMinute = 600
}

// retryAfter reads a Retry-After header that must be there.
func retryAfter(t *testing.T, h http.Header) time.Duration {
	t.Helper()
	s, err := strconv.Atoi(h.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", h.Get("Retry-After"))
	require.Positive(t, s)
	return time.Duration(s) * time.Second
}

// TestPasswordGuessingBacksOff (issue 10, finding 4): 200 wrong passwords, then the
// right one, is refused with 429 until the backoff has passed; then it works.
// Another user signing in meanwhile is not held back.
func TestPasswordGuessingBacksOff(t *testing.T) {
	t.Parallel()
	f := start(t, true, quick)
	refused := 0
	start := time.Now()
	for range 200 {
		status, body := f.password(t, "pertitle-cli", "bob", "guess")
		switch status {
		case http.StatusBadRequest:
			require.Equal(t, "invalid_grant", body["error"])
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("status %d: %v", status, body)
		}
	}
	// Checked: the free failures, the one that started the backoff, and at most
	// one each time a backoff (500 ms or more) ran out during the loop.
	checked := 200 - refused
	assert.LessOrEqual(t, checked, oidc.DefaultSignInLimits.UserFailures+2+int(time.Since(start)/(500*time.Millisecond)),
		"passwords checked in %s", time.Since(start))

	resp, err := http.PostForm(f.url+"/token", url.Values{"grant_type": {"password"}, "client_id": {"pertitle-cli"},
		"username": {"bob"}, "password": {"bob-pw"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "the right password is refused during the backoff")
	wait := retryAfter(t, resp.Header)
	assert.LessOrEqual(t, wait, time.Second)

	status, body := f.password(t, "pertitle-cli", "alice", "alice-pw")
	assert.Equal(t, http.StatusOK, status, "another user at the same address still signs in: %v", body)

	time.Sleep(wait)
	status, body = f.password(t, "pertitle-cli", "bob", "bob-pw")
	assert.Equal(t, http.StatusOK, status, "after the backoff the right password works: %v", body)
}

// TestSignInFormBacksOff: the form shares the password grant's limits and shows
// the form again with 429 and Retry-After.
func TestSignInFormBacksOff(t *testing.T) {
	t.Parallel()
	f := start(t, false, quick)
	_, challenge := pkce()
	for range oidc.DefaultSignInLimits.UserFailures + 1 {
		resp, _ := browserLogin(t, f, "pertitle-web", "http://app.test/", challenge, "bob", "nope")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	resp, body := browserLogin(t, f, "pertitle-web", "http://app.test/", challenge, "bob", "bob-pw")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Contains(t, body, "Too many sign-in attempts")
	assert.Contains(t, body, `name="login_id"`, "the form is shown again to retry later")
	time.Sleep(retryAfter(t, resp.Header))
	resp, _ = browserLogin(t, f, "pertitle-web", "http://app.test/", challenge, "bob", "bob-pw")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

// TestAnonymousAuthorizeFlood (finding 4): 10,000 anonymous GET /authorize keep
// nothing on the issuer, so a real sign-in afterwards still works, and a form
// handed out before the flood still works too.
func TestAnonymousAuthorizeFlood(t *testing.T) {
	t.Parallel()
	f := start(t, false)
	_, challenge := pkce()
	q := url.Values{"response_type": {"code"}, "client_id": {"pertitle-web"}, "redirect_uri": {"http://app.test/"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}

	jar, _ := cookiejar.New(nil)
	early := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := early.Get(f.url + "/authorize?" + q.Encode())
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	earlyID := regexp.MustCompile(`name="login_id" value="([^"]+)"`).FindSubmatch(page)[1]

	for i := range 10_000 {
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/authorize?"+q.Encode(), nil))
		require.Equal(t, http.StatusOK, rec.Code, "GET %d", i)
	}

	resp, _ = browserLogin(t, f, "pertitle-web", "http://app.test/", challenge, "bob", "bob-pw")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "a real sign-in after the flood")
	resp, err = early.PostForm(f.url+"/authorize", url.Values{"login_id": {string(earlyID)}, "username": {"alice"}, "password": {"alice-pw"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "a form opened before the flood")
}

// TestSealedFormTampering: the form's login_id is the issuer's, unaltered.
func TestSealedFormTampering(t *testing.T) {
	t.Parallel()
	f := start(t, false)
	_, challenge := pkce()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"response_type": {"code"}, "client_id": {"pertitle-web"}, "redirect_uri": {"http://app.test/"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	resp, err := c.Get(f.url + "/authorize?" + q.Encode())
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := string(regexp.MustCompile(`name="login_id" value="([^"]+)"`).FindSubmatch(page)[1])
	for name, bad := range map[string]string{
		"payload changed": "x" + id[1:], "no signature": id[:len(id)-43], "empty": "", "garbage": "a.b.c",
	} {
		resp, err := c.PostForm(f.url+"/authorize", url.Values{"login_id": {bad}, "username": {"bob"}, "password": {"bob-pw"}})
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, name)
	}
	long := url.Values{}
	for k, v := range q {
		long[k] = v
	}
	long.Set("state", string(make([]byte, 2000)))
	resp, err = c.Get(f.url + "/authorize?" + long.Encode())
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "an oversized state is refused")
}
