package auth_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pertitle/pertitle/internal/authtest"
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/auth/jose"
)

// fuzzNow is the verifiers' clock: fixed, so that a token's verdict never
// depends on when the fuzzer ran it.
var fuzzNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const fuzzLeeway = time.Minute

// signRaw signs payload bytes as they are (jose.Sign would re-encode them).
func signRaw(tb testing.TB, key *rsa.PrivateKey, kid string, payload []byte) string {
	hb, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"})
	in := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func fuzzVerifier(tb testing.TB, issuer string) *auth.Verifier {
	v, err := auth.NewVerifier(context.Background(), auth.Config{Issuer: issuer, Audience: authtest.Audience,
		Leeway: fuzzLeeway, Now: func() time.Time { return fuzzNow }})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// rfcClaims reads claims as RFC 7519 defines them, independently of the verifier:
// member names are case-sensitive and the last of duplicate names wins.
type rfcClaims map[string]json.RawMessage

func (c rfcClaims) str(name string) (string, bool) {
	var s string
	raw, ok := c[name]
	return s, ok && json.Unmarshal(raw, &s) == nil && s != ""
}

// date returns a NumericDate claim in seconds; ok is false when it is absent or null.
func (c rfcClaims) date(name string) (sec float64, present, ok bool) {
	raw, found := c[name]
	if !found || string(raw) == "null" {
		return 0, false, true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	return f, true, err == nil
}

// checkAccepted fails t unless the claims of an accepted token meet every check
// the verifier promises.
func checkAccepted(t *testing.T, issuer string, payload []byte, p auth.Principal) {
	t.Helper()
	var c rfcClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatalf("accepted claims that are not a JSON object: %q", payload)
	}
	now := float64(fuzzNow.Unix())
	slack := fuzzLeeway.Seconds() + 0.001 // the verifier counts in nanoseconds
	iss, _ := c.str("iss")
	sub, hasSub := c.str("sub")
	exp, hasExp, expOK := c.date("exp")
	nbf, hasNbf, nbfOK := c.date("nbf")
	iat, hasIat, iatOK := c.date("iat")
	switch {
	case iss != issuer:
		t.Fatalf("accepted iss %q: %s", iss, payload)
	case !hasSub || p.Subject != sub:
		t.Fatalf("accepted sub %q as subject %q: %s", sub, p.Subject, payload)
	case !hasExp || !expOK || exp+slack <= now:
		t.Fatalf("accepted an expired or expiry-less token: %s", payload)
	case !nbfOK || hasNbf && nbf-slack > now:
		t.Fatalf("accepted a token not valid yet: %s", payload)
	case !iatOK || hasIat && iat-slack > now:
		t.Fatalf("accepted a token issued in the future: %s", payload)
	}
	if !audienceOK(c) {
		t.Fatalf("accepted a token for another audience: %s", payload)
	}
}

func audienceOK(c rfcClaims) bool {
	var auds []string
	if raw, ok := c["aud"]; ok {
		var one string
		if json.Unmarshal(raw, &one) == nil {
			auds = []string{one}
		} else {
			_ = json.Unmarshal(raw, &auds)
		}
	}
	for _, a := range auds {
		if a == authtest.Audience {
			return true
		}
	}
	use, _ := c.str("token_use")
	client, _ := c.str("client_id")
	return use == "access" && client == authtest.Audience
}

func claimSeeds(issuer string) []string {
	now := fuzzNow.Unix()
	base := func(extra string) string {
		return fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":%q,"exp":%d%s}`, issuer, authtest.Audience, now+600, extra)
	}
	return []string{
		base(""),
		base(`,"iat":` + strconv.FormatInt(now, 10) + `,"nbf":` + strconv.FormatInt(now-5, 10) + `,"groups":["admin"]`),
		base(`,"nbf":1e19`),
		base(`,"iat":1e19`),
		base(`,"nbf":-1e19`),
		base(`,"sub":"","SUB":"admin"`),
		base(`,"Sub":"mallory"`),
		base(`,"exp":1e300`),
		base(`,"exp":1.5e9`),
		base(`,"exp":null`),
		base(`,"exp":"` + strconv.FormatInt(now+600, 10) + `"`),
		base(`,"aud":["x","` + authtest.Audience + `"]`),
		base(`,"aud":"x","token_use":"access","client_id":"` + authtest.Audience + `"`),
		base(`,"token_use":"refresh"`),
		base(`,"iss":"http://evil"`),
		`{"iss":"` + issuer + `","sub":"a","aud":"` + authtest.Audience + `","EXP":9999999999}`,
		`[]`, `null`, `{`,
	}
}

// FuzzVerifyClaims signs arbitrary claim bytes with the issuer's key and checks
// that whatever the verifier accepts meets, read as RFC 7519 reads it, every
// check: issuer, subject, expiry, not-before, issued-at and audience.
func FuzzVerifyClaims(f *testing.F) {
	iss := authtest.New(f)
	for _, s := range claimSeeds(iss.URL) {
		f.Add([]byte(s))
	}
	key := authtest.SharedKey(f)
	kid := jwkKid(f, &key.PublicKey)
	v := fuzzVerifier(f, iss.URL)
	f.Fuzz(func(t *testing.T, payload []byte) {
		p, err := v.Verify(context.Background(), signRaw(t, key, kid, payload))
		if err != nil {
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("refused with %v, not ErrInvalidToken", err)
			}
			return
		}
		checkAccepted(t, iss.URL, payload, p)
	})
}

func jwkKid(tb testing.TB, pub crypto.PublicKey) string {
	k, err := jose.NewJWK(pub, "")
	if err != nil {
		tb.Fatal(err)
	}
	return k.Kid
}

// FuzzVerifyToken feeds arbitrary bearer tokens to the verifier: it accepts only
// the tokens the issuer signed, whatever else is done to them, and calls every
// other one invalid (the issuer is up, so never "unavailable").
func FuzzVerifyToken(f *testing.F) {
	iss := authtest.New(f)
	key := authtest.SharedKey(f)
	kid := jwkKid(f, &key.PublicKey)
	valid := map[string]bool{}
	for i, s := range claimSeeds(iss.URL)[:2] {
		tok := signRaw(f, key, kid, []byte(s))
		valid[tok] = true
		f.Add(tok)
		if i == 0 {
			f.Add(tok + ".")
			f.Add(" " + tok)
			f.Add(signRaw(f, key, "other-kid", []byte(s)))
			// The issuer has one key, which a token may then name by no kid at all.
			nokid := signRaw(f, key, "", []byte(s))
			valid[nokid] = true
			f.Add(nokid)
		}
	}
	f.Add("")
	f.Add("e30.e30.e30")
	v := fuzzVerifier(f, iss.URL)
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := v.Verify(context.Background(), raw)
		switch {
		case err == nil && !valid[raw]:
			t.Fatalf("accepted a token the issuer did not sign: %q", raw)
		case err != nil && valid[raw]:
			t.Fatalf("refused a token the issuer signed: %v", err)
		case err != nil && !errors.Is(err, auth.ErrInvalidToken):
			t.Fatalf("refused with %v, not ErrInvalidToken", err)
		}
	})
}

