package local_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/adapters/local"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/ports/messages"
)

// countingEncoder counts the chunks each worker encodes, and the analysis
// pieces it analyses.
type countingEncoder struct {
	app.ChunkEncoder
	mu     sync.Mutex
	got    map[int]int
	pieces map[int]int
	// crfs are the per-shot CRFs each chunk was asked to encode at.
	crfs map[int][]float64
}

func (c *countingEncoder) EncodeChunk(ctx context.Context, p *jobs.Plan, k int) (jobs.ChunkReport, error) {
	c.mu.Lock()
	if len(p.Analysis) > 0 {
		c.pieces[k]++
	} else {
		c.got[k]++
	}
	if crfs := p.CRFs(k); crfs != nil {
		if c.crfs == nil {
			c.crfs = map[int][]float64{}
		}
		c.crfs[k] = crfs
	}
	c.mu.Unlock()
	return c.ChunkEncoder.EncodeChunk(ctx, p, k)
}

// startWorkers runs chunk workers named names on cfg's bus, each with its own
// backend (as separate processes would be) on the shared storage.
func startWorkers(t *testing.T, cfg bus.Config, st storage.Storage, names ...string) map[string]*countingEncoder {
	t.Helper()
	return startScoringWorkers(t, cfg, st, "", names...)
}

// startScoringWorkers is startWorkers with workers that score analysis
// pieces with scorer ("" for their ffmpeg).
func startScoringWorkers(t *testing.T, cfg bus.Config, st storage.Storage, scorer string, names ...string) map[string]*countingEncoder {
	t.Helper()
	ctx := context.Background()
	counters := map[string]*countingEncoder{}
	for _, name := range names {
		wb := &local.Backend{Store: st, WorkDir: t.TempDir(), FFmpeg: "ffmpeg", Log: zap.NewNop(),
			PerTitle: local.PerTitleConfig{FFprobe: "ffprobe", Scorer: scorer}}
		counters[name] = &countingEncoder{ChunkEncoder: wb, got: map[int]int{}, pieces: map[int]int{}}
		w := &app.ChunkWorker{State: jobs.ChunkStore{Store: st}, Encoder: counters[name], Worker: name, Lease: 5 * time.Second, Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))}
		b, err := bus.New(ctx, cfg, bus.ServiceEncoderDispatch, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), nil)
		require.NoError(t, err)
		b.Subscribe(events.TopicChunkRequested, (&messages.Handlers{Chunks: w}).OnChunkRequested)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- b.Run(runCtx) }()
		<-b.Running()
		t.Cleanup(func() { cancel(); <-done; _ = b.Close() })
	}
	return counters
}

// chunkBus is a memory bus and a coordinator's publisher on it.
func chunkBus(t *testing.T) (bus.Config, *bus.Bus) {
	t.Helper()
	cfg := bus.DefaultConfig()
	cfg.Transport, cfg.Memory, cfg.RetryInterval = bus.TransportMemory, bus.NewMemoryBroker(), 10*time.Millisecond
	t.Cleanup(func() { _ = cfg.Memory.Close() })
	coord, err := bus.New(context.Background(), cfg, bus.ServiceEncoderDispatch, zap.NewNop(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = coord.Close() })
	return cfg, coord
}

// perWorker sums what the workers did, by chunk (or piece).
func perWorker(counters map[string]*countingEncoder, pieces bool) map[int]int {
	out := map[int]int{}
	for _, c := range counters {
		c.mu.Lock()
		m := c.got
		if pieces {
			m = c.pieces
		}
		for k, n := range m {
			out[k] += n
		}
		c.mu.Unlock()
	}
	return out
}

