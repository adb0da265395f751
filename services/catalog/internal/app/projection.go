package app

import (
	"context"
	"errors"
	"fmt"
	"math"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/tracing"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// ErrInvalidEvent marks an event that can never be projected; the bus wiring sends
// it to the dead-letter queue instead of retrying.
var ErrInvalidEvent = errors.New("invalid event")

// Consumer is the name under which the catalog records processed events.
const Consumer = "catalog"

// Projection applies events to the repository.
type Projection struct {
	repo     Repository
	consumer string
	log      *zap.Logger
	// Storage, when set, is where a deleted asset's sources and outputs are
	// removed: on its AssetDeleted, and again on any later event that may
	// have written some (an upload, an encode that finished or failed).
	Storage Cleaner
}

// Cleaner removes objects from storage.
type Cleaner interface {
	DeletePrefix(ctx context.Context, prefix string) error
}

// NewProjection returns the projection writing to repo under consumer (Consumer if empty).
func NewProjection(repo Repository, consumer string, log *zap.Logger) *Projection {
	if consumer == "" {
		consumer = Consumer
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Projection{repo: repo, consumer: consumer, log: log}
}

// Handle projects one event. It is safe to call concurrently and with redelivered
// events. Errors wrapping ErrInvalidEvent will never succeed; others may on retry.
func (p *Projection) Handle(ctx context.Context, env *eventsv1.Envelope) error {
	switch env.GetPayload().(type) {
	case *eventsv1.Envelope_AssetDeleted:
		return p.deleted(ctx, env)
	case *eventsv1.Envelope_EncodingRequested:
		return p.requested(ctx, env)
	}
	ev, err := ToDomain(env)
	if err != nil {
		return err
	}
	if ev == nil {
		return nil // a type the catalog does not project
	}
	var result domain.Asset
	var changed bool
	applied, err := p.repo.Update(ctx, EventKey{Consumer: p.consumer, EventID: env.GetEventId()}, env.GetAssetId(),
		func(cur domain.Asset) (domain.Asset, bool, error) {
			result, changed = domain.Apply(cur, ev)
			return result, changed, nil
		})
	if errors.Is(err, domain.ErrDeleted) {
		return p.late(ctx, env, ev)
	}
	if err != nil {
		return fmt.Errorf("cannot project event %s (%s) of asset %s: %w", env.GetEventId(), env.GetType(), env.GetAssetId(), err)
	}
	if ce := p.log.Check(zap.DebugLevel, "event projected"); ce != nil {
		ce.Write(tracing.IDs(ctx), zap.String("event_id", env.GetEventId()), zap.String("asset_id", env.GetAssetId()),
			zap.String("type", env.GetType()), zap.Bool("duplicate", !applied), zap.Bool("changed", applied && changed),
			zap.String("status", string(result.Status)))
	}
	return nil
}

// ToDomain converts an envelope into the domain event it carries, or nil for a
// payload the catalog ignores. Errors wrap ErrInvalidEvent.
func ToDomain(env *eventsv1.Envelope) (domain.Event, error) {
	if err := events.Validate(env); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if !domain.ValidID(env.GetAssetId()) {
		return nil, fmt.Errorf("%w: %w: %q", ErrInvalidEvent, domain.ErrInvalidID, env.GetAssetId())
	}
	at := env.GetOccurredAt().AsTime()
	switch p := env.GetPayload().(type) {
	case *eventsv1.Envelope_AssetUploaded:
		u := p.AssetUploaded
		pr := u.GetProbe()
		return domain.Uploaded{At: at, Owner: u.GetOwner(), Title: u.GetTitle(), SourceKey: u.GetSourceKey(),
			DurationSeconds: finite(pr.GetDurationSeconds()), Width: int(pr.GetWidth()), Height: int(pr.GetHeight()),
			SourceBytes: pr.GetSizeBytes()}, nil
	case *eventsv1.Envelope_EncodingStarted:
		s := p.EncodingStarted
		if s.GetAttempt() < 0 {
			return nil, fmt.Errorf("%w: attempt %d is negative", ErrInvalidEvent, s.GetAttempt())
		}
		return domain.Started{At: at, Owner: s.GetOwner(), Backend: s.GetBackend(), JobID: s.GetExternalJobId(),
			Attempt: int(s.GetAttempt())}, nil
	case *eventsv1.Envelope_EncodingProgress:
		g := p.EncodingProgress
		return domain.Progress{At: at, Backend: g.GetBackend(), JobID: g.GetExternalJobId(),
			Percent: finite(g.GetPercent()), ETASeconds: finite(g.GetEtaSeconds()),
			ChunksDone: int(g.GetChunksDone()), Chunks: int(g.GetChunksTotal()), Workers: int(g.GetWorkers())}, nil
	case *eventsv1.Envelope_EncodingFinished:
		f := p.EncodingFinished
		if f.GetHlsManifestKey() == "" && f.GetDashManifestKey() == "" && f.GetHlsUrl() == "" && f.GetDashUrl() == "" {
			return nil, fmt.Errorf("%w: encoding finished without any manifest", ErrInvalidEvent)
		}
		rs := make([]domain.Rendition, 0, len(f.GetRenditions()))
		for _, r := range f.GetRenditions() {
			q := make([]domain.Quality, 0, len(r.GetQuality()))
			for _, s := range r.GetQuality() {
				q = append(q, domain.Quality{Metric: s.GetMetric(), Value: finite(s.GetValue())})
			}
			rs = append(rs, domain.Rendition{Width: int(r.GetWidth()), Height: int(r.GetHeight()),
				Bitrate: r.GetBitrate(), AverageBitrate: r.GetAverageBitrate(), Codec: r.GetCodec(),
				Codecs: r.GetCodecs(), FrameRate: finite(r.GetFrameRate()), Bytes: r.GetSizeBytes(), Quality: q})
		}
		return domain.Finished{At: at, Owner: f.GetOwner(), Backend: f.GetBackend(), JobID: f.GetExternalJobId(),
			HLSKey: f.GetHlsManifestKey(), DASHKey: f.GetDashManifestKey(), HLSURL: f.GetHlsUrl(), DASHURL: f.GetDashUrl(),
			Renditions: rs, LadderMode: ladderMode(f.GetLadderMode())}, nil
	case *eventsv1.Envelope_EncodingFailed:
		f := p.EncodingFailed
		return domain.Failed{At: at, Owner: f.GetOwner(), Backend: f.GetBackend(), JobID: f.GetExternalJobId(),
			Reason: f.GetReason(), Retryable: f.GetRetryable()}, nil
	}
	return nil, nil
}

// ladderMode is an event's ladder mode if it is one, else "": the catalog
// shows it, so it keeps only what it can name.
func ladderMode(m string) string {
	if jobs.ValidLadderMode(m) {
		return m
	}
	return ""
}

// finite maps NaN and infinities, which JSON cannot carry, to 0.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// checked validates an event the projection handles without ToDomain.
func checked(env *eventsv1.Envelope) error {
	if err := events.Validate(env); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if !domain.ValidID(env.GetAssetId()) {
		return fmt.Errorf("%w: %w: %q", ErrInvalidEvent, domain.ErrInvalidID, env.GetAssetId())
	}
	return nil
}

// deleted tombstones the asset (once, whoever applied the event first: the
// DELETE request or this delivery) and removes its objects, every delivery,
// until that succeeds.
func (p *Projection) deleted(ctx context.Context, env *eventsv1.Envelope) error {
	if err := checked(env); err != nil {
		return err
	}
	id := env.GetAssetId()
	if _, err := p.repo.Delete(ctx, EventKey{Consumer: p.consumer, EventID: env.GetEventId()}, id, env.GetOccurredAt().AsTime()); err != nil {
		return fmt.Errorf("cannot delete asset %s: %w", id, err)
	}
	if err := p.removeObjects(ctx, id); err != nil {
		return err
	}
	p.log.Info("asset deleted", tracing.IDs(ctx), zap.String("asset_id", id), zap.String("by", env.GetAssetDeleted().GetDeletedBy()))
	return nil
}

// late handles an event of a deleted asset: it changes nothing, but an upload
// or an encode that ended may have written objects after the deletion
// removed them.
func (p *Projection) late(ctx context.Context, env *eventsv1.Envelope, ev domain.Event) error {
	p.log.Info("event of a deleted asset dropped", tracing.IDs(ctx), zap.String("asset_id", env.GetAssetId()), zap.String("type", env.GetType()))
	switch ev.(type) {
	case domain.Uploaded, domain.Finished, domain.Failed:
		return p.removeObjects(ctx, env.GetAssetId())
	}
	return nil
}

func (p *Projection) removeObjects(ctx context.Context, id string) error {
	if p.Storage == nil {
		return nil
	}
	for _, prefix := range []string{jobs.SourcePrefix(id), jobs.AssetOutputPrefix(id)} {
		if err := p.Storage.DeletePrefix(ctx, prefix); err != nil {
			return fmt.Errorf("cannot remove %s of deleted asset %s: %w", prefix, id, err)
		}
	}
	return nil
}

// requested keeps the asset's latest encoding request, which a retry repeats.
func (p *Projection) requested(ctx context.Context, env *eventsv1.Envelope) error {
	if err := checked(env); err != nil {
		return err
	}
	body, err := proto.Marshal(env.GetEncodingRequested())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	err = p.repo.SaveRequest(ctx, env.GetAssetId(), domain.Request{EventID: env.GetEventId(), At: env.GetOccurredAt().AsTime(), Body: body})
	if errors.Is(err, domain.ErrDeleted) {
		return nil // a retry of an asset deleted since: nothing to keep
	}
	return err
}
