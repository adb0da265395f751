// Package app turns verified encoder webhooks into events.
package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/webhook"
)

// Publisher puts events on the bus.
type Publisher interface {
	Publish(ctx context.Context, env *eventsv1.Envelope) error
}

// Resolver fetches what an encoding produced: from the local job record, or from
// Bitmovin's API for the Bitmovin backend.
type Resolver interface {
	Resolve(ctx context.Context, encodingID string) (*jobs.Result, error)
}

// ErrUnknownEncoding is returned when the webhook names an encoding nobody started.
var ErrUnknownEncoding = errors.New("unknown encoding")

// ErrInvalid marks notifications that can never be accepted.
var ErrInvalid = errors.New("invalid notification")

// ErrNotFinished is returned when the encoding has not ended yet, whatever the
// notification says: the sender should deliver it again later.
var ErrNotFinished = errors.New("encoding has not ended")

// Outcome says what happened to one webhook.
type Outcome struct {
	EventID   string
	EventType string // what the resolved status says, which is what was published
	Duplicate bool
	// Overruled is set when the notification claimed another outcome than the
	// encoding's resolved status.
	Overruled bool
}

// maxReasonBytes bounds the failure reason carried by EncodingFailed: error texts
// come from Bitmovin or ffmpeg, and the event must fit in one SQS message.
const maxReasonBytes = 4096

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
	seen map[string]seenNotification // notification ids already published
	ttl  time.Duration
}

// NewReceiver returns a receiver that remembers published notifications for ttl.
func NewReceiver(pub Publisher, r Resolver, ttl time.Duration) *Receiver {
	return &Receiver{Pub: pub, Resolver: r, Producer: "webhook-receiver", ResolveTimeout: 8 * time.Second, seen: map[string]seenNotification{}, ttl: ttl}
}

// eventNamespace makes event ids derived from job ids stable across retries and replicas.
var eventNamespace = uuid.MustParse("6f1b1f8e-8f0e-4c59-9a55-7d5d3c0c2a11")

