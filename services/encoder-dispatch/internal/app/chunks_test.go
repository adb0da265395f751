package app_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// fakeEncoder records the chunks it encodes and behaves as told.
type fakeEncoder struct {
	mu     sync.Mutex
	calls  []int
	behave func(ctx context.Context, k int) error
}

func (f *fakeEncoder) EncodeChunk(ctx context.Context, _ *jobs.Plan, k int) (jobs.ChunkReport, error) {
	f.mu.Lock()
	f.calls = append(f.calls, k)
	f.mu.Unlock()
	if f.behave != nil {
		if err := f.behave(ctx, k); err != nil {
			return jobs.ChunkReport{}, err
		}
	}
	return jobs.ChunkReport{CPU: time.Second}, nil
}

func (f *fakeEncoder) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// chunkFixture is a stored plan of three chunks on filesystem storage.
type chunkFixture struct {
	store storage.Storage
	state jobs.ChunkStore
	plan  *jobs.Plan
}

func newChunkFixture(t *testing.T) *chunkFixture {
	t.Helper()
	st, err := storage.NewFS(t.TempDir())
	require.NoError(t, err)
	plan, err := jobs.NewPlan(jobs.Plan{JobID: "local-abc", AssetID: "asset-1",
		Source: &media.Source{Duration: 90, Video: &media.VideoStream{Width: 640, Height: 360}},
		Timing: media.Timing{RateNum: 25, RateDen: 1, SegmentSeconds: 2},
		Ladder: []media.Rung{{Width: 640, Height: 360, Bitrate: 1e6}},
		Chunks: []media.Chunk{{Index: 0, Frames: 750}, {Index: 1, First: 750, Frames: 750}, {Index: 2, First: 1500, Frames: 750}}})
	require.NoError(t, err)
	require.NoError(t, jobs.SavePlan(context.Background(), st, plan))
	return &chunkFixture{store: st, state: jobs.ChunkStore{Store: st}, plan: plan}
}

func (f *chunkFixture) task(k int) app.ChunkTask {
	return app.ChunkTask{JobID: f.plan.JobID, PlanKey: jobs.PlanKey(f.plan.Prefix), Chunk: k}
}

func (f *chunkFixture) worker(name string, enc *fakeEncoder) *app.ChunkWorker {
	return &app.ChunkWorker{State: f.state, Encoder: enc, Worker: name, Lease: 600 * time.Millisecond, Log: zap.NewNop()}
}

func TestChunkEncodedOnceAndMarkedDone(t *testing.T) {
	t.Parallel()
	f := newChunkFixture(t)
	enc := &fakeEncoder{}
	w := f.worker("w1", enc)
	ctx := context.Background()
	require.NoError(t, w.Encode(ctx, f.task(1)))
	require.NoError(t, w.Encode(ctx, f.task(1)), "the task redelivered")
	assert.Equal(t, 1, enc.count(), "a finished chunk is never encoded twice")
	st, err := jobs.ReadChunkStates(ctx, f.store, f.plan.Prefix)
	require.NoError(t, err)
	require.Contains(t, st.Done, 1)
	assert.Equal(t, "w1", st.Done[1].Worker)
	_, err = f.store.Stat(ctx, jobs.ChunkClaimKey(f.plan.Prefix, 1))
	assert.ErrorIs(t, err, storage.ErrNotFound, "the lease is released")
}

func TestACopyOfAHeldChunkComesBackWhenItsLeaseLapses(t *testing.T) {
	t.Parallel()
	f := newChunkFixture(t)
	release := make(chan struct{})
	first := &fakeEncoder{behave: func(context.Context, int) error { <-release; return nil }}
	second := &fakeEncoder{}
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- f.worker("w1", first).Encode(ctx, f.task(0)) }()
	require.Eventually(t, func() bool { return first.count() == 1 }, 5*time.Second, 10*time.Millisecond)

	start := time.Now()
	err := f.worker("w2", second).Encode(ctx, f.task(0))
	require.Error(t, err)
	assert.ErrorIs(t, err, jobs.ErrHeld)
	after, ok := bus.LaterOf(err)
	require.True(t, ok, "the copy is handed back for later, not retried now nor dropped: %v", err)
	assert.Greater(t, after, time.Second, "not before the lease could lapse")
	assert.LessOrEqual(t, after, 600*time.Millisecond+time.Second)
	assert.Less(t, time.Since(start), time.Second, "the worker is not kept waiting")
	assert.Equal(t, 0, second.count())

	close(release)
	require.NoError(t, <-done)
	require.NoError(t, f.worker("w2", second).Encode(ctx, f.task(0)), "back later, it finds the chunk done")
	assert.Equal(t, 0, second.count())
}

func TestALapsedLeaseIsTakenOver(t *testing.T) {
	t.Parallel()
	f := newChunkFixture(t)
	ctx := context.Background()
	// A worker that died holding chunk 2: its lease is in storage, never renewed.
	require.NoError(t, jobs.Acquire(ctx, f.store, jobs.ChunkClaimKey(f.plan.Prefix, 2), "dead", 300*time.Millisecond))
	enc := &fakeEncoder{}
	err := f.worker("w2", enc).Encode(ctx, f.task(2))
	_, later := bus.LaterOf(err)
	require.True(t, later, "its message came back before its lease lapsed: %v", err)
	time.Sleep(350 * time.Millisecond)
	require.NoError(t, f.worker("w2", enc).Encode(ctx, f.task(2)))
	assert.Equal(t, 1, enc.count(), "taken over once the lease lapsed")
}

