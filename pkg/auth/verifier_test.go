package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/authtest"
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/auth/jose"
)

var (
	otherKeyOnce sync.Once
	otherKey     *rsa.PrivateKey
)

func attackerKey(t *testing.T) *rsa.PrivateKey {
	otherKeyOnce.Do(func() {
		var err error
		otherKey, err = rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
	})
	return otherKey
}

func newVerifier(t *testing.T, iss *authtest.Issuer, audience string, now func() time.Time) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.Config{Issuer: iss.URL, Audience: audience, Now: now})
	require.NoError(t, err)
	return v
}

// unsigned builds a token with any header and a signature made by sign.
func unsigned(t *testing.T, header, claims map[string]any, sign func(input string) []byte) string {
	hb, err := json.Marshal(header)
	require.NoError(t, err)
	cb, err := json.Marshal(claims)
	require.NoError(t, err)
	in := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	return in + "." + base64.RawURLEncoding.EncodeToString(sign(in))
}

func currentKid(t *testing.T, iss *authtest.Issuer) string {
	jws, err := jose.Parse(iss.Token(t, "x"))
	require.NoError(t, err)
	return jws.Header.Kid
}

func TestVerify(t *testing.T) {
	t.Parallel()
	iss := authtest.New(t)
	kid := currentKid(t, iss)
	now := time.Now()
	with := func(sub string, set map[string]any, del ...string) map[string]any {
		c := iss.Claims(sub)
		for k, v := range set {
			c[k] = v
		}
		for _, k := range del {
			delete(c, k)
		}
		return c
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&authtest.SharedKey(t).PublicKey))})

	tests := []struct {
		name    string
		token   func() string
		want    auth.Principal
		wantErr string
	}{
		{"valid", func() string { return iss.Token(t, "u-alice", "editors") },
			auth.Principal{Subject: "u-alice", Username: "u-alice", Groups: []string{"editors"}}, ""},
		{"audience in a list, email and username", func() string {
			return iss.Sign(t, with("u-1", map[string]any{"aud": []string{"other", authtest.Audience},
				"preferred_username": "", "username": "alice", "email": "a@example.com"}))
		}, auth.Principal{Subject: "u-1", Username: "alice", Email: "a@example.com"}, ""},
		{"within leeway of expiry", func() string {
			return iss.Sign(t, with("u-1", map[string]any{"exp": now.Add(-30 * time.Second).Unix()}))
		}, auth.Principal{Subject: "u-1", Username: "u-1"}, ""},
		{"expired", func() string {
			return iss.Sign(t, with("u-1", map[string]any{"exp": now.Add(-2 * time.Minute).Unix()}))
		}, auth.Principal{}, "expired"},
		{"no expiry", func() string { return iss.Sign(t, with("u-1", nil, "exp")) }, auth.Principal{}, "no expiry"},
		{"not yet valid", func() string {
			return iss.Sign(t, with("u-1", map[string]any{"nbf": now.Add(5 * time.Minute).Unix()}))
		}, auth.Principal{}, "not valid before"},
		{"issued in the future", func() string {
			return iss.Sign(t, with("u-1", map[string]any{"iat": now.Add(5 * time.Minute).Unix()}))
		}, auth.Principal{}, "future"},
		{"wrong issuer", func() string {
			return iss.Sign(t, with("u-1", map[string]any{"iss": "https://evil.example"}))
		}, auth.Principal{}, "issued by"},
		{"wrong audience", func() string {
			return iss.Sign(t, with("u-1", map[string]any{"aud": "someone-else"}))
		}, auth.Principal{}, "audience"},
		{"no audience", func() string { return iss.Sign(t, with("u-1", nil, "aud")) }, auth.Principal{}, "audience"},
		{"no subject", func() string { return iss.Sign(t, with("", nil)) }, auth.Principal{}, "no subject"},
		{"wrong key with the right kid", func() string {
			tok, err := jose.Sign(attackerKey(t), kid, iss.Claims("u-1"))
			require.NoError(t, err)
			return tok
		}, auth.Principal{}, "invalid signature"},
		{"alg none", func() string {
			return unsigned(t, map[string]any{"alg": "none", "kid": kid}, iss.Claims("u-1"), func(string) []byte { return []byte{0} })
		}, auth.Principal{}, "not allowed"},
		{"HS256 with the public key as secret", func() string {
			return unsigned(t, map[string]any{"alg": "HS256", "kid": kid}, iss.Claims("u-1"), func(in string) []byte {
				m := hmac.New(sha256.New, pubPEM)
				m.Write([]byte(in))
				return m.Sum(nil)
			})
		}, auth.Principal{}, "not allowed"},
		{"RS256 header but tampered claims", func() string {
			good := iss.Token(t, "u-1")
			forged := unsigned(t, map[string]any{"alg": "RS256", "kid": kid}, with("u-1", map[string]any{"groups": []string{"admin"}}),
				func(string) []byte { return []byte("x") })
			return forged[:len(forged)-len("eA")] + good[len(good)-342:]
		}, auth.Principal{}, "invalid"},
		{"embedded jwk header", func() string {
			return unsigned(t, map[string]any{"alg": "RS256", "kid": kid, "jwk": map[string]string{"kty": "RSA"}}, iss.Claims("u-1"),
				func(string) []byte { return []byte("x") })
		}, auth.Principal{}, "carries keys"},
		{"unknown kid", func() string {
			tok, err := jose.Sign(attackerKey(t), "made-up", iss.Claims("u-1"))
			require.NoError(t, err)
			return tok
		}, auth.Principal{}, "unknown signing key"},
		{"not a JWT", func() string { return "hello" }, auth.Principal{}, "malformed"},
		{"Cognito access token with client_id", func() string {
			return iss.Sign(t, with("c-sub", map[string]any{"token_use": "access", "client_id": authtest.Audience,
				"username": "carol", "cognito:groups": []string{"admin"}, "scope": "openid"}, "aud", "preferred_username"))
		}, auth.Principal{Subject: "c-sub", Username: "carol", Groups: []string{"admin"}}, ""},
		{"Cognito access token for another client", func() string {
			return iss.Sign(t, with("c-sub", map[string]any{"token_use": "access", "client_id": "other-client"}, "aud"))
		}, auth.Principal{}, "client"},
		{"Cognito id token with groups", func() string {
			return iss.Sign(t, with("c-sub", map[string]any{"token_use": "id", "cognito:username": "dave",
				"cognito:groups": []string{"editors", "admin"}}, "preferred_username"))
		}, auth.Principal{Subject: "c-sub", Username: "dave", Groups: []string{"editors", "admin"}}, ""},
		{"Cognito id token for another client", func() string {
			return iss.Sign(t, with("c-sub", map[string]any{"token_use": "id", "aud": "other-client"}))
		}, auth.Principal{}, "audience"},
		{"refresh token_use refused", func() string {
			return iss.Sign(t, with("c-sub", map[string]any{"token_use": "refresh"}))
		}, auth.Principal{}, "token_use"},
	}
	v := newVerifier(t, iss, "unrelated, "+authtest.Audience, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := v.Verify(context.Background(), tc.token())
			if tc.wantErr != "" {
				require.ErrorIs(t, err, auth.ErrInvalidToken)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, p)
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestKeyRotation: a token signed with a new key makes the verifier fetch the
// JWKS once; made-up kids do not make it fetch again within MinRefresh.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	iss := authtest.New(t)
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	v := newVerifier(t, iss, authtest.Audience, now)
	ctx := context.Background()

	old := iss.Token(t, "u-1")
	_, err := v.Verify(ctx, old)
	require.NoError(t, err)
	require.Equal(t, 1, iss.JWKSFetches())

	iss.RotateEC(t)
	advance(11 * time.Second)
	rotated := iss.Token(t, "u-1")
	for range 5 {
		p, err := v.Verify(ctx, rotated)
		require.NoError(t, err, "ES256 token from the rotated key")
		assert.Equal(t, "u-1", p.Subject)
	}
	assert.Equal(t, 2, iss.JWKSFetches(), "the new kid is fetched once")
	_, err = v.Verify(ctx, old)
	require.NoError(t, err, "the previous key is still published")

	bogus, err := jose.Sign(attackerKey(t), "made-up", iss.Claims("u-1"))
	require.NoError(t, err)
	for range 3 {
		_, err = v.Verify(ctx, bogus)
		require.ErrorIs(t, err, auth.ErrInvalidToken)
	}
	assert.Equal(t, 2, iss.JWKSFetches(), "unknown kids within MinRefresh do not refetch")
	advance(11 * time.Second)
	_, err = v.Verify(ctx, bogus)
	require.ErrorIs(t, err, auth.ErrInvalidToken)
	assert.Equal(t, 3, iss.JWKSFetches(), "after MinRefresh an unknown kid may refetch once")

	advance(2 * time.Hour)
	later := iss.Claims("u-1")
	later["iat"], later["exp"] = now().Unix(), now().Add(time.Minute).Unix()
	_, err = v.Verify(ctx, iss.Sign(t, later))
	require.NoError(t, err, "stale keys still serve while they are refreshed")
	require.Eventually(t, func() bool { return iss.JWKSFetches() == 4 }, 10*time.Second, 5*time.Millisecond,
		"keys older than MaxAge are fetched again")
}

