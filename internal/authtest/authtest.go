// Package authtest is an OIDC issuer for tests: discovery and JWKS over
// httptest, and tokens minted on demand with any claims.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pertitle/pertitle/pkg/auth/jose"
)

// Audience is the audience Token puts in access tokens.
const Audience = "pertitle-test"

// Issuer serves /.well-known/openid-configuration and /jwks.json.
type Issuer struct {
	URL string

	mu      sync.Mutex
	signer  crypto.Signer
	kid     string
	keys    []jose.JWK
	jwksHit atomic.Int64
}

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// SharedKey is the RSA key every New issuer starts with: generated once per
// test process, since RSA generation is slow.
func SharedKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		var err error
		rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
	})
	return rsaKey
}

// New starts an issuer signing with an RSA key (RS256), stopped when t ends.
func New(t testing.TB) *Issuer {
	t.Helper()
	iss, stop := Start()
	t.Cleanup(stop)
	return iss
}

// Start starts an issuer shared by several tests (e.g. a package's component
// fixture); call stop when done, or let the test process end.
func Start() (iss *Issuer, stop func()) {
	iss = &Issuer{}
	iss.setKey(panicTB{}, SharedKey(panicTB{}))
	srv := httptest.NewServer(http.HandlerFunc(iss.serve))
	iss.URL = srv.URL
	return iss, srv.Close
}

// panicTB reports setup failures outside a test.
type panicTB struct{ testing.TB }

func (panicTB) Helper()                   {}
func (panicTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (panicTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

func (iss *Issuer) setKey(t testing.TB, key crypto.Signer) {
	jwk, err := jose.NewJWK(key.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.signer, iss.kid = key, jwk.Kid
	iss.keys = append([]jose.JWK{jwk}, iss.keys...)
}

// RotateEC switches signing to a fresh P-256 key (ES256); the old key stays published.
func (iss *Issuer) RotateEC(t testing.TB) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss.setKey(t, key)
}

// JWKSFetches counts GETs of the JWKS.
func (iss *Issuer) JWKSFetches() int { return int(iss.jwksHit.Load()) }

func (iss *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": iss.URL, "jwks_uri": iss.URL + "/jwks.json"})
	case "/jwks.json":
		iss.jwksHit.Add(1)
		iss.mu.Lock()
		set := jose.JWKS{Keys: append([]jose.JWK(nil), iss.keys...)}
		iss.mu.Unlock()
		_ = json.NewEncoder(w).Encode(set)
	default:
		http.NotFound(w, r)
	}
}

// Sign signs claims as they are, with the current key.
func (iss *Issuer) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	iss.mu.Lock()
	key, kid := iss.signer, iss.kid
	iss.mu.Unlock()
	tok, err := jose.Sign(key, kid, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Claims are the claims of a valid access token for sub, valid for 15 minutes.
func (iss *Issuer) Claims(sub string, groups ...string) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": iss.URL, "sub": sub, "aud": Audience, "iat": now.Unix(),
		"exp": now.Add(15 * time.Minute).Unix(), "preferred_username": sub}
	if len(groups) > 0 {
		c["groups"] = groups
	}
	return c
}

// Token is a valid access token for sub in groups.
func (iss *Issuer) Token(t testing.TB, sub string, groups ...string) string {
	return iss.Sign(t, iss.Claims(sub, groups...))
}
