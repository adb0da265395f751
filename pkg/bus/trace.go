package bus

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/tracing"
)

// startPublish starts the producer span of env under the span in ctx (a
// request's, a handler's) or, outside a trace, under the traceparent env
// already carries, and returns env carrying the new span's traceparent: the
// consumers' spans become its children.
func (b *Bus) startPublish(ctx context.Context, topic string, env *eventsv1.Envelope) (context.Context, trace.Span, *eventsv1.Envelope) {
	if !tracing.InTrace(ctx) {
		ctx = tracing.WithRemoteParent(ctx, env.GetTraceparent())
	}
	ctx, span := tracing.Tracer().Start(ctx, "publish "+topic, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(b.spanAttrs(topic, env.GetEventId(), env.GetAssetId())...))
	if tp := tracing.Traceparent(ctx); tp != "" && tp != env.GetTraceparent() {
		env = proto.Clone(env).(*eventsv1.Envelope)
		env.Traceparent = tp
	}
	return ctx, span, env
}

// startConsume starts the consumer span of one delivery, the child of the
// traceparent it carries (of a new trace without one).
func (b *Bus) startConsume(ctx context.Context, m Meta, assetID string) (context.Context, trace.Span) {
	ctx = tracing.WithRemoteParent(ctx, m.Traceparent)
	return tracing.Tracer().Start(ctx, "process "+m.Topic, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(append(b.spanAttrs(m.Topic, m.EventID, assetID),
			attribute.String("messaging.destination.subscription.name", m.Queue),
			attribute.String("messaging.consumer.group.name", b.service))...))
}

func (b *Bus) spanAttrs(topic, eventID, assetID string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.String("messaging.system", b.messagingSystem()),
		attribute.String("messaging.destination.name", topic)}
	if eventID != "" {
		attrs = append(attrs, attribute.String("messaging.message.id", eventID))
	}
	if assetID != "" {
		attrs = append(attrs, attribute.String("pertitle.asset_id", assetID))
	}
	return attrs
}

func (b *Bus) messagingSystem() string {
	if b.cfg.Transport == TransportMemory {
		return "memory"
	}
	return "aws_sqs"
}

// spanOutcome records on the delivery's span what became of it; the outcomes
// that mean the event was not handled mark the span failed.
func spanOutcome(ctx context.Context, outcome string) {
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attribute.String("pertitle.outcome", outcome))
	if outcome == "retry" || outcome == "dead_letter" {
		span.SetStatus(codes.Error, outcome)
	}
}
