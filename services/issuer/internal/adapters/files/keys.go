// Package issuer is a small OpenID Connect provider for local use: discovery,
// JWKS, authorization code with PKCE behind a server-rendered login form,
// refresh-token rotation and, for scripts, the password grant, for the users of
// a JSON file. Services do not depend on it: they accept any OIDC issuer.
package files

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/pertitle/pertitle/pkg/auth/jose"
)

// KeySet signs with its newest key and publishes the previous ones too, so that
// tokens signed before a rotation stay valid until they expire.
type KeySet struct {
	mu     sync.RWMutex
	signer crypto.Signer
	kid    string
	jwks   []jose.JWK
}

// NewKeySet uses keys[0] to sign and publishes all of them.
func NewKeySet(keys ...crypto.Signer) (*KeySet, error) {
	if len(keys) == 0 {
		return nil, errors.New("no signing key")
	}
	ks := &KeySet{}
	for i := len(keys) - 1; i >= 0; i-- {
		if err := ks.add(keys[i]); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

func (ks *KeySet) add(key crypto.Signer) error {
	jwk, err := jose.NewJWK(key.Public(), "")
	if err != nil {
		return err
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.signer, ks.kid = key, jwk.Kid
	ks.jwks = append([]jose.JWK{jwk}, ks.jwks...)
	return nil
}

// Rotate signs from now on with a new RSA key; the old ones stay published.
func (ks *KeySet) Rotate() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	return ks.add(key)
}

// Sign returns claims as a JWT signed with the newest key.
func (ks *KeySet) Sign(claims any) (string, error) {
	ks.mu.RLock()
	signer, kid := ks.signer, ks.kid
	ks.mu.RUnlock()
	return jose.Sign(signer, kid, claims)
}

// JWKS is the published key set, newest first.
func (ks *KeySet) JWKS() jose.JWKS {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return jose.JWKS{Keys: append([]jose.JWK(nil), ks.jwks...)}
}

// LoadKeyFile reads the PEM file at path (PKCS#8 private keys, newest first),
// creating it with one new RSA key when it does not exist.
func LoadKeyFile(path string) (*KeySet, error) {
	keys, err := readKeys(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := RotateKeyFile(path, 0); err != nil {
			return nil, err
		}
		keys, err = readKeys(path)
	}
	if err != nil {
		return nil, err
	}
	return NewKeySet(keys...)
}

// RotateKeyFile puts a new RSA key first in the file at path and keeps at most
// keep previous keys after it. A running issuer picks it up when restarted.
func RotateKeyFile(path string, keep int) error {
	old, err := readKeys(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	keys := append([]crypto.Signer{key}, old[:min(len(old), keep)]...)
	var out []byte
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return err
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(path, out, 0o600)
}

func readKeys(path string) ([]crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []crypto.Signer
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: unsupported key %T", path, k)
		}
		keys = append(keys, s)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no PEM private key", path)
	}
	return keys, nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
