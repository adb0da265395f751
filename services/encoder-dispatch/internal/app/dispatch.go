// Package app plans encodings and hands them to a backend.
package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
	"github.com/pertitle/pertitle/pkg/videometrics"
)

// Publisher puts events on the bus.
type Publisher interface {
	Publish(ctx context.Context, env *eventsv1.Envelope) error
}

// Job is one encoding for a backend to run.
type Job struct {
	ID            string
	AssetID       string
	Owner         string
	Title         string
	SourceKey     string
	SourceURL     string
	OutputPrefix  string
	LadderMode    string
	Ladder        []media.Rung
	Probe         *eventsv1.ProbeSummary
	CorrelationID string
	Traceparent   string
}

// Reporter receives a job's life signs and turns them into events.
type Reporter interface {
	Started(ctx context.Context, externalID string) error
	Progress(ctx context.Context, p media.Progress)
}

// Backend runs encodings. Backends that encode in this process (local) return when
// the job has ended and its completion webhook was delivered; remote ones (Bitmovin)
// return once the job started, and completion arrives by webhook.
type Backend interface {
	Name() string
	Run(ctx context.Context, job Job, rep Reporter) error
}

// Dispatcher handles AssetUploaded and EncodingRequested.
type Dispatcher struct {
	Pub      Publisher
	Backend  Backend
	Log      *zap.Logger
	Producer string
	// ProgressEvery bounds how often progress events are published.
	ProgressEvery time.Duration
	// LadderMode is what OnAssetUploaded plans: "pertitle" (the backend
	// analyses the title and chooses the ladder; the request carries the fixed
	// ladder as the fallback for backends that cannot), "static" (Apple HLS
	// authoring specification ladder) or "fixed" (media.FixedLadder, also
	// when empty).
	LadderMode string
	// Limits are checked again on the probe an AssetUploaded carries: events
	// are input too. Zero fields take media's defaults.
	Limits media.Limits
	// Budget bounds each job's run; a zero Budget means DefaultBudget.
	Budget Budget
}

// errDeadline is the cause of a job's context when its budget runs out.
var errDeadline = errors.New("the job ran past its deadline")

var requestNamespace = uuid.MustParse("0c3c3f53-7d3b-4a9b-b7a3-3f0d6d0f5e21")

// OnAssetUploaded plans the ladder and publishes EncodingRequested.
func (d *Dispatcher) OnAssetUploaded(ctx context.Context, env *eventsv1.Envelope) error {
	up := env.GetAssetUploaded()
	if up == nil {
		return bus.Permanent(fmt.Errorf("event %s is not AssetUploaded", env.GetEventId()))
	}
	p := up.GetProbe()
	if p.GetWidth() <= 0 || p.GetHeight() <= 0 {
		return d.refuse(ctx, env, "", codeRefused, bus.Permanent(fmt.Errorf("asset %s has no video size in its probe summary", env.GetAssetId())))
	}
	src := &media.Source{Duration: p.GetDurationSeconds(), Size: p.GetSizeBytes(), Video: &media.VideoStream{
		Codec: p.GetVideoCodec(), Width: int(p.GetWidth()), Height: int(p.GetHeight()), FrameRate: p.GetFrameRate(), PixFmt: p.GetPixelFormat(),
	}}
	if err := d.Limits.Check(src); err != nil {
		return d.refuse(ctx, env, "", codeRefused, bus.Permanent(fmt.Errorf("asset %s: %w", env.GetAssetId(), err)))
	}
	if p.GetHasAudio() {
		src.Audio = []media.AudioStream{{Codec: p.GetAudioCodec()}}
	}
	mode := d.LadderMode
	if mode == "" {
		mode = jobs.LadderFixed
	}
	// The request's ladder is what will be encoded: none in per-title mode,
	// where the backend chooses it.
	var ladder []media.Rung
	switch mode {
	case jobs.LadderFixed:
		ladder = media.FixedLadder(src)
	case jobs.LadderStatic:
		w, h := src.DisplaySize()
		ladder = pertitle.MediaRungs(pertitle.StaticLadder(w, h))
	}
	// The request id follows from the upload id: a redelivered upload plans the same request.
	reqID := uuid.NewSHA1(requestNamespace, []byte(env.GetEventId())).String()
	jobID := jobs.NewID(d.Backend.Name(), reqID)
	req := &eventsv1.EncodingRequested{
		Owner: up.GetOwner(), Title: up.GetTitle(), SourceKey: up.GetSourceKey(), SourceUrl: up.GetSourceUrl(),
		Backend: d.Backend.Name(), LadderMode: mode, Ladder: rungsToEvent(ladder),
		OutputPrefix: jobs.OutputPrefix(env.GetAssetId(), jobID), Probe: p,
	}
	out, err := events.New(d.meta(ctx, env), req)
	if err != nil {
		return bus.Permanent(err)
	}
	out.EventId = reqID
	if err := d.Pub.Publish(ctx, out); err != nil {
		return fmt.Errorf("cannot publish EncodingRequested for %s: %w", env.GetAssetId(), err)
	}
	d.Log.Info("encoding planned", zap.String("asset_id", env.GetAssetId()), zap.String("job_id", jobID), zap.String("ladder_mode", mode), zap.Int("rungs", len(ladder)))
	return nil
}

