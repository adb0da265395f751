// Package app holds encoder-dispatch's use cases: planning the ladder of an
// uploaded asset, running a requested job on an encoder backend within its
// budget, encoding the chunks of long titles on any worker, and announcing
// EncodingFailed for whatever can never be handled. The bus handlers in
// ports/messages turn events into these calls.
package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
	"github.com/pertitle/pertitle/pkg/tracing"
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
	// Attempt is the number of this attempt for the asset, from 1 (0 reads
	// as 1): a retry asks for the next one.
	Attempt int32
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

// Dispatcher plans encodings and runs them on a backend.
type Dispatcher struct {
	Pub      Publisher
	Backend  Backend
	Log      *zap.Logger
	Producer string
	// ProgressEvery bounds how often progress events are published.
	ProgressEvery time.Duration
	// LadderMode is what Plan plans: "pertitle" (the backend
	// analyses the title and chooses the ladder; the request carries no
	// ladder), "pershot" (as pertitle, then each rung's CRF is chosen per
	// shot), "static" (Apple HLS authoring specification ladder) or "fixed"
	// (media.BuiltinLadder, also when empty).
	LadderMode string
	// Limits are checked again on the probe an AssetUploaded carries: events
	// are input too. Zero fields take media's defaults.
	Limits media.Limits
	// Budget bounds each job's run; a zero Budget means DefaultBudget.
	Budget Budget
}

// Cause is the event a use case answers. The events it publishes carry the
// cause's asset, owner, correlation and trace forward, and derive their ids
// from the cause's id, so that a redelivered cause publishes the same events.
type Cause struct {
	EventID       string
	AssetID       string
	Owner         string
	CorrelationID string
	Traceparent   string
	// At is when the cause happened; zero when unknown.
	At time.Time
}

// Upload is an uploaded asset to plan an encoding for.
type Upload struct {
	Cause
	Title     string
	SourceKey string
	SourceURL string
	Probe     *eventsv1.ProbeSummary
}

// Request is a planned encoding to run on the backend: the job as the
// request describes it. Run fills in what derives from the cause (the job's
// id, asset, owner, correlation and trace).
type Request struct {
	Cause
	Job Job
}

// GivenUp is an upload or a request that the bus gave up on (a dead letter).
type GivenUp struct {
	Cause
	// Event names the event's type ("AssetUploaded").
	Event string
	// Request is set for an encoding request: the failure names its job.
	Request bool
	// Why is the reason the bus gave up.
	Why string
}

// errDeadline is the cause of a job's context when its budget runs out.
var errDeadline = errors.New("the job ran past its deadline")

var requestNamespace = uuid.MustParse("0c3c3f53-7d3b-4a9b-b7a3-3f0d6d0f5e21")

// Plan plans the ladder of an uploaded asset and publishes EncodingRequested.
// An upload outside the source limits is refused: EncodingFailed, then a
// permanent error.
func (d *Dispatcher) Plan(ctx context.Context, up Upload) error {
	p := up.Probe
	if p.GetWidth() <= 0 || p.GetHeight() <= 0 {
		return d.refuse(ctx, up.Cause, "", codeRefused, bus.Permanent(fmt.Errorf("asset %s has no video size in its probe summary", up.AssetID)))
	}
	src := &media.Source{Duration: p.GetDurationSeconds(), Size: p.GetSizeBytes(), Video: &media.VideoStream{
		Codec: p.GetVideoCodec(), Width: int(p.GetWidth()), Height: int(p.GetHeight()), FrameRate: p.GetFrameRate(), PixFmt: p.GetPixelFormat(),
	}}
	if err := d.Limits.Check(src); err != nil {
		return d.refuse(ctx, up.Cause, "", codeRefused, bus.Permanent(fmt.Errorf("asset %s: %w", up.AssetID, err)))
	}
	if p.GetHasAudio() {
		src.Audio = []media.AudioStream{{Codec: p.GetAudioCodec()}}
	}
	mode := d.LadderMode
	if mode == "" {
		mode = jobs.LadderFixed
	}
	ladder := plannedLadder(mode, src)
	// The request id follows from the upload id: a redelivered upload plans the same request.
	reqID := uuid.NewSHA1(requestNamespace, []byte(up.EventID)).String()
	jobID := jobs.NewID(d.Backend.Name(), reqID)
	req := &eventsv1.EncodingRequested{
		Owner: up.Owner, Title: up.Title, SourceKey: up.SourceKey, SourceUrl: up.SourceURL,
		Backend: d.Backend.Name(), LadderMode: mode, Ladder: rungsToEvent(ladder),
		OutputPrefix: jobs.OutputPrefix(up.AssetID, jobID), Probe: p, Attempt: 1,
	}
	out, err := events.New(d.meta(up.Cause), req)
	if err != nil {
		return bus.Permanent(err)
	}
	out.EventId = reqID
	if err := d.Pub.Publish(ctx, out); err != nil {
		return fmt.Errorf("cannot publish EncodingRequested for %s: %w", up.AssetID, err)
	}
	d.Log.Info("encoding planned", tracing.IDs(ctx), zap.String("asset_id", up.AssetID), zap.String("job_id", jobID), zap.String("ladder_mode", mode), zap.Int("rungs", len(ladder)))
	return nil
}

