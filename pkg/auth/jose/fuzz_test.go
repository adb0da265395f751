package jose_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/pertitle/pertitle/pkg/auth/jose"
)

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
)

// testKeys are generated once per process: RSA generation is slow, and every
// fuzz worker runs the setup.
func testKeys(tb testing.TB) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err == nil {
			ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		}
		if err != nil {
			panic(err)
		}
	})
	return rsaKey, ecKey
}

var b64 = base64.RawURLEncoding

func encodeHeader(h string) string { return b64.EncodeToString([]byte(h)) }

// FuzzParse feeds arbitrary strings to the compact-JWS parser every bearer token
// meets first. An accepted token is at most MaxTokenBytes, has three parts in
// the one canonical base64url form each (so that one token has one spelling),
// an allowed algorithm and no header keys; and it verifies under one of our keys
// only if it is exactly a token that key signed.
func FuzzParse(f *testing.F) {
	rk, ek := testKeys(f)
	var signed []string
	for _, k := range []crypto.Signer{rk, ek} {
		tok, err := jose.Sign(k, "kid-1", map[string]any{"sub": "alice", "exp": 1e10})
		if err != nil {
			f.Fatal(err)
		}
		signed = append(signed, tok)
		f.Add(tok)
		f.Add(tok[:len(tok)-1])
		f.Add(tok + "=")
	}
	payload := b64.EncodeToString([]byte(`{"sub":"a"}`))
	for _, h := range []string{`{"alg":"none"}`, `{"alg":"HS256"}`, `{"alg":"RS256","jwk":{"kty":"RSA"}}`,
		`{"alg":"RS256","crit":["exp"]}`, `{"alg":"ES256","jku":"http://evil/"}`, `{"ALG":"RS256"}`,
		`{"alg":"RS256","Alg":"none"}`, `{"alg":"ES256","x5c":[]}`, `[]`, `null`} {
		f.Add(encodeHeader(h) + "." + payload + ".c2ln")
	}
	f.Add("a.b.c.d")
	f.Add("..")
	f.Add(strings.Repeat("a", jose.MaxTokenBytes+1))
	f.Fuzz(func(t *testing.T, raw string) {
		jws, err := jose.Parse(raw)
		if err != nil {
			if !errors.Is(err, jose.ErrMalformed) && !errors.Is(err, jose.ErrAlgorithm) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		parts := strings.Split(raw, ".")
		switch {
		case len(raw) > jose.MaxTokenBytes || len(parts) != 3:
			t.Fatalf("accepted a token of %d bytes, %d parts", len(raw), len(parts))
		case jws.Header.Alg != jose.RS256 && jws.Header.Alg != jose.ES256:
			t.Fatalf("accepted alg %q", jws.Header.Alg)
		case len(jws.Header.Crit) > 0 || len(jws.Header.JWK) > 0 || jws.Header.JKU != "" || jws.Header.X5U != "" || len(jws.Header.X5C) > 0:
			t.Fatalf("accepted a header with keys or critical extensions: %+v", jws.Header)
		case b64.EncodeToString(jws.Payload) != parts[1]:
			t.Fatalf("payload %q is not in canonical base64url", parts[1])
		}
		for i, p := range parts {
			if d, err := b64.DecodeString(p); err != nil || b64.EncodeToString(d) != p {
				t.Fatalf("part %d %q is not in canonical base64url", i, p)
			}
		}
		for _, pub := range []crypto.PublicKey{&rk.PublicKey, &ek.PublicKey} {
			if jws.Verify(pub) == nil && !contains(signed, raw) {
				t.Fatalf("a token we did not sign verifies: %q", raw)
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// FuzzJWK feeds arbitrary JSON to the JWK decoder the verifier runs on every key
// of the issuer's JWKS. An accepted key is an RSA key of at least 2048 bits that
// crypto/rsa can use, or a P-256 point; it survives NewJWK unchanged.
func FuzzJWK(f *testing.F) {
	rk, ek := testKeys(f)
	for _, pub := range []crypto.PublicKey{&rk.PublicKey, &ek.PublicKey} {
		k, err := jose.NewJWK(pub, "")
		if err != nil {
			f.Fatal(err)
		}
		b, _ := json.Marshal(k)
		f.Add(b)
		k.Use = "enc"
		b, _ = json.Marshal(k)
		f.Add(b)
	}
	n, _ := json.Marshal(b64.EncodeToString(rk.N.Bytes()))
	for _, s := range []string{
		`{"kty":"RSA","n":` + string(n) + `,"e":"_____w"}`,
		`{"kty":"RSA","n":` + string(n) + `,"e":"AQAB","alg":"RS512"}`,
		`{"kty":"RSA","n":` + string(n) + `,"e":"AAEAAQ"}`,
		`{"kty":"RSA","n":"AQAB","e":"AQAB"}`,
		`{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"kty":"EC","crv":"P-384"}`, `{"kty":"oct","k":"c2VjcmV0"}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var k jose.JWK
		if json.Unmarshal(data, &k) != nil {
			return
		}
		pub, err := k.PublicKey()
		if err != nil {
			return
		}
		if k.Use != "" && k.Use != "sig" {
			t.Fatalf("accepted a key for %q", k.Use)
		}
		switch p := pub.(type) {
		case *rsa.PublicKey:
			if p.N.BitLen() < 2048 {
				t.Fatalf("accepted a %d-bit RSA key", p.N.BitLen())
			}
			digest := sha256.Sum256([]byte("x"))
			if err := rsa.VerifyPKCS1v15(p, crypto.SHA256, digest[:], make([]byte, p.Size())); !errors.Is(err, rsa.ErrVerification) {
				t.Fatalf("accepted an RSA key crypto/rsa cannot use: %v", err)
			}
		case *ecdsa.PublicKey:
			if p.Curve != elliptic.P256() {
				t.Fatalf("accepted curve %s", p.Curve.Params().Name)
			}
		default:
			t.Fatalf("accepted a %T", pub)
		}
		again, err := jose.NewJWK(pub, k.Kid)
		if err != nil {
			t.Fatalf("an accepted key cannot be described again: %v", err)
		}
		back, err := again.PublicKey()
		if err != nil {
			t.Fatalf("a re-described key is refused: %v", err)
		}
		if eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(back) {
			t.Fatalf("round trip changed the key")
		}
		if again.Kid != k.Kid && k.Kid != "" {
			t.Fatalf("kid %q became %q", k.Kid, again.Kid)
		}
	})
}
