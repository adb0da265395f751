package bus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/protobuf/proto"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
)

const (
	svcA  = "svc-a"
	svcB  = "svc-b"
	topic = events.TopicAssetUploaded
)

// wait is generous: goaws moves messages once a second.
const wait = 20 * time.Second

func transports(t *testing.T) []*harness {
	hs := []*harness{{name: bus.TransportMemory}}
	if testing.Short() {
		t.Log("aws transport skipped in -short mode")
		return hs
	}
	return append(hs, &harness{name: bus.TransportAWS, endpoint: testenv.Goaws(t)})
}

// TestContract runs the same behaviour checks against every transport.
func TestContract(t *testing.T) {
	for _, h := range transports(t) {
		t.Run(h.name, func(t *testing.T) {
			for _, c := range contractCases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, h)
				})
			}
		})
	}
}

var contractCases = []struct {
	name string
	run  func(t *testing.T, h *harness)
}{
	{"RoundTrip", testRoundTrip},
	{"FanOut", testFanOut},
	{"RedeliveryAfterFailure", testRedelivery},
	{"DeadLetterAfterMaxReceives", testDeadLetterAfterMaxReceives},
	{"PermanentErrorDeadLettersAtOnce", testPermanent},
	{"MalformedBodyDeadLettersAtOnce", testMalformed},
	{"DuplicateHandledOnce", testDuplicate},
	{"PanicRecovered", testPanic},
	{"PublishInheritsCorrelation", testInheritCorrelation},
	{"NotProvisioned", testNotProvisioned},
	{"LongHandlerNotRedelivered", testLongHandler},
	{"GracefulShutdownFinishesInFlight", testGracefulShutdown},
	{"DeadLettersSwept", testDeadLettersSwept},
	{"InterruptedHandedBackAtOnce", testInterruptedHandedBack},
	{"DrainingBurnsNoReceives", testDrainingBurnsNoReceives},
	{"LaterComesBackAfterItsDelay", testLater},
}

func testRoundTrip(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic})
	rec := &recorder{}
	start(t, cfg, svcA, map[string]bus.Handler{topic: rec.handle})
	env := uploaded(t)
	require.NoError(t, publisher(t, cfg).Publish(context.Background(), env))

	require.Eventually(t, func() bool { return rec.succeeded() == 1 }, wait, 20*time.Millisecond)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.True(t, proto.Equal(env, rec.calls[0]), "received %v, want %v", rec.calls[0], env)
	m := rec.metas[0]
	assert.Equal(t, env.GetEventId(), m.EventID)
	assert.Equal(t, env.GetCorrelationId(), m.CorrelationID)
	assert.Equal(t, env.GetTraceparent(), m.Traceparent)
	assert.Equal(t, topic, m.Topic)
	assert.Equal(t, bus.QueueName(cfg.Prefix, svcA, topic), m.Queue)
	assert.Equal(t, 1, m.Attempt)
}

func testFanOut(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic}, bus.Subscription{Service: svcB, Topic: topic})
	a, b := &recorder{}, &recorder{}
	start(t, cfg, svcA, map[string]bus.Handler{topic: a.handle})
	start(t, cfg, svcB, map[string]bus.Handler{topic: b.handle})
	env := uploaded(t)
	require.NoError(t, publisher(t, cfg).Publish(context.Background(), env))
	require.Eventually(t, func() bool { return a.succeeded() == 1 && b.succeeded() == 1 }, wait, 20*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, 1, a.count())
	assert.Equal(t, 1, b.count())
}

func testRedelivery(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic})
	rec := &recorder{behave: func(_ context.Context, n int64, _ *eventsv1.Envelope) error {
		if n == 1 {
			return errBoom
		}
		return nil
	}}
	b := start(t, cfg, svcA, map[string]bus.Handler{topic: rec.handle})
	env := uploaded(t)
	require.NoError(t, publisher(t, cfg).Publish(context.Background(), env))
	require.Eventually(t, func() bool { return rec.succeeded() == 1 }, wait, 20*time.Millisecond)
	assert.Equal(t, 2, rec.countOf(env.GetEventId()), "handler runs again after a failure")
	dead, err := b.DeadLetters(context.Background(), topic, 10)
	require.NoError(t, err)
	assert.Empty(t, dead)
}

