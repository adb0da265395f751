package limit

import (
	"sync"
	"time"
)

// Backoff counts failures per key (a user name, a client address) and, past Free
// of them, refuses every further attempt for a while: Base after the first
// failure too many, doubling with each one after, at most Max. Refused means
// refused: a right password sent during the wait is not even checked. A key whose
// last wait ended more than Max ago starts afresh; a success forgets it.
type Backoff struct {
	Free      int
	Base, Max time.Duration
	// MaxKeys bounds memory (DefaultMaxKeys when <= 0): the least recently
	// failed key is forgotten first.
	MaxKeys int
	Now     func() time.Time

	mu   sync.Mutex
	keys *lru[*failures]
}

type failures struct {
	n     int
	until time.Time // no attempt before this
}

func (b *Backoff) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// live returns key's record unless it has aged out. Callers hold b.mu.
func (b *Backoff) live(key string, now time.Time) *failures {
	if b.keys == nil {
		b.keys = newLRU[*failures](b.MaxKeys)
	}
	f, ok := b.keys.peek(key)
	if !ok {
		return nil
	}
	if now.Sub(f.until) > b.Max {
		b.keys.remove(key)
		return nil
	}
	return f
}

// Wait says how long key must wait before its next attempt; 0: it may try now.
func (b *Backoff) Wait(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if f := b.live(key, now); f != nil && now.Before(f.until) {
		return f.until.Sub(now)
	}
	return 0
}

// Fail records a failed attempt of key and returns the wait it now has.
func (b *Backoff) Fail(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	f := b.live(key, now)
	if f == nil {
		f = b.keys.get(key, func() *failures { return &failures{} })
	} else {
		b.keys.get(key, nil) // most recently used
	}
	f.n++
	wait := b.WaitAfter(f.n)
	f.until = now.Add(wait) // with no wait yet it counts, and ages out Max from now
	return wait
}

// WaitAfter is the wait a key has after n failures: none up to Free, then
// Base, doubling with each failure, at most Max. (Stores that keep the counts
// elsewhere, for several processes, apply the same rule.)
func (b *Backoff) WaitAfter(n int) time.Duration {
	if n <= b.Free {
		return 0
	}
	wait := b.Base
	for i := b.Free + 1; i < n && wait < b.Max; i++ {
		wait *= 2
	}
	return min(wait, b.Max)
}

// Succeed forgets key's failures.
func (b *Backoff) Succeed(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keys != nil {
		b.keys.remove(key)
	}
}
