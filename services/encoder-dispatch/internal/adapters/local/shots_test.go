package local_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/adapters/local"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// nopReporter drops a job's life signs.
type nopReporter struct{}

func (nopReporter) Started(context.Context, string) error    { return nil }
func (nopReporter) Progress(context.Context, media.Progress) {}

// shotRequest is a per-shot encode of a 6 s title of three 2 s scenes: one
// chunk per scene, one rung, a different CRF in each chunk.
func shotRequest(t *testing.T, outDir string) media.EncodeRequest {
	t.Helper()
	clip := testmedia.Scenes(t, testmedia.ScenesSpec{Width: 192, Height: 108, Rate: "25", Scenes: []float64{2, 2, 2}})
	src, err := media.Probe(context.Background(), "ffprobe", clip)
	require.NoError(t, err)
	return media.EncodeRequest{FFmpeg: "ffmpeg", SourcePath: clip, Source: src, OutDir: outDir, SegmentSeconds: 2, Preset: "ultrafast",
		Ladder:    []media.Rung{{Width: 192, Height: 108, Bitrate: 400_000, CRF: 26}},
		Chunks:    []media.Chunk{{Index: 0, Frames: 50}, {Index: 1, First: 50, Frames: 50}, {Index: 2, First: 100, Frames: 50}},
		ChunkCRFs: [][]float64{{18}, {40}, {29}}}
}

// playlistFrames counts the video frames an HLS playlist plays.
func playlistFrames(t *testing.T, playlist string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", playlist).CombinedOutput()
	require.NoError(t, err, "%s", out)
	n, err := strconv.Atoi(strings.TrimSpace(strings.Split(string(out), "\n")[0]))
	require.NoError(t, err, "%s", out)
	return n
}

// x264CRF is the CRF x264 wrote into an encode's settings (its SEI).
func x264CRF(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	i := bytes.Index(b, []byte(" crf="))
	require.GreaterOrEqual(t, i, 0, "%s carries x264's settings", path)
	end := bytes.IndexByte(b[i+1:], ' ')
	require.Greater(t, end, 0)
	return string(b[i+1 : i+1+end])
}

// TestPerShotChunksGoToTheWorkers: a per-shot encode (a CRF per rung per
// chunk) of a title shorter than two chunk lengths, which a plain encode
// would keep whole, goes to the workers chunk by chunk: the stored plan holds
// the request's chunks and CRFs, every chunk is encoded once at its own CRF,
// and the packaged rung has every frame of the title.
func TestPerShotChunksGoToTheWorkers(t *testing.T) {
	t.Parallel()
	st, err := storage.NewFS(t.TempDir())
	require.NoError(t, err)
	cfg, coord := chunkBus(t)
	be := &local.Backend{Store: st, WorkDir: t.TempDir(), FFmpeg: "ffmpeg", Preset: "ultrafast", SegmentSeconds: 2,
		Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), PerTitle: local.PerTitleConfig{FFprobe: "ffprobe"},
		Chunks: local.ChunkConfig{Seconds: 8, Pub: coord, Producer: "encoder-dispatch", Poll: 50 * time.Millisecond}}
	counters := startWorkers(t, cfg, st, "w1", "w2")
	ctx := context.Background()
	job := app.Job{ID: "local-shots", AssetID: "asset-1"}
	req := shotRequest(t, filepath.Join(t.TempDir(), "out"))

	out, err := be.Encoder(job, nopReporter{})(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, map[int]int{0: 1, 1: 1, 2: 1}, perWorker(counters, false), "every shot encoded once, on a worker")

	keys, err := st.List(ctx, jobs.ChunkRoot(job.ID))
	require.NoError(t, err)
	var plan *jobs.Plan
	for _, k := range keys {
		if filepath.Base(k.Key) == filepath.Base(jobs.PlanKey("x")) {
			plan, err = jobs.LoadPlan(ctx, st, k.Key)
			require.NoError(t, err)
		}
	}
	require.NotNil(t, plan, "the plan is stored: %v", keys)
	assert.Equal(t, req.Chunks, plan.Chunks, "the request's shots are the plan's chunks")
	assert.Equal(t, req.ChunkCRFs, plan.ChunkCRFs)
	for k, crfs := range req.ChunkCRFs {
		p, err := st.LocalPath(jobs.ChunkRungKey(plan.Prefix, k, 0))
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("crf=%.1f", crfs[0]), x264CRF(t, p), "chunk %d is encoded at its own CRF", k)
	}
	require.Len(t, out.Renditions, 1)
	n := playlistFrames(t, filepath.Join(req.OutDir, out.Renditions[0].Playlist))
	assert.EqualValues(t, 150, n, "every frame of the title, once")
}

// TestPerShotWithoutWorkersEncodesHere: without chunk workers a per-shot
// encode is still encoded chunk by chunk at its CRFs, in this process: no
// plan, no chunk tasks, every frame packaged.
func TestPerShotWithoutWorkersEncodesHere(t *testing.T) {
	t.Parallel()
	st, err := storage.NewFS(t.TempDir())
	require.NoError(t, err)
	be := &local.Backend{Store: st, WorkDir: t.TempDir(), FFmpeg: "ffmpeg", Preset: "ultrafast", SegmentSeconds: 2,
		Log: zap.NewNop(), PerTitle: local.PerTitleConfig{FFprobe: "ffprobe"}}
	ctx := context.Background()
	job := app.Job{ID: "local-shots", AssetID: "asset-1"}
	req := shotRequest(t, filepath.Join(t.TempDir(), "out"))
	var chunks int
	req.Progress = func(p media.Progress) { chunks = max(chunks, p.Chunks) }
	out, err := be.Encoder(job, nopReporter{})(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, 3, chunks, "encoded chunk by chunk")
	keys, err := st.List(ctx, jobs.ChunkRoot(job.ID))
	require.NoError(t, err)
	assert.Empty(t, keys, "no plan: nothing went to workers")
	require.Len(t, out.Renditions, 1)
	n := playlistFrames(t, filepath.Join(req.OutDir, out.Renditions[0].Playlist))
	assert.EqualValues(t, 150, n)
}