// OnEncodingRequested runs the job on the backend.
func (d *Dispatcher) OnEncodingRequested(ctx context.Context, env *eventsv1.Envelope) error {
	req := env.GetEncodingRequested()
	if req == nil {
		return bus.Permanent(fmt.Errorf("event %s is not EncodingRequested", env.GetEventId()))
	}
	job := Job{
		ID: jobs.NewID(d.Backend.Name(), env.GetEventId()), AssetID: env.GetAssetId(), Owner: req.GetOwner(), Title: req.GetTitle(),
		SourceKey: req.GetSourceKey(), SourceURL: req.GetSourceUrl(), OutputPrefix: req.GetOutputPrefix(),
		LadderMode: req.GetLadderMode(), Ladder: rungsFromEvent(req.GetLadder()), Probe: req.GetProbe(),
		CorrelationID: env.GetCorrelationId(), Traceparent: env.GetTraceparent(),
	}
	switch {
	case !jobs.ValidLadderMode(job.LadderMode):
		return d.refuse(ctx, env, job.ID, codeRefused, bus.Permanent(fmt.Errorf("encoding request %s has ladder mode %q", env.GetEventId(), job.LadderMode)))
	case len(job.Ladder) == 0 && job.LadderMode != jobs.LadderPerTitle:
		return d.refuse(ctx, env, job.ID, codeRefused, bus.Permanent(fmt.Errorf("encoding request %s has an empty %s ladder", env.GetEventId(), job.LadderMode)))
	}
	rep := &reporter{d: d, env: env, job: job}
	start := time.Now()
	budget := d.budget().For(job)
	rctx, cancel := context.WithTimeoutCause(ctx, budget, errDeadline)
	defer cancel()
	err := d.Backend.Run(rctx, job, rep)
	videometrics.Video.ObserveEncode(d.Backend.Name(), job.LadderMode, videometrics.OutcomeOf(err), time.Since(start), job.Probe.GetDurationSeconds())
	if err != nil && errors.Is(context.Cause(rctx), errDeadline) {
		d.Log.Warn("encoding past its deadline: failed", zap.String("job_id", job.ID), zap.Duration("deadline", budget))
		return d.refuse(ctx, env, job.ID, codeDeadline, bus.Permanent(fmt.Errorf("job %s: %w (%s for %.0f s of video)", job.ID, errDeadline, budget.Round(time.Second), job.Probe.GetDurationSeconds())))
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			d.Log.Warn("encoding interrupted; it will be redelivered", zap.String("job_id", job.ID))
		}
		err = fmt.Errorf("job %s on %s: %w", job.ID, d.Backend.Name(), err)
		if bus.IsPermanent(err) {
			return d.refuse(ctx, env, job.ID, codeRefused, err)
		}
		return err
	}
	d.Log.Info("encoding handed over", zap.String("asset_id", job.AssetID), zap.String("job_id", job.ID),
		zap.Duration("took", time.Since(start)))
	return nil
}

var failedNamespace = uuid.MustParse("5b0f4a52-2f57-4d53-8d0e-3f5f1bb0a9c4")

// Codes of the EncodingFailed events the dispatcher announces itself.
const (
	codeRefused      = "REFUSED"
	codeDeadline     = "DEADLINE_EXCEEDED"
	codeDeadLettered = "DEAD_LETTERED"
)

func (d *Dispatcher) budget() Budget {
	if d.Budget == (Budget{}) {
		return DefaultBudget()
	}
	return d.Budget
}

// refuse announces EncodingFailed for an event that can never be handled, so the
// asset does not wait forever, then returns err (permanent: the bus dead-letters
// the event). The failure's id derives from the event's, so a redelivery
// announces the same failure.
func (d *Dispatcher) refuse(ctx context.Context, env *eventsv1.Envelope, jobID, code string, err error) error {
	out, nerr := events.New(d.meta(ctx, env), &eventsv1.EncodingFailed{
		Owner: events.Owner(env), Backend: d.Backend.Name(), ExternalJobId: jobID,
		Reason: err.Error(), Retryable: false, Code: code,
	})
	if nerr == nil {
		out.EventId = uuid.NewSHA1(failedNamespace, []byte(env.GetEventId())).String()
		nerr = d.Pub.Publish(ctx, out)
	}
	if nerr != nil {
		// Without the announcement the asset would hang: let the bus retry instead.
		// (%v, not %w: wrapping the permanent cause would dead-letter the event.)
		return fmt.Errorf("cannot announce the failure of %s (%v): %w", env.GetAssetId(), err, nerr)
	}
	return err
}

