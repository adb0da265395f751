// Package idempotency is the store of claims that makes at-least-once work run
// once: whoever claims a key first does the work, a duplicate sees it is in
// progress (and comes back later) or done (and is dropped), a crashed holder's
// lease runs out and the work is taken over, and a failed holder lets the next
// claimer run it. The memory store serves one process; the PostgreSQL store
// (PERTITLE_STATE_DB) serves every replica of every service.
package idempotency

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// State is where a key's work stands.
type State string

// States of a claim.
const (
	// Running: a holder works on it under a lease it extends while alive.
	Running State = "running"
	// Done: the work happened; it is remembered for the keep its holder chose.
	Done State = "done"
	// Failed: the holder gave up (an error, a shutdown): the next claimer runs it.
	Failed State = "failed"
)

// Claim is the answer of Store.Claim.
type Claim struct {
	Key string
	// Won is true when this caller holds the key now: it must end the claim
	// with Done or Fail (or let the lease run out, if it dies).
	Won bool
	// Token proves the holding to Extend, Done and Fail (when Won).
	Token string
	// Attempt counts the claims won on this key, this one included: above 1,
	// an earlier holder failed or died (when Won).
	Attempt int
	// State is Running or Done when the key is someone else's (not Won).
	State State
	// Wait is how long the other holder's lease still runs (State Running):
	// by then its work is done, or the key can be taken over.
	Wait time.Duration
}

// ErrLost is returned by Extend, Done and Fail when the claim is no longer
// this holder's: its lease ran out and another took the key over.
var ErrLost = errors.New("idempotency: claim lost (its lease ran out and the key was taken over)")

// Store keeps claims. Every implementation passes the same contract suite.
type Store interface {
	// Claim takes key for lease if it is free (never claimed, failed, done
	// longer ago than its keep, or held under a lease that ran out).
	// Otherwise it reports who has it. Of claimers racing for one key,
	// exactly one wins.
	Claim(ctx context.Context, key string, lease time.Duration) (Claim, error)
	// Extend renews the holder's lease to lease from now (the heartbeat).
	Extend(ctx context.Context, c Claim, lease time.Duration) error
	// Done records that the work happened: claims of key answer Done for keep.
	Done(ctx context.Context, c Claim, keep time.Duration) error
	// Fail gives the key up: the next claimer wins it.
	Fail(ctx context.Context, c Claim) error
	// Ping checks the store answers (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// MaxKeyBytes bounds keys: they are built from queue names and event ids,
// never from unbounded input.
const MaxKeyBytes = 512

// CheckKey rejects keys no store keeps.
func CheckKey(key string) error {
	switch {
	case key == "":
		return errors.New("idempotency: empty key")
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("idempotency: key of %d bytes, over %d", len(key), MaxKeyBytes)
	case !utf8.ValidString(key) || strings.ContainsRune(key, 0):
		return errors.New("idempotency: key is not valid UTF-8 text")
	}
	return nil
}

func checkClaim(key string, lease time.Duration) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if lease < time.Millisecond {
		return fmt.Errorf("idempotency: lease %s is shorter than a millisecond", lease)
	}
	return nil
}

func checkHeld(c Claim) error {
	if !c.Won || c.Token == "" {
		return errors.New("idempotency: not a won claim")
	}
	return CheckKey(c.Key)
}

// CheckURL rejects a state database URL Open cannot use, without connecting.
func CheckURL(url string) error {
	if url == "" || IsPostgresURL(url) {
		return nil
	}
	return errors.New("idempotency: state database must be a postgres:// URL (or empty for in-process memory)")
}

// Open returns the store url names: empty for a new memory store (one
// process), a postgres:// (or postgresql://) URL for PostgreSQL.
func Open(ctx context.Context, url string) (Store, error) {
	if err := CheckURL(url); err != nil {
		return nil, err
	}
	if url == "" {
		return NewMemory(), nil
	}
	return OpenPostgres(ctx, url)
}

// IsPostgresURL reports whether url names a PostgreSQL server.
func IsPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Hold extends c's lease every third of lease until stop is called or ctx
// ends: the heartbeat of work that runs longer than one lease. lost is called
// (once, may be nil) when the claim was taken over.
func Hold(ctx context.Context, s Store, c Claim, lease time.Duration, lost func(error)) (stop func()) {
	return Beat(ctx, lease/3, func() bool {
		err := s.Extend(ctx, c, lease)
		if errors.Is(err, ErrLost) && lost != nil {
			lost(err)
		}
		return !errors.Is(err, ErrLost)
	})
}

// Beat calls beat every interval until stop is called, ctx ends or beat
// returns false: the loop of every lease's heartbeat. stop waits for a beat
// in progress to end.
func Beat(ctx context.Context, interval time.Duration, beat func() bool) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !beat() {
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}
