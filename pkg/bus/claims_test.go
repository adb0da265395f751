package bus_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/idempotency"
)

// replica opens the state database as one more process would: its own pool.
func replica(t *testing.T, url string) idempotency.Store {
	t.Helper()
	s, err := idempotency.Open(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// runBus runs a bus with opts until the returned stop is called (or the test ends).
func runBus(t *testing.T, cfg bus.Config, service string, topic string, h bus.Handler, opts ...bus.Option) (stop func()) {
	t.Helper()
	b, err := bus.New(context.Background(), cfg, service, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), nil, opts...)
	require.NoError(t, err)
	b.Subscribe(topic, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-b.Running():
	case err := <-done:
		t.Fatalf("bus did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("bus did not start in time")
	}
	var once atomic.Bool
	stop = func() {
		if !once.CompareAndSwap(false, true) {
			return
		}
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(40 * time.Second):
			t.Error("bus Run did not return")
		}
		_ = b.Close()
	}
	t.Cleanup(stop)
	return stop
}

// TestSharedClaims runs the idempotency faults against every transport, with
// two consumers of one service sharing a PostgreSQL state database.
func TestSharedClaims(t *testing.T) {
	for _, h := range transports(t) {
		t.Run(h.name, func(t *testing.T) {
			t.Run("ConcurrentCopiesHandledOnce", func(t *testing.T) { t.Parallel(); testConcurrentCopies(t, h) })
			t.Run("DeadHolderTakenOver", func(t *testing.T) { t.Parallel(); testDeadHolder(t, h) })
		})
	}
}

// testConcurrentCopies: the same event delivered twice at once, one copy to
// each replica. With a deduper per process both would encode; with the shared
// store the second copy is handed back while the first runs, then dropped.
func testConcurrentCopies(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic})
	url := testenv.Postgres(t)
	started := make(chan struct{}, 2)
	rec := &recorder{behave: func(ctx context.Context, _ int64, _ *eventsv1.Envelope) error {
		started <- struct{}{}
		// Longer than the visibility timeout: the heartbeat extends the lease too.
		select {
		case <-time.After(cfg.VisibilityTimeout + time.Second):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	runBus(t, cfg, svcA, topic, rec.handle, bus.WithClaims(replica(t, url)))
	runBus(t, cfg, svcA, topic, rec.handle, bus.WithClaims(replica(t, url)))
	pub := publisher(t, cfg)
	env := uploaded(t)
	require.NoError(t, pub.Publish(context.Background(), env))
	require.NoError(t, pub.Publish(context.Background(), env))
	require.Eventually(t, func() bool { return rec.succeeded() == 1 }, wait, 20*time.Millisecond)
	// The handed-back copy comes back once the lease would have run out and
	// is dropped as done: nothing left, nothing dead-lettered.
	time.Sleep(cfg.VisibilityTimeout + 2*time.Second)
	assert.Equal(t, 1, rec.count(), "one copy handled, the other dropped")
	assert.Empty(t, deadLetters(t, cfg))
	store := replica(t, url)
	c, err := store.Claim(context.Background(), bus.QueueName(cfg.Prefix, svcA, topic)+"/"+env.GetEventId(), time.Second)
	require.NoError(t, err)
	assert.Equal(t, idempotency.Done, c.State)
}

// dying is a Store whose process has died: after kill, nothing it does
// reaches the database (no heartbeat, no release).
type dying struct {
	idempotency.Store
	dead atomic.Bool
}

var errDead = errors.New("process killed")

func (d *dying) Extend(ctx context.Context, c idempotency.Claim, lease time.Duration) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Store.Extend(ctx, c, lease)
}

func (d *dying) Done(ctx context.Context, c idempotency.Claim, keep time.Duration) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Store.Done(ctx, c, keep)
}

func (d *dying) Fail(ctx context.Context, c idempotency.Claim) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Store.Fail(ctx, c)
}

// testDeadHolder: the replica handling an event is killed mid-work without
// giving its claim up. Its copy comes back to the other replica, which waits
// for the dead holder's lease to run out and then runs it.
func testDeadHolder(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic})
	cfg.Drain = 100 * time.Millisecond
	url := testenv.Postgres(t)
	holding := make(chan struct{})
	var victim atomic.Int64
	dead := &dying{Store: replica(t, url)}
	stopVictim := runBus(t, cfg, svcA, topic, func(ctx context.Context, _ *eventsv1.Envelope) error {
		victim.Add(1)
		close(holding)
		<-ctx.Done()
		return ctx.Err()
	}, bus.WithClaims(dead))
	pub := publisher(t, cfg)
	env := uploaded(t)
	require.NoError(t, pub.Publish(context.Background(), env))
	select {
	case <-holding:
	case <-time.After(wait):
		t.Fatal("the first replica never got the event")
	}
	// Only now the survivor starts, so that the victim had the event.
	var attempts atomic.Int64
	survivor := &recorder{behave: func(ctx context.Context, _ int64, _ *eventsv1.Envelope) error {
		attempts.Add(1)
		return nil
	}}
	runBus(t, cfg, svcA, topic, survivor.handle, bus.WithClaims(replica(t, url)))
	killed := time.Now()
	dead.dead.Store(true)
	stopVictim()
	require.Eventually(t, func() bool { return survivor.succeeded() == 1 }, wait, 20*time.Millisecond)
	took := time.Since(killed)
	assert.Equal(t, int64(1), victim.Load())
	assert.GreaterOrEqual(t, took, cfg.VisibilityTimeout/2, "not before the dead holder's lease runs out")
	time.Sleep(time.Second)
	assert.Equal(t, 1, survivor.count())
	assert.Empty(t, deadLetters(t, cfg))
}

// deadLetters peeks at svcA's dead-letter queue.
func deadLetters(t *testing.T, cfg bus.Config) [][]byte {
	t.Helper()
	b, err := bus.New(context.Background(), cfg, svcA, zap.NewNop(), nil)
	require.NoError(t, err)
	defer b.Close()
	dead, err := b.DeadLetters(context.Background(), topic, 10)
	require.NoError(t, err)
	return dead
}
