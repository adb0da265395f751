package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/idempotency"
	"github.com/pertitle/pertitle/pkg/tracing"
)

// errNack makes the router Nack a message: it will be redelivered (after the
// visibility timeout on SQS) until the redrive policy moves it to the DLQ.
var errNack = errors.New("bus: event not handled, left for redelivery")

const maxBackoff = 30 * time.Second

// handBackDelay is how long a message handed back at shutdown stays hidden:
// stopping the subscribers aborts their long polls, and the broker notices an
// aborted poll a moment later (goaws checks every 100 ms); a message visible
// at once could still be given to such a poll, whose answer nobody reads, and
// be lost for a whole visibility timeout (seen under load in
// InterruptedHandedBackAtOnce). A second is nothing next to that timeout.
const handBackDelay = time.Second

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
		claims := b.claims
		b.mu.Unlock()
		err := b.process(hardCtx, s, msg, claims)
		b.inflight.Done()
		if errors.Is(err, errInterrupted) {
			return b.handBackWhenStopped(hardCtx, s, msg)
		}
		return err
	}
}

// handBackWhenStopped holds msg until the bus has stopped polling, then makes
// it visible again for another consumer after handBackDelay. Holding it also
// keeps this subscription from receiving anything more in the meantime.
func (b *Bus) handBackWhenStopped(hardCtx context.Context, s subscription, msg *message.Message) error {
	<-b.handBack
	octx, cancel := opCtx(hardCtx)
	defer cancel()
	if err := b.tr.delay(octx, s.queue, msg, handBackDelay); err != nil {
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

func (b *Bus) process(ctx context.Context, s subscription, msg *message.Message, claims idempotency.Store) (err error) {
	log := b.log.With(zap.String("queue", s.queue), zap.String("message_uuid", msg.UUID))
	if s.raw != nil {
		if b.tr.heartbeats() {
			defer b.heartbeat(ctx, s.queue, msg, nil, log)()
		}
		return b.processRaw(ctx, s, msg, log)
	}

	env, err := events.Unmarshal(msg.Payload)
	if err != nil {
		return b.deadLetter(ctx, s, msg, err, log)
	}
	meta := b.metaOf(env, s, msg)
	if env.GetOccurredAt() != nil {
		b.ages.saw(s.queue, env.GetOccurredAt().AsTime())
	}
	ctx, span := b.startConsume(ctx, meta, env.GetAssetId())
	defer span.End()
	log = log.With(tracing.IDs(ctx), zap.String("event_id", meta.EventID), zap.String("correlation_id", meta.CorrelationID))
	ctx = withMeta(ctx, meta)

	claim, err := claims.Claim(ctx, claimKey(s.queue, meta.EventID), b.cfg.VisibilityTimeout)
	if err != nil {
		log.Warn("idempotency store unavailable: event left for redelivery", zap.Error(err))
		b.failed(ctx, s.topic, "retry")
		return errNack
	}
	if !claim.Won {
		return b.notOurs(ctx, s, msg, claim, log)
	}
	if claim.Attempt > 1 {
		log.Info("event claimed again: an earlier attempt failed or its holder died", zap.Int("attempt", claim.Attempt))
	}
	// The handler stops if the claim is lost (this process stalled past its
	// lease and another took the event over): one copy runs at a time.
	hctx, lose := context.WithCancelCause(ctx)
	defer lose(nil)
	stop := b.heartbeat(hctx, s.queue, msg, &held{claims: claims, claim: claim, lost: lose}, log)
	err = b.attempts(hctx, s, env, meta, log)
	stop()
	octx, cancel := opCtx(ctx)
	defer cancel()
	if err == nil {
		if b.metrics != nil {
			b.metrics.EventsHandled.WithLabelValues(s.topic).Inc()
		}
		// Done before the acknowledgement: a crash in between redelivers an
		// event that is then dropped as done.
		if derr := claims.Done(octx, claim, b.cfg.DedupTTL); derr != nil {
			log.Warn("cannot record the event as done: a duplicate may run it again", zap.Error(derr))
		}
		b.complete(ctx, s, msg, log)
		return nil
	}
	if errors.Is(context.Cause(hctx), idempotency.ErrLost) && ctx.Err() == nil {
		// Another consumer holds it now: this copy comes back once that one
		// is done (then dropped) or has died (then taken over).
		b.delay(octx, s, msg, b.cfg.VisibilityTimeout, log)
		log.Warn("event claim lost while handling: handed back for later", zap.Error(err))
		return errNack
	}
	return b.failure(ctx, octx, s, msg, claims, claim, err, log)
}

// metaOf is what the handler's context carries about the event env, which
// came as msg on s: the message's metadata stands in for what the envelope
// lacks.
func (b *Bus) metaOf(env *eventsv1.Envelope, s subscription, msg *message.Message) Meta {
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
	return meta
}

// failure gives up the claim of an event whose handler failed with err, then
// dead-letters the message, hands it back for later or at once, or leaves it
// for redelivery, as err and the shutdown say. octx is for the bookkeeping.
func (b *Bus) failure(ctx, octx context.Context, s subscription, msg *message.Message, claims idempotency.Store,
	claim idempotency.Claim, err error, log *zap.Logger) error {
	if ferr := claims.Fail(octx, claim); ferr != nil {
		log.Warn("cannot give the event's claim up: a retry waits for its lease to run out", zap.Error(ferr))
	}
	if IsPermanent(err) {
		return b.deadLetter(ctx, s, msg, err, log)
	}
	if d, ok := LaterOf(err); ok && ctx.Err() == nil {
		b.delay(octx, s, msg, d, log)
		b.failed(ctx, s.topic, "later")
		log.Info("event handed back for later", zap.Duration("after", d), zap.Error(err))
		return errNack
	}
	if ctx.Err() != nil {
		// Stopped at the drain deadline (SIGTERM, a spot interruption): the
		// message is given back as soon as this process stops polling, so
		// another consumer starts it at once rather than after the
		// visibility timeout.
		b.failed(ctx, s.topic, "released")
		log.Warn("event handling interrupted by shutdown: handed back", zap.Error(err))
		return errInterrupted
	}
	b.failed(ctx, s.topic, "retry")
	log.Warn("event handling failed: left for redelivery", zap.Error(err))
	return errNack
}

// claimKey is an event's key in the idempotency store: per queue, since each
// consuming service handles every event once.
func claimKey(queue, eventID string) string { return queue + "/" + eventID }

// notOurs settles a copy of an event claimed elsewhere: done, it is dropped;
// in progress, it comes back when the holder's lease would run out, by when
// the work is done or can be taken over. Dropping it instead would lose the
// event if it is the holder's own message, redelivered, and the holder died.
func (b *Bus) notOurs(ctx context.Context, s subscription, msg *message.Message, claim idempotency.Claim, log *zap.Logger) error {
	if claim.State == idempotency.Done {
		log.Info("duplicate event acknowledged without handling")
		b.complete(ctx, s, msg, log)
		return nil
	}
	octx, cancel := opCtx(ctx)
	defer cancel()
	d := claim.Wait + time.Second
	b.delay(octx, s, msg, d, log)
	b.failed(ctx, s.topic, "in_progress_elsewhere")
	log.Info("event in progress elsewhere: handed back for later", zap.Duration("after", d))
	return errNack
}

func (b *Bus) delay(ctx context.Context, s subscription, msg *message.Message, d time.Duration, log *zap.Logger) {
	if err := b.tr.delay(ctx, s.queue, msg, d); err != nil {
		log.Warn("cannot delay an event: left for redelivery", zap.Error(err))
	}
}

// attempts runs the handler, retrying ordinary errors with exponential backoff.
func (b *Bus) attempts(ctx context.Context, s subscription, env *eventsv1.Envelope, meta Meta, log *zap.Logger) error {
	for attempt := 1; ; attempt++ {
		meta.Attempt = attempt
		start := time.Now()
		err := safeCall(withMeta(ctx, meta), s.h, env, log)
		if err != nil {
			trace.SpanFromContext(ctx).RecordError(err, trace.WithAttributes(attribute.Int("pertitle.attempt", attempt)))
		}
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
		b.failed(ctx, s.topic, "retry")
		return errNack
	}
	b.complete(ctx, s, msg, log)
	b.failed(ctx, s.topic, "dead_letter")
	log.Warn("event sent to the dead-letter queue", zap.Error(cause))
	return nil
}

func (b *Bus) failed(ctx context.Context, topic, outcome string) {
	spanOutcome(ctx, outcome)
	if b.metrics != nil {
		b.metrics.EventsFailed.WithLabelValues(topic, outcome).Inc()
	}
}

// held is the claim a handler runs under, for the heartbeat to extend.
type held struct {
	claims idempotency.Store
	claim  idempotency.Claim
	lost   context.CancelCauseFunc
}

// heartbeat extends, every VisibilityTimeout/3 while the handler runs, the
// message's visibility (so that a long job is not redelivered to another
// consumer) and the lease of its claim h (so that a duplicate elsewhere waits).
// If the process dies the extensions stop: the message comes back after the
// visibility timeout and finds the claim's lease run out.
func (b *Bus) heartbeat(ctx context.Context, queue string, msg *message.Message, h *held, log *zap.Logger) (stop func()) {
	vt := b.cfg.VisibilityTimeout
	visibility := b.tr.heartbeats()
	return idempotency.Beat(ctx, vt/3, func() bool {
		octx, cancel := context.WithTimeout(ctx, vt/3)
		defer cancel()
		if h != nil {
			if err := h.claims.Extend(octx, h.claim, vt); errors.Is(err, idempotency.ErrLost) {
				log.Warn("event claim lost: stopping its handler", zap.Error(err))
				h.lost(err)
			} else if err != nil {
				log.Warn("cannot extend the event's claim", zap.Error(err))
			}
		}
		if visibility {
			if err := b.tr.extend(octx, queue, msg, vt); err != nil {
				log.Warn("cannot extend visibility timeout", zap.Error(err))
				if isGone(err) {
					visibility = false
				}
			}
		}
		return h != nil || visibility
	})
}
