package limit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/pertitle/pertitle/pkg/problem"
	"github.com/stretchr/testify/require"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time                { return c.t }
func (c *clock) add(d time.Duration)           { c.t = c.t.Add(d) }
func newClock() *clock                         { return &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (c *clock) keyed(r float64, b int) *Keyed { return NewKeyed(r, b, 0).WithClock(c.now) }

func TestKeyedBucket(t *testing.T) {
	t.Parallel()
	c := newClock()
	k := c.keyed(1, 3) // 3 at once, then 1 a second
	for i := range 3 {
		ok, _ := k.Allow("a")
		require.True(t, ok, "token %d of the burst", i)
	}
	ok, wait := k.Allow("a")
	assert.False(t, ok)
	assert.Equal(t, time.Second, wait)
	ok, _ = k.Allow("b")
	assert.True(t, ok, "another key has its own bucket")
	ok, wait = k.AllowN("a", 4)
	assert.False(t, ok)
	assert.Equal(t, Never, wait, "more than the burst never passes")

	// Refused attempts spend nothing: after 1 s exactly one more passes.
	for range 100 {
		k.Allow("a")
	}
	c.add(time.Second)
	ok, _ = k.Allow("a")
	assert.True(t, ok)
	ok, _ = k.Allow("a")
	assert.False(t, ok)
}

func TestKeyedBoundedKeys(t *testing.T) {
	t.Parallel()
	c := newClock()
	k := NewKeyed(1, 1, 1000).WithClock(c.now)
	ok, _ := k.Allow("victim")
	require.True(t, ok)
	for i := range 999 {
		k.Allow(fmt.Sprint("flood-", i))
	}
	ok, _ = k.Allow("victim")
	assert.False(t, ok, "still remembered: 1,000 keys fit")
	for i := range 100_000 {
		k.Allow(fmt.Sprint("more-", i))
	}
	assert.Equal(t, 1000, k.Len(), "a flood of distinct keys keeps memory bounded")
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	c := newClock()
	b := &Backoff{Free: 3, Base: time.Second, Max: 8 * time.Second, Now: c.now}
	for range 3 {
		assert.Zero(t, b.Wait("bob"))
		assert.Zero(t, b.Fail("bob"), "the first failures are free")
	}
	assert.Equal(t, time.Second, b.Fail("bob"))
	assert.Equal(t, time.Second, b.Wait("bob"))
	assert.Equal(t, 2*time.Second, b.Fail("bob"), "doubles")
	for range 10 {
		b.Fail("bob")
	}
	assert.Equal(t, 8*time.Second, b.Wait("bob"), "at most Max")
	assert.Zero(t, b.Wait("alice"), "per key")
	c.add(8 * time.Second)
	assert.Zero(t, b.Wait("bob"), "the wait passes")
	assert.Equal(t, 8*time.Second, b.Fail("bob"), "but the next failure waits again")
	c.add(17 * time.Second)
	assert.Zero(t, b.Fail("bob"), "Max after the last wait ended, a key starts afresh")
	b.Fail("bob")
	b.Fail("bob")
	b.Succeed("bob")
	assert.Zero(t, b.Fail("bob"), "a success forgets")
}

func TestClientAddress(t *testing.T) {
	t.Parallel()
	a, err := ParseTrusted("10.0.0.0/8, 192.168.1.1")
	require.NoError(t, err)
	_, err = ParseTrusted("10.0.0.0/8,nope")
	require.Error(t, err)
	tests := []struct {
		name, remote, xff, want string
		proxies                 Addresses
	}{
		{"direct", "203.0.113.7:5555", "", "203.0.113.7", a},
		{"forged header from an untrusted peer", "203.0.113.7:5555", "198.51.100.1", "203.0.113.7", a},
		{"through a trusted proxy", "10.1.2.3:80", "198.51.100.1", "198.51.100.1", a},
		{"client-forged hop left of the real one", "10.1.2.3:80", "1.2.3.4, 198.51.100.1, 192.168.1.1", "198.51.100.1", a},
		{"trust nothing configured", "10.1.2.3:80", "198.51.100.1", "10.1.2.3", Addresses{}},
		{"IPv6 by /64", "[2001:db8:1:2:aaaa::1]:443", "", "2001:db8:1:2::/64", a},
		{"IPv4-mapped IPv6", "[::ffff:203.0.113.7]:1", "", "203.0.113.7", a},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			assert.Equal(t, tc.want, tc.proxies.Client(r))
		})
	}
}

func TestTooMany(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	TooMany(w, 1500*time.Millisecond, "slow down")
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "2", w.Header().Get("Retry-After"))
	assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"type":"`+problem.RateLimited.URI+`","title":"Too many requests","status":429,
		"detail":"slow down","error":"slow down"}`, w.Body.String())
	w = httptest.NewRecorder()
	TooMany(w, Never, "never")
	assert.Empty(t, w.Header().Get("Retry-After"))
}

// TestProgressCutsTrickle: a body that trickles in below the minimum rate is cut
// off; a body sent at once passes, and so does a slow handler after it.
func TestProgressCutsTrickle(t *testing.T) {
	t.Parallel()
	p := Progress{ReadIdle: 2 * time.Second, MinRate: 1000, Grace: 300 * time.Millisecond, WriteIdle: time.Second}
	srv := httptest.NewServer(p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if errors.Is(err, ErrTooSlow) {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		if r.URL.Query().Has("work") {
			select { // work longer than every deadline after the body
			case <-time.After(2500 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprintf(w, "%d %v", n, err)
	})))
	t.Cleanup(srv.Close)

	// Honest: 100 KB at once, then a handler working past ReadIdle.
	resp, err := http.Post(srv.URL+"?work", "application/octet-stream", bytes.NewReader(make([]byte, 100_000)))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "100000 <nil>", string(body), "the context survives work after the body")

	// Slowloris: headers promise 1 MB, then one byte every 100 ms.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
	require.NoError(t, err)
	start := time.Now()
	answered := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(conn, 4096))
		answered <- string(b)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var got string
loop:
	for {
		select {
		case got = <-answered:
			break loop
		case <-tick.C:
			_, _ = conn.Write([]byte{'x'})
		case <-time.After(5 * time.Second):
			t.Fatal("a trickling body was not cut off")
		}
	}
	assert.Less(t, time.Since(start), 2*time.Second, "cut at the rate floor, not the idle timeout")
	assert.True(t, strings.HasPrefix(got, "HTTP/1.1 408"), "%q", got)
}
