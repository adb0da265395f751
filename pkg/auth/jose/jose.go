// Package jose is the small part of JOSE that pertitle needs: compact JWS with
// RS256 and ES256, and JSON Web Keys. Nothing else is accepted: no "none", no
// HMAC, no embedded keys, no critical extensions.
package jose

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Algorithms this package signs and verifies.
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// MaxTokenBytes bounds what Parse reads: real tokens are a few KiB.
const MaxTokenBytes = 16 << 10

var (
	// ErrMalformed is a token that is not a compact JWS.
	ErrMalformed = errors.New("malformed token")
	// ErrAlgorithm is a token signed with an algorithm other than RS256 or ES256.
	ErrAlgorithm = errors.New("signing algorithm not allowed")
	// ErrSignature is a signature that does not verify with the key.
	ErrSignature = errors.New("invalid signature")
)

// b64 is strict: a part whose unused trailing bits are set decodes like the
// canonical one, and one token would have several spellings.
var b64 = base64.RawURLEncoding.Strict()

// Header is the protected header of a JWS.
type Header struct {
	Alg  string   `json:"alg"`
	Kid  string   `json:"kid,omitempty"`
	Typ  string   `json:"typ,omitempty"`
	Crit []string `json:"crit,omitempty"`
	// Keys carried in the header are attacker-controlled; their presence is refused.
	JWK json.RawMessage `json:"jwk,omitempty"`
	JKU string          `json:"jku,omitempty"`
	X5U string          `json:"x5u,omitempty"`
	X5C json.RawMessage `json:"x5c,omitempty"`
}

// JWS is a parsed compact JWS whose signature has not been checked yet.
type JWS struct {
	Header  Header
	Payload []byte
	signed  string // header.payload, what the signature covers
	sig     []byte
}

// Parse splits and decodes a compact JWS and checks its header: alg must be RS256
// or ES256, and the header may not carry keys or critical extensions.
func Parse(raw string) (*JWS, error) {
	if len(raw) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: too long", ErrMalformed)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: want 3 parts, got %d", ErrMalformed, len(parts))
	}
	for _, p := range parts {
		// The decoder skips CR and LF: refuse them, and anything else outside the
		// alphabet, so that one token has one spelling.
		if strings.IndexFunc(p, notBase64URL) >= 0 {
			return nil, fmt.Errorf("%w: a part is not base64url", ErrMalformed)
		}
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	var h Header
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if h.Alg != RS256 && h.Alg != ES256 {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, h.Alg)
	}
	if len(h.Crit) > 0 || len(h.JWK) > 0 || h.JKU != "" || h.X5U != "" || len(h.X5C) > 0 {
		return nil, fmt.Errorf("%w: header carries keys or critical extensions", ErrMalformed)
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("%w: signature", ErrMalformed)
	}
	return &JWS{Header: h, Payload: payload, signed: parts[0] + "." + parts[1], sig: sig}, nil
}

func notBase64URL(r rune) bool {
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}

// Verify checks the signature with pub. The key type must match the header's alg,
// so that an RSA key is never used to check an ECDSA signature or the reverse.
func (j *JWS) Verify(pub crypto.PublicKey) error {
	digest := sha256.Sum256([]byte(j.signed))
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if j.Header.Alg != RS256 {
			return fmt.Errorf("%w: %s token for an RSA key", ErrAlgorithm, j.Header.Alg)
		}
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], j.sig) != nil {
			return ErrSignature
		}
		return nil
	case *ecdsa.PublicKey:
		if j.Header.Alg != ES256 || k.Curve != elliptic.P256() {
			return fmt.Errorf("%w: %s token for an ECDSA key", ErrAlgorithm, j.Header.Alg)
		}
		if len(j.sig) != 64 {
			return ErrSignature
		}
		r, s := new(big.Int).SetBytes(j.sig[:32]), new(big.Int).SetBytes(j.sig[32:])
		if !ecdsa.Verify(k, digest[:], r, s) {
			return ErrSignature
		}
		return nil
	}
	return fmt.Errorf("%w: unsupported key type %T", ErrAlgorithm, pub)
}

