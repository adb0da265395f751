package app_test

import (
	"context"
	"github.com/pertitle/pertitle/pkg/jobs"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
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

func requested(t *testing.T, probe *eventsv1.ProbeSummary) *eventsv1.Envelope {
	t.Helper()
	env, err := events.New(events.Meta{AssetID: "asset-1", Producer: "test"}, &eventsv1.EncodingRequested{
		Owner: "alice", SourceKey: "sources/asset-1/source.mp4", LadderMode: jobs.LadderFixed,
		Ladder: []*eventsv1.Rung{{Width: 640, Height: 360, Bitrate: 800_000}}, Probe: probe,
	})
	require.NoError(t, err)
	return env
}

func TestAJobPastItsDeadlineFailsOnceAndIsNotRetried(t *testing.T) {
	t.Parallel()
	pub := &recorder{}
	be := stalled{ran: make(chan struct{})}
	d := &app.Dispatcher{Pub: pub, Backend: be, Log: zap.NewNop(), Producer: "test",
		Budget: app.Budget{Base: 50 * time.Millisecond, MinPixelRate: 1e12, Max: time.Hour}}
	start := time.Now()
	err := d.OnEncodingRequested(context.Background(), requested(t, &eventsv1.ProbeSummary{DurationSeconds: 10, FrameRate: 25, Width: 640, Height: 360}))
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
	err := d.OnEncodingRequested(ctx, requested(t, &eventsv1.ProbeSummary{DurationSeconds: 10, FrameRate: 25, Width: 640, Height: 360}))
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
		env, err := events.New(events.Meta{AssetID: "asset-1", Producer: "test"}, &eventsv1.AssetUploaded{Owner: "alice", SourceKey: "sources/asset-1/source.mp4", Probe: probe})
		require.NoError(t, err)
		err = d.OnAssetUploaded(context.Background(), env)
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
	assert.Equal(t, 2*time.Hour, b.For(job(jobs.LadderFixed, 1e6, r)), "capped")
	assert.Equal(t, 11*time.Hour, app.DefaultBudget().For(job(jobs.LadderFixed, 1e6, r)))
}

func TestDeadLettersEndInEncodingFailed(t *testing.T) {
	t.Parallel()
	pub := &recorder{}
	d := &app.Dispatcher{Pub: pub, Backend: stalled{ran: make(chan struct{})}, Log: zap.NewNop(), Producer: "test"}
	req := requested(t, &eventsv1.ProbeSummary{DurationSeconds: 10, FrameRate: 25, Width: 640, Height: 360})
	dl := bus.DeadLetter{Topic: events.TopicEncodingRequested, Env: req, MaxReceives: 5}
	require.NoError(t, d.OnDeadLetter(context.Background(), dl))
	require.NoError(t, d.OnDeadLetter(context.Background(), dl), "swept again")
	f := pub.failures()
	require.Len(t, f, 2)
	assert.Equal(t, "DEAD_LETTERED", f[0].GetCode())
	assert.Equal(t, "alice", f[0].GetOwner())
	assert.Contains(t, f[0].GetReason(), "not handled after 5 deliveries")
	assert.Equal(t, jobs.NewID("local", req.GetEventId()), f[0].GetExternalJobId())
	assert.Equal(t, pub.got[0].GetEventId(), pub.got[1].GetEventId(), "a second sweep announces the same failure, which consumers collapse")
	assert.Equal(t, req.GetAssetId(), pub.got[0].GetAssetId())

	// Garbage has no asset to announce for, and is not retried forever.
	require.NoError(t, d.OnDeadLetter(context.Background(), bus.DeadLetter{Body: []byte("junk")}))
	assert.Len(t, pub.failures(), 2)
}
