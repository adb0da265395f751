// Package limit holds the abuse limits the services share: token buckets per key
// (a user, a client address) with a bounded number of keys, failure backoff, the
// client address behind trusted proxies, progress deadlines on request bodies and
// responses, and the 429 answer with Retry-After.
package limit

import (
	"container/list"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxKeys bounds how many keys a limiter remembers when none is configured.
const DefaultMaxKeys = 100_000

// Never is the wait returned for a request that no wait can let through (more
// tokens at once than the burst).
const Never = time.Duration(math.MaxInt64)

// lru is a map that forgets its least recently used entries past max, so that a
// flood of distinct keys costs bounded memory. Callers hold their own lock.
type lru[V any] struct {
	max   int
	order *list.List // front: most recently used
	items map[string]*list.Element
}

type entry[V any] struct {
	key string
	val V
}

func newLRU[V any](max int) *lru[V] {
	if max <= 0 {
		max = DefaultMaxKeys
	}
	return &lru[V]{max: max, order: list.New(), items: map[string]*list.Element{}}
}

// get returns key's value, creating it with mk when absent; it becomes the most
// recently used, and the least recently used go past max.
func (l *lru[V]) get(key string, mk func() V) V {
	if e, ok := l.items[key]; ok {
		l.order.MoveToFront(e)
		return e.Value.(*entry[V]).val
	}
	v := mk()
	l.items[key] = l.order.PushFront(&entry[V]{key, v})
	for l.order.Len() > l.max {
		old := l.order.Back()
		l.order.Remove(old)
		delete(l.items, old.Value.(*entry[V]).key)
	}
	return v
}

func (l *lru[V]) peek(key string) (V, bool) {
	if e, ok := l.items[key]; ok {
		return e.Value.(*entry[V]).val, true
	}
	var zero V
	return zero, false
}

func (l *lru[V]) remove(key string) {
	if e, ok := l.items[key]; ok {
		l.order.Remove(e)
		delete(l.items, key)
	}
}

// Keyed is a token bucket per key: a key may spend Burst tokens at once, and
// they come back at Rate per second. At most MaxKeys buckets are kept; the least
// recently used is forgotten first (a forgotten key starts again with a full
// bucket, which only matters once MaxKeys other keys were seen since).
type Keyed struct {
	rate  rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets *lru[*rate.Limiter]
}

// NewKeyed returns buckets of burst tokens refilled at perSecond; maxKeys <= 0
// means DefaultMaxKeys.
func NewKeyed(perSecond float64, burst, maxKeys int) *Keyed {
	return &Keyed{rate: rate.Limit(perSecond), burst: burst, now: time.Now, buckets: newLRU[*rate.Limiter](maxKeys)}
}

// PerMinute is a rate of n per minute, in the per-second unit NewKeyed takes.
func PerMinute(n float64) float64 { return n / 60 }

// WithClock sets the clock (tests).
func (k *Keyed) WithClock(now func() time.Time) *Keyed {
	k.now = now
	return k
}

// Allow spends one token of key's bucket. See AllowN.
func (k *Keyed) Allow(key string) (bool, time.Duration) { return k.AllowN(key, 1) }

// AllowN spends n tokens of key's bucket when it holds them; otherwise it spends
// nothing and says how long until it would (Never when n exceeds the burst).
func (k *Keyed) AllowN(key string, n int) (bool, time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	lim := k.buckets.get(key, func() *rate.Limiter { return rate.NewLimiter(k.rate, k.burst) })
	r := lim.ReserveN(now, n)
	if !r.OK() {
		return false, Never
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // refused requests cost nothing
		return false, d
	}
	return true, 0
}

// Len is how many keys are remembered.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.buckets.order.Len()
}
