// Package app holds the issuer's sign-in state: authorization codes, refresh
// tokens with rotation and replay detection, and the key that seals sign-in
// forms. It lives in a Store (a SQLite file, or PostgreSQL shared by replicas),
// so that a restart signs nobody out and every replica honours what another
// handed out.
package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors of the Store.
var (
	ErrNotFound    = errors.New("not found")
	ErrExpired     = errors.New("expired")
	ErrWrongClient = errors.New("issued to another client")
	// ErrReplayed is a refresh token used a second time: it leaked, and its whole
	// family (every token rotated from the same sign-in) is revoked.
	ErrReplayed = errors.New("refresh token was already used")
	// ErrRevoked is a family revoked after a replay: it gets no new token.
	ErrRevoked = errors.New("refresh token was revoked")
)

// Code is what an authorization code stands for until it is exchanged.
type Code struct {
	Client, Redirect, State, Nonce, Scope, Challenge string
	Sub                                              string
	AuthTime, Expires                                time.Time
}

// Refresh is what a refresh token stands for. Family is shared by every token
// rotated from one sign-in.
type Refresh struct {
	Client, Sub, Scope, Family string
	AuthTime, Expires          time.Time
}

// Store keeps the state, keyed by hashes of the tokens (a copy of the database
// hands out no token). Every method is atomic across processes sharing it.
type Store interface {
	SaveCode(ctx context.Context, hash string, c Code) error
	// TakeCode returns and deletes a code (ErrNotFound): single use, whatever follows.
	TakeCode(ctx context.Context, hash string) (Code, error)
	// SaveRefresh records a token; ErrRevoked when its family was revoked.
	SaveRefresh(ctx context.Context, hash string, r Refresh) error
	// UseRefresh marks a live token of client used and returns it. A token used
	// before revokes its family (ErrReplayed); otherwise ErrNotFound,
	// ErrWrongClient (the token stays usable) or ErrExpired.
	UseRefresh(ctx context.Context, hash, client string, now time.Time) (Refresh, error)
	// Secret returns the value kept under name, storing value first when there
	// is none: every process ends up with the first one stored.
	Secret(ctx context.Context, name string, value []byte) ([]byte, error)
	// Sweep deletes expired codes, token families whose last token expired,
	// and sign-in failures past their forget time.
	Sweep(ctx context.Context, now time.Time) error
	// Failures is key's count of failed sign-ins and until when it waits (zero
	// values for none); one whose forget time passed before now counts none.
	Failures(ctx context.Context, key string, now time.Time) (n int, until time.Time, err error)
	// Fail counts one more failure of key (the first, when the last one was
	// forgotten by now), remembered at least forgetAfter, and returns the count.
	Fail(ctx context.Context, key string, now time.Time, forgetAfter time.Duration) (int, error)
	// Wait records until when key waits, and when it is forgotten.
	Wait(ctx context.Context, key string, until, forgetAt time.Time) error
	// Succeed forgets key's failures.
	Succeed(ctx context.Context, key string) error
	Ping(ctx context.Context) error
	Close() error
}

// State is the sign-in state as the OIDC endpoints use it: raw tokens in,
// raw tokens out, hashes in the Store.
type State struct {
	Store      Store
	Now        func() time.Time
	RefreshTTL time.Duration

	mu        sync.Mutex
	lastSweep time.Time
}

// Hash is how a token is kept: base64url SHA-256 (tokens are 256 random bits,
// so a plain hash is enough).
func Hash(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// RandomString is 256 random bits, base64url.
func RandomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewCode records c and returns its code.
func (s *State) NewCode(ctx context.Context, c Code) (string, error) {
	s.sweep(ctx)
	raw := RandomString()
	if err := s.Store.SaveCode(ctx, Hash(raw), c); err != nil {
		return "", fmt.Errorf("cannot save the authorization code: %w", err)
	}
	return raw, nil
}

// TakeCode exchanges a code once; an expired one is ErrExpired.
func (s *State) TakeCode(ctx context.Context, raw string) (Code, error) {
	if raw == "" || len(raw) > 256 {
		return Code{}, ErrNotFound
	}
	c, err := s.Store.TakeCode(ctx, Hash(raw))
	if err == nil && !s.Now().Before(c.Expires) {
		err = ErrExpired
	}
	return c, err
}

// IssueRefresh records a new token of r's family (a new family when empty),
// expiring RefreshTTL from now, and returns it.
func (s *State) IssueRefresh(ctx context.Context, r Refresh) (string, error) {
	s.sweep(ctx)
	if r.Family == "" {
		r.Family = RandomString()
	}
	r.Expires = s.Now().Add(s.RefreshTTL)
	raw := RandomString()
	if err := s.Store.SaveRefresh(ctx, Hash(raw), r); err != nil {
		return "", err
	}
	return raw, nil
}

// UseRefresh spends a refresh token of client (see Store.UseRefresh).
func (s *State) UseRefresh(ctx context.Context, raw, client string) (Refresh, error) {
	if raw == "" || len(raw) > 256 {
		return Refresh{}, ErrNotFound
	}
	return s.Store.UseRefresh(ctx, Hash(raw), client, s.Now())
}

// SealKey is the key sign-in forms are sealed with, the same in every process
// on the store, so that a form served by one replica may be posted to another.
func (s *State) SealKey(ctx context.Context) ([]byte, error) {
	key, err := s.Store.Secret(ctx, "seal-key", []byte(RandomString()))
	if err != nil {
		return nil, fmt.Errorf("cannot read the seal key: %w", err)
	}
	return key, nil
}

// sweep runs Store.Sweep at most once a minute; a failure waits for the next.
func (s *State) sweep(ctx context.Context) {
	now := s.Now()
	s.mu.Lock()
	due := now.Sub(s.lastSweep) >= time.Minute
	if due {
		s.lastSweep = now
	}
	s.mu.Unlock()
	if due {
		_ = s.Store.Sweep(ctx, now)
	}
}
