package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
)

// errNack makes the router Nack a message: it will be redelivered (after the
// visibility timeout on SQS) until the redrive policy moves it to the DLQ.
var errNack = errors.New("bus: event not handled, left for redelivery")

const maxBackoff = 30 * time.Second

// errInterrupted: the handler was cancelled at the drain deadline; its
// message is to be handed back.
var errInterrupted = errors.New("bus: event handling interrupted by shutdown")

// consume returns the router handler of one subscription. Each message goes
// through, in order: graceful-shutdown gate, visibility heartbeat, panic recovery,
// decoding (malformed => dead letter), correlation/trace context, idempotency,
// in-process retries with backoff, dead-lettering of permanent errors, metrics.
func (b *Bus) consume(hardCtx context.Context, s subscription) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		b.mu.Lock()
		if b.draining {
			b.mu.Unlock()
			// Shutting down: not started here, handed back for another
			// consumer once this one has stopped polling.
			return b.handBackWhenStopped(hardCtx, s, msg)
		}
		b.inflight.Add(1)
		deduper := b.deduper
		b.mu.Unlock()
		err := b.process(hardCtx, s, msg, deduper)
		b.inflight.Done()
		if errors.Is(err, errInterrupted) {
			return b.handBackWhenStopped(hardCtx, s, msg)
		}
		return err
	}
}

// handBackWhenStopped holds msg until the bus has stopped polling, then makes
// it visible at once for another consumer. Holding it also keeps this
// subscription from receiving anything more in the meantime.
func (b *Bus) handBackWhenStopped(hardCtx context.Context, s subscription, msg *message.Message) error {
	<-b.handBack
	octx, cancel := opCtx(hardCtx)
	defer cancel()
	if err := b.tr.release(octx, s.queue, msg); err != nil {
		b.log.Warn("cannot hand a message back: it comes back after its visibility timeout",
			zap.String("queue", s.queue), zap.Error(err))
	}
	return errNack
}

// opCtx is for the bookkeeping calls (ack, dead letter) that must run even when
// the handler's context was cancelled.
func opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
}

func (b *Bus) process(ctx context.Context, s subscription, msg *message.Message, deduper Deduper) error {
	log := b.log.With(zap.String("queue", s.queue), zap.String("message_uuid", msg.UUID))
	if b.tr.heartbeats() {
		stop := b.heartbeat(ctx, s.queue, msg, log)
		defer stop()
	}
	if s.raw != nil {
		return b.processRaw(ctx, s, msg, log)
	}

	env, err := events.Unmarshal(msg.Payload)
	if err != nil {
		return b.deadLetter(ctx, s, msg, err, log)
	}
	meta := Meta{
		EventID: env.GetEventId(), Type: env.GetType(), Producer: env.GetProducer(),
		CorrelationID: env.GetCorrelationId(), Traceparent: env.GetTraceparent(),
		Topic: s.topic, Queue: s.queue, Service: b.service,
	}
	if meta.CorrelationID == "" {
		meta.CorrelationID = msg.Metadata.Get(MetaCorrelationID)
	}
	if meta.Traceparent == "" {
		meta.Traceparent = msg.Metadata.Get(MetaTraceparent)
	}
	log = log.With(zap.String("event_id", meta.EventID), zap.String("correlation_id", meta.CorrelationID))
	ctx = withMeta(ctx, meta)

	key := s.queue + "/" + meta.EventID
	claimed, err := deduper.Claim(ctx, key)
	if err != nil {
		log.Warn("deduper unavailable: event left for redelivery", zap.Error(err))
		b.failed(s.topic, "retry")
		return errNack
	}
	if !claimed {
		log.Info("duplicate event acknowledged without handling")
		b.complete(ctx, s, msg, log)
		return nil
	}

	err = b.attempts(ctx, s, env, meta, log)
	if err == nil {
		if b.metrics != nil {
			b.metrics.EventsHandled.WithLabelValues(s.topic).Inc()
		}
		b.complete(ctx, s, msg, log)
		return nil
	}
	octx, cancel := opCtx(ctx)
	defer cancel()
	if rerr := deduper.Release(octx, key); rerr != nil {
		log.Error("cannot release dedup claim: a redelivery will be skipped", zap.Error(rerr))
	}
	if IsPermanent(err) {
		return b.deadLetter(ctx, s, msg, err, log)
	}
	if d, ok := LaterOf(err); ok && ctx.Err() == nil {
		if derr := b.tr.delay(octx, s.queue, msg, d); derr != nil {
			log.Warn("cannot delay an event: left for redelivery", zap.Error(derr))
		}
		b.failed(s.topic, "later")
		log.Info("event handed back for later", zap.Duration("after", d), zap.Error(err))
		return errNack
	}
	if ctx.Err() != nil {
		// Stopped at the drain deadline (SIGTERM, a spot interruption): the
		// message is given back as soon as this process stops polling, so
		// another consumer starts it at once rather than after the
		// visibility timeout.
		b.failed(s.topic, "released")
		log.Warn("event handling interrupted by shutdown: handed back", zap.Error(err))
		return errInterrupted
	}
	b.failed(s.topic, "retry")
	log.Warn("event handling failed: left for redelivery", zap.Error(err))
	return errNack
}

