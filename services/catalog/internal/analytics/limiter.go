package analytics

import (
	"math"
	"sync"
	"time"
)

// Limiter is a token bucket per key (a viewer id): each event takes a token, tokens
// come back at Rate per second up to Burst. Buckets live in memory, per replica.
type Limiter struct {
	Rate  float64
	Burst float64
	// MaxKeys bounds memory: past it, full (idle) buckets are forgotten.
	MaxKeys int
	Now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*tokenBucket
}

type tokenBucket struct {
	tokens float64
	at     time.Time
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Take takes n tokens from key's bucket, or none when there are not enough; then it
// says how long until there would be.
func (l *Limiter) Take(key string, n int) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.buckets == nil {
		l.buckets = map[string]*tokenBucket{}
	}
	b := l.buckets[key]
	if b == nil {
		l.evict(now)
		b = &tokenBucket{tokens: l.Burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.Burst, b.tokens+now.Sub(b.at).Seconds()*l.Rate)
	b.at = now
	need := float64(n)
	if need > l.Burst {
		return false, time.Duration(math.MaxInt64) // never: the batch is larger than the burst
	}
	if b.tokens < need {
		wait := time.Duration((need - b.tokens) / l.Rate * float64(time.Second))
		return false, wait
	}
	b.tokens -= need
	return true, 0
}

func (l *Limiter) evict(now time.Time) {
	max := l.MaxKeys
	if max <= 0 {
		max = 100_000
	}
	if len(l.buckets) < max {
		return
	}
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.Rate >= l.Burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= max {
		// Everyone is busy: forgetting is kinder than refusing newcomers.
		clear(l.buckets)
	}
}
