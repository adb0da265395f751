package bus

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/idempotency"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/pkg/tracing"
)

// Metadata keys (SQS message attributes) set on every published event.
const (
	MetaEventID       = "event_id"
	MetaEventType     = "event_type"
	MetaCorrelationID = "correlation_id"
	MetaTraceparent   = "traceparent"
	MetaProducer      = "producer"

	metaDeadLetterReason = "dead_letter_reason"
	// Internal keys, never sent anywhere.
	metaInternal = "_pertitle_"
	metaReceipt  = metaInternal + "receipt"
)

// afterCancel bounds how long Run waits, once the drain deadline cancelled the
// handlers still running, for them to return and hand their messages back.
// A stop takes at most Drain + afterCancel + a few seconds: keep Kubernetes'
// terminationGracePeriodSeconds above that.
const afterCancel = 15 * time.Second

// ShutdownTimeout bounds how long Run lets in-flight handlers finish.
const ShutdownTimeout = svc.ShutdownTimeout

// AWS limits, enforced here because goaws is looser than SQS.
const maxAttributes = 10

var attrName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)

// transport is what differs between SNS+SQS and the in-process broker.
type transport interface {
	publish(ctx context.Context, topic string, msg *message.Message) error
	prepare(ctx context.Context, topic, queue string) error
	subscriber(queue string) (message.Subscriber, error)
	complete(ctx context.Context, queue string, msg *message.Message) error
	deadLetter(ctx context.Context, queue string, msg *message.Message, reason string) error
	extend(ctx context.Context, queue string, msg *message.Message, d time.Duration) error
	// delay hides a message it will get back for d (its receive counted).
	delay(ctx context.Context, queue string, msg *message.Message, d time.Duration) error
	send(ctx context.Context, queue string, body []byte) error
	deadLetters(ctx context.Context, queue string, max int) ([][]byte, error)
	takeDeadLetters(ctx context.Context, queue string, max int) ([]deadLetterItem, error)
	ping(ctx context.Context, queues, topics []string) error
	depth(ctx context.Context, queue string) (queueDepth, error)
	heartbeats() bool
	close() error
}

// Bus publishes pertitle events and runs one service's handlers.
type Bus struct {
	cfg     Config
	service string
	log     *zap.Logger
	metrics *svc.Metrics
	tr      transport
	wmLog   watermill.LoggerAdapter
	ages    queueAges

	mu        sync.Mutex
	claims    idempotency.Store
	ownClaims bool // opened by New from cfg.StateDB: closed by Close
	onDead    DeadLetterHandler
	subs      []subscription
	started   bool
	draining  bool
	inflight  sync.WaitGroup
	// handBack is closed once this process has stopped polling at shutdown:
	// messages to be handed back wait for it (see consume).
	handBack chan struct{}
	running  chan struct{}
	stop     context.CancelFunc
	done     chan struct{}
}

type subscription struct {
	topic, queue string
	h            Handler
	raw          RawHandler // set by SubscribeRaw: bodies are not pertitle envelopes
}

// Option configures New.
type Option func(*Bus)

// WithClaims makes the bus claim each event in s before handling it, instead
// of in the store Config.StateDB names. With the PostgreSQL store every
// replica of the service sees the others' claims, so a copy of an event
// delivered to a second replica while the first handles it waits, and once
// handled is dropped. The bus does not close s.
func WithClaims(s idempotency.Store) Option { return func(b *Bus) { b.claims = s } }

// New returns the bus of service. m may be nil.
func New(ctx context.Context, cfg Config, service string, log *zap.Logger, m *svc.Metrics, opts ...Option) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if service == "" || !namePart.MatchString(service) {
		return nil, fmt.Errorf("bus: service name %q must be letters, digits, '-' or '_'", service)
	}
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("component", "bus"))
	b := &Bus{cfg: cfg, service: service, log: log, metrics: m, wmLog: zapAdapter{l: log},
		running: make(chan struct{}), done: make(chan struct{}), handBack: make(chan struct{})}
	switch cfg.Transport {
	case TransportMemory:
		broker, private := cfg.Memory, false
		if broker == nil {
			broker, private = NewMemoryBroker(), true
		}
		b.tr = &memTransport{cfg: cfg, broker: broker, private: private}
	default:
		t, err := newAWSTransport(ctx, cfg, b.wmLog)
		if err != nil {
			return nil, err
		}
		b.tr = t
	}
	for _, o := range opts {
		o(b)
	}
	if b.claims == nil {
		claims, err := idempotency.Open(ctx, cfg.StateDB)
		if err != nil {
			_ = b.tr.close()
			return nil, fmt.Errorf("bus: %w", err)
		}
		b.claims, b.ownClaims = claims, true
	}
	return b, nil
}