// Handle publishes the event the encoding's resolved status stands for: the job
// record (local backend) or Bitmovin's API, never only the notification's
// eventType, which a replay or a confused sender may get wrong. A redelivered
// notification publishes nothing new; and since the event id derives from the job
// and outcome, a repeat that reaches another replica collapses in the consumers.
func (r *Receiver) Handle(ctx context.Context, n webhook.Notification) (Outcome, error) {
	claimed, err := n.Finished()
	if err != nil {
		return Outcome{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := jobs.ValidJobID(n.EncodingID()); err != nil {
		return Outcome{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if out, ok := r.seenOutcome(n.EventID); ok {
		return out, nil
	}
	// An outcome already published for this encoding was resolved then: a repeat
	// of the same claim brings nothing new, and needs no call to Bitmovin.
	if out, ok := r.alreadyPublished(ctx, n.EncodingID(), eventType(claimed)); ok {
		return out, nil
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
	var finished bool
	switch res.Status {
	case jobs.StatusFinished:
		finished = true
	case jobs.StatusError:
	default:
		return Outcome{}, fmt.Errorf("%w: encoding %s is %s", ErrNotFinished, n.EncodingID(), res.Status)
	}
	if finished != claimed {
		if out, ok := r.alreadyPublished(ctx, n.EncodingID(), eventType(finished)); ok {
			out.Overruled = true
			return out, nil
		}
	}
	out, err := r.publish(ctx, n.EncodingID(), res, finished)
	if err != nil {
		return Outcome{}, err
	}
	out.Overruled = finished != claimed
	r.markSeen(n.EventID, out)
	if r.Ledger != nil {
		// Best effort: without the mark a replay publishes again, which the
		// deterministic event id collapses in the consumers.
		_ = r.Ledger.MarkPublished(ctx, n.EncodingID(), out.EventType)
	}
	return out, nil
}

func eventType(finished bool) string {
	if finished {
		return webhook.EventEncodingFinished
	}
	return webhook.EventEncodingError
}

func eventID(encodingID, eventType string) string {
	return uuid.NewSHA1(eventNamespace, []byte(encodingID+"/"+eventType)).String()
}

// alreadyPublished reports a duplicate when the ledger has the outcome.
func (r *Receiver) alreadyPublished(ctx context.Context, encodingID, typ string) (Outcome, bool) {
	if r.Ledger == nil {
		return Outcome{}, false
	}
	if done, err := r.Ledger.Published(ctx, encodingID, typ); err != nil || !done {
		return Outcome{}, false
	}
	return Outcome{EventID: eventID(encodingID, typ), EventType: typ, Duplicate: true}, true
}

// publish puts the event of a resolved encoding on the bus. A result too large for
// one message can never be published; it is reported as a failure of the encoding,
// so that the asset ends visibly failed instead of waiting forever.
func (r *Receiver) publish(ctx context.Context, encodingID string, res *jobs.Result, finished bool) (Outcome, error) {
	var payload proto.Message = &eventsv1.EncodingFinished{
		Owner: res.Owner, Backend: res.Backend, ExternalJobId: res.JobID,
		HlsManifestKey: res.HLSManifestKey, DashManifestKey: res.DASHManifestKey,
		Renditions: jobs.Rungs(res.Renditions), EncodeSeconds: res.EncodeSeconds, LadderMode: res.LadderMode,
	}
	if !finished {
		payload = failed(res, res.Error, res.Code, res.Retryable)
	}
	err := r.send(ctx, encodingID, res, eventType(finished), payload)
	if finished && errors.Is(err, events.ErrTooLarge) {
		finished = false
		payload = failed(res, fmt.Sprintf("the encoding's result (%d renditions) is too large to publish", len(res.Renditions)), "result-too-large", false)
		err = r.send(ctx, encodingID, res, eventType(finished), payload)
	}
	if errors.Is(err, events.ErrTooLarge) {
		return Outcome{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{EventID: eventID(encodingID, eventType(finished)), EventType: eventType(finished)}, nil
}

func failed(res *jobs.Result, reason, code string, retryable bool) *eventsv1.EncodingFailed {
	if reason == "" {
		reason = "encoding failed without a reason"
	}
	return &eventsv1.EncodingFailed{Owner: res.Owner, Backend: res.Backend, ExternalJobId: res.JobID,
		Reason: truncate(reason, maxReasonBytes), Retryable: retryable, Code: code}
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func (r *Receiver) send(ctx context.Context, encodingID string, res *jobs.Result, typ string, payload proto.Message) error {
	env, err := events.New(events.Meta{AssetID: res.AssetID, Producer: r.Producer,
		CorrelationID: res.CorrelationID, Traceparent: res.Traceparent}, payload)
	if err != nil {
		return fmt.Errorf("cannot build event for encoding %s: %w", res.JobID, err)
	}
	env.EventId = eventID(encodingID, typ)
	if err := r.Pub.Publish(ctx, env); err != nil {
		return fmt.Errorf("cannot publish %s for encoding %s: %w", typ, res.JobID, err)
	}
	return nil
}

type seenNotification struct {
	at  time.Time
	out Outcome
}

// seenOutcome returns, as a duplicate, what a notification id already published.
func (r *Receiver) seenOutcome(id string) (Outcome, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.seen[id]
	if !ok || time.Since(s.at) >= r.ttl {
		return Outcome{}, false
	}
	out := s.out
	out.Duplicate = true
	return out, true
}

func (r *Receiver) markSeen(id string, out Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if len(r.seen) > 100_000 {
		for k, s := range r.seen {
			if now.Sub(s.at) >= r.ttl {
				delete(r.seen, k)
			}
		}
	}
	r.seen[id] = seenNotification{at: now, out: out}
}
