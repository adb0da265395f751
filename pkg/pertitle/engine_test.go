package pertitle

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/media"
)

// TestEncode runs the whole engine on a 4 s clip and checks what a player and
// ffprobe see: the master lists every rung at its resolution, each rendition
// is an H.264 stream of that size whose keyframes fall on the same times as
// the others', and no segment's rate exceeds what the VBV allows.
func TestEncode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clip := testmedia.Clip(t, testmedia.Spec{Width: 640, Height: 360, Seconds: 4, FPS: 25, Audio: true, Source: "mandelbrot"})
	out := filepath.Join(t.TempDir(), "out")
	var mu sync.Mutex
	stages := map[string]float64{}
	rep, err := Encode(ctx, clip, out, Options{
		SegmentSeconds: 1, MeasureQuality: true, WithStatic: true,
		Progress: func(p Progress) {
			mu.Lock()
			stages[p.Stage] = max(stages[p.Stage], p.Percent)
			mu.Unlock()
		},
	})
	require.NoError(t, err)
	for _, s := range []string{"analysis", "encode", "static"} {
		assert.Equal(t, 100.0, stages[s], "stage %s reaches 100%%", s)
	}
	assert.Contains(t, stages, "quality")

	require.NotEmpty(t, rep.Renditions)
	require.Len(t, rep.Renditions, len(rep.Ladder.Rungs))
	require.NotNil(t, rep.Analysis)
	assert.Positive(t, rep.Analysis.CPUTime)
	assert.Positive(t, rep.EncodeCPUTime)
	t.Logf("analysis CPU %v, final encode CPU %v (%.0f%%), analysis wall %v, encode wall %v",
		rep.Analysis.CPUTime, rep.EncodeCPUTime, 100*rep.Analysis.CPUTime.Seconds()/rep.EncodeCPUTime.Seconds(),
		rep.AnalysisTime, rep.EncodeTime)

	master, err := os.ReadFile(filepath.Join(out, media.HLSMasterName))
	require.NoError(t, err)
	seg := 1.0
	var keyframes [][]float64
	for i, r := range rep.Renditions {
		rung := rep.Ladder.Rungs[i]
		assert.Equal(t, rung.Width, r.Width)
		assert.Equal(t, rung.Height, r.Height)
		assert.Contains(t, string(master), "RESOLUTION="+strconv.Itoa(r.Width)+"x"+strconv.Itoa(r.Height))
		assert.Contains(t, string(master), r.Playlist)
		assert.Positive(t, rung.CRF, "per-title rungs are constrained-quality encodes")
		// VBV: maxrate R, buffer 2R: a segment of seg seconds holds at most R*seg + 2R bits.
		bound := float64(rung.Bitrate) * (1 + 2/seg)
		assert.LessOrEqual(t, float64(r.Bitrate), bound*1.05, "rendition %d peak %d, bitrate %d", i, r.Bitrate, rung.Bitrate)
		assert.Contains(t, r.Scores, MetricSSIM)
		assert.Greater(t, r.Scores[MetricSSIM], 0.5)

		joined := filepath.Join(t.TempDir(), "r.mp4")
		f, err := os.Create(joined)
		require.NoError(t, err)
		require.NoError(t, media.JoinRendition(out, r.Playlist, f))
		require.NoError(t, f.Close())
		w, h, kf := probeKeyframes(t, joined)
		assert.Equal(t, [2]int{r.Width, r.Height}, [2]int{w, h})
		keyframes = append(keyframes, kf)
	}
	for i := 1; i < len(keyframes); i++ {
		assert.Equal(t, keyframes[0], keyframes[i], "keyframes of rendition %d align with rendition 0", i)
	}
	require.NotEmpty(t, keyframes)
	assert.GreaterOrEqual(t, len(keyframes[0]), 4, "a keyframe every segment")

	// The static ladder beside it, and the savings.
	require.NotEmpty(t, rep.Static)
	_, err = os.Stat(filepath.Join(out, StaticDir, media.HLSMasterName))
	assert.NoError(t, err)
	require.NotNil(t, rep.Savings)
	assert.Positive(t, rep.Savings.StaticBytes)

	// Reports.
	js, err := os.ReadFile(filepath.Join(out, ReportJSONName))
	require.NoError(t, err)
	assert.True(t, json.Valid(js))
	svg, err := os.ReadFile(filepath.Join(out, ReportSVGName))
	require.NoError(t, err)
	assert.Contains(t, string(svg), "<svg")
}

// probeKeyframes returns the size of the video stream and its keyframe times.
func probeKeyframes(t *testing.T, path string) (int, int, []float64) {
	t.Helper()
	b, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
		"-of", "csv=p=0", path).Output()
	require.NoError(t, err)
	wh := strings.Split(strings.TrimSpace(string(b)), ",")
	require.Len(t, wh, 2)
	w, _ := strconv.Atoi(wh[0])
	h, _ := strconv.Atoi(wh[1])
	b, err = exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags",
		"-of", "csv=p=0", path).Output()
	require.NoError(t, err)
	var kf []float64
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) >= 2 && strings.Contains(f[1], "K") {
			v, _ := strconv.ParseFloat(f[0], 64)
			kf = append(kf, v)
		}
	}
	return w, h, kf
}

func TestEncodeRejectsBadSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	audio := filepath.Join(dir, "audio.m4a")
	b, err := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=d=2", "-c:a", "aac", audio).CombinedOutput()
	require.NoError(t, err, "%s", b)
	empty := filepath.Join(dir, "empty.mp4")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	junk := filepath.Join(dir, "junk.mp4")
	require.NoError(t, os.WriteFile(junk, []byte(strings.Repeat("not a video at all ", 500)), 0o644))
	noFrames := filepath.Join(dir, "noframes.mkv")
	b, err = exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x90", "-frames:v", "0", "-c:v", "libx264", noFrames).CombinedOutput()
	require.NoError(t, err, "%s", b)
	clip := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 4, Source: "mandelbrot"})
	truncated := testmedia.Truncate(t, clip, 0.5)

	cases := []struct {
		name, src, want string
	}{
		{"no video stream", audio, "no video stream"},
		{"empty file", empty, "empty"},
		{"zero duration", noFrames, ""},
		{"not media", junk, "not a recognizable media file"},
		{"truncated", truncated, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Encode(context.Background(), tc.src, filepath.Join(t.TempDir(), "out"), Options{})
			require.Error(t, err)
			assert.True(t, errors.Is(err, media.ErrInvalidSource), "%v", err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestMediaRungsVBV(t *testing.T) {
	t.Parallel()
	ladder := []Rung{
		{Width: 1280, Height: 720, Bitrate: 3_000_000, CRF: 21},
		{Width: 960, Height: 540, Bitrate: 1_200_000, CRF: 25},
		{Width: 640, Height: 360, Bitrate: 500_000}, // no CRF: average bitrate
	}
	got := MediaRungs(ladder, 0)
	require.Len(t, got, 3)
	assert.Equal(t, int64(4_500_000), got[0].MaxRate, "the top rung gets 1.5x headroom too")
	assert.Equal(t, int64(6_000_000), got[0].BufSize)
	assert.Equal(t, int64(1_800_000), got[1].MaxRate, "lower rungs: 1.5x headroom")
	assert.Equal(t, int64(2_400_000), got[1].BufSize)
	assert.Equal(t, 25.0, got[1].CRF)
	assert.Zero(t, got[2].MaxRate, "without a CRF, media's VBV defaults apply")
	assert.Zero(t, got[2].CRF)
	for _, r := range got {
		assert.Equal(t, "high", r.Profile)
	}

	got = MediaRungs(ladder, 4_000_000)
	assert.Equal(t, int64(4_000_000), got[0].MaxRate, "the top rung's peak within the capped viewer's bandwidth")
	assert.Equal(t, int64(1_800_000), got[1].MaxRate, "lower rungs are not the capped viewer's concern")
	got = MediaRungs(ladder, 2_000_000)
	assert.Equal(t, int64(3_000_000), got[0].MaxRate, "never under the rung's own bitrate")
}

// TestAnalysisBudgetIsChecked: a budget that is no share of the final
// encode's CPU is refused before anything runs.
func TestAnalysisBudgetIsChecked(t *testing.T) {
	t.Parallel()
	for _, b := range []float64{-0.1, math.Inf(1), math.NaN()} {
		opt := Options{AnalysisBudget: b}
		_, err := ProbeSource(context.Background(), "/nonexistent.mp4", &opt)
		require.Error(t, err, "%g", b)
		assert.Contains(t, err.Error(), "analysis budget", "%g", b)
	}
}

// TestTopPeak: the top rung may peak at the static ladder's top bitrate for
// the source's size, within the capped viewer's bandwidth.
func TestTopPeak(t *testing.T) {
	t.Parallel()
	src := func(w, h int) *media.Source {
		return &media.Source{Video: &media.VideoStream{Width: w, Height: h}}
	}
	qhd := AppleLadder(960, 540)[0].Bitrate
	require.Less(t, qhd, int64(5_000_000))
	assert.Equal(t, qhd, TopPeak(src(960, 540), 5_000_000), "static's top, under the viewer's cap")
	assert.Equal(t, qhd, TopPeak(src(960, 540), 0), "no viewer's cap")
	hd := AppleLadder(1920, 1080)[0].Bitrate
	require.Greater(t, hd, int64(5_000_000))
	assert.Equal(t, int64(5_000_000), TopPeak(src(1920, 1080), 5_000_000), "the viewer's cap, under static's top")
	assert.Equal(t, int64(5_000_000), TopPeak(nil, 5_000_000), "no source: the viewer's cap")
}