// Sign returns a compact JWS of claims (marshalled as JSON) signed with key: RS256
// for an RSA key, ES256 for a P-256 key.
func Sign(key crypto.Signer, kid string, claims any) (string, error) {
	h := Header{Kid: kid, Typ: "JWT"}
	switch k := key.Public().(type) {
	case *rsa.PublicKey:
		h.Alg = RS256
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("%w: ECDSA curve %s", ErrAlgorithm, k.Curve.Params().Name)
		}
		h.Alg = ES256
	default:
		return "", fmt.Errorf("%w: key type %T", ErrAlgorithm, k)
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	pb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("cannot encode claims: %w", err)
	}
	signed := b64.EncodeToString(hb) + "." + b64.EncodeToString(pb)
	digest := sha256.Sum256([]byte(signed))
	var sig []byte
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return "", err
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	default:
		sig, err = key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return "", fmt.Errorf("cannot sign: %w", err)
		}
	}
	return signed + "." + b64.EncodeToString(sig), nil
}

// JWK is a public JSON Web Key (RFC 7517), RSA or EC P-256.
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// NewJWK describes pub as a signing key; an empty kid becomes the RFC 7638 thumbprint.
func NewJWK(pub crypto.PublicKey, kid string) (JWK, error) {
	var k JWK
	switch p := pub.(type) {
	case *rsa.PublicKey:
		k = JWK{Kty: "RSA", Alg: RS256, N: b64.EncodeToString(p.N.Bytes()),
			E: b64.EncodeToString(big.NewInt(int64(p.E)).Bytes())}
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return JWK{}, fmt.Errorf("%w: ECDSA curve %s", ErrAlgorithm, p.Curve.Params().Name)
		}
		x, y := make([]byte, 32), make([]byte, 32)
		p.X.FillBytes(x)
		p.Y.FillBytes(y)
		k = JWK{Kty: "EC", Alg: ES256, Crv: "P-256", X: b64.EncodeToString(x), Y: b64.EncodeToString(y)}
	default:
		return JWK{}, fmt.Errorf("%w: key type %T", ErrAlgorithm, pub)
	}
	k.Use = "sig"
	k.Kid = kid
	if k.Kid == "" {
		k.Kid = k.Thumbprint()
	}
	return k, nil
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of the key, base64url.
func (k JWK) Thumbprint() string {
	var canon string
	if k.Kty == "EC" {
		canon = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, k.Crv, k.X, k.Y)
	} else {
		canon = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, k.E, k.N)
	}
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

// PublicKey decodes the key. Keys for other uses than signatures, other key
// types, curves other than P-256 and RSA keys under 2048 bits are refused.
func (k JWK) PublicKey() (crypto.PublicKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return nil, fmt.Errorf("key %q is for %q, not signatures", k.Kid, k.Use)
	}
	switch k.Kty {
	case "RSA":
		if k.Alg != "" && k.Alg != RS256 {
			return nil, fmt.Errorf("%w: RSA key %q is for %s", ErrAlgorithm, k.Kid, k.Alg)
		}
		n, err1 := b64.DecodeString(k.N)
		e, err2 := b64.DecodeString(k.E)
		if err := errors.Join(err1, err2); err != nil || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("RSA key %q: bad n or e", k.Kid)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 || pub.E < 3 || pub.E%2 == 0 {
			return nil, fmt.Errorf("RSA key %q is too weak", k.Kid)
		}
		// Keys crypto/rsa refuses to verify with: refused here, where it is clear why.
		if pub.E > 1<<31-1 || pub.N.Bit(0) == 0 {
			return nil, fmt.Errorf("RSA key %q: even modulus or exponent above 2^31-1", k.Kid)
		}
		return pub, nil
	case "EC":
		if k.Crv != "P-256" || (k.Alg != "" && k.Alg != ES256) {
			return nil, fmt.Errorf("%w: EC key %q on %s", ErrAlgorithm, k.Kid, k.Crv)
		}
		x, err1 := b64.DecodeString(k.X)
		y, err2 := b64.DecodeString(k.Y)
		if err := errors.Join(err1, err2); err != nil || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("EC key %q: bad x or y", k.Kid)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), bytes.Join([][]byte{{4}, x, y}, nil))
		if err != nil {
			return nil, fmt.Errorf("EC key %q: %w", k.Kid, err)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("%w: key type %q", ErrAlgorithm, k.Kty)
}
