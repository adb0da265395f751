package idempotency_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/pkg/idempotency"
)

// stores lists every Store implementation; each runs the same contract. The
// PostgreSQL one gets a fresh database on the test server (never skipped).
func stores(t *testing.T) map[string]func(t *testing.T) idempotency.Store {
	return map[string]func(t *testing.T) idempotency.Store{
		"memory": func(t *testing.T) idempotency.Store { return idempotency.NewMemory() },
		"postgres": func(t *testing.T) idempotency.Store {
			s, err := idempotency.Open(context.Background(), testenv.Postgres(t))
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
	}
}

func contract(t *testing.T, run func(t *testing.T, s idempotency.Store)) {
	t.Parallel()
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			run(t, open(t))
		})
	}
}

const lease = time.Minute

func TestClaimStates(t *testing.T) {
	contract(t, func(t *testing.T, s idempotency.Store) {
		ctx := context.Background()
		require.NoError(t, s.Ping(ctx))
		first, err := s.Claim(ctx, "q/e1", lease)
		require.NoError(t, err)
		require.True(t, first.Won)
		assert.Equal(t, 1, first.Attempt)
		assert.NotEmpty(t, first.Token)

		// In progress elsewhere: not won, with the wait until the lease ends.
		dup, err := s.Claim(ctx, "q/e1", lease)
		require.NoError(t, err)
		assert.False(t, dup.Won)
		assert.Equal(t, idempotency.Running, dup.State)
		assert.InDelta(t, lease.Seconds(), dup.Wait.Seconds(), 5)
		// A claim that did not win holds nothing.
		assert.Error(t, s.Done(ctx, dup, time.Hour))

		// Other keys are independent.
		other, err := s.Claim(ctx, "q/e2", lease)
		require.NoError(t, err)
		assert.True(t, other.Won)

		require.NoError(t, s.Extend(ctx, first, lease))
		require.NoError(t, s.Done(ctx, first, time.Hour))
		after, err := s.Claim(ctx, "q/e1", lease)
		require.NoError(t, err)
		assert.False(t, after.Won)
		assert.Equal(t, idempotency.Done, after.State)
		// Done is final for its holder too.
		assert.ErrorIs(t, s.Extend(ctx, first, lease), idempotency.ErrLost)
		assert.ErrorIs(t, s.Fail(ctx, first), idempotency.ErrLost)
	})
}

// TestFailedLetsTheRetryRun: a holder that gives up (a permanent failure, a
// shutdown) leaves the key to the next claimer at once.
func TestFailedLetsTheRetryRun(t *testing.T) {
	contract(t, func(t *testing.T, s idempotency.Store) {
		ctx := context.Background()
		first, err := s.Claim(ctx, "k", lease)
		require.NoError(t, err)
		require.NoError(t, s.Fail(ctx, first))
		retry, err := s.Claim(ctx, "k", lease)
		require.NoError(t, err)
		require.True(t, retry.Won)
		assert.Equal(t, 2, retry.Attempt)
		assert.NotEqual(t, first.Token, retry.Token)
		// The first holder's token no longer counts.
		assert.ErrorIs(t, s.Done(ctx, first, time.Hour), idempotency.ErrLost)
		require.NoError(t, s.Done(ctx, retry, time.Hour))
	})
}

// TestLeaseExpiry: a holder that stops extending (crashed) loses the key
// once its lease runs out; a heartbeat keeps it.
func TestLeaseExpiry(t *testing.T) {
	contract(t, func(t *testing.T, s idempotency.Store) {
		ctx := context.Background()
		const short = 300 * time.Millisecond
		dead, err := s.Claim(ctx, "dead", short)
		require.NoError(t, err)
		alive, err := s.Claim(ctx, "alive", short)
		require.NoError(t, err)
		deadline := time.Now().Add(3 * short)
		for time.Now().Before(deadline) {
			require.NoError(t, s.Extend(ctx, alive, short))
			time.Sleep(short / 4)
		}
		held, err := s.Claim(ctx, "alive", short)
		require.NoError(t, err)
		assert.False(t, held.Won, "a heartbeat keeps the key")
		assert.Equal(t, idempotency.Running, held.State)

		taken, err := s.Claim(ctx, "dead", lease)
		require.NoError(t, err)
		require.True(t, taken.Won, "the crashed holder's lease ran out")
		assert.Equal(t, 2, taken.Attempt)
		// The crashed holder, back, cannot overwrite the new holder's work.
		assert.ErrorIs(t, s.Extend(ctx, dead, lease), idempotency.ErrLost)
		assert.ErrorIs(t, s.Done(ctx, dead, time.Hour), idempotency.ErrLost)
	})
}