// attempts runs the handler, retrying ordinary errors with exponential backoff.
func (b *Bus) attempts(ctx context.Context, s subscription, env *eventsv1.Envelope, meta Meta, log *zap.Logger) error {
	for attempt := 1; ; attempt++ {
		meta.Attempt = attempt
		start := time.Now()
		err := safeCall(withMeta(ctx, meta), s.h, env, log)
		if b.metrics != nil {
			b.metrics.HandlerLatency.WithLabelValues(s.topic).Observe(time.Since(start).Seconds())
		}
		if _, later := LaterOf(err); err == nil || IsPermanent(err) || later || attempt > b.cfg.Retries {
			return err
		}
		wait := min(b.cfg.RetryInterval<<(attempt-1), maxBackoff)
		log.Debug("handler failed, retrying", zap.Int("attempt", attempt), zap.Duration("backoff", wait), zap.Error(err))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// safeCall turns a panic into an error.
func safeCall(ctx context.Context, h Handler, env *eventsv1.Envelope, log *zap.Logger) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("handler panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(ctx, env)
}

func (b *Bus) complete(ctx context.Context, s subscription, msg *message.Message, log *zap.Logger) {
	octx, cancel := opCtx(ctx)
	defer cancel()
	if err := b.tr.complete(octx, s.queue, msg); err != nil {
		log.Warn("cannot acknowledge event: it may be redelivered", zap.Error(err))
	}
}

func (b *Bus) deadLetter(ctx context.Context, s subscription, msg *message.Message, cause error, log *zap.Logger) error {
	octx, cancel := opCtx(ctx)
	defer cancel()
	if err := b.tr.deadLetter(octx, s.queue, msg, cause.Error()); err != nil {
		log.Error("cannot dead-letter event: left for redelivery", zap.Error(err), zap.NamedError("cause", cause))
		b.failed(s.topic, "retry")
		return errNack
	}
	b.complete(ctx, s, msg, log)
	b.failed(s.topic, "dead_letter")
	log.Warn("event sent to the dead-letter queue", zap.Error(cause))
	return nil
}

func (b *Bus) failed(topic, outcome string) {
	if b.metrics != nil {
		b.metrics.EventsFailed.WithLabelValues(topic, outcome).Inc()
	}
}

// heartbeat extends the message's visibility every VisibilityTimeout/3 while the
// handler runs, so that a long job is not redelivered to another consumer. If the
// process dies the extensions stop and the message comes back after the timeout.
func (b *Bus) heartbeat(ctx context.Context, queue string, msg *message.Message, log *zap.Logger) (stop func()) {
	vt := b.cfg.VisibilityTimeout
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(vt / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				octx, cancel := context.WithTimeout(ctx, vt/3)
				err := b.tr.extend(octx, queue, msg, vt)
				cancel()
				if err != nil {
					log.Warn("cannot extend visibility timeout", zap.Error(err))
					if isGone(err) {
						return
					}
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}
