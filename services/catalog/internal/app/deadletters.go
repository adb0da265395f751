package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
)

// deadLetterNamespace derives the id of the failure announced for a dead
// letter from the dead event's id, so that sweeping it again collapses.
var deadLetterNamespace = uuid.MustParse("9e3f2a61-4c2d-4f0e-8a55-2b7d1c6e0f93")

// DeadLetters is the catalog's answer to an event it could not record: it
// announces EncodingFailed for the asset, so that an asset whose Finished
// could not be recorded does not stay "encoding" for ever.
type DeadLetters struct {
	Pub      Publisher
	Producer string
	Log      *zap.Logger // optional
}

// GivenUp is an event the bus gave up on.
type GivenUp struct {
	Env   *eventsv1.Envelope
	Queue string // the queue it died on, for the logs
	Why   string // why the bus gave it up
}

// Abandoned announces the failure of the attempt a dead event belongs to. The failure carries the dead event's job and
// time, so it ends that attempt only: a stale progress report dead-lettered
// after its asset became ready (or was retried) does not undo it. A failure
// that itself could not be recorded is only logged: announcing another one
// would loop; so are a dead AssetDeleted or EncodingRequested, which say
// nothing of an encode.
func (d *DeadLetters) Abandoned(ctx context.Context, dead GivenUp) error {
	env, why := dead.Env, dead.Why
	log := d.Log
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("queue", dead.Queue), zap.String("reason", why))
	if env == nil || env.GetAssetId() == "" || env.GetEncodingFailed() != nil {
		log.Error("dead letter the catalog cannot turn into a failure", zap.String("event_id", env.GetEventId()))
		return nil
	}
	// Neither says how an encode went: a deletion whose storage clean-up
	// kept failing (the asset is tombstoned already), or a request the
	// catalog could not keep (the asset cannot be retried). Operators redrive them.
	if env.GetAssetDeleted() != nil || env.GetEncodingRequested() != nil {
		log.Error("dead letter of "+events.Name(env)+": redrive it once the cause is fixed",
			zap.String("event_id", env.GetEventId()), zap.String("asset_id", env.GetAssetId()))
		return nil
	}
	out, err := events.New(events.Meta{AssetID: env.GetAssetId(), Producer: d.Producer, CorrelationID: env.GetCorrelationId(),
		Traceparent: env.GetTraceparent()}, &eventsv1.EncodingFailed{
		Owner: events.Owner(env), Code: "DEAD_LETTERED", ExternalJobId: events.ExternalJobID(env),
		Reason: fmt.Sprintf("the catalog could not record %s: %s", events.Name(env), why),
	})
	if err != nil {
		return err
	}
	if env.GetOccurredAt() != nil {
		out.OccurredAt = env.GetOccurredAt()
	}
	out.EventId = uuid.NewSHA1(deadLetterNamespace, []byte(env.GetEventId())).String()
	return d.Pub.Publish(ctx, out)
}