// FuzzJWKSFetch serves arbitrary bytes as the issuer's JWKS to a fresh verifier
// and presents a token signed with the issuer's key under kid "k1": it is
// accepted only when the set holds that very key under that kid.
func FuzzJWKSFetch(f *testing.F) {
	key := authtest.SharedKey(f)
	good, err := jose.NewJWK(&key.PublicKey, "k1")
	if err != nil {
		f.Fatal(err)
	}
	other, err := jose.NewJWK(&attackerKeyTB(f).PublicKey, "k1")
	if err != nil {
		f.Fatal(err)
	}
	for _, set := range [][]jose.JWK{{good}, {other}, {other, good}, {good, other}, {{Kty: "RSA", Kid: "k1", N: good.N, E: "AQAB", Use: "enc"}}, nil} {
		b, _ := json.Marshal(jose.JWKS{Keys: set})
		f.Add(b)
	}
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"k1","n":"` + good.N + `","e":"AQAB","alg":"none"}]}`))
	f.Add([]byte(`{"keys":{}}`))
	f.Add([]byte(`not json`))
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/openid-configuration" {
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": "http://" + r.Host, "jwks_uri": "http://" + r.Host + "/jwks"})
			return
		}
		_, _ = w.Write(body.Load().([]byte))
	}))
	f.Cleanup(srv.Close)
	claims := fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":%q,"exp":%d}`, srv.URL, authtest.Audience, fuzzNow.Unix()+600)
	tok := signRaw(f, key, "k1", []byte(claims))
	f.Fuzz(func(t *testing.T, jwks []byte) {
		body.Store(jwks)
		_, err := fuzzVerifier(t, srv.URL).Verify(context.Background(), tok)
		if err != nil {
			if !errors.Is(err, auth.ErrInvalidToken) && !errors.Is(err, auth.ErrUnavailable) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if !holdsKey(jwks, "k1", key.N) {
			t.Fatalf("accepted with a JWKS that does not hold the signing key under k1: %s", jwks)
		}
	})
}

// holdsKey reports whether the last usable key named kid in the set has modulus n.
func holdsKey(jwks []byte, kid string, n *big.Int) bool {
	var set jose.JWKS
	if json.Unmarshal(jwks, &set) != nil {
		return false
	}
	var last crypto.PublicKey
	for _, k := range set.Keys {
		if pub, err := k.PublicKey(); err == nil && k.Kid == kid {
			last = pub
		}
	}
	r, ok := last.(*rsa.PublicKey)
	return ok && r.N.Cmp(n) == 0
}

func attackerKeyTB(tb testing.TB) *rsa.PrivateKey {
	otherKeyOnce.Do(func() {
		var err error
		if otherKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return otherKey
}
