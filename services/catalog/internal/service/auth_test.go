package service

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/authtest"
	"github.com/pertitle/pertitle/pkg/auth"
)

var (
	issuerOnce sync.Once
	issuer     *authtest.Issuer
)

// testIssuer is one OIDC issuer for every component test of the package.
func testIssuer() *authtest.Issuer {
	issuerOnce.Do(func() { issuer, _ = authtest.Start() })
	return issuer
}

func testVerifier(t *testing.T) *auth.Verifier {
	v, err := auth.NewVerifier(context.Background(), auth.Config{Issuer: testIssuer().URL, Audience: authtest.Audience})
	require.NoError(t, err)
	return v
}

func testToken(t testing.TB, sub string, groups ...string) string {
	return testIssuer().Token(t, sub, groups...)
}

// TestAPIAuthorization: every API route needs a token; users see their own assets
// only; another user's asset answers exactly as a missing one; admins see all.
func TestAPIAuthorization(t *testing.T) {
	t.Parallel()
	s, _ := component(t)
	ctx := context.Background()
	for _, env := range journey(t, assetID) { // owned by "alice"
		require.NoError(t, s.Messages(nil).Project(ctx, env))
	}
	const missing = "00000000-0000-4000-8000-000000000000"
	call := func(authz, target string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	alice, bob := "Bearer "+testToken(t, "alice"), "Bearer "+testToken(t, "bob")
	admin := "Bearer " + testToken(t, "root", auth.AdminGroup)
	expiredClaims := testIssuer().Claims("alice")
	expiredClaims["exp"] = 1
	expired := "Bearer " + testIssuer().Sign(t, expiredClaims)

	t.Run("anonymous and invalid calls get 401", func(t *testing.T) {
		t.Parallel()
		for _, target := range []string{"/v1/assets", "/v1/assets/" + assetID, "/v1/assets/" + missing,
			"/v1/analytics/summary", "/v1/analytics/assets/" + assetID} {
			for _, authz := range []string{"", "Bearer nope", expired} {
				rec := call(authz, target)
				assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s with %q", target, authz)
				assert.Contains(t, rec.Header().Get("WWW-Authenticate"), "Bearer", target)
				assert.Contains(t, rec.Body.String(), `"error"`, target)
			}
		}
	})
	t.Run("another user's asset is answered as a missing one", func(t *testing.T) {
		t.Parallel()
		other, gone := call(bob, "/v1/assets/"+assetID), call(bob, "/v1/assets/"+missing)
		assert.Equal(t, http.StatusNotFound, other.Code)
		assert.Equal(t, gone.Code, other.Code)
		assert.Equal(t, gone.Body.String(), other.Body.String())
		assert.Equal(t, gone.Header(), other.Header())
	})
	t.Run("lists are per user, admins see all", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name, authz, query string
			want               int
		}{
			{"owner", alice, "", 1},
			{"other user", bob, "", 0},
			{"other user asking for alice's", bob, "?owner=alice", 0},
			{"admin", admin, "", 1},
			{"admin filtering by owner", admin, "?owner=bob", 0},
		} {
			rec := call(tc.authz, "/v1/assets"+tc.query)
			require.Equal(t, http.StatusOK, rec.Code, tc.name)
			assert.Equal(t, tc.want, countAssets(t, rec.Body.Bytes()), tc.name)
		}
	})
	t.Run("owner and admin read the asset", func(t *testing.T) {
		t.Parallel()
		for _, authz := range []string{alice, admin} {
			assert.Equal(t, http.StatusOK, call(authz, "/v1/assets/"+assetID).Code)
		}
	})
	t.Run("health stays open", func(t *testing.T) {
		t.Parallel()
		for _, target := range []string{"/healthz", "/readyz"} {
			assert.Equal(t, http.StatusOK, call("", target).Code, target)
		}
	})
}

// TestAPIWithoutVerifierFailsClosed: a catalog wired without Deps.Auth refuses the API.
func TestAPIWithoutVerifierFailsClosed(t *testing.T) {
	t.Parallel()
	s, _ := component(t)
	s2, err := New(DefaultConfig(), Deps{Repo: s.deps.Repo, Storage: s.deps.Storage})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/assets", nil)
	req.Header.Set("Authorization", "Bearer "+testToken(t, "alice"))
	s2.Handler().ServeHTTP(rec, req)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
}

func countAssets(t *testing.T, body []byte) int {
	var list struct {
		Assets []json.RawMessage `json:"assets"`
	}
	require.NoError(t, json.Unmarshal(body, &list), "%s", body)
	return len(list.Assets)
}
