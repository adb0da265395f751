package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// recorder is a Publisher that keeps what it was given.
type recorder struct {
	mu  sync.Mutex
	got []*eventsv1.Envelope
}

func (r *recorder) Publish(_ context.Context, env *eventsv1.Envelope) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, env)
	return nil
}

func (r *recorder) failures() []*eventsv1.EncodingFailed {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*eventsv1.EncodingFailed
	for _, e := range r.got {
		if f := e.GetEncodingFailed(); f != nil {
			out = append(out, f)
		}
	}
	return out
}

// stalled is a backend whose job never ends by itself.
type stalled struct{ ran chan struct{} }

func (stalled) Name() string { return "local" }
func (s stalled) Run(ctx context.Context, _ app.Job, rep app.Reporter) error {
	close(s.ran)
	<-ctx.Done()
	return ctx.Err()
}

func requested(probe *eventsv1.ProbeSummary) app.Request {
	return app.Request{Cause: app.Cause{EventID: "8a0d4f0e-5c1e-4f57-9d1a-2b7b8c9d0e1f", AssetID: "asset-1", Owner: "alice"},
		Job: app.Job{SourceKey: "sources/asset-1/source.mp4", LadderMode: jobs.LadderFixed,
			Ladder: []media.Rung{{Width: 640, Height: 360, Bitrate: 800_000}}, Probe: probe},
	}
}

func TestAJobPastItsDeadlineFailsOnceAndIsNotRetried(t *testing.T) {
	t.Parallel()
	pub := &recorder{}
	be := stalled{ran: make(chan struct{})}
	d := &app.Dispatcher{Pub: pub, Backend: be, Log: zap.NewNop(), Producer: "test",
		Budget: app.Budget{Base: 50 * time.Millisecond, MinPixelRate: 1e12, Max: time.Hour}}
	start := time.Now()
	err := d.Run(context.Background(), requested(&eventsv1.ProbeSummary{DurationSeconds: 10, FrameRate: 25, Width: 640, Height: 360}))
	require.Error(t, err)
	assert.True(t, bus.IsPermanent(err), "a job past its deadline is dead-lettered, not retried: %v", err)
	assert.Less(t, time.Since(start), 5*time.Second)
	f := pub.failures()
	require.Len(t, f, 1)
	assert.Equal(t, "DEADLINE_EXCEEDED", f[0].GetCode())
	assert.Contains(t, f[0].GetReason(), "deadline")
	assert.False(t, f[0].GetRetryable())
}

func TestAnInterruptedJobIsLeftForRedelivery(t *testing.T) {
	t.Parallel()
	pub := &recorder{}
	be := stalled{ran: make(chan struct{})}
	d := &app.Dispatcher{Pub: pub, Backend: be, Log: zap.NewNop(), Producer: "test"}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-be.ran; cancel() }()
	err := d.Run(ctx, requested(&eventsv1.ProbeSummary{DurationSeconds: 10, FrameRate: 25, Width: 640, Height: 360}))
	require.Error(t, err)
	assert.False(t, bus.IsPermanent(err), "a shutdown is not the job's fault")
	assert.Empty(t, pub.failures())
}

func TestUploadsOutsideTheLimitsAreRefusedByDispatchToo(t *testing.T) {
	t.Parallel()
	for name, probe := range map[string]*eventsv1.ProbeSummary{
		"timestamp bomb": {DurationSeconds: 36001, FrameRate: 3.0 / 36001, Width: 64, Height: 64, SizeBytes: 5507},
		"huge picture":   {DurationSeconds: 10, FrameRate: 25, Width: 30000, Height: 30000, SizeBytes: 1 << 20},
		"no size":        {DurationSeconds: 10, FrameRate: 25},
	} {
		pub := &recorder{}
		d := &app.Dispatcher{Pub: pub, Backend: stalled{ran: make(chan struct{})}, Log: zap.NewNop(), Producer: "test"}
		err := d.Plan(context.Background(), app.Upload{Cause: app.Cause{EventID: "e1", AssetID: "asset-1", Owner: "alice"},
			SourceKey: "sources/asset-1/source.mp4", Probe: probe})
		require.Error(t, err, name)
		assert.True(t, bus.IsPermanent(err), name)
		f := pub.failures()
		require.Len(t, f, 1, name)
		assert.Equal(t, "REFUSED", f[0].GetCode(), name)
		for _, e := range pub.got {
			assert.Nil(t, e.GetEncodingRequested(), "%s: nothing is planned", name)
		}
	}
}

