package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
)

const rawTopic = bus.TopicS3ObjectCreated

// rawRecorder records raw bodies and fails as told.
type rawRecorder struct {
	mu     sync.Mutex
	bodies []string
	metas  []bus.Meta
	behave func(n int) error
}

func (r *rawRecorder) handle(ctx context.Context, body []byte) error {
	r.mu.Lock()
	r.bodies = append(r.bodies, string(body))
	m, _ := bus.EventMeta(ctx)
	r.metas = append(r.metas, m)
	n := len(r.bodies)
	r.mu.Unlock()
	if r.behave != nil {
		return r.behave(n)
	}
	return nil
}

func (r *rawRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

// rawConfig provisions the raw topic and svcA's queue on it.
func rawConfig(t *testing.T, h *harness) bus.Config {
	cfg := h.config(t)
	sub := bus.Subscription{Service: svcA, Topic: rawTopic}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, bus.Provision(ctx, cfg, bus.Topology{Topics: []string{rawTopic}, Subscriptions: []bus.Subscription{sub}},
		zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))))
	return cfg
}

func startRaw(t *testing.T, cfg bus.Config, h bus.RawHandler) *bus.Bus {
	b, err := bus.New(context.Background(), cfg, svcA, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), nil)
	require.NoError(t, err)
	b.SubscribeRaw(rawTopic, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-b.Running():
	case err := <-done:
		t.Fatalf("bus did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
		assert.NoError(t, b.Close())
	})
	return b
}

// TestRawSubscription checks SubscribeRaw/PublishRaw on every transport: bodies
// arrive byte for byte, duplicates are not collapsed (the handler owns idempotency),
// failures are retried and permanent errors dead-letter at once.
func TestRawSubscription(t *testing.T) {
	const body = `{"Records":[{"eventSource":"aws:s3","s3":{"object":{"key":"uploads/a/My+Clip%E2%9C%93.mp4"}}}]}`
	cases := []struct {
		name      string
		publishes int
		behave    func(n int) error
		wantCalls int
		wantDead  bool
	}{
		{"delivered as is", 1, nil, 1, false},
		{"duplicates reach the handler", 2, nil, 2, false},
		{"failure retried", 1, func(n int) error {
			if n == 1 {
				return errors.New("s3 unavailable")
			}
			return nil
		}, 2, false},
		{"permanent error dead-lettered", 1, func(int) error { return bus.Permanent(errors.New("not a notification")) }, 1, true},
	}
	for _, h := range transports(t) {
		t.Run(h.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					cfg := rawConfig(t, h)
					rec := &rawRecorder{behave: c.behave}
					b := startRaw(t, cfg, rec.handle)
					pub := publisher(t, cfg)
					for i := 0; i < c.publishes; i++ {
						require.NoError(t, pub.PublishRaw(context.Background(), rawTopic, []byte(body)))
					}
					require.Eventually(t, func() bool { return rec.count() >= c.wantCalls }, wait, 20*time.Millisecond)
					if c.wantDead {
						var dead [][]byte
						require.Eventually(t, func() bool {
							dead, _ = b.DeadLetters(context.Background(), rawTopic, 10)
							return len(dead) == 1
						}, wait, 100*time.Millisecond)
						assert.Equal(t, body, string(dead[0]))
					}
					time.Sleep(300 * time.Millisecond)
					rec.mu.Lock()
					defer rec.mu.Unlock()
					assert.Len(t, rec.bodies, c.wantCalls)
					for _, got := range rec.bodies {
						assert.Equal(t, body, got)
					}
					assert.Equal(t, rawTopic, rec.metas[0].Topic)
					assert.Equal(t, bus.QueueName(cfg.Prefix, svcA, rawTopic), rec.metas[0].Queue)
				})
			}
		})
	}
}

func TestPublishRawLimits(t *testing.T) {
	t.Parallel()
	cfg := (&harness{name: bus.TransportMemory}).config(t)
	pub := publisher(t, cfg)
	assert.Error(t, pub.PublishRaw(context.Background(), rawTopic, nil))
	assert.ErrorIs(t, pub.PublishRaw(context.Background(), rawTopic, make([]byte, 300*1024)), events.ErrTooLarge)
}

// TestTooLargeIsPermanent: an event over SQS's limit fails the same way on every
// attempt, so callers must not answer "retry" (503) nor retry it in a handler.
func TestTooLargeIsPermanent(t *testing.T) {
	t.Parallel()
	cfg := (&harness{name: bus.TransportMemory}).config(t)
	pub := publisher(t, cfg)
	env, err := events.New(events.Meta{AssetID: "a", Producer: "p"}, &eventsv1.AssetUploaded{Owner: "alice", SourceKey: "sources/a/source.mp4",
		Title: strings.Repeat("t", events.MaxBodyBytes*3/4)})
	require.NoError(t, err)
	err = pub.Publish(context.Background(), env)
	require.ErrorIs(t, err, events.ErrTooLarge)
	assert.True(t, bus.IsPermanent(err))
	assert.True(t, bus.IsPermanent(fmt.Errorf("handler: %w", err)))
	assert.False(t, bus.IsPermanent(errors.New("sns unavailable")))
}

func TestDefaultTopologyHasS3Ingestion(t *testing.T) {
	t.Parallel()
	top := bus.DefaultTopology()
	assert.Contains(t, top.Topics, bus.TopicS3ObjectCreated)
	assert.Contains(t, top.Subscriptions, bus.Subscription{Service: bus.ServiceIngest, Topic: bus.TopicS3ObjectCreated})
}
