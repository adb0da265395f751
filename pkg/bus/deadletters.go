package bus

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/idempotency"
	"github.com/pertitle/pertitle/pkg/tracing"
)

// DeadLetter is a message its queue gave up on: the bus dead-lettered it
// (malformed, or a permanent error), or the queue's redrive policy moved it
// after MaxReceives deliveries (a handler that kept failing, a process killed
// mid-work again and again).
type DeadLetter struct {
	Topic, Queue string
	Body         []byte
	// Env is the event, or nil when Body is not one (raw topics, garbage).
	Env *eventsv1.Envelope
	// Reason is why the bus dead-lettered it; empty when the redrive policy
	// moved it.
	Reason string
	// MaxReceives is the redrive policy's count.
	MaxReceives int
}

// Why is the reason for people: the bus's own, or the redrive's.
func (d DeadLetter) Why() string {
	if d.Reason != "" {
		return d.Reason
	}
	return fmt.Sprintf("not handled after %d deliveries", d.MaxReceives)
}

// DeadLetterHandler turns a dead letter into a state someone can see, such as
// an EncodingFailed for its asset, so that nothing waits forever on a message
// nobody will handle. It must be idempotent: a message may be swept again. An
// error leaves the message to a later sweep.
type DeadLetterHandler func(ctx context.Context, dl DeadLetter) error

// deadLetterItem is one message taken from a dead-letter queue. On SQS it stays
// there, hidden for deadLetterPark, so operators can still inspect and redrive
// it and depth alarms still count it; retry shows it again soon.
type deadLetterItem struct {
	body   []byte
	reason string
	// retry shows the message again at the next sweep.
	retry func(ctx context.Context)
}

// deadLetterPark is how long a swept message stays hidden in its DLQ: SQS's
// longest visibility timeout. After that it is swept again, which announces
// the same (deterministic) failure again, and consumers collapse it.
const deadLetterPark = 12 * time.Hour

// deadLetterSweepEvery is how often the dead-letter queues are read.
const deadLetterSweepEvery = 10 * time.Second

// OnDeadLetter registers h for every message that reaches the dead-letter
// queue of one of this bus's subscriptions. Call it before Run.
func (b *Bus) OnDeadLetter(h DeadLetterHandler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		panic("bus: OnDeadLetter after Run")
	}
	b.onDead = h
}

// sweepDeadLetters runs h over the dead-letter queues until ctx ends.
func (b *Bus) sweepDeadLetters(ctx context.Context, subs []subscription, h DeadLetterHandler) {
	t := time.NewTicker(b.cfg.sweepEvery())
	defer t.Stop()
	for {
		for _, s := range subs {
			b.sweepQueue(ctx, s, h)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c Config) sweepEvery() time.Duration {
	if c.DeadLetterSweep > 0 {
		return c.DeadLetterSweep
	}
	return deadLetterSweepEvery
}

func (b *Bus) sweepQueue(ctx context.Context, s subscription, h DeadLetterHandler) {
	log := b.log.With(zap.String("queue", DLQName(s.queue)))
	for ctx.Err() == nil {
		items, err := b.tr.takeDeadLetters(ctx, s.queue, 10)
		if err != nil {
			if ctx.Err() == nil { // not the shutdown cutting the receive short
				log.Warn("cannot read dead-letter queue", zap.Error(err))
			}
			return
		}
		if len(items) == 0 {
			return
		}
		for _, it := range items {
			b.sweepOne(ctx, s, h, it, log)
		}
	}
}

// sweepOne hands one dead letter to h. The dead letter of an event that
// carries a trace is handled in a span of that trace ("dead-letter <topic>",
// the child of the delivery that published it), so the failure it announces
// and the lines it logs belong to the upload's trace; others make no trace.
func (b *Bus) sweepOne(ctx context.Context, s subscription, h DeadLetterHandler, it deadLetterItem, log *zap.Logger) {
	dl := DeadLetter{Topic: s.topic, Queue: s.queue, Body: it.body, Reason: it.reason, MaxReceives: b.cfg.MaxReceives}
	if s.raw == nil {
		if env, err := events.Unmarshal(it.body); err == nil {
			dl.Env = env
		}
	}
	ctx, span := tracing.Child(tracing.WithRemoteParent(ctx, dl.Env.GetTraceparent()), "dead-letter "+s.topic, trace.SpanKindConsumer,
		append(b.spanAttrs(s.topic, dl.Env.GetEventId(), dl.Env.GetAssetId()), attribute.String("pertitle.dead_letter.reason", dl.Why()))...)
	log = tracing.Logger(ctx, log)
	var err error
	defer func() { tracing.End(span, err) }()
	if dl.Env != nil {
		if skip := b.duplicateDeadLetter(ctx, s, dl.Env.GetEventId(), it, log); skip {
			return
		}
	}
	if b.metrics != nil {
		b.metrics.EventsFailed.WithLabelValues(s.topic, "dead_letter_swept").Inc()
	}
	if err = h(ctx, dl); err != nil {
		log.Warn("dead letter not handled: swept again later", zap.Error(err), zap.String("event_id", dl.Env.GetEventId()))
		it.retry(context.WithoutCancel(ctx))
		return
	}
	log.Info("dead letter handled", zap.String("event_id", dl.Env.GetEventId()), zap.String("asset_id", dl.Env.GetAssetId()),
		zap.String("reason", dl.Why()))
}

// duplicateDeadLetter reports a dead letter that is a copy of an event handled
// or in hand elsewhere: a duplicate handed back while a long job ran can run
// out of receives, and announcing a failure for it would fail an asset whose
// work succeeds. One in hand is looked at again at the next sweep.
func (b *Bus) duplicateDeadLetter(ctx context.Context, s subscription, eventID string, it deadLetterItem, log *zap.Logger) bool {
	b.mu.Lock()
	claims := b.claims
	b.mu.Unlock()
	c, err := claims.Claim(ctx, claimKey(s.queue, eventID), b.cfg.VisibilityTimeout)
	switch {
	case err != nil:
		log.Warn("idempotency store unavailable: dead letter swept again later", zap.Error(err))
		it.retry(context.WithoutCancel(ctx))
		return true
	case c.Won:
		// Nobody has it: the sweep only looked, the announcement follows.
		if err := claims.Fail(ctx, c); err != nil {
			log.Warn("cannot give up the claim taken to look at a dead letter", zap.Error(err))
		}
		return false
	case c.State == idempotency.Done:
		log.Info("dead letter of an event handled since: nothing to announce", zap.String("event_id", eventID))
		return true
	default:
		log.Info("dead letter of an event in hand elsewhere: swept again later", zap.String("event_id", eventID))
		it.retry(context.WithoutCancel(ctx))
		return true
	}
}