func TestBudget(t *testing.T) {
	t.Parallel()
	b := app.Budget{Base: time.Minute, MinPixelRate: 1e6, Max: 2 * time.Hour}
	job := func(mode string, secs float64, rungs ...media.Rung) app.Job {
		return app.Job{LadderMode: mode, Ladder: rungs, Probe: &eventsv1.ProbeSummary{DurationSeconds: secs, FrameRate: 25}}
	}
	r := media.Rung{Width: 1000, Height: 1000}
	assert.Equal(t, time.Minute+25*time.Second, b.For(job(jobs.LadderFixed, 1, r)), "1 s × 25 fps × 1 Mpx at 1 Mpx/s")
	assert.Equal(t, time.Minute+50*time.Second, b.For(job(jobs.LadderFixed, 1, r, r)), "rungs add up")
	assert.Equal(t, time.Minute+75*time.Second, b.For(job(jobs.LadderPerTitle, 1, r)), "per-title does three times the work")
	assert.Equal(t, time.Minute+75*time.Second, b.For(job(jobs.LadderPerShot, 1, r)), "per-shot too")
	assert.Equal(t, 2*time.Hour, b.For(job(jobs.LadderFixed, 1e6, r)), "capped")
	assert.Equal(t, 11*time.Hour, app.DefaultBudget().For(job(jobs.LadderFixed, 1e6, r)))
}

func TestDeadLettersEndInEncodingFailed(t *testing.T) {
	t.Parallel()
	pub := &recorder{}
	d := &app.Dispatcher{Pub: pub, Backend: stalled{ran: make(chan struct{})}, Log: zap.NewNop(), Producer: "test"}
	req := requested(&eventsv1.ProbeSummary{DurationSeconds: 10, FrameRate: 25, Width: 640, Height: 360})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	g := app.GivenUp{Cause: req.Cause, Event: "EncodingRequested", Request: true, Why: "not handled after 5 deliveries"}
	g.At = at
	require.NoError(t, d.Abandoned(context.Background(), g))
	require.NoError(t, d.Abandoned(context.Background(), g), "swept again")
	f := pub.failures()
	require.Len(t, f, 2)
	assert.Equal(t, "DEAD_LETTERED", f[0].GetCode())
	assert.Equal(t, "alice", f[0].GetOwner())
	assert.Contains(t, f[0].GetReason(), "EncodingRequested was given up on: not handled after 5 deliveries")
	assert.Equal(t, jobs.NewID("local", req.EventID), f[0].GetExternalJobId())
	assert.Equal(t, pub.got[0].GetEventId(), pub.got[1].GetEventId(), "a second sweep announces the same failure, which consumers collapse")
	assert.Equal(t, req.AssetID, pub.got[0].GetAssetId())
	assert.True(t, at.Equal(pub.got[0].GetOccurredAt().AsTime()), "the failure keeps the dead event's time: a newer attempt is not undone by it")
}

// failingPublisher refuses every event, as a bus that is down would.
type failingPublisher struct{}

func (failingPublisher) Publish(context.Context, *eventsv1.Envelope) error {
	return errors.New("bus down")
}

// scripted is a backend that reports as told, then returns err.
type scripted struct {
	progress []media.Progress
	err      error
}

func (scripted) Name() string { return "local" }
func (s scripted) Run(ctx context.Context, job app.Job, rep app.Reporter) error {
	if err := rep.Started(ctx, job.ID); err != nil {
		return err
	}
	for _, p := range s.progress {
		rep.Progress(ctx, p)
	}
	return s.err
}

func upload(probe *eventsv1.ProbeSummary) app.Upload {
	return app.Upload{Cause: app.Cause{EventID: "upload-1", AssetID: "asset-1", Owner: "alice", CorrelationID: "corr-1"},
		Title: "clip", SourceKey: "sources/asset-1/source.mp4", Probe: probe}
}

