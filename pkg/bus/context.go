package bus

import (
	"context"
	"sync"
	"time"
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

// Deduper remembers which events a queue has handled, so that a duplicate delivery
// is acknowledged without running the handler again. Claim returns false when key
// was already claimed; Release forgets a claim after a failure so a retry can run.
type Deduper interface {
	Claim(ctx context.Context, key string) (bool, error)
	Release(ctx context.Context, key string) error
}

// MemoryDeduper is the default Deduper: one process's memory, entries expire after a TTL.
type MemoryDeduper struct {
	ttl    time.Duration
	now    func() time.Time
	mu     sync.Mutex
	seen   map[string]time.Time
	claims int
}

// NewMemoryDeduper returns an in-memory Deduper remembering claims for ttl.
func NewMemoryDeduper(ttl time.Duration) *MemoryDeduper {
	return &MemoryDeduper{ttl: ttl, now: time.Now, seen: map[string]time.Time{}}
}

// Claim implements Deduper.
func (d *MemoryDeduper) Claim(_ context.Context, key string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if d.claims++; d.claims%1024 == 0 {
		for k, exp := range d.seen {
			if now.After(exp) {
				delete(d.seen, k)
			}
		}
	}
	if exp, ok := d.seen[key]; ok && now.Before(exp) {
		return false, nil
	}
	d.seen[key] = now.Add(d.ttl)
	return true, nil
}

// Release implements Deduper.
func (d *MemoryDeduper) Release(_ context.Context, key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.seen, key)
	return nil
}
