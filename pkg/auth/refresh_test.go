package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/authtest"
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/auth/jose"
)

// hangingIssuer publishes one RSA key and, once hang is set, holds every JWKS
// request until released, counting how many are in flight at once.
type hangingIssuer struct {
	url      string
	kid      string
	jwks     []byte
	hang     atomic.Bool
	release  chan struct{}
	once     sync.Once
	hits     atomic.Int32
	inflight atomic.Int32
	maxIn    atomic.Int32
}

func newHangingIssuer(t *testing.T) *hangingIssuer {
	t.Helper()
	jwk, err := jose.NewJWK(&authtest.SharedKey(t).PublicKey, "")
	require.NoError(t, err)
	h := &hangingIssuer{kid: jwk.Kid, release: make(chan struct{})}
	h.jwks, err = json.Marshal(jose.JWKS{Keys: []jose.JWK{jwk}})
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": h.url, "jwks_uri": h.url + "/jwks"})
		case "/jwks":
			h.hits.Add(1)
			n := h.inflight.Add(1)
			defer h.inflight.Add(-1)
			for m := h.maxIn.Load(); n > m && !h.maxIn.CompareAndSwap(m, n); m = h.maxIn.Load() {
			}
			if h.hang.Load() {
				select {
				case <-h.release:
				case <-r.Context().Done():
					return
				}
			}
			_, _ = w.Write(h.jwks)
		default:
			http.NotFound(w, r)
		}
	}))
	h.url = srv.URL
	t.Cleanup(srv.Close)
	t.Cleanup(h.unblock) // runs before srv.Close
	return h
}

func (h *hangingIssuer) unblock() { h.once.Do(func() { close(h.release) }) }

func (h *hangingIssuer) token(t *testing.T, kid string, now time.Time) string {
	t.Helper()
	tok, err := jose.Sign(authtest.SharedKey(t), kid, map[string]any{"iss": h.url, "sub": "u-1", "aud": "a",
		"iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix()})
	require.NoError(t, err)
	return tok
}

// TestHungProviderDoesNotSerialiseRequests: past MaxAge, with the provider hanging,
// requests for a cached key are served at once while a single refresh waits on
// the provider; before, they queued on one lock and finished one per fetch timeout.
func TestHungProviderDoesNotSerialiseRequests(t *testing.T) {
	t.Parallel()
	h := newHangingIssuer(t)
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	const fetchTimeout = 5 * time.Second
	v, err := auth.NewVerifier(context.Background(), auth.Config{Issuer: h.url, Audience: "a", Now: now, FetchTimeout: fetchTimeout})
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), h.token(t, h.kid, now()))
	require.NoError(t, err)
	require.EqualValues(t, 1, h.hits.Load())

	h.hang.Store(true)
	mu.Lock()
	clock = clock.Add(2 * time.Hour) // past MaxAge
	mu.Unlock()
	tok := h.token(t, h.kid, now())
	const n = 20
	start := time.Now()
	took := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Verify(context.Background(), tok)
			took[i] = time.Since(start)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	for i, d := range took {
		assert.Less(t, d, fetchTimeout/5, "request %d waited for the hung provider", i)
	}
	require.Eventually(t, func() bool { return h.inflight.Load() == 1 }, fetchTimeout, time.Millisecond)
	assert.EqualValues(t, 2, h.hits.Load(), "one refresh for all of them")
	assert.EqualValues(t, 1, h.maxIn.Load(), "never two fetches at once")

	// A made-up kid waits for the refresh in flight, within its own deadline,
	// and starts no fetch of its own.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = v.Verify(ctx, h.token(t, "made-up", now()))
	require.ErrorIs(t, err, auth.ErrUnavailable)
	assert.EqualValues(t, 2, h.hits.Load())
	assert.EqualValues(t, 1, h.maxIn.Load())

	// The provider answers again: the refresh lands, and keys are fresh.
	h.unblock()
	require.Eventually(t, func() bool { return v.Fetches() == 2 }, fetchTimeout, time.Millisecond)
	_, err = v.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.EqualValues(t, 2, h.hits.Load(), "fresh keys need no fetch")
}
