package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/tracing"
)

// TopicS3ObjectCreated carries S3 event notifications (ObjectCreated:* on the input
// bucket), published by S3 itself, not by pertitle: its bodies are S3's JSON, not
// pertitle envelopes, and are consumed with SubscribeRaw.
const TopicS3ObjectCreated = "s3-object-created"

// RawHandler handles one message body that is not a pertitle event, such as an S3
// event notification. Its return value means what a Handler's does: nil acks, an
// error retries (in process, then by redelivery, then the dead-letter queue), and
// Permanent(err) dead-letters at once.
type RawHandler func(ctx context.Context, body []byte) error

// SubscribeRaw registers h for topic on this service's queue. Messages go through
// the same middleware as Subscribe (graceful-shutdown gate, visibility heartbeat,
// panic recovery, retries with backoff, dead-lettering, metrics) except envelope
// decoding and idempotency: the bus cannot know the identity of a foreign message,
// so h must be idempotent itself (Bus.Claims is there for it; a Later error hands
// the message back as for Subscribe). Call it before Run.
func (b *Bus) SubscribeRaw(topic string, h RawHandler) {
	if h == nil {
		panic("bus: nil RawHandler")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		panic("bus: SubscribeRaw after Run")
	}
	b.subs = append(b.subs, subscription{topic: topic, queue: b.cfg.queue(b.service, topic), raw: h})
	if mt, ok := b.tr.(*memTransport); ok {
		if err := mt.prepare(context.Background(), topic, b.cfg.queue(b.service, topic)); err != nil {
			b.log.Error("cannot create memory queue", zap.Error(err))
		}
	}
}

// PublishRaw sends body as is to topic, the way a foreign producer (S3) would; with
// raw message delivery the subscribed queues receive exactly body. For bridges and
// tests: pertitle events go through Publish.
func (b *Bus) PublishRaw(ctx context.Context, topic string, body []byte) error {
	if len(body) == 0 {
		return errors.New("bus: empty raw message")
	}
	if len(body) > events.MaxBodyBytes {
		return fmt.Errorf("bus: %w: raw message of %d bytes is over the SQS limit of %d", events.ErrTooLarge, len(body), events.MaxBodyBytes)
	}
	msg := message.NewMessage(uuid.NewString(), body)
	if err := b.tr.publish(ctx, topic, msg); err != nil {
		return fmt.Errorf("bus: cannot publish raw message to %s: %w", topic, err)
	}
	if b.metrics != nil {
		b.metrics.EventsPublished.WithLabelValues(topic).Inc()
	}
	return nil
}

// processRaw is process for a raw subscription: the handler sees the body, wrapped
// as a Handler so that attempts (retries, panic recovery, metrics) is shared.
func (b *Bus) processRaw(ctx context.Context, s subscription, msg *message.Message, log *zap.Logger) error {
	meta := Meta{
		EventID: msg.UUID, Topic: s.topic, Queue: s.queue, Service: b.service,
		CorrelationID: msg.Metadata.Get(MetaCorrelationID), Traceparent: msg.Metadata.Get(MetaTraceparent),
	}
	ctx, span := b.startConsume(ctx, meta, "")
	defer span.End()
	log = tracing.Logger(ctx, log)
	ctx = withMeta(ctx, meta)
	body := msg.Payload
	raw := s.raw
	s.h = func(ctx context.Context, _ *eventsv1.Envelope) error { return raw(ctx, body) }
	err := b.attempts(ctx, s, nil, meta, log)
	if err == nil {
		if b.metrics != nil {
			b.metrics.EventsHandled.WithLabelValues(s.topic).Inc()
		}
		b.complete(ctx, s, msg, log)
		return nil
	}
	if IsPermanent(err) {
		return b.deadLetter(ctx, s, msg, err, log)
	}
	if d, ok := LaterOf(err); ok && ctx.Err() == nil {
		octx, cancel := opCtx(ctx)
		defer cancel()
		b.delay(octx, s, msg, d, log)
		b.failed(ctx, s.topic, "later")
		log.Info("raw message handed back for later", zap.Duration("after", d), zap.Error(err))
		return errNack
	}
	b.failed(ctx, s.topic, "retry")
	log.Warn("raw message handling failed: left for redelivery", zap.Error(err))
	return errNack
}
