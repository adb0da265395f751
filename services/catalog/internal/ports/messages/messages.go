// Package messages is the catalog's bus port: it names the topics the catalog
// consumes, hands each event to the projection in app, and each dead letter to
// app's DeadLetters.
package messages

import (
	"context"
	"errors"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
)

// Topics are the topics the catalog consumes: every event that changes an
// asset, each with its own queue (bus.DefaultTopology provisions the same list).
var Topics = []string{
	events.TopicAssetUploaded,
	events.TopicEncodingStarted,
	events.TopicEncodingProgress,
	events.TopicEncodingFinished,
	events.TopicEncodingFailed,
	events.TopicEncodingRequested, // a retry: the asset waits for its next attempt
	events.TopicAssetDeleted,      // tombstone the asset, empty its storage
}

// Subscriber is the part of the bus the handlers are registered on.
type Subscriber interface {
	Subscribe(topic string, h bus.Handler)
	OnDeadLetter(h bus.DeadLetterHandler)
}

// Handlers are the bus handlers of the catalog.
type Handlers struct {
	Projection  *app.Projection
	DeadLetters *app.DeadLetters
}

// Subscribe registers Project on every topic in Topics, and OnDeadLetter on
// their dead-letter queues.
func (h *Handlers) Subscribe(b Subscriber) {
	for _, t := range Topics {
		b.Subscribe(t, h.Project)
	}
	b.OnDeadLetter(h.OnDeadLetter)
}

// Project handles one event. An event that can never be projected is
// returned as bus.Permanent so that it goes to the dead-letter queue at once
// instead of being retried.
func (h *Handlers) Project(ctx context.Context, env *eventsv1.Envelope) error {
	err := h.Projection.Handle(ctx, env)
	if errors.Is(err, app.ErrInvalidEvent) {
		return bus.Permanent(err)
	}
	return err
}

// OnDeadLetter hands an event the bus gave up on to DeadLetters, which
// announces the failure of its attempt.
func (h *Handlers) OnDeadLetter(ctx context.Context, dl bus.DeadLetter) error {
	return h.DeadLetters.Abandoned(ctx, app.GivenUp{Env: dl.Env, Queue: dl.Queue, Why: dl.Why()})
}
