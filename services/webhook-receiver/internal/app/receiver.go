// Package app holds the webhook-receiver's use case: turning a verified
// encoder notification into the one event its encoding's resolved status
// stands for, published once whichever replica or repeat it reaches, with the
// failure policy that makes the sender retry only when a retry can help.
package app

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/idempotency"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/tracing"
	"github.com/pertitle/pertitle/pkg/videometrics"
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
	// Claims makes each outcome of an encoding published once, whichever
	// replica a notification or its repeats reach: shared by the replicas
	// (PERTITLE_STATE_DB), or one process's memory.
	Claims idempotency.Store
	// Ledger, when set, keeps the published outcomes in storage, where they
	// outlive the claims (a restart of a memory store) and the Bitmovin
	// reconciler reads them.
	Ledger Ledger
	// InProgressWait is how long a notification whose outcome another
	// delivery is publishing waits for it before asking the sender to retry.
	InProgressWait time.Duration
	Log            *zap.Logger

	keep time.Duration
}

// ErrInProgress is returned while another delivery of the same outcome is
// being handled (by this replica or another): the sender should retry.
var ErrInProgress = errors.New("the same outcome is being published by another delivery")

// NewReceiver returns a receiver whose claims remember published outcomes for
// keep, in memory until Claims is replaced.
func NewReceiver(pub Publisher, r Resolver, keep time.Duration) *Receiver {
	return &Receiver{Pub: pub, Resolver: r, Producer: "webhook-receiver", ResolveTimeout: 8 * time.Second,
		Claims: idempotency.NewMemory(), InProgressWait: 2 * time.Second, keep: keep}
}

// eventNamespace makes event ids derived from job ids stable across retries and replicas.
var eventNamespace = uuid.MustParse("6f1b1f8e-8f0e-4c59-9a55-7d5d3c0c2a11")

// claimLease bounds how long a crashed replica's claim keeps repeats waiting:
// a webhook is answered well within it (Bitmovin gives up after 10 s).
const claimLease = 30 * time.Second