// Claims is the idempotency store the bus claims events in, for the service's
// own exactly-once work (webhooks, S3 notifications): the replicas share it
// when Config.StateDB is set.
func (b *Bus) Claims() idempotency.Store { return b.claims }

// Service is the consuming service's name.
func (b *Bus) Service() string { return b.service }

// Queue is the queue this bus consumes for topic.
func (b *Bus) Queue(topic string) string { return b.cfg.queue(b.service, topic) }

// Publish sends env to its topic. Inside a handler, an envelope without correlation
// id or traceparent inherits those of the event being handled.
func (b *Bus) Publish(ctx context.Context, env *eventsv1.Envelope) error {
	if env == nil {
		return errors.New("bus: nil envelope")
	}
	if m, ok := EventMeta(ctx); ok && (env.GetCorrelationId() == "" && m.CorrelationID != "" || env.GetTraceparent() == "" && m.Traceparent != "") {
		env = proto.Clone(env).(*eventsv1.Envelope)
		if env.CorrelationId == "" {
			env.CorrelationId = m.CorrelationID
		}
		if env.Traceparent == "" {
			env.Traceparent = m.Traceparent
		}
	}
	topic, err := events.Topic(env)
	if err != nil {
		return err
	}
	ctx, span, env := b.startPublish(ctx, topic, env)
	err = b.publish(ctx, topic, env)
	tracing.End(span, err)
	return err
}

// publish sends env, already traced, to topic.
func (b *Bus) publish(ctx context.Context, topic string, env *eventsv1.Envelope) error {
	body, err := events.Marshal(env)
	if err != nil {
		return err
	}
	msg := message.NewMessage(uuid.NewString(), body)
	for k, v := range map[string]string{
		MetaEventID: env.GetEventId(), MetaEventType: env.GetType(), MetaCorrelationID: env.GetCorrelationId(),
		MetaTraceparent: env.GetTraceparent(), MetaProducer: env.GetProducer(),
	} {
		if v != "" { // SQS rejects empty attribute values (goaws drops them)
			msg.Metadata.Set(k, v)
		}
	}
	if err := checkLimits(body, msg.Metadata); err != nil {
		return fmt.Errorf("bus: event %s: %w", env.GetEventId(), err)
	}
	if err := b.tr.publish(ctx, topic, msg); err != nil {
		return fmt.Errorf("bus: cannot publish event %s to %s: %w", env.GetEventId(), topic, err)
	}
	if b.metrics != nil {
		b.metrics.EventsPublished.WithLabelValues(topic).Inc()
	}
	b.log.Debug("event published", append(tracing.LogFields(ctx), zap.String("topic", topic), zap.String("event_id", env.GetEventId()),
		zap.String("asset_id", env.GetAssetId()), zap.String("correlation_id", env.GetCorrelationId()))...)
	return nil
}

// checkLimits enforces SQS's message limits: at most 10 attributes with valid names
// and non-empty values, and 256 KiB for body plus attributes.
func checkLimits(body []byte, meta message.Metadata) error {
	size := len(body)
	n := 1 // watermill's uuid attribute
	for k, v := range meta {
		if strings.HasPrefix(k, metaInternal) {
			continue
		}
		n++
		if !attrName.MatchString(k) || strings.HasPrefix(strings.ToLower(k), "aws.") || strings.HasPrefix(strings.ToLower(k), "amazon.") {
			return fmt.Errorf("invalid message attribute name %q", k)
		}
		if v == "" {
			return fmt.Errorf("message attribute %q is empty", k)
		}
		size += len(k) + len(v) + len("String")
	}
	if n > maxAttributes {
		return fmt.Errorf("%d message attributes, over the SQS limit of %d", n, maxAttributes)
	}
	if size > events.MaxBodyBytes {
		return fmt.Errorf("%w: message is %d bytes with attributes, over the SQS limit of %d", events.ErrTooLarge, size, events.MaxBodyBytes)
	}
	return nil
}

