package service

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
)

// deadLetterNamespace derives the id of the failure announced for a dead
// letter from the dead event's id, so that sweeping it again collapses.
var deadLetterNamespace = uuid.MustParse("9e3f2a61-4c2d-4f0e-8a55-2b7d1c6e0f93")

// OnDeadLetter is the catalog's answer to an event it could not record: it
// announces EncodingFailed for the asset, so that an asset whose Finished
// could not be recorded does not stay "encoding" for ever. The failure
// carries the dead event's job and time, so it ends that attempt only: a
// stale progress report dead-lettered after its asset became ready (or was
// retried) does not undo it. A failure that itself could not be recorded is
// only logged: announcing another one would loop; so are a dead AssetDeleted
// or EncodingRequested, which say nothing of an encode.
func (s *Service) OnDeadLetter(pub interface {
	Publish(context.Context, *eventsv1.Envelope) error
}) bus.DeadLetterHandler {
	return func(ctx context.Context, dl bus.DeadLetter) error {
		env := dl.Env
		log := s.deps.Log.With(zap.String("queue", dl.Queue), zap.String("reason", dl.Why()))
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
		out, err := events.New(events.Meta{AssetID: env.GetAssetId(), Producer: Name, CorrelationID: env.GetCorrelationId(),
			Traceparent: env.GetTraceparent()}, &eventsv1.EncodingFailed{
			Owner: events.Owner(env), Code: "DEAD_LETTERED", ExternalJobId: events.ExternalJobID(env),
			Reason: fmt.Sprintf("the catalog could not record %s: %s", events.Name(env), dl.Why()),
		})
		if err != nil {
			return err
		}
		if env.GetOccurredAt() != nil {
			out.OccurredAt = env.GetOccurredAt()
		}
		out.EventId = uuid.NewSHA1(deadLetterNamespace, []byte(env.GetEventId())).String()
		return pub.Publish(ctx, out)
	}
}
