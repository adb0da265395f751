// Package messages is encoder-dispatch's bus port: it names the topics the
// service consumes and turns each event, and each dead letter, into a call of
// the use cases in app.
package messages

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// Topics are the topics encoder-dispatch consumes, each with its own queue
// (bus.DefaultTopology provisions the same list).
var Topics = []string{
	events.TopicAssetUploaded,     // plan the ladder
	events.TopicEncodingRequested, // run the job on the backend
	events.TopicChunkRequested,    // encode one chunk of a long title, on any worker
}

// Subscriber is the part of the bus the handlers are registered on.
type Subscriber interface {
	Subscribe(topic string, h bus.Handler)
	OnDeadLetter(h bus.DeadLetterHandler)
}

// Handlers are the bus handlers of encoder-dispatch.
type Handlers struct {
	Dispatcher *app.Dispatcher
	Chunks     *app.ChunkWorker
	Log        *zap.Logger
}

// Subscribe registers a handler on every topic in Topics, and the
// dead-letter handler of their queues.
func (h *Handlers) Subscribe(b Subscriber) {
	b.Subscribe(events.TopicAssetUploaded, h.OnAssetUploaded)
	b.Subscribe(events.TopicEncodingRequested, h.OnEncodingRequested)
	b.Subscribe(events.TopicChunkRequested, h.OnChunkRequested)
	b.OnDeadLetter(h.OnDeadLetter)
}

// OnAssetUploaded plans the encoding of an uploaded asset.
func (h *Handlers) OnAssetUploaded(ctx context.Context, env *eventsv1.Envelope) error {
	up := env.GetAssetUploaded()
	if up == nil {
		return bus.Permanent(fmt.Errorf("event %s is not AssetUploaded", env.GetEventId()))
	}
	return h.Dispatcher.Plan(ctx, app.Upload{Cause: cause(env), Title: up.GetTitle(),
		SourceKey: up.GetSourceKey(), SourceURL: up.GetSourceUrl(), Probe: up.GetProbe()})
}

// OnEncodingRequested runs a requested job.
func (h *Handlers) OnEncodingRequested(ctx context.Context, env *eventsv1.Envelope) error {
	req := env.GetEncodingRequested()
	if req == nil {
		return bus.Permanent(fmt.Errorf("event %s is not EncodingRequested", env.GetEventId()))
	}
	return h.Dispatcher.Run(ctx, app.Request{Cause: cause(env), Job: app.Job{Title: req.GetTitle(),
		SourceKey: req.GetSourceKey(), SourceURL: req.GetSourceUrl(), OutputPrefix: req.GetOutputPrefix(),
		LadderMode: req.GetLadderMode(), Ladder: rungs(req.GetLadder()), Probe: req.GetProbe(),
		Attempt: req.GetAttempt()}})
}

// OnChunkRequested encodes one chunk of a chunked job.
func (h *Handlers) OnChunkRequested(ctx context.Context, env *eventsv1.Envelope) error {
	req := env.GetChunkRequested()
	if req == nil {
		return bus.Permanent(fmt.Errorf("event %s is not ChunkRequested", env.GetEventId()))
	}
	return h.Chunks.Encode(ctx, chunkTask(req))
}

// OnDeadLetter hands a dead chunk task to the chunk worker, which marks the
// chunk failed, and a dead upload or request to the dispatcher, which
// announces EncodingFailed for its asset. What is not an event of an asset
// has nothing to announce.
func (h *Handlers) OnDeadLetter(ctx context.Context, dl bus.DeadLetter) error {
	if dl.Topic == events.TopicChunkRequested {
		req := dl.Env.GetChunkRequested()
		if req == nil {
			h.log().Error("dead letter on the chunk topic that is not a chunk: nothing to mark", zap.String("reason", dl.Why()))
			return nil
		}
		return h.Chunks.Abandoned(ctx, chunkTask(req), dl.Why())
	}
	env := dl.Env
	if env == nil || env.GetAssetId() == "" {
		h.log().Error("dead letter that is not an event of an asset: nothing to announce", zap.String("queue", dl.Queue), zap.String("reason", dl.Why()))
		return nil
	}
	return h.Dispatcher.Abandoned(ctx, app.GivenUp{Cause: cause(env), Event: events.Name(env),
		Request: env.GetEncodingRequested() != nil, Why: dl.Why()})
}

func (h *Handlers) log() *zap.Logger {
	if h.Log == nil {
		return zap.NewNop()
	}
	return h.Log
}

func cause(env *eventsv1.Envelope) app.Cause {
	c := app.Cause{EventID: env.GetEventId(), AssetID: env.GetAssetId(), Owner: events.Owner(env),
		CorrelationID: env.GetCorrelationId(), Traceparent: env.GetTraceparent()}
	if env.GetOccurredAt() != nil {
		c.At = env.GetOccurredAt().AsTime()
	}
	return c
}

func chunkTask(req *eventsv1.ChunkRequested) app.ChunkTask {
	return app.ChunkTask{JobID: req.GetJobId(), PlanKey: req.GetPlanKey(), Chunk: int(req.GetChunk())}
}

// rungs reads a request's ladder: average-bitrate rungs, which media.VBV gives
// the usual cap.
func rungs(rs []*eventsv1.Rung) []media.Rung {
	out := make([]media.Rung, 0, len(rs))
	for _, r := range rs {
		out = append(out, media.Rung{Width: int(r.GetWidth()), Height: int(r.GetHeight()), Bitrate: r.GetBitrate(), Profile: "high"})
	}
	return out
}