func TestPlanCarriesTheLadderOfItsMode(t *testing.T) {
	t.Parallel()
	probe := &eventsv1.ProbeSummary{DurationSeconds: 10, FrameRate: 25, Width: 1920, Height: 1080, SizeBytes: 5 << 20}
	for _, mode := range []string{jobs.LadderFixed, jobs.LadderStatic, jobs.LadderPerTitle, jobs.LadderPerShot} {
		pub := &recorder{}
		d := &app.Dispatcher{Pub: pub, Backend: stalled{}, Log: zap.NewNop(), Producer: "test", LadderMode: mode}
		require.NoError(t, d.Plan(context.Background(), upload(probe)), mode)
		require.NoError(t, d.Plan(context.Background(), upload(probe)), "%s: redelivered", mode)
		require.Len(t, pub.got, 2, mode)
		req := pub.got[0].GetEncodingRequested()
		require.NotNil(t, req, mode)
		assert.Equal(t, mode, req.GetLadderMode())
		assert.Equal(t, "alice", req.GetOwner())
		assert.Equal(t, int32(1), req.GetAttempt(), "an upload plans the first attempt")
		assert.Equal(t, "corr-1", pub.got[0].GetCorrelationId())
		assert.Equal(t, pub.got[0].GetEventId(), pub.got[1].GetEventId(), "%s: a redelivered upload plans the same request", mode)
		jobID := jobs.NewID("local", pub.got[0].GetEventId())
		assert.Equal(t, jobs.OutputPrefix("asset-1", jobID), req.GetOutputPrefix())
		if mode == jobs.LadderPerTitle || mode == jobs.LadderPerShot {
			assert.Empty(t, req.GetLadder(), "%s: the backend chooses the ladder", mode)
			continue
		}
		require.NotEmpty(t, req.GetLadder(), mode)
		top := req.GetLadder()[0]
		for _, r := range req.GetLadder() {
			if r.GetHeight() > top.GetHeight() {
				top = r
			}
		}
		assert.LessOrEqual(t, top.GetHeight(), int32(1080), "%s: no rung above the source", mode)
	}
}

func TestARequestThatCanNeverRunIsRefused(t *testing.T) {
	t.Parallel()
	probe := &eventsv1.ProbeSummary{DurationSeconds: 10, FrameRate: 25, Width: 640, Height: 360}
	bad := requested(probe)
	bad.Job.LadderMode = "golden"
	empty := requested(probe)
	empty.Job.Ladder = nil
	for name, req := range map[string]app.Request{"unknown ladder mode": bad, "empty fixed ladder": empty} {
		pub := &recorder{}
		d := &app.Dispatcher{Pub: pub, Backend: scripted{}, Log: zap.NewNop(), Producer: "test"}
		err := d.Run(context.Background(), req)
		require.Error(t, err, name)
		assert.True(t, bus.IsPermanent(err), name)
		f := pub.failures()
		require.Len(t, f, 1, name)
		assert.Equal(t, "REFUSED", f[0].GetCode(), name)
		assert.Equal(t, jobs.NewID("local", req.EventID), f[0].GetExternalJobId(), name)
		for _, e := range pub.got {
			assert.Nil(t, e.GetEncodingStarted(), "%s: never started", name)
		}
	}
}

func TestABackendRefusalFailsTheAssetAndATransientErrorIsRetried(t *testing.T) {
	t.Parallel()
	probe := &eventsv1.ProbeSummary{DurationSeconds: 10, FrameRate: 25, Width: 640, Height: 360}
	pub := &recorder{}
	d := &app.Dispatcher{Pub: pub, Backend: scripted{err: bus.Permanent(errors.New("input file not found"))}, Log: zap.NewNop(), Producer: "test"}
	err := d.Run(context.Background(), requested(probe))
	require.Error(t, err)
	assert.True(t, bus.IsPermanent(err))
	f := pub.failures()
	require.Len(t, f, 1)
	assert.Equal(t, "REFUSED", f[0].GetCode())
	assert.Contains(t, f[0].GetReason(), "input file not found")

	pub = &recorder{}
	d = &app.Dispatcher{Pub: pub, Backend: scripted{err: errors.New("storage timeout")}, Log: zap.NewNop(), Producer: "test"}
	err = d.Run(context.Background(), requested(probe))
	require.Error(t, err)
	assert.False(t, bus.IsPermanent(err), "a transient error is retried by the bus")
	assert.Empty(t, pub.failures(), "and announces nothing")
}