// Subscribe registers h for topic on this service's queue. Call it before Run.
func (b *Bus) Subscribe(topic string, h Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		panic("bus: Subscribe after Run")
	}
	b.subs = append(b.subs, subscription{topic: topic, queue: b.cfg.queue(b.service, topic), h: h})
	if mt, ok := b.tr.(*memTransport); ok {
		// The memory queue exists from now on, like a provisioned SQS queue.
		if err := mt.prepare(context.Background(), topic, b.cfg.queue(b.service, topic)); err != nil {
			b.log.Error("cannot create memory queue", zap.Error(err))
		}
	}
}

// Running is closed once Run consumes every subscribed queue.
func (b *Bus) Running() <-chan struct{} { return b.running }

// Run consumes the subscribed queues until ctx ends, then stops consuming, lets
// in-flight handlers finish (at most ShutdownTimeout; after that their context is
// cancelled) and returns.
func (b *Bus) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.started {
		b.mu.Unlock()
		return errors.New("bus: Run called twice")
	}
	b.started = true
	subs := append([]subscription(nil), b.subs...)
	onDead := b.onDead
	ctx, b.stop = context.WithCancel(ctx)
	b.mu.Unlock()
	defer close(b.done)
	defer b.stop()
	var handBack sync.Once
	stopHanding := func() { handBack.Do(func() { close(b.handBack) }) }
	// However Run ends, nothing waits for ever to be handed back.
	defer stopHanding()

	for _, s := range subs {
		if err := b.tr.prepare(ctx, s.topic, s.queue); err != nil {
			return err
		}
	}
	if len(subs) == 0 {
		close(b.running)
		<-ctx.Done()
		return nil
	}
	// Handlers run on hardCtx: not cancelled by shutdown until the drain deadline.
	hardCtx, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	gate := &logGate{}
	defer gate.close()
	router, subscribers, err := b.router(hardCtx, subs, zapAdapter{l: b.log, gate: gate})
	if err != nil {
		return err
	}
	routerCtx, cancelRouter := context.WithCancel(context.Background())
	defer cancelRouter()
	errc := make(chan error, 1)
	go func() { errc <- router.Run(routerCtx) }()
	select {
	case <-router.Running():
		close(b.running)
		b.log.Info("bus consuming", zap.String("service", b.service), zap.Int("queues", len(subs)))
		defer b.background(ctx, subs, onDead)()
	case err := <-errc:
		if err == nil {
			err = errors.New("router stopped")
		}
		return fmt.Errorf("bus: cannot start consuming: %w", err)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("bus: consumer stopped: %w", err)
	}

	b.drainHandlers(cancelHard)
	// Stop polling, then hand back what was interrupted or arrived during the
	// drain. The other way round, a message made visible while this process
	// still polls comes straight back to it: each round trip spends one of
	// the redrive policy's receives, and one caught by a receive that is
	// closing is lost for a whole visibility timeout. Acknowledging does not
	// need the subscriber (the transport deletes by receipt handle).
	for _, s := range subscribers {
		_ = s.Close()
	}
	stopHanding()
	if err := router.Close(); err != nil {
		b.log.Warn("router close", zap.Error(err))
	}
	cancelRouter()
	<-errc
	b.log.Info("bus stopped", zap.String("service", b.service))
	return nil
}

// background runs, until ctx ends, the loops beside consuming: the queue
// gauges and, with onDead, the dead-letter sweep. The returned function waits
// for them to end.
func (b *Bus) background(ctx context.Context, subs []subscription, onDead DeadLetterHandler) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() { b.watchQueues(ctx, subs) })
	if onDead != nil {
		wg.Go(func() { b.sweepDeadLetters(ctx, subs, onDead) })
	}
	return wg.Wait
}

// router builds the watermill router that consumes every subscription's queue,
// its handlers running on hardCtx, logging to log.
func (b *Bus) router(hardCtx context.Context, subs []subscription, log watermill.LoggerAdapter) (*message.Router, []message.Subscriber, error) {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: b.cfg.drain() + afterCancel + 5*time.Second}, log)
	if err != nil {
		return nil, nil, err
	}
	var subscribers []message.Subscriber
	for _, s := range subs {
		sub, err := b.tr.subscriber(s.queue)
		if err != nil {
			return nil, nil, err
		}
		subscribers = append(subscribers, sub)
		router.AddConsumerHandler(s.queue, s.queue, sub, b.consume(hardCtx, s))
	}
	return router, subscribers, nil
}