// plannedLadder is the ladder a request of mode carries, which is what will be
// encoded: none in the per-title and per-shot modes, where the backend
// chooses it.
func plannedLadder(mode string, src *media.Source) []media.Rung {
	switch mode {
	case jobs.LadderFixed:
		return media.BuiltinLadder(src)
	case jobs.LadderStatic:
		w, h := src.DisplaySize()
		return pertitle.MediaRungs(pertitle.AppleLadder(w, h), 0)
	}
	return nil
}

// Run runs a requested job on the backend, within its budget. A request that
// can never run, or a job past its deadline, is refused (EncodingFailed, then
// a permanent error); an interrupted job is left for redelivery.
func (d *Dispatcher) Run(ctx context.Context, req Request) error {
	job := req.Job
	job.ID = jobs.NewID(d.Backend.Name(), req.EventID)
	job.AssetID, job.Owner = req.AssetID, req.Owner
	job.CorrelationID, job.Traceparent = req.CorrelationID, req.Traceparent
	switch {
	case !jobs.ValidLadderMode(job.LadderMode):
		return d.refuse(ctx, req.Cause, job.ID, codeRefused, bus.Permanent(fmt.Errorf("encoding request %s has ladder mode %q", req.EventID, job.LadderMode)))
	case len(job.Ladder) == 0 && !jobs.Analysed(job.LadderMode):
		return d.refuse(ctx, req.Cause, job.ID, codeRefused, bus.Permanent(fmt.Errorf("encoding request %s has an empty %s ladder", req.EventID, job.LadderMode)))
	}
	rep := &reporter{d: d, cause: req.Cause, job: job}
	start := time.Now()
	budget := d.budget().For(job)
	rctx, cancel := context.WithTimeoutCause(ctx, budget, errDeadline)
	defer cancel()
	err := d.Backend.Run(rctx, job, rep)
	videometrics.Video.ObserveEncode(d.Backend.Name(), job.LadderMode, videometrics.OutcomeOf(err), time.Since(start), job.Probe.GetDurationSeconds())
	if err != nil && errors.Is(context.Cause(rctx), errDeadline) {
		d.Log.Warn("encoding past its deadline: failed", tracing.IDs(ctx), zap.String("job_id", job.ID), zap.Duration("deadline", budget))
		return d.refuse(ctx, req.Cause, job.ID, codeDeadline, bus.Permanent(fmt.Errorf("job %s: %w (%s for %.0f s of video)", job.ID, errDeadline, budget.Round(time.Second), job.Probe.GetDurationSeconds())))
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			d.Log.Warn("encoding interrupted; it will be redelivered", tracing.IDs(ctx), zap.String("job_id", job.ID))
		}
		err = fmt.Errorf("job %s on %s: %w", job.ID, d.Backend.Name(), err)
		if bus.IsPermanent(err) {
			return d.refuse(ctx, req.Cause, job.ID, codeRefused, err)
		}
		return err
	}
	d.Log.Info("encoding handed over", tracing.IDs(ctx), zap.String("asset_id", job.AssetID), zap.String("job_id", job.ID),
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

// refuse announces EncodingFailed for a cause that can never be handled, so the
// asset does not wait forever, then returns err (permanent: the bus dead-letters
// the event). The failure's id derives from the cause's, so a redelivery
// announces the same failure.
func (d *Dispatcher) refuse(ctx context.Context, c Cause, jobID, code string, err error) error {
	out, nerr := events.New(d.meta(c), &eventsv1.EncodingFailed{
		Owner: c.Owner, Backend: d.Backend.Name(), ExternalJobId: jobID,
		Reason: err.Error(), Retryable: false, Code: code,
	})
	if nerr == nil {
		out.EventId = failureID(c)
		nerr = d.Pub.Publish(ctx, out)
	}
	if nerr != nil {
		// Without the announcement the asset would hang: let the bus retry instead.
		// (%v, not %w: wrapping the permanent cause would dead-letter the event.)
		return fmt.Errorf("cannot announce the failure of %s (%v): %w", c.AssetID, err, nerr)
	}
	return err
}

// failureID is the id of the one EncodingFailed a cause may announce.
func failureID(c Cause) string { return uuid.NewSHA1(failedNamespace, []byte(c.EventID)).String() }

// Abandoned announces EncodingFailed for an upload or a request that reached
// a dead-letter queue, whatever put it there (a handler that kept failing, a
// process killed mid-encode on every delivery), so its asset never stays
// "encoding". The failure's id is the one refuse would have used: an event
// refused and then swept is announced once.
func (d *Dispatcher) Abandoned(ctx context.Context, g GivenUp) error {
	jobID := ""
	if g.Request {
		jobID = jobs.NewID(d.Backend.Name(), g.EventID)
	}
	out, err := events.New(d.meta(g.Cause), &eventsv1.EncodingFailed{
		Owner: g.Owner, Backend: d.Backend.Name(), ExternalJobId: jobID,
		Reason: fmt.Sprintf("%s was given up on: %s", g.Event, g.Why), Retryable: false, Code: codeDeadLettered,
	})
	if err != nil {
		return err
	}
	out.EventId = failureID(g.Cause)
	if !g.At.IsZero() {
		// The failure belongs to the dead event's attempt and time: a newer
		// attempt of the asset (a retry) is not undone by it.
		out.OccurredAt = timestamppb.New(g.At)
	}
	return d.Pub.Publish(ctx, out)
}

func (d *Dispatcher) meta(c Cause) events.Meta {
	return events.Meta{AssetID: c.AssetID, Producer: d.Producer, CorrelationID: c.CorrelationID, Traceparent: c.Traceparent}
}

// reporter publishes EncodingStarted and throttled EncodingProgress events.
type reporter struct {
	d     *Dispatcher
	cause Cause
	job   Job

	mu   sync.Mutex
	last time.Time
}

func (r *reporter) Started(ctx context.Context, externalID string) error {
	out, err := events.New(r.d.meta(r.cause), &eventsv1.EncodingStarted{
		Owner: r.job.Owner, Backend: r.d.Backend.Name(), ExternalJobId: externalID, OutputPrefix: r.job.OutputPrefix,
		Attempt: max(r.job.Attempt, 1),
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
	out, err := events.New(r.d.meta(r.cause), &eventsv1.EncodingProgress{
		Backend: r.d.Backend.Name(), ExternalJobId: r.job.ID, Percent: p.Percent, EtaSeconds: p.ETA.Seconds(), Stage: stage,
		ChunksDone: int32(p.ChunksDone), ChunksTotal: int32(p.Chunks), Workers: int32(p.Workers),
	})
	if err == nil {
		err = r.d.Pub.Publish(ctx, out)
	}
	if err != nil {
		r.d.Log.Warn("cannot publish progress", tracing.IDs(ctx), zap.Error(err), zap.String("job_id", r.job.ID))
	}
}

func rungsToEvent(rs []media.Rung) []*eventsv1.Rung {
	out := make([]*eventsv1.Rung, 0, len(rs))
	for _, r := range rs {
		out = append(out, &eventsv1.Rung{Width: int32(r.Width), Height: int32(r.Height), Bitrate: r.Bitrate, Codec: "h264"})
	}
	return out
}