func testDeadLetterAfterMaxReceives(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic})
	rec := &recorder{behave: func(context.Context, int64, *eventsv1.Envelope) error { return errBoom }}
	b := start(t, cfg, svcA, map[string]bus.Handler{topic: rec.handle})
	env := uploaded(t)
	require.NoError(t, publisher(t, cfg).Publish(context.Background(), env))
	want, err := events.Marshal(env)
	require.NoError(t, err)
	requireDeadLetter(t, b, want)
	assert.Equal(t, cfg.MaxReceives*(cfg.Retries+1), rec.count(), "one attempt per receive")
}

func requireDeadLetter(t *testing.T, b *bus.Bus, want []byte) {
	t.Helper()
	var dead [][]byte
	require.Eventually(t, func() bool {
		var err error
		dead, err = b.DeadLetters(context.Background(), topic, 10)
		return err == nil && len(dead) > 0
	}, wait, 200*time.Millisecond)
	require.Len(t, dead, 1)
	assert.Equal(t, string(want), string(dead[0]))
}

func testPermanent(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic})
	cfg.Retries = 3
	rec := &recorder{behave: func(context.Context, int64, *eventsv1.Envelope) error {
		return bus.Permanent(errors.New("unsupported codec"))
	}}
	b := start(t, cfg, svcA, map[string]bus.Handler{topic: rec.handle})
	env := uploaded(t)
	require.NoError(t, publisher(t, cfg).Publish(context.Background(), env))
	want, _ := events.Marshal(env)
	requireDeadLetter(t, b, want)
	assert.Equal(t, 1, rec.count(), "no retries for a permanent error")
}

func testMalformed(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic})
	rec := &recorder{}
	b := start(t, cfg, svcA, map[string]bus.Handler{topic: rec.handle})
	garbage := []byte("this is not a pertitle event")
	require.NoError(t, b.SendRaw(context.Background(), topic, garbage))
	requireDeadLetter(t, b, garbage)
	assert.Equal(t, 0, rec.count(), "the handler never sees a malformed body")
}

func testDuplicate(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic})
	rec := &recorder{}
	start(t, cfg, svcA, map[string]bus.Handler{topic: rec.handle})
	pub := publisher(t, cfg)
	env, other := uploaded(t), uploaded(t)
	require.NoError(t, pub.Publish(context.Background(), env))
	require.NoError(t, pub.Publish(context.Background(), env))
	require.NoError(t, pub.Publish(context.Background(), other))
	require.Eventually(t, func() bool { return rec.countOf(other.GetEventId()) == 1 }, wait, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, 1, rec.countOf(env.GetEventId()), "a duplicate is acknowledged without handling")
	assert.Equal(t, 2, rec.count())
}

func testPanic(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic})
	cfg.Retries = 1
	rec := &recorder{behave: func(_ context.Context, n int64, _ *eventsv1.Envelope) error {
		if n == 1 {
			panic("nil map somewhere")
		}
		return nil
	}}
	start(t, cfg, svcA, map[string]bus.Handler{topic: rec.handle})
	require.NoError(t, publisher(t, cfg).Publish(context.Background(), uploaded(t)))
	require.Eventually(t, func() bool { return rec.succeeded() == 1 }, wait, 20*time.Millisecond)
	assert.Equal(t, 2, rec.count(), "the panic is an error, retried in process")
}

func testInheritCorrelation(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic},
		bus.Subscription{Service: svcB, Topic: events.TopicEncodingRequested})
	var b *bus.Bus
	a := &recorder{behave: func(ctx context.Context, _ int64, env *eventsv1.Envelope) error {
		next, err := events.New(events.Meta{AssetID: env.GetAssetId(), Producer: svcA}, &eventsv1.EncodingRequested{})
		if err != nil {
			return err
		}
		next.Traceparent = ""
		return b.Publish(ctx, next)
	}}
	b = start(t, cfg, svcA, map[string]bus.Handler{topic: a.handle})
	down := &recorder{}
	start(t, cfg, svcB, map[string]bus.Handler{events.TopicEncodingRequested: down.handle})
	env := uploaded(t)
	require.NoError(t, publisher(t, cfg).Publish(context.Background(), env))
	require.Eventually(t, func() bool { return down.succeeded() == 1 }, wait, 20*time.Millisecond)
	down.mu.Lock()
	defer down.mu.Unlock()
	assert.Equal(t, env.GetCorrelationId(), down.calls[0].GetCorrelationId())
	assert.Equal(t, env.GetTraceparent(), down.calls[0].GetTraceparent())
}