// OnDeadLetter announces EncodingFailed for an upload or a request that reached
// a dead-letter queue, whatever put it there (a handler that kept failing, a
// process killed mid-encode on every delivery), so its asset never stays
// "encoding". The failure's id is the one refuse would have used: an event
// refused and then swept is announced once.
func (d *Dispatcher) OnDeadLetter(ctx context.Context, dl bus.DeadLetter) error {
	env := dl.Env
	if env == nil || env.GetAssetId() == "" {
		d.Log.Error("dead letter that is not an event of an asset: nothing to announce", zap.String("queue", dl.Queue), zap.String("reason", dl.Why()))
		return nil
	}
	jobID := ""
	if env.GetEncodingRequested() != nil {
		jobID = jobs.NewID(d.Backend.Name(), env.GetEventId())
	}
	out, err := events.New(d.meta(ctx, env), &eventsv1.EncodingFailed{
		Owner: events.Owner(env), Backend: d.Backend.Name(), ExternalJobId: jobID,
		Reason: fmt.Sprintf("%s was given up on: %s", events.Name(env), dl.Why()), Retryable: false, Code: codeDeadLettered,
	})
	if err != nil {
		return err
	}
	out.EventId = uuid.NewSHA1(failedNamespace, []byte(env.GetEventId())).String()
	if env.GetOccurredAt() != nil {
		// The failure belongs to the dead event's attempt and time: a newer
		// attempt of the asset (a retry) is not undone by it.
		out.OccurredAt = env.GetOccurredAt()
	}
	return d.Pub.Publish(ctx, out)
}

func (d *Dispatcher) meta(ctx context.Context, env *eventsv1.Envelope) events.Meta {
	return events.Meta{AssetID: env.GetAssetId(), Producer: d.Producer, CorrelationID: env.GetCorrelationId(), Traceparent: env.GetTraceparent()}
}

// reporter publishes EncodingStarted and throttled EncodingProgress events.
type reporter struct {
	d   *Dispatcher
	env *eventsv1.Envelope
	job Job

	mu   sync.Mutex
	last time.Time
}

func (r *reporter) Started(ctx context.Context, externalID string) error {
	out, err := events.New(r.d.meta(ctx, r.env), &eventsv1.EncodingStarted{
		Owner: r.job.Owner, Backend: r.d.Backend.Name(), ExternalJobId: externalID, OutputPrefix: r.job.OutputPrefix, Attempt: 1,
	})
	if err != nil {
		return err
	}
	if err := r.d.Pub.Publish(ctx, out); err != nil {
		return fmt.Errorf("cannot publish EncodingStarted: %w", err)
	}
	return nil
}

func (r *reporter) Progress(ctx context.Context, p media.Progress) {
	r.mu.Lock()
	due := time.Since(r.last) >= r.d.ProgressEvery
	if due {
		r.last = time.Now()
	}
	r.mu.Unlock()
	if !due {
		return
	}
	stage := p.Stage
	if stage == "" {
		stage = "encoding"
	}
	out, err := events.New(r.d.meta(ctx, r.env), &eventsv1.EncodingProgress{
		Backend: r.d.Backend.Name(), ExternalJobId: r.job.ID, Percent: p.Percent, EtaSeconds: p.ETA.Seconds(), Stage: stage,
		ChunksDone: int32(p.ChunksDone), ChunksTotal: int32(p.Chunks), Workers: int32(p.Workers),
	})
	if err == nil {
		err = r.d.Pub.Publish(ctx, out)
	}
	if err != nil {
		r.d.Log.Warn("cannot publish progress", zap.Error(err), zap.String("job_id", r.job.ID))
	}
}

func rungsToEvent(rs []media.Rung) []*eventsv1.Rung {
	out := make([]*eventsv1.Rung, 0, len(rs))
	for _, r := range rs {
		out = append(out, &eventsv1.Rung{Width: int32(r.Width), Height: int32(r.Height), Bitrate: r.Bitrate, Codec: "h264"})
	}
	return out
}

func rungsFromEvent(rs []*eventsv1.Rung) []media.Rung {
	out := make([]media.Rung, 0, len(rs))
	for _, r := range rs {
		// Average-bitrate rungs: media.VBV gives them the usual cap.
		out = append(out, media.Rung{Width: int(r.GetWidth()), Height: int(r.GetHeight()), Bitrate: r.GetBitrate(), Profile: "high"})
	}
	return out
}
