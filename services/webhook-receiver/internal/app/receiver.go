// Package app turns verified encoder webhooks into events.
package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/pertitle/pertitle/pkg/encoding"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/webhook"
)

// Publisher puts events on the bus.
type Publisher interface {
	Publish(ctx context.Context, env *eventsv1.Envelope) error
}

// Resolver fetches what an encoding produced: from the local job record, or from
// Bitmovin's API for the Bitmovin backend.
type Resolver interface {
	Resolve(ctx context.Context, encodingID string) (*encoding.Result, error)
}

// ErrUnknownEncoding is returned when the webhook names an encoding nobody started.
var ErrUnknownEncoding = errors.New("unknown encoding")

// ErrInvalid marks notifications that can never be accepted.
var ErrInvalid = errors.New("invalid notification")

// Outcome says what happened to one webhook.
type Outcome struct {
	EventID   string
	EventType string
	Duplicate bool
}

// Receiver handles verified notifications.
type Receiver struct {
	Pub      Publisher
	Resolver Resolver
	Producer string
	// ResolveTimeout bounds the resolver (a call to Bitmovin's API), so that the
	// webhook is answered within Bitmovin's 10-second limit: when it cannot finish in
	// time the handler answers 503 and Bitmovin delivers again.
	ResolveTimeout time.Duration
	// Ledger, when set, remembers published outcomes across restarts (and tells the
	// reconciler which encodings were reported); best effort.
	Ledger Ledger

	mu   sync.Mutex
	seen map[string]time.Time // notification ids already published
	ttl  time.Duration
}

// NewReceiver returns a receiver that remembers published notifications for ttl.
func NewReceiver(pub Publisher, r Resolver, ttl time.Duration) *Receiver {
	return &Receiver{Pub: pub, Resolver: r, Producer: "webhook-receiver", ResolveTimeout: 8 * time.Second, seen: map[string]time.Time{}, ttl: ttl}
}

// eventNamespace makes event ids derived from job ids stable across retries and replicas.
var eventNamespace = uuid.MustParse("6f1b1f8e-8f0e-4c59-9a55-7d5d3c0c2a11")

// Handle publishes the event a notification stands for. A redelivered notification
// publishes nothing new; and since the event id derives from the job and outcome, a
// repeat that reaches another replica collapses in the consumers.
func (r *Receiver) Handle(ctx context.Context, n webhook.Notification) (Outcome, error) {
	finished, err := n.Finished()
	if err != nil {
		return Outcome{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := encoding.ValidJobID(n.EncodingID()); err != nil {
		return Outcome{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	eventType := webhook.EventEncodingError
	if finished {
		eventType = webhook.EventEncodingFinished
	}
	eventID := uuid.NewSHA1(eventNamespace, []byte(n.EncodingID()+"/"+eventType)).String()
	if r.isSeen(n.EventID) {
		return Outcome{EventID: eventID, EventType: eventType, Duplicate: true}, nil
	}
	if r.Ledger != nil {
		if done, err := r.Ledger.Published(ctx, n.EncodingID(), eventType); err == nil && done {
			return Outcome{EventID: eventID, EventType: eventType, Duplicate: true}, nil
		}
	}
	rctx, cancel := ctx, context.CancelFunc(func() {})
	if r.ResolveTimeout > 0 {
		rctx, cancel = context.WithTimeout(ctx, r.ResolveTimeout)
	}
	res, err := r.Resolver.Resolve(rctx, n.EncodingID())
	cancel()
	if err != nil {
		return Outcome{}, err
	}
	var payload proto.Message
	if finished {
		if res.Status != encoding.StatusFinished {
			return Outcome{}, fmt.Errorf("%w: webhook says finished but encoding %s is %s", ErrInvalid, n.EncodingID(), res.Status)
		}
		payload = &eventsv1.EncodingFinished{
			Owner: res.Owner, Backend: res.Backend, ExternalJobId: res.JobID,
			HlsManifestKey: res.HLSManifestKey, DashManifestKey: res.DASHManifestKey,
			Renditions: encoding.Rungs(res.Renditions), EncodeSeconds: res.EncodeSeconds, LadderMode: res.LadderMode,
		}
	} else {
		reason := res.Error
		if reason == "" {
			reason = "encoding failed without a reason"
		}
		payload = &eventsv1.EncodingFailed{
			Owner: res.Owner, Backend: res.Backend, ExternalJobId: res.JobID,
			Reason: reason, Retryable: res.Retryable, Code: res.Code,
		}
	}
	env, err := events.New(events.Meta{AssetID: res.AssetID, Producer: r.Producer,
		CorrelationID: res.CorrelationID, Traceparent: res.Traceparent}, payload)
	if err != nil {
		return Outcome{}, fmt.Errorf("cannot build event for encoding %s: %w", res.JobID, err)
	}
	env.EventId = eventID
	if err := r.Pub.Publish(ctx, env); err != nil {
		return Outcome{}, fmt.Errorf("cannot publish %s for encoding %s: %w", eventType, res.JobID, err)
	}
	r.markSeen(n.EventID)
	if r.Ledger != nil {
		// Best effort: without the mark a replay publishes again, which the
		// deterministic event id collapses in the consumers.
		_ = r.Ledger.MarkPublished(ctx, n.EncodingID(), eventType)
	}
	return Outcome{EventID: eventID, EventType: eventType}, nil
}

func (r *Receiver) isSeen(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.seen[id]
	return ok && time.Since(t) < r.ttl
}

func (r *Receiver) markSeen(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if len(r.seen) > 100_000 {
		for k, t := range r.seen {
			if now.Sub(t) >= r.ttl {
				delete(r.seen, k)
			}
		}
	}
	r.seen[id] = now
}