func TestUnreachableIssuer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	v, err := auth.NewVerifier(context.Background(), auth.Config{Issuer: srv.URL, Audience: "a"})
	require.NoError(t, err, "the verifier is created without contacting the issuer")
	require.ErrorIs(t, v.Ping(context.Background()), auth.ErrUnavailable)
	iss := authtest.New(t)
	_, err = v.Verify(context.Background(), iss.Token(t, "u"))
	require.ErrorIs(t, err, auth.ErrUnavailable)
}

func TestDiscoveryMustNameTheIssuer(t *testing.T) {
	t.Parallel()
	iss := authtest.New(t)
	// Same server under another name: discovery answers with iss.URL.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss.URL, "jwks_uri": iss.URL + "/jwks.json"})
	}))
	t.Cleanup(srv.Close)
	v, err := auth.NewVerifier(context.Background(), auth.Config{Issuer: srv.URL, Audience: "a"})
	require.NoError(t, err)
	err = v.Ping(context.Background())
	require.ErrorIs(t, err, auth.ErrUnavailable)
	assert.Contains(t, err.Error(), "discovery names issuer")
	require.NoError(t, newVerifier(t, iss, "a", nil).Ping(context.Background()))
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  auth.Config
		ok   bool
	}{
		{"good", auth.Config{Issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", Audience: "client"}, true},
		{"no issuer", auth.Config{Audience: "a"}, false},
		{"not a URL", auth.Config{Issuer: "cognito", Audience: "a"}, false},
		{"no audience", auth.Config{Issuer: "http://127.0.0.1:8084", Audience: " , "}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := auth.NewVerifier(context.Background(), tc.cfg)
			assert.Equal(t, tc.ok, err == nil, "%v", err)
		})
	}
}
