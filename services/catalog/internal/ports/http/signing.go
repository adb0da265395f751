package http

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"path"
	"strconv"
	"strings"
	"time"
)

// Signed media paths look like
//
//	/media/s/<exp>/<sig>/outputs/<asset>/<job>/master.m3u8
//
// with exp in Unix seconds and sig = base64url(HMAC-SHA256(k, exp + "/" + scope)),
// where scope is the directory of the manifest ("outputs/<asset>/<job>/") and k a
// key derived from the configured secret. Everything under the scope is covered, so
// the relative URIs of playlists and MPDs (renditions, init files, segments) resolve
// to paths that carry the same valid signature: players need no changes.
const signedPrefix = "s/"

// Errors of signed paths; the media handler answers 403 for all of them.
var (
	ErrUnsigned     = errors.New("media URLs must be signed: take them from GET /v1/assets/{id}")
	ErrBadSignature = errors.New("invalid media signature")
	ErrExpired      = errors.New("media signature expired")
	// ErrTooFarAhead is a signature whose expiry is later than any the catalog
	// hands out: only someone holding the key could have made it.
	ErrTooFarAhead = errors.New("media signature expires later than the catalog allows")
)

// minScopeDepth is the shortest directory a signature may cover: outputs/<asset>/.
// A signature over "outputs/" would open every asset.
const minScopeDepth = 2

// maxKeyBytes is S3's limit on the length of a key: no object has a longer one.
const maxKeyBytes = 1024

// Signer makes and checks signed media paths and analytics beacon tokens.
type Signer struct {
	mediaKey  []byte
	beaconKey []byte
	ttl       time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// NewSigner derives separate media and beacon keys from secret, so that a token of
// one kind is never valid as the other. ttl is how long handed-out URLs live.
func NewSigner(secret []byte, ttl time.Duration) *Signer {
	derive := func(purpose string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("pertitle/" + purpose))
		return m.Sum(nil)
	}
	return &Signer{mediaKey: derive("media-url"), beaconKey: derive("analytics-beacon"), ttl: ttl}
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// quantum is what expiries are rounded up to, in seconds.
func (s *Signer) quantum() int64 {
	return int64(min(max(s.ttl/12, time.Second), 5*time.Minute) / time.Second)
}

// expiry is now+ttl rounded up to a quantum, so that viewers starting within the
// same few minutes get the same URLs and a CDN serves them from one cache entry.
func (s *Signer) expiry() int64 {
	qs := s.quantum()
	exp := s.now().Add(s.ttl).Unix()
	return (exp + qs - 1) / qs * qs
}

// checkExpiry refuses an expired exp, and one further ahead than expiry can make:
// a leaked key must not mint a URL that stays valid for years.
func (s *Signer) checkExpiry(exp int64) error {
	now := s.now()
	if !now.Before(time.Unix(exp, 0)) {
		return ErrExpired
	}
	if exp > now.Add(s.ttl).Unix()+s.quantum() {
		return ErrTooFarAhead
	}
	return nil
}

func (s *Signer) mac(exp int64, scope string) []byte {
	m := hmac.New(sha256.New, s.mediaKey)
	m.Write([]byte(strconv.FormatInt(exp, 10) + "/" + scope))
	return m.Sum(nil)
}

// SignKey returns the signed path (without the media base URL) of a manifest key,
// scoped to the manifest's directory.
func (s *Signer) SignKey(key string) string {
	scope := path.Dir(key) + "/"
	exp := s.expiry()
	return signedPrefix + strconv.FormatInt(exp, 10) + "/" +
		base64.RawURLEncoding.EncodeToString(s.mac(exp, scope)) + "/" + key
}

// Verify checks a signature over key: it must be unexpired and made for one of
// key's directories no shallower than outputs/<asset>/. It returns the expiry.
func (s *Signer) Verify(expStr, sig, key string) (time.Time, error) {
	if len(key) > maxKeyBytes {
		// Checked before any MAC: the check below costs the square of the length.
		return time.Time{}, ErrBadSignature
	}
	exp, err := strconv.ParseInt(expStr, 10, 64)
	if err != nil || exp <= 0 || strconv.FormatInt(exp, 10) != expStr {
		return time.Time{}, ErrBadSignature
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return time.Time{}, ErrBadSignature
	}
	ok := false
	dirs := strings.Split(key, "/")
	for depth := len(dirs) - 1; depth >= minScopeDepth; depth-- {
		// Check every candidate (no early exit): timing does not tell which matched.
		if hmac.Equal(got, s.mac(exp, strings.Join(dirs[:depth], "/")+"/")) {
			ok = true
		}
	}
	if !ok {
		return time.Time{}, ErrBadSignature
	}
	if err := s.checkExpiry(exp); err != nil {
		return time.Time{}, err
	}
	return time.Unix(exp, 0), nil
}

// BeaconToken is a token that lets players send analytics for assetID until it
// expires, without a bearer token (navigator.sendBeacon cannot set headers):
// "<exp>.<base64url HMAC>". The asset is not in the token: the beacon names it.
func (s *Signer) BeaconToken(assetID string) (string, time.Time) {
	exp := s.expiry()
	return strconv.FormatInt(exp, 10) + "." + base64.RawURLEncoding.EncodeToString(s.beaconMAC(exp, assetID)),
		time.Unix(exp, 0).UTC()
}

func (s *Signer) beaconMAC(exp int64, assetID string) []byte {
	m := hmac.New(sha256.New, s.beaconKey)
	m.Write([]byte(strconv.FormatInt(exp, 10) + "/" + assetID))
	return m.Sum(nil)
}

// VerifyBeaconToken checks a token from BeaconToken against the asset it names.
func (s *Signer) VerifyBeaconToken(token, assetID string) error {
	expStr, sig, ok := strings.Cut(token, ".")
	exp, err := strconv.ParseInt(expStr, 10, 64)
	if !ok || err != nil || exp <= 0 {
		return ErrBadSignature
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.beaconMAC(exp, assetID)) {
		return ErrBadSignature
	}
	return s.checkExpiry(exp)
}