// Handle publishes the event the encoding's resolved status stands for: the job
// record (local backend) or Bitmovin's API, never only the notification's
// eventType, which a replay or a confused sender may get wrong. Each outcome of
// an encoding is claimed before it is resolved and published, so repeats of a
// notification, whichever replica they reach and however close together,
// publish it once; a delivery that fails gives the claim up for the retry.
func (r *Receiver) Handle(ctx context.Context, n webhook.Notification) (Outcome, error) {
	claimed, err := n.Finished()
	if err != nil {
		return Outcome{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	encodingID := n.EncodingID()
	if err := jobs.ValidJobID(encodingID); err != nil {
		return Outcome{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c, dup, err := r.claim(ctx, encodingID, eventType(claimed))
	if err != nil || dup != nil {
		return deref(dup), err
	}
	// Whatever goes wrong below gives the claim up, so the retry can run.
	held := []idempotency.Claim{c}
	defer func() { r.release(ctx, held) }()

	rctx, cancel := ctx, context.CancelFunc(func() {})
	if r.ResolveTimeout > 0 {
		rctx, cancel = context.WithTimeout(ctx, r.ResolveTimeout)
	}
	res, err := r.Resolver.Resolve(rctx, encodingID)
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
		return Outcome{}, fmt.Errorf("%w: encoding %s is %s", ErrNotFinished, encodingID, res.Status)
	}
	if finished != claimed {
		// The claim was wrong: the resolved outcome is the one to publish
		// once, and nothing is published under the claimed one.
		c, dup, err = r.claim(ctx, encodingID, eventType(finished))
		if err != nil {
			return Outcome{}, err
		}
		if dup != nil {
			dup.Overruled = true
			return *dup, nil
		}
		held = append(held, c)
	}
	out, err := r.publish(ctx, encodingID, res, finished)
	if err != nil {
		return Outcome{}, err
	}
	out.Overruled = finished != claimed
	held = held[:len(held)-1]
	bg := context.WithoutCancel(ctx)
	if r.Ledger != nil {
		if err := r.Ledger.MarkPublished(bg, encodingID, out.EventType); err != nil {
			// The claim still collapses repeats; the reconciler may report
			// this encoding again, under the same event id.
			r.log().Warn("cannot record the published outcome in storage", tracing.IDs(ctx), zap.String("encoding", encodingID), zap.Error(err))
		}
	}
	if err := r.Claims.Done(bg, c, r.keep); err != nil {
		// Published all the same: a repeat after the lease publishes the same
		// event id again, which consumers collapse.
		r.log().Warn("cannot record the published outcome as done", tracing.IDs(ctx), zap.String("encoding", encodingID), zap.Error(err))
	}
	return out, nil
}

func (r *Receiver) log() *zap.Logger {
	if r.Log == nil {
		return zap.NewNop()
	}
	return r.Log
}

func deref(o *Outcome) Outcome {
	if o == nil {
		return Outcome{}
	}
	return *o
}

// claimKey names an outcome of an encoding in the idempotency store.
func claimKey(encodingID, typ string) string {
	return "webhook-receiver/" + encodingID + "/" + typ
}

// claim takes the outcome typ of encodingID, or returns the duplicate outcome
// when it was published (by any replica, or before a restart, per the ledger).
// Another delivery publishing it is waited for a little, then ErrInProgress.
func (r *Receiver) claim(ctx context.Context, encodingID, typ string) (idempotency.Claim, *Outcome, error) {
	dup := &Outcome{EventID: eventID(encodingID, typ), EventType: typ, Duplicate: true}
	deadline := time.Now().Add(r.InProgressWait)
	for {
		c, err := r.Claims.Claim(ctx, claimKey(encodingID, typ), claimLease)
		if err != nil {
			return c, nil, fmt.Errorf("cannot claim %s of %s: %w", typ, encodingID, err)
		}
		if c.Won {
			published, err := r.published(ctx, encodingID, typ)
			if err != nil || published {
				if published {
					err = r.Claims.Done(ctx, c, r.keep)
				} else {
					_ = r.Claims.Fail(context.WithoutCancel(ctx), c)
				}
				if err != nil {
					return c, nil, err
				}
				return c, dup, nil
			}
			return c, nil, nil
		}
		if c.State == idempotency.Done {
			return c, dup, nil
		}
		if time.Now().After(deadline) {
			return c, nil, fmt.Errorf("%w: %s of encoding %s", ErrInProgress, typ, encodingID)
		}
		select {
		case <-ctx.Done():
			return c, nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// published reads the ledger (after the claim is won: never check-then-put).
func (r *Receiver) published(ctx context.Context, encodingID, typ string) (bool, error) {
	if r.Ledger == nil {
		return false, nil
	}
	return r.Ledger.Published(ctx, encodingID, typ)
}

func (r *Receiver) release(ctx context.Context, held []idempotency.Claim) {
	for _, c := range held {
		_ = r.Claims.Fail(context.WithoutCancel(ctx), c)
	}
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
	videometrics.Video.ObserveOutcome(payload, res.FinishedAt)
	return nil
}

// RoutingResolver sends each encoding id to the backend that made it: job ids of
// the local backend are jobs.IsLocal, anything else is a Bitmovin encoding id.
// Both backends can complete at once (jobs in flight while the backend is switched).
type RoutingResolver struct {
	Local    Resolver
	Bitmovin Resolver // nil when no Bitmovin API key is configured
}

// Resolve implements Resolver.
func (r RoutingResolver) Resolve(ctx context.Context, encodingID string) (*jobs.Result, error) {
	if jobs.IsLocal(encodingID) || r.Bitmovin == nil {
		return r.Local.Resolve(ctx, encodingID)
	}
	return r.Bitmovin.Resolve(ctx, encodingID)
}

// Ledger remembers which outcomes were published, across restarts and replicas.
// It is read only by the holder of the outcome's claim, never to decide
// whether to write it.
type Ledger interface {
	Published(ctx context.Context, encodingID, eventType string) (bool, error)
	MarkPublished(ctx context.Context, encodingID, eventType string) error
}
