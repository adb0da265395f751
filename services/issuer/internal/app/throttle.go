package app

import (
	"context"
	"time"

	"github.com/pertitle/pertitle/pkg/limit"
)

// SharedBackoff is limit.Backoff with its counts in the Store, so that every
// replica on it counts the same failures: a password guesser gets no more
// tries from two issuers than from one. Rule gives the numbers (Free, Base,
// Max) and the clock; Prefix keeps the user names' and the addresses' keys apart.
//
// The store failing does not lock anyone out (the failure is not counted, the
// wait reads as none): nothing is issued without the store anyway.
type SharedBackoff struct {
	Store  Store
	Rule   *limit.Backoff
	Prefix string
}

func (b *SharedBackoff) now() time.Time {
	if b.Rule.Now != nil {
		return b.Rule.Now()
	}
	return time.Now()
}

// Wait says how long key must wait before its next attempt; 0: it may try now.
func (b *SharedBackoff) Wait(key string) time.Duration {
	now := b.now()
	_, until, err := b.Store.Failures(context.Background(), b.Prefix+key, now)
	if err != nil || !now.Before(until) {
		return 0
	}
	return until.Sub(now)
}

// Fail counts a failed attempt of key and returns the wait it now has.
func (b *SharedBackoff) Fail(key string) time.Duration {
	ctx, now := context.Background(), b.now()
	n, err := b.Store.Fail(ctx, b.Prefix+key, now, b.Rule.Max)
	if err != nil {
		return 0
	}
	wait := b.Rule.WaitAfter(n)
	// The count ages out Max after the wait ends, as limit.Backoff's.
	if err := b.Store.Wait(ctx, b.Prefix+key, now.Add(wait), now.Add(wait+b.Rule.Max)); err != nil {
		return 0
	}
	return wait
}

// Succeed forgets key's failures.
func (b *SharedBackoff) Succeed(key string) {
	_ = b.Store.Succeed(context.Background(), b.Prefix+key)
}
