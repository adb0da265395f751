package bus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
)

// harness runs the contract suite against one transport.
type harness struct {
	name     string
	endpoint string            // aws: the goaws endpoint
	broker   *bus.MemoryBroker // memory: shared by the buses of one test
}

func (h *harness) aws() bool { return h.name == bus.TransportAWS }

// config returns a configuration with a unique prefix, provisioned for subs.
func (h *harness) config(t testing.TB, subs ...bus.Subscription) bus.Config {
	t.Helper()
	cfg := bus.DefaultConfig()
	cfg.Prefix = "t" + randHex(5) + "-"
	cfg.VisibilityTimeout = 2 * time.Second
	cfg.MaxReceives = 3
	cfg.WaitTime = time.Second
	cfg.Retries = 0
	cfg.RetryInterval = 20 * time.Millisecond
	if h.aws() {
		cfg.Transport = bus.TransportAWS
		cfg.Endpoint = h.endpoint
		cfg.Region = testenv.GoawsRegion
		cfg.AccountID = testenv.GoawsAccountID
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		log := zap.NewNop()
		if tt, ok := t.(*testing.T); ok {
			log = zaptest.NewLogger(tt, zaptest.Level(zap.WarnLevel))
		}
		require.NoError(t, bus.Provision(ctx, cfg, bus.Topology{Topics: events.AllTopics, Subscriptions: subs}, log))
	} else {
		cfg.Transport = bus.TransportMemory
		cfg.Memory = bus.NewMemoryBroker()
		t.Cleanup(func() { _ = cfg.Memory.Close() })
		require.NoError(t, bus.Provision(context.Background(), cfg, bus.Topology{Topics: events.AllTopics, Subscriptions: subs}, nil))
	}
	return cfg
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// start creates the bus of service, subscribes handlers and runs it until the test ends.
func start(t testing.TB, cfg bus.Config, service string, handlers map[string]bus.Handler, setup ...func(*bus.Bus)) *bus.Bus {
	t.Helper()
	log := zap.NewNop()
	if tt, ok := t.(*testing.T); ok {
		log = zaptest.NewLogger(tt, zaptest.Level(zap.WarnLevel))
	}
	b, err := bus.New(context.Background(), cfg, service, log, nil)
	require.NoError(t, err)
	for topic, h := range handlers {
		b.Subscribe(topic, h)
	}
	for _, f := range setup {
		f(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-b.Running():
	case err := <-done:
		cancel()
		t.Fatalf("bus did not start: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("bus did not start in time")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(40 * time.Second):
			t.Error("bus Run did not return")
		}
		require.NoError(t, b.Close())
	})
	return b
}

// publisher is a bus with no subscriptions.
func publisher(t testing.TB, cfg bus.Config) *bus.Bus {
	t.Helper()
	b, err := bus.New(context.Background(), cfg, "test-producer", zap.NewNop(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func uploaded(t testing.TB) *eventsv1.Envelope {
	t.Helper()
	env, err := events.New(events.Meta{AssetID: "asset-" + randHex(4), Producer: "test", CorrelationID: "corr-" + randHex(4)},
		&eventsv1.AssetUploaded{Owner: "alice", Title: "Big Buck Bunny", SourceKey: "src/" + randHex(4)})
	require.NoError(t, err)
	return env
}

func finished(t testing.TB) *eventsv1.Envelope {
	t.Helper()
	env, err := events.New(events.Meta{AssetID: "asset-" + randHex(4), Producer: "test"},
		&eventsv1.EncodingFinished{ExternalJobId: "job-" + randHex(4), HlsManifestKey: "out/master.m3u8"})
	require.NoError(t, err)
	return env
}

// recorder is a handler that records every call and behaves as told.
type recorder struct {
	mu    sync.Mutex
	calls []*eventsv1.Envelope
	metas []bus.Meta
	n     atomic.Int64
	ok    atomic.Int64
	// behave decides the outcome of call number n (from 1).
	behave func(ctx context.Context, n int64, env *eventsv1.Envelope) error
}

func (r *recorder) handle(ctx context.Context, env *eventsv1.Envelope) error {
	n := r.n.Add(1)
	m, _ := bus.EventMeta(ctx)
	r.mu.Lock()
	r.calls = append(r.calls, env)
	r.metas = append(r.metas, m)
	r.mu.Unlock()
	var err error
	if r.behave != nil {
		err = r.behave(ctx, n, env)
	}
	if err == nil {
		r.ok.Add(1)
	}
	return err
}

func (r *recorder) succeeded() int { return int(r.ok.Load()) }

func (r *recorder) count() int { return int(r.n.Load()) }

func (r *recorder) countOf(eventID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := 0
	for _, e := range r.calls {
		if e.GetEventId() == eventID {
			c++
		}
	}
	return c
}

var errBoom = errors.New("boom")
