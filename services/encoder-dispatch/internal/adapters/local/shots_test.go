package local_test

import (
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
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

// testScorer is the VMAF-capable ffmpeg scripts/deps.sh installs (make test
// runs it first); PERTITLE_VMAF_FFMPEG overrides it. Per-shot steered by
// SSIM on a tiny title puts every rung at the grid's cheapest CRF.
func testScorer(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PERTITLE_VMAF_FFMPEG"); p != "" {
		return p
	}
	p, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "..", "bin", pertitle.ScorerDir, "ffmpeg"))
	require.NoError(t, err)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no VMAF scorer at %s: run scripts/deps.sh (make test does)", p)
	}
	return p
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

// TestPerShotJob: with ladder mode pershot and chunk workers, the backend
// analyses the title shot by shot, the workers encode each shot once at the
// CRFs the report gives it (shots of different content at different CRFs),
// and the job finishes with the report's renditions, the per-shot report
// beside the manifests.
func TestPerShotJob(t *testing.T) {
	t.Parallel()
	d, rec, hk, st := setup(t)
	d.LadderMode = jobs.LadderPerShot
	be := d.Backend.(*local.Backend)
	be.SegmentSeconds, be.PerTitle.FFprobe, be.PerTitle.SkipQuality = 2, "ffprobe", true
	be.PerTitle.Scorer = testScorer(t)
	be.Log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	cfg, coord := chunkBus(t)
	be.Chunks = local.ChunkConfig{Seconds: 8, Pub: coord, Producer: "encoder-dispatch", Poll: 50 * time.Millisecond}
	counters := startScoringWorkers(t, cfg, st, be.PerTitle.Scorer, "w1", "w2")
	ctx := context.Background()

	clip := testmedia.Scenes(t, testmedia.ScenesSpec{Width: 320, Height: 180, Rate: "25", Scenes: []float64{3, 3, 3, 3}})
	require.NoError(t, d.OnAssetUploaded(ctx, uploaded(t, st, clip, 320, 180)))
	req := rec.ofType(events.TopicEncodingRequested)[0]
	assert.Equal(t, jobs.LadderPerShot, req.GetEncodingRequested().GetLadderMode())
	assert.Empty(t, req.GetEncodingRequested().GetLadder(), "the backend chooses the ladder")
	require.NoError(t, d.OnEncodingRequested(ctx, req))

	require.Len(t, hk.all(), 1)
	res, err := jobs.Load(ctx, st, hk.all()[0].EncodingID())
	require.NoError(t, err)
	require.Equal(t, jobs.StatusFinished, res.Status, res.Error)
	assert.Equal(t, jobs.LadderPerShot, res.LadderMode)
	var report struct {
		Mode       string `json:"mode"`
		Shots      []struct{ CRFs []float64 }
		Renditions []struct{ Width, Height int }
	}
	b, err := os.ReadFile(filepath.Join(st.(*storage.FS).Root(), req.GetEncodingRequested().GetOutputPrefix(), "report.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &report))
	assert.Equal(t, "pershot", report.Mode)
	require.Len(t, res.Renditions, len(report.Renditions), "the job's renditions are the report's")
	require.GreaterOrEqual(t, len(report.Shots), 2, "a title of three scenes has shots")
	crfs := map[int][]float64{}
	for _, c := range counters {
		for k, v := range c.crfs {
			crfs[k] = v
		}
	}
	differ := false
	for k, s := range report.Shots {
		assert.Equal(t, s.CRFs, crfs[k], "shot %d is encoded on a worker at the report's CRFs", k)
		differ = differ || s.CRFs[0] != report.Shots[0].CRFs[0]
	}
	assert.True(t, differ, "shots of different content get different CRFs: %s", b)
	for _, name := range []string{"report.svg", "master.m3u8", "manifest.mpd"} {
		_, err := st.Stat(ctx, req.GetEncodingRequested().GetOutputPrefix()+"/"+name)
		assert.NoError(t, err, name)
	}
}
