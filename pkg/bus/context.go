package bus

import (
	"context"
)

// Meta describes the event a handler is processing.
type Meta struct {
	EventID       string
	Type          string
	Producer      string
	CorrelationID string
	Traceparent   string
	Topic         string // logical topic, e.g. events.TopicAssetUploaded
	Queue         string // SQS queue (or memory queue) name
	Service       string // consuming service
	Attempt       int    // in-process attempt, from 1
}

type metaKey struct{}

func withMeta(ctx context.Context, m Meta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// EventMeta returns the metadata of the event being handled, if ctx is a handler's.
func EventMeta(ctx context.Context) (Meta, bool) {
	m, ok := ctx.Value(metaKey{}).(Meta)
	return m, ok
}

// CorrelationID returns the correlation id of the event being handled, or "".
func CorrelationID(ctx context.Context) string {
	m, _ := EventMeta(ctx)
	return m.CorrelationID
}

// Traceparent returns the W3C traceparent of the event being handled, or "".
func Traceparent(ctx context.Context) string {
	m, _ := EventMeta(ctx)
	return m.Traceparent
}

// WithCorrelation returns a context whose Publish calls inherit correlation id and
// traceparent (for producers outside handlers, e.g. an HTTP request).
func WithCorrelation(ctx context.Context, correlationID, traceparent string) context.Context {
	m, _ := EventMeta(ctx)
	m.CorrelationID, m.Traceparent = correlationID, traceparent
	return withMeta(ctx, m)
}