func TestAChunkThatCannotBeEncodedIsMarkedFailed(t *testing.T) {
	t.Parallel()
	f := newChunkFixture(t)
	enc := &fakeEncoder{behave: func(context.Context, int) error { return bus.Permanent(errors.New("frame count mismatch")) }}
	err := f.worker("w1", enc).Encode(context.Background(), f.task(1))
	require.Error(t, err)
	assert.True(t, bus.IsPermanent(err))
	st, err := jobs.ReadChunkStates(context.Background(), f.store, f.plan.Prefix)
	require.NoError(t, err)
	require.Contains(t, st.Failed, 1)
	assert.Contains(t, st.Failed[1].Reason, "frame count mismatch")
}

func TestAnInterruptedChunkIsReleasedAndNotFailed(t *testing.T) {
	t.Parallel()
	f := newChunkFixture(t)
	var started atomic.Bool
	enc := &fakeEncoder{behave: func(ctx context.Context, _ int) error { started.Store(true); <-ctx.Done(); return ctx.Err() }}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for !started.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	err := f.worker("w1", enc).Encode(ctx, f.task(0))
	require.Error(t, err)
	assert.False(t, bus.IsPermanent(err), "a stopped worker's chunk is retried elsewhere")
	st, err := jobs.ReadChunkStates(context.Background(), f.store, f.plan.Prefix)
	require.NoError(t, err)
	assert.Empty(t, st.Failed)
	assert.Empty(t, st.Done)
	enc2 := &fakeEncoder{}
	start := time.Now()
	require.NoError(t, f.worker("w2", enc2).Encode(context.Background(), f.task(0)))
	assert.Less(t, time.Since(start), 200*time.Millisecond, "another worker starts at once: the lease was released")
}

func TestADeadChunkTaskMarksTheChunkFailed(t *testing.T) {
	t.Parallel()
	f := newChunkFixture(t)
	w := f.worker("w1", &fakeEncoder{})
	// A copy dead-lettered while another worker holds the chunk is dropped:
	// the holder's message still stands for it.
	require.NoError(t, jobs.Acquire(context.Background(), f.store, jobs.ChunkClaimKey(f.plan.Prefix, 1), "w9", time.Minute))
	require.NoError(t, w.Abandoned(context.Background(), f.task(1), "not handled after 5 deliveries"))
	require.NoError(t, w.Abandoned(context.Background(), f.task(2), "not handled after 5 deliveries"))
	st, err := jobs.ReadChunkStates(context.Background(), f.store, f.plan.Prefix)
	require.NoError(t, err)
	require.Contains(t, st.Failed, 2)
	assert.NotContains(t, st.Failed, 1)
	assert.Contains(t, st.Failed[2].Reason, "chunk 2 was given up on: not handled after 5 deliveries")
}

// TestAPlanCarriesItsChunksCRFs: a per-shot plan's CRFs travel to the worker
// with the plan, are part of its id (other CRFs, another plan: their chunks
// never mix), and a plan whose CRFs do not fit its chunks and rungs is
// refused by the worker that loads it.
func TestAPlanCarriesItsChunksCRFs(t *testing.T) {
	t.Parallel()
	f := newChunkFixture(t)
	ctx := context.Background()
	p := *f.plan
	p.ChunkCRFs = [][]float64{{23}, {31.5}, {27}}
	shot, err := jobs.NewPlan(p)
	require.NoError(t, err)
	assert.NotEqual(t, f.plan.Prefix, shot.Prefix, "the CRFs are part of the plan's id")
	p.ChunkCRFs = [][]float64{{23}, {31}, {27}}
	other, err := jobs.NewPlan(p)
	require.NoError(t, err)
	assert.NotEqual(t, shot.Prefix, other.Prefix)

	require.NoError(t, jobs.SavePlan(ctx, f.store, shot))
	var seen [][]float64
	enc := &fakeEncoder{}
	w := &app.ChunkWorker{State: f.state, Worker: "w1", Lease: time.Second, Log: zap.NewNop(),
		Encoder: crfRecorder{enc: enc, seen: &seen}}
	for k := range shot.Chunks {
		require.NoError(t, w.Encode(ctx, app.ChunkTask{JobID: shot.JobID, PlanKey: jobs.PlanKey(shot.Prefix), Chunk: k}))
	}
	assert.Equal(t, [][]float64{{23}, {31.5}, {27}}, seen, "each chunk gets its own CRFs")

	for name, crfs := range map[string][][]float64{
		"a chunk short":   {{23}, {31}},
		"a rung too many": {{23, 30}, {31}, {27}},
		"no CRF":          {{23}, {}, {27}},
		"outside x264's":  {{23}, {52}, {27}},
		"negative":        {{23}, {-1}, {27}},
		"zero":            {{23}, {0}, {27}},
	} {
		p.ChunkCRFs = crfs
		bad, err := jobs.NewPlan(p)
		require.NoError(t, err)
		require.NoError(t, jobs.SavePlan(ctx, f.store, bad))
		_, err = jobs.LoadPlan(ctx, f.store, jobs.PlanKey(bad.Prefix))
		assert.Error(t, err, name)
	}
}

// crfRecorder records the CRFs of the chunks it is asked to encode.
type crfRecorder struct {
	enc  *fakeEncoder
	seen *[][]float64
}

func (c crfRecorder) EncodeChunk(ctx context.Context, p *jobs.Plan, k int) (jobs.ChunkReport, error) {
	*c.seen = append(*c.seen, p.ChunkCRFs[k])
	return c.enc.EncodeChunk(ctx, p, k)
}