// TestPerTitleAnalysisAcrossWorkers: a 58 s per-title title (several
// analysis pieces of a segment each, within a widened budget) on two workers:
// its sampled analysis pieces travel as tasks and are analysed once each by
// the workers, not by the coordinator; then its chunks are encoded there
// too, and the job finishes with the ladder the analysis chose.
func TestPerTitleAnalysisAcrossWorkers(t *testing.T) {
	t.Parallel()
	d, rec, hk, st := setup(t)
	d.LadderMode = jobs.LadderPerTitle
	be := d.Backend.(*local.Backend)
	be.SegmentSeconds, be.PerTitle.FFprobe, be.PerTitle.SkipQuality = 2, "ffprobe", true
	// A 320x180 title's final encode is so cheap that the usual CPU budget
	// affords one analysis piece; this test needs several.
	be.PerTitle.AnalysisBudget = 2
	be.Log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	ctx := context.Background()
	cfg, coord := chunkBus(t)
	be.Chunks = local.ChunkConfig{Seconds: 8, Pub: coord, Producer: "encoder-dispatch", Poll: 50 * time.Millisecond}
	counters := startWorkers(t, cfg, st, "w1", "w2")

	clip := testmedia.Scenes(t, testmedia.ScenesSpec{Width: 320, Height: 180, Rate: "25", Scenes: []float64{20, 18, 20}})
	up := uploaded(t, st, clip, 320, 180)
	require.NoError(t, d.OnAssetUploaded(ctx, up))
	req := rec.ofType(events.TopicEncodingRequested)[0]
	require.NoError(t, d.OnEncodingRequested(ctx, req))

	require.Len(t, hk.all(), 1)
	res, err := jobs.Load(ctx, st, hk.all()[0].EncodingID())
	require.NoError(t, err)
	require.Equal(t, jobs.StatusFinished, res.Status, res.Error)
	require.NotEmpty(t, res.Renditions)
	var report struct {
		Analysis struct {
			Samples [][2]float64
			Points  []struct{ Bitrate int64 }
		}
	}
	b, err := os.ReadFile(filepath.Join(st.(*storage.FS).Root(), req.GetEncodingRequested().GetOutputPrefix(), "report.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &report))
	require.GreaterOrEqual(t, len(report.Analysis.Samples), 2, "a sampled title")
	once := map[int]int{}
	for i := range report.Analysis.Samples {
		once[i] = 1
	}
	assert.Equal(t, once, perWorker(counters, true), "each sampled piece analysed once, on a worker")
	assert.Equal(t, map[int]int{0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1}, perWorker(counters, false), "every chunk encoded once")
	assert.NotEmpty(t, report.Analysis.Points, "the pieces' grid reached the analysis")
	left, err := st.List(ctx, jobs.ChunkRoot(res.JobID))
	require.NoError(t, err)
	assert.Empty(t, left, "the analysis plan and its pieces go with the chunks")
}

// TestChunkedJobAcrossWorkers: a 26 s title with 8 s chunks is split in
// three, its chunks are encoded by two workers sharing the chunk queue, each
// once, and the job finishes through the webhook with progress counting
// chunks; the chunks' work is gone once the result is recorded.
func TestChunkedJobAcrossWorkers(t *testing.T) {
	t.Parallel()
	d, rec, hk, st := setup(t)
	be := d.Backend.(*local.Backend)
	be.SegmentSeconds, be.PerTitle.FFprobe = 2, "ffprobe"
	ctx := context.Background()

	cfg, coord := chunkBus(t)
	be.Chunks = local.ChunkConfig{Seconds: 8, Pub: coord, Producer: "encoder-dispatch", Poll: 50 * time.Millisecond}
	counters := startWorkers(t, cfg, st, "w1", "w2")

	clip := testmedia.Scenes(t, testmedia.ScenesSpec{Width: 320, Height: 180, Rate: "25", Scenes: []float64{9, 8, 9}, Audio: true})
	up := uploaded(t, st, clip, 320, 180)
	require.NoError(t, d.OnAssetUploaded(ctx, up))
	req := rec.ofType(events.TopicEncodingRequested)[0]
	require.NoError(t, d.OnEncodingRequested(ctx, req))

	require.Len(t, hk.all(), 1)
	res, err := jobs.Load(ctx, st, hk.all()[0].EncodingID())
	require.NoError(t, err)
	require.Equal(t, jobs.StatusFinished, res.Status, res.Error)
	assert.Len(t, res.Renditions, len(req.GetEncodingRequested().GetLadder()))
	assert.Equal(t, map[int]int{0: 1, 1: 1, 2: 1}, perWorker(counters, false), "every chunk encoded once")
	var last *eventsv1.EncodingProgress
	for _, e := range rec.ofType(events.TopicEncodingProgress) {
		last = e.GetEncodingProgress()
	}
	require.NotNil(t, last)
	assert.EqualValues(t, 3, last.GetChunksTotal())
	assert.EqualValues(t, 3, last.GetChunksDone())
	left, err := st.List(ctx, jobs.ChunkRoot(res.JobID))
	require.NoError(t, err)
	assert.Empty(t, left, "pieces, chunks and markers are removed once the result is recorded")
	// The packaged title plays the whole 26 s.
	pl, err := st.(*storage.FS).LocalPath(res.Renditions[0].Playlist)
	require.NoError(t, err)
	b, err := os.ReadFile(pl)
	require.NoError(t, err)
	var secs float64
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "#EXTINF:"); ok {
			f, err := strconv.ParseFloat(strings.TrimSuffix(v, ","), 64)
			require.NoError(t, err)
			secs += f
		}
	}
	assert.InDelta(t, 26, secs, 0.05)
}