func TestAFailureThatCannotBeAnnouncedIsRetried(t *testing.T) {
	t.Parallel()
	// Dead-lettering the event without its EncodingFailed would leave the
	// asset waiting forever: the bus must retry instead.
	d := &app.Dispatcher{Pub: failingPublisher{}, Backend: scripted{}, Log: zap.NewNop(), Producer: "test"}
	err := d.Plan(context.Background(), upload(&eventsv1.ProbeSummary{DurationSeconds: 10, FrameRate: 25}))
	require.Error(t, err)
	assert.False(t, bus.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), "bus down")
}

// TestARetryStartsTheAttemptItAsksFor: EncodingStarted carries the attempt
// of its request (POST /v1/assets/{id}/retry asks for the next), so that the
// catalog can tell the retry's events from the failed attempt's.
func TestARetryStartsTheAttemptItAsksFor(t *testing.T) {
	t.Parallel()
	pub := &recorder{}
	d := &app.Dispatcher{Pub: pub, Backend: scripted{}, Log: zap.NewNop(), Producer: "test", ProgressEvery: time.Hour}
	req := requested(&eventsv1.ProbeSummary{DurationSeconds: 10, FrameRate: 25, Width: 640, Height: 360})
	req.Job.Attempt = 2
	require.NoError(t, d.Run(context.Background(), req))
	require.NotEmpty(t, pub.got)
	require.NotNil(t, pub.got[0].GetEncodingStarted())
	assert.Equal(t, int32(2), pub.got[0].GetEncodingStarted().GetAttempt())
}

func TestStartedAndThrottledProgressAreReported(t *testing.T) {
	t.Parallel()
	pub := &recorder{}
	be := scripted{progress: []media.Progress{{Percent: 10}, {Percent: 20}, {Percent: 30, Stage: "packaging"}}}
	d := &app.Dispatcher{Pub: pub, Backend: be, Log: zap.NewNop(), Producer: "test", ProgressEvery: time.Hour}
	req := requested(&eventsv1.ProbeSummary{DurationSeconds: 10, FrameRate: 25, Width: 640, Height: 360})
	require.NoError(t, d.Run(context.Background(), req))
	require.Len(t, pub.got, 2, "started, then one progress event within the interval")
	st := pub.got[0].GetEncodingStarted()
	require.NotNil(t, st)
	assert.Equal(t, jobs.NewID("local", req.EventID), st.GetExternalJobId())
	assert.Equal(t, "alice", st.GetOwner())
	assert.Equal(t, int32(1), st.GetAttempt(), "a request that names no attempt is the first")
	p := pub.got[1].GetEncodingProgress()
	require.NotNil(t, p)
	assert.InDelta(t, 10, p.GetPercent(), 0.001)
	assert.Equal(t, "encoding", p.GetStage(), "a stage is always named")
}

// modeRecorder is a backend that records the jobs it is given.
type modeRecorder struct{ jobs *[]app.Job }

func (modeRecorder) Name() string { return "local" }
func (m modeRecorder) Run(_ context.Context, job app.Job, _ app.Reporter) error {
	*m.jobs = append(*m.jobs, job)
	return nil
}

// TestAnAnalysedModeRunsWithoutALadder: per-title and per-shot requests carry
// no ladder (the backend chooses it) and reach the backend with their mode;
// the other modes without a ladder are refused.
func TestAnAnalysedModeRunsWithoutALadder(t *testing.T) {
	t.Parallel()
	probe := &eventsv1.ProbeSummary{DurationSeconds: 10, FrameRate: 25, Width: 640, Height: 360}
	for _, mode := range []string{jobs.LadderPerTitle, jobs.LadderPerShot, jobs.LadderFixed, jobs.LadderStatic} {
		var got []app.Job
		pub := &recorder{}
		d := &app.Dispatcher{Pub: pub, Backend: modeRecorder{jobs: &got}, Log: zap.NewNop(), Producer: "test"}
		req := requested(probe)
		req.Job.LadderMode, req.Job.Ladder = mode, nil
		err := d.Run(context.Background(), req)
		if !jobs.Analysed(mode) {
			require.Error(t, err, mode)
			assert.Empty(t, got, mode)
			continue
		}
		require.NoError(t, err, mode)
		require.Len(t, got, 1, mode)
		assert.Equal(t, mode, got[0].LadderMode)
		assert.Empty(t, pub.failures(), mode)
	}
}