// drainHandlers is the graceful stop: nothing new starts, in-flight handlers
// finish and ack or, past the drain deadline, are cancelled (cancelHard).
func (b *Bus) drainHandlers(cancelHard context.CancelFunc) {
	b.mu.Lock()
	b.draining = true
	b.mu.Unlock()
	finished := make(chan struct{})
	go func() { b.inflight.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(b.cfg.drain()):
		b.log.Warn("handlers still running at shutdown deadline: cancelling them")
		cancelHard()
		// The cancelled handlers still release what they hold: give them
		// the time to, or their messages wait out the visibility timeout.
		select {
		case <-finished:
		case <-time.After(afterCancel):
			b.log.Warn("handlers still running after being cancelled: their messages come back after the visibility timeout")
		}
	}
}

// Ping checks the bus for readiness: the queues it consumes, their DLQs and
// the topics its service publishes to (DefaultTopology) exist and answer.
func (b *Bus) Ping(ctx context.Context) error {
	b.mu.Lock()
	var queues []string
	for _, s := range b.subs {
		queues = append(queues, s.queue, DLQName(s.queue))
	}
	b.mu.Unlock()
	topics := DefaultTopology().Publishes[b.service]
	return errors.Join(b.tr.ping(ctx, queues, topics), b.claims.Ping(ctx))
}

// Close stops Run if it is running and releases the transport.
func (b *Bus) Close() error {
	b.mu.Lock()
	stop, started := b.stop, b.started
	b.mu.Unlock()
	if started && stop != nil {
		stop()
		<-b.done
	}
	err := b.tr.close()
	if b.ownClaims {
		err = errors.Join(err, b.claims.Close())
	}
	return err
}

// DeadLetters returns up to max bodies from this service's dead-letter queue for
// topic, without removing them (tests, operations).
func (b *Bus) DeadLetters(ctx context.Context, topic string, max int) ([][]byte, error) {
	return b.tr.deadLetters(ctx, b.cfg.queue(b.service, topic), max)
}

// SendRaw puts body straight into this service's queue for topic, bypassing the
// topic (tests; redriving dead letters by hand).
func (b *Bus) SendRaw(ctx context.Context, topic string, body []byte) error {
	return b.tr.send(ctx, b.cfg.queue(b.service, topic), body)
}

// publicMeta drops internal metadata keys.
func publicMeta(m message.Metadata) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !strings.HasPrefix(k, metaInternal) {
			out[k] = v
		}
	}
	return out
}

// zapAdapter sends watermill's logs to zap: its info is our debug, its errors our
// warnings (the bus logs failures itself).
type zapAdapter struct {
	l    *zap.Logger
	gate *logGate // nil: always logs
}

// logGate stops a watermill logger once its owner is done with it: the
// router's watcher goroutines can still log after Router.Run has returned
// (closing the subscribers first makes one announce that every handler has
// stopped), and a test's logger must not be written to once the test ends.
type logGate struct {
	mu     sync.RWMutex
	closed bool
}

// log runs write unless the gate is closed; close waits for writes in flight.
func (g *logGate) log(write func()) {
	if g == nil {
		write()
		return
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	if !g.closed {
		write()
	}
}

func (g *logGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

func (z zapAdapter) fields(f watermill.LogFields) []zap.Field {
	out := make([]zap.Field, 0, len(f))
	for k, v := range f {
		out = append(out, zap.Any(k, v))
	}
	return out
}

func (z zapAdapter) Error(msg string, err error, f watermill.LogFields) {
	if errors.Is(err, errNack) {
		return
	}
	z.gate.log(func() { z.l.Warn("watermill: "+msg, append(z.fields(f), zap.Error(err))...) })
}
func (z zapAdapter) Info(msg string, f watermill.LogFields) {
	z.gate.log(func() { z.l.Debug("watermill: "+msg, z.fields(f)...) })
}
func (z zapAdapter) Debug(msg string, f watermill.LogFields) {}
func (z zapAdapter) Trace(msg string, f watermill.LogFields) {}
func (z zapAdapter) With(f watermill.LogFields) watermill.LoggerAdapter {
	return zapAdapter{l: z.l.With(z.fields(f)...), gate: z.gate}
}
