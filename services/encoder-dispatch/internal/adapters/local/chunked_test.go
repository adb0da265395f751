package local_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/testmedia"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/adapters/local"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// countingEncoder counts the chunks each worker encodes.
type countingEncoder struct {
	app.ChunkEncoder
	mu  sync.Mutex
	got map[int]int
}

func (c *countingEncoder) EncodeChunk(ctx context.Context, p *jobs.Plan, k int) (jobs.ChunkReport, error) {
	c.mu.Lock()
	c.got[k]++
	c.mu.Unlock()
	return c.ChunkEncoder.EncodeChunk(ctx, p, k)
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

	cfg := bus.DefaultConfig()
	cfg.Transport, cfg.Memory, cfg.RetryInterval = bus.TransportMemory, bus.NewMemoryBroker(), 10*time.Millisecond
	t.Cleanup(func() { _ = cfg.Memory.Close() })
	coord, err := bus.New(ctx, cfg, bus.ServiceEncoderDispatch, zap.NewNop(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = coord.Close() })
	be.Chunks = local.ChunkConfig{Seconds: 8, Pub: coord, Producer: "encoder-dispatch", Poll: 50 * time.Millisecond}
	counters := map[string]*countingEncoder{}
	for _, name := range []string{"w1", "w2"} {
		wb := &local.Backend{Store: st, WorkDir: t.TempDir(), FFmpeg: "ffmpeg", Log: zap.NewNop()}
		counters[name] = &countingEncoder{ChunkEncoder: wb, got: map[int]int{}}
		w := &app.ChunkWorker{State: jobs.ChunkStore{Store: st}, Encoder: counters[name], Worker: name, Lease: 5 * time.Second, Log: zap.NewNop()}
		b, err := bus.New(ctx, cfg, bus.ServiceEncoderDispatch, zap.NewNop(), nil)
		require.NoError(t, err)
		b.Subscribe(events.TopicChunkRequested, w.OnChunkRequested)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- b.Run(runCtx) }()
		<-b.Running()
		t.Cleanup(func() { cancel(); <-done; _ = b.Close() })
	}

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
	perChunk := map[int]int{}
	for _, c := range counters {
		for k, n := range c.got {
			perChunk[k] += n
		}
	}
	assert.Equal(t, map[int]int{0: 1, 1: 1, 2: 1}, perChunk, "every chunk encoded once")
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