// TestDoneIsKeptForItsKeep: after keep, the key is free again (the dedup
// window of the bus, and the purge of old rows).
func TestDoneIsKeptForItsKeep(t *testing.T) {
	contract(t, func(t *testing.T, s idempotency.Store) {
		ctx := context.Background()
		c, err := s.Claim(ctx, "k", lease)
		require.NoError(t, err)
		require.NoError(t, s.Done(ctx, c, 200*time.Millisecond))
		again, err := s.Claim(ctx, "k", lease)
		require.NoError(t, err)
		assert.False(t, again.Won)
		time.Sleep(400 * time.Millisecond)
		again, err = s.Claim(ctx, "k", lease)
		require.NoError(t, err)
		assert.True(t, again.Won)
	})
}

// TestConcurrentClaimers: of many claimers racing for each key, exactly one
// wins it, however the race falls.
func TestConcurrentClaimers(t *testing.T) {
	contract(t, func(t *testing.T, s idempotency.Store) {
		ctx := context.Background()
		const keys, claimers = 5, 16
		var mu sync.Mutex
		wins := map[string]int{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range keys * claimers {
			key := fmt.Sprintf("race/%d", i%keys)
			wg.Go(func() {
				<-start
				c, err := s.Claim(ctx, key, lease)
				if !assert.NoError(t, err) {
					return
				}
				if c.Won {
					mu.Lock()
					wins[key]++
					mu.Unlock()
				} else {
					assert.Equal(t, idempotency.Running, c.State)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Len(t, wins, keys)
		for k, n := range wins {
			assert.Equal(t, 1, n, k)
		}
	})
}

// TestConcurrentTakeover: when an expired or failed claim is raced for, one
// claimer takes it over.
func TestConcurrentTakeover(t *testing.T) {
	contract(t, func(t *testing.T, s idempotency.Store) {
		ctx := context.Background()
		c, err := s.Claim(ctx, "expired", 50*time.Millisecond)
		require.NoError(t, err)
		f, err := s.Claim(ctx, "failed", lease)
		require.NoError(t, err)
		require.NoError(t, s.Fail(ctx, f))
		time.Sleep(150 * time.Millisecond)
		_ = c
		for _, key := range []string{"expired", "failed"} {
			var mu sync.Mutex
			won := 0
			var wg sync.WaitGroup
			for range 12 {
				wg.Go(func() {
					c, err := s.Claim(ctx, key, lease)
					if assert.NoError(t, err) && c.Won {
						mu.Lock()
						won++
						mu.Unlock()
						assert.Equal(t, 2, c.Attempt)
					}
				})
			}
			wg.Wait()
			assert.Equal(t, 1, won, key)
		}
	})
}

func TestHostileKeys(t *testing.T) {
	contract(t, func(t *testing.T, s idempotency.Store) {
		ctx := context.Background()
		for _, key := range []string{"", strings.Repeat("k", idempotency.MaxKeyBytes+1), "a\x00b", "\xff\xfe"} {
			_, err := s.Claim(ctx, key, lease)
			assert.Error(t, err, "%q", key)
		}
		_, err := s.Claim(ctx, "k", 0)
		assert.Error(t, err)
		// Keys are text, compared exactly: quotes and unicode are just bytes.
		for _, key := range []string{"it's", `a"b`, "é/ü", strings.Repeat("k", idempotency.MaxKeyBytes)} {
			c, err := s.Claim(ctx, key, lease)
			require.NoError(t, err, key)
			assert.True(t, c.Won, key)
		}
	})
}

func TestOpen(t *testing.T) {
	t.Parallel()
	s, err := idempotency.Open(context.Background(), "")
	require.NoError(t, err)
	assert.IsType(t, &idempotency.Memory{}, s)
	_, err = idempotency.Open(context.Background(), "mysql://x")
	assert.Error(t, err)
	_, err = idempotency.Open(context.Background(), "postgres://u:secret@127.0.0.1:1/x?connect_timeout=1")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret")
}

// TestTwoStartsAtOnce: replicas starting together both create the table
// without failing.
func TestTwoStartsAtOnce(t *testing.T) {
	t.Parallel()
	url := testenv.Postgres(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := idempotency.OpenPostgres(context.Background(), url)
			if assert.NoError(t, err) {
				_ = s.Close()
			}
		})
	}
	wg.Wait()
}