func testNotProvisioned(t *testing.T, h *harness) {
	if !h.aws() {
		t.Skip("memory topics and queues always exist")
	}
	cfg := h.config(t) // provisions topics only, no queues
	cfg.Prefix = "missing" + randHex(3) + "-"
	pub := publisher(t, cfg)
	err := pub.Publish(context.Background(), uploaded(t))
	require.ErrorIs(t, err, bus.ErrNotProvisioned)

	b, err := bus.New(context.Background(), cfg, svcA, zap.NewNop(), nil)
	require.NoError(t, err)
	defer b.Close()
	b.Subscribe(topic, (&recorder{}).handle)
	require.ErrorIs(t, b.Run(context.Background()), bus.ErrNotProvisioned)
	require.ErrorIs(t, b.Ping(context.Background()), bus.ErrNotProvisioned)
}

func testLongHandler(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic})
	rec := &recorder{behave: func(ctx context.Context, _ int64, _ *eventsv1.Envelope) error {
		select {
		case <-time.After(cfg.VisibilityTimeout*2 + cfg.VisibilityTimeout/2):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	// Two replicas (separate dedupers): without the heartbeat the second would get
	// the message while the first is still working on it.
	b := start(t, cfg, svcA, map[string]bus.Handler{topic: rec.handle})
	start(t, cfg, svcA, map[string]bus.Handler{topic: rec.handle})
	require.NoError(t, publisher(t, cfg).Publish(context.Background(), uploaded(t)))
	require.Eventually(t, func() bool { return rec.succeeded() == 1 }, wait, 20*time.Millisecond)
	time.Sleep(cfg.VisibilityTimeout + 1500*time.Millisecond)
	assert.Equal(t, 1, rec.count(), "the heartbeat keeps a long job invisible")
	dead, err := b.DeadLetters(context.Background(), topic, 10)
	require.NoError(t, err)
	assert.Empty(t, dead)
}

func testGracefulShutdown(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic})
	started := make(chan struct{})
	rec := &recorder{behave: func(context.Context, int64, *eventsv1.Envelope) error {
		close(started)
		time.Sleep(500 * time.Millisecond)
		return nil
	}}
	b, err := bus.New(context.Background(), cfg, svcA, zap.NewNop(), nil)
	require.NoError(t, err)
	b.Subscribe(topic, rec.handle)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	<-b.Running()
	require.NoError(t, publisher(t, cfg).Publish(context.Background(), uploaded(t)))
	select {
	case <-started:
	case <-time.After(wait):
		t.Fatal("handler not called")
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	assert.Equal(t, 1, rec.succeeded(), "the in-flight handler finished")
	require.NoError(t, b.Close())

	// A new consumer on the same queue must not see the event again: it was acked.
	again := &recorder{}
	start(t, cfg, svcA, map[string]bus.Handler{topic: again.handle})
	time.Sleep(cfg.VisibilityTimeout + 1500*time.Millisecond)
	assert.Equal(t, 0, again.count())
}

// TestProvisionIdempotent checks that a second Provision finds everything in place.
func TestProvisionIdempotent(t *testing.T) {
	if testing.Short() {
		t.Skip("needs goaws")
	}
	h := &harness{name: bus.TransportAWS, endpoint: testenv.Goaws(t)}
	subs := bus.DefaultTopology().Subscriptions
	cfg := h.config(t, subs...) // first run
	core, logs := observer.New(zapcore.InfoLevel)
	require.NoError(t, bus.Provision(context.Background(), cfg, bus.DefaultTopology(), zap.New(core)))
	done := logs.FilterMessage("bus provisioned").All()
	require.Len(t, done, 1)
	assert.EqualValues(t, 0, done[0].ContextMap()["changes"], "second run changes nothing")
	assert.Len(t, logs.FilterMessage("subscription created").All(), 0)

	// Exactly one subscription per queue, still raw.
	client := sns.New(sns.Options{Region: cfg.Region, BaseEndpoint: aws.String(cfg.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	out, err := client.ListSubscriptionsByTopic(context.Background(), &sns.ListSubscriptionsByTopicInput{
		TopicArn: aws.String("arn:aws:sns:" + cfg.Region + ":" + cfg.AccountID + ":" + bus.TopicName(cfg.Prefix, events.TopicAssetUploaded))})
	require.NoError(t, err)
	assert.Len(t, out.Subscriptions, 2) // encoder-dispatch and catalog

	// And the topology still works end to end.
	rec := &recorder{}
	start(t, cfg, bus.ServiceCatalog, map[string]bus.Handler{events.TopicAssetUploaded: rec.handle})
	require.NoError(t, publisher(t, cfg).Publish(context.Background(), uploaded(t)))
	require.Eventually(t, func() bool { return rec.succeeded() == 1 }, wait, 20*time.Millisecond)

	assert.NoError(t, bus.Provision(context.Background(), bus.Config{Transport: bus.TransportMemory}, bus.DefaultTopology(), nil),
		"memory provisioning is a no-op")
}

// sweeper records the dead letters handed to a DeadLetterHandler; its first
// call for each event fails once when flaky is set.
type sweeper struct {
	mu     sync.Mutex
	got    []bus.DeadLetter
	failed map[string]bool
	flaky  bool
}

func (s *sweeper) handle(_ context.Context, dl bus.DeadLetter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := string(dl.Body)
	if s.flaky && !s.failed[key] {
		s.failed[key] = true
		return errBoom
	}
	s.got = append(s.got, dl)
	return nil
}

func (s *sweeper) byEvent(id string) []bus.DeadLetter {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []bus.DeadLetter
	for _, d := range s.got {
		if d.Env.GetEventId() == id || (id == "" && d.Env == nil) {
			out = append(out, d)
		}
	}
	return out
}

func testDeadLettersSwept(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic})
	cfg.DeadLetterSweep = 500 * time.Millisecond
	permanent, failing := uploaded(t), uploaded(t)
	rec := &recorder{behave: func(_ context.Context, _ int64, env *eventsv1.Envelope) error {
		if env.GetEventId() == permanent.GetEventId() {
			return bus.Permanent(errors.New("this asset cannot be encoded"))
		}
		return errBoom
	}}
	sw := &sweeper{failed: map[string]bool{}, flaky: true}
	b := start(t, cfg, svcA, map[string]bus.Handler{topic: rec.handle}, func(b *bus.Bus) { b.OnDeadLetter(sw.handle) })
	pub := publisher(t, cfg)
	require.NoError(t, pub.Publish(context.Background(), permanent))
	require.NoError(t, pub.Publish(context.Background(), failing))
	require.NoError(t, b.SendRaw(context.Background(), topic, []byte("not an event")))

	require.Eventually(t, func() bool {
		return len(sw.byEvent(permanent.GetEventId())) > 0 && len(sw.byEvent(failing.GetEventId())) > 0 && len(sw.byEvent("")) > 0
	}, 3*wait, 50*time.Millisecond, "every dead letter is swept, after its handler failed once")
	p := sw.byEvent(permanent.GetEventId())[0]
	assert.Equal(t, topic, p.Topic)
	assert.Contains(t, p.Why(), "this asset cannot be encoded", "the bus's own reason travels")
	f := sw.byEvent(failing.GetEventId())[0]
	assert.Contains(t, f.Why(), "not handled after 3 deliveries")
	assert.Nil(t, sw.byEvent("")[0].Env)
	assert.Equal(t, "not an event", string(sw.byEvent("")[0].Body))

	// Handled once: a swept message is not handed over again at every sweep.
	time.Sleep(4 * cfg.DeadLetterSweep)
	assert.Len(t, sw.byEvent(permanent.GetEventId()), 1)
	assert.Len(t, sw.byEvent(failing.GetEventId()), 1)
	if !h.aws() {
		// It stays in the dead-letter list, for operators.
		dead, err := b.DeadLetters(context.Background(), topic, 10)
		require.NoError(t, err)
		assert.Len(t, dead, 3)
	}
}

// testInterruptedHandedBack: a handler still running at the drain deadline is
// cancelled and its message handed back at once: another consumer starts it
// well before the visibility timeout would have let it.
func testInterruptedHandedBack(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic})
	cfg.VisibilityTimeout, cfg.Drain = 60*time.Second, 300*time.Millisecond
	started := make(chan struct{})
	var once sync.Once
	stuck := &recorder{behave: func(ctx context.Context, _ int64, _ *eventsv1.Envelope) error {
		once.Do(func() { close(started) })
		<-ctx.Done() // a chunk that cannot finish in time
		return ctx.Err()
	}}
	b, err := bus.New(context.Background(), cfg, svcA, zap.NewNop(), nil)
	require.NoError(t, err)
	b.Subscribe(topic, stuck.handle)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	<-b.Running()
	require.NoError(t, publisher(t, cfg).Publish(context.Background(), uploaded(t)))
	select {
	case <-started:
	case <-time.After(wait):
		t.Fatal("handler not called")
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	require.NoError(t, b.Close())

	next := &recorder{}
	start(t, cfg, svcA, map[string]bus.Handler{topic: next.handle})
	// Generous for a loaded machine, and still well inside the 60 s the
	// message would stay hidden had it not been handed back.
	require.Eventually(t, func() bool { return next.succeeded() == 1 }, cfg.VisibilityTimeout*3/4, 20*time.Millisecond,
		"another consumer gets the interrupted message before its visibility timeout")
}

// testDrainingBurnsNoReceives: a consumer with two subscriptions drains;
// one handler stops at once when cancelled, the other takes a second to
// clean up. Meanwhile the first subscription keeps polling, and what it
// receives (the message its own handler handed back, one published during
// the drain) must not come back to it in a loop that spends the redrive
// policy's receives in milliseconds: both reach the next consumer, nothing
// is dead-lettered.
func testDrainingBurnsNoReceives(t *testing.T, h *harness) {
	const slowTopic = events.TopicEncodingFinished
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic}, bus.Subscription{Service: svcA, Topic: slowTopic})
	cfg.VisibilityTimeout, cfg.Drain = 60*time.Second, 300*time.Millisecond
	var started sync.WaitGroup
	started.Add(2)
	stuck := func(cleanup time.Duration) *recorder {
		var once sync.Once
		return &recorder{behave: func(ctx context.Context, _ int64, _ *eventsv1.Envelope) error {
			once.Do(started.Done)
			<-ctx.Done()
			time.Sleep(cleanup)
			return ctx.Err()
		}}
	}
	quick, slow := stuck(0), stuck(1500*time.Millisecond)
	b, err := bus.New(context.Background(), cfg, svcA, zap.NewNop(), nil)
	require.NoError(t, err)
	b.Subscribe(topic, quick.handle)
	b.Subscribe(slowTopic, slow.handle)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	<-b.Running()
	pub := publisher(t, cfg)
	first, second := uploaded(t), uploaded(t)
	require.NoError(t, pub.Publish(context.Background(), first))
	require.NoError(t, pub.Publish(context.Background(), finished(t)))
	waited := make(chan struct{})
	go func() { started.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(wait):
		t.Fatal("handlers not called")
	}
	cancel()
	require.NoError(t, pub.Publish(context.Background(), second), "published while the consumer drains")
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	require.NoError(t, b.Close())
	assert.Equal(t, 1, quick.count(), "nothing handled once draining began")

	next := &recorder{}
	nb := start(t, cfg, svcA, map[string]bus.Handler{topic: next.handle})
	if !assert.Eventually(t, func() bool {
		return next.countOf(first.GetEventId()) == 1 && next.countOf(second.GetEventId()) == 1
	}, cfg.VisibilityTimeout*3/4, 20*time.Millisecond, "both messages reach the next consumer") {
		dead, _ := nb.DeadLetters(context.Background(), topic, 10)
		t.Fatalf("the interrupted one handled %d times, the one published during the drain %d times; %d dead letters",
			next.countOf(first.GetEventId()), next.countOf(second.GetEventId()), len(dead))
	}
	dead, err := nb.DeadLetters(context.Background(), topic, 10)
	require.NoError(t, err)
	assert.Empty(t, dead, "no receive was spent in a loop")
}

// testLater: a handler that asks for its message later gets it back after
// that delay, not at once nor after the visibility timeout, without the
// in-process retries.
func testLater(t *testing.T, h *harness) {
	cfg := h.config(t, bus.Subscription{Service: svcA, Topic: topic})
	cfg.VisibilityTimeout, cfg.Retries = 60*time.Second, 3
	var first time.Time
	var mu sync.Mutex
	var gaps []time.Duration
	rec := &recorder{behave: func(_ context.Context, n int64, _ *eventsv1.Envelope) error {
		mu.Lock()
		defer mu.Unlock()
		if n == 1 {
			first = time.Now()
			return bus.Later(2*time.Second, errors.New("in another consumer's hands"))
		}
		gaps = append(gaps, time.Since(first))
		return nil
	}}
	start(t, cfg, svcA, map[string]bus.Handler{topic: rec.handle})
	require.NoError(t, publisher(t, cfg).Publish(context.Background(), uploaded(t)))
	require.Eventually(t, func() bool { return rec.succeeded() == 1 }, 40*time.Second, 20*time.Millisecond)
	assert.Equal(t, 2, rec.count(), "no in-process retry in between")
	mu.Lock()
	defer mu.Unlock()
	assert.GreaterOrEqual(t, gaps[0], 1900*time.Millisecond, "not before the delay")
	assert.Less(t, gaps[0], 30*time.Second, "not after the visibility timeout")
}
