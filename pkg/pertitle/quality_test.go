package pertitle

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
)

// transcode runs ffmpeg -i in <args> out and returns out.
func transcode(t *testing.T, ffmpeg, in, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	full := append([]string{"-nostdin", "-hide_banner", "-v", "error", "-y", "-i", in}, args...)
	full = append(full, out)
	b, err := exec.Command(ffmpeg, full...).CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

func TestMeasureQuality(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ref := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 2, FPS: 25, Source: "mandelbrot"})
	// A 29.97 fps source in mkv: millisecond timestamps that an mp4 rounds
	// differently, which a timestamp-paired comparison gets wrong.
	ntsc := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 2, FPS: 30, Source: "testsrc2", Name: "ntsc.mkv"})
	ntsc = transcode(t, "ffmpeg", ntsc, "ntsc.mkv", "-vf", "setpts=N/(30000/1001*TB)", "-r", "30000/1001", "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast")

	cases := []struct {
		name      string
		ref       string
		distorted func(t *testing.T) string
		min, max  float64 // SSIM bounds
		minPSNR   float64
	}{
		{"lossless", ref, func(t *testing.T) string {
			return transcode(t, "ffmpeg", ref, "lossless.mp4", "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast")
		}, 0.99, 1.0001, 60},
		{"downscaled lossless is scaled back up", ref, func(t *testing.T) string {
			return transcode(t, "ffmpeg", ref, "small.mp4", "-vf", "scale=160:90", "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast")
		}, 0.5, 0.97, 0},
		{"heavily compressed", ref, func(t *testing.T) string {
			return transcode(t, "ffmpeg", ref, "bad.mp4", "-c:v", "libx264", "-crf", "50", "-preset", "ultrafast")
		}, 0, 0.9, 0},
		{"mkv 29.97 against its mp4 copy", ntsc, func(t *testing.T) string {
			return transcode(t, "ffmpeg", ntsc, "ntsc.mp4", "-c:v", "libx264", "-crf", "12", "-preset", "veryfast")
		}, 0.98, 1.0001, 40},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := MeasureQuality(ctx, tc.ref, tc.distorted(t), QualityOptions{NoVMAF: true})
			require.NoError(t, err)
			assert.Equal(t, MetricSSIM, s.Metric)
			assert.Equal(t, s.Scores[MetricSSIM], s.Value)
			assert.GreaterOrEqual(t, s.Value, tc.min)
			assert.Less(t, s.Value, tc.max)
			assert.GreaterOrEqual(t, s.Scores[MetricPSNR], tc.minPSNR)
			assert.LessOrEqual(t, s.Scores[MetricPSNR], psnrCap)
		})
	}
}

// TestQualityFallsBackWithoutVMAF: Debian's ffmpeg has no libvmaf; the metric is
// SSIM and says so.
func TestQualityFallsBackWithoutVMAF(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, why := QualityMetric(ctx, "ffmpeg", "")
	if m == MetricVMAF {
		t.Skip("this ffmpeg has libvmaf")
	}
	assert.Equal(t, MetricSSIM, m)
	assert.Contains(t, why, "libvmaf")
	ref := testmedia.Clip(t, testmedia.Spec{Width: 160, Height: 90, Seconds: 1})
	s, err := MeasureQuality(ctx, ref, ref, QualityOptions{})
	require.NoError(t, err)
	assert.Equal(t, MetricSSIM, s.Metric)
	assert.NotContains(t, s.Scores, MetricVMAF)
	assert.InDelta(t, 1, s.Value, 1e-6)
}

// testScorer is the VMAF-capable ffmpeg scripts/deps.sh installs (make test
// runs it first); PERTITLE_VMAF_FFMPEG overrides it.
func testScorer(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PERTITLE_VMAF_FFMPEG"); p != "" {
		return p
	}
	p, err := filepath.Abs(filepath.Join("..", "..", "bin", ScorerDir, "ffmpeg"))
	require.NoError(t, err)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no VMAF scorer at %s: run scripts/deps.sh (make test does)", p)
	}
	return p
}

// TestQualityVMAF scores with the scorer make installs and the model the
// engine ships: a lossless copy near 100, a coarse small encode far below,
// the same numbers whether the inputs share one process or not, and a window
// (VMAFPixels) that stays close to the whole picture on uniform content.
func TestQualityVMAF(t *testing.T) {
	t.Parallel()
	ff := testScorer(t)
	ctx := context.Background()
	m, why := QualityMetric(ctx, ff, "")
	require.Equal(t, MetricVMAF, m, why)
	ref := testmedia.Clip(t, testmedia.Spec{Width: 640, Height: 360, Seconds: 2, Source: "mandelbrot"})
	good := transcode(t, "ffmpeg", ref, "good.mkv", "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast")
	mid := transcode(t, "ffmpeg", ref, "mid.mp4", "-c:v", "libx264", "-crf", "30", "-preset", "veryfast")
	bad := transcode(t, "ffmpeg", ref, "bad.mp4", "-vf", "scale=160:90", "-c:v", "libx264", "-crf", "45", "-preset", "ultrafast")
	opt := QualityOptions{FFmpeg: ff}
	many, _, err := measureMany(ctx, ref, []string{good, mid, bad, good, mid, bad}, opt)
	require.NoError(t, err)
	require.Len(t, many, 6)
	for i, want := range []string{good, mid, bad} {
		one, err := MeasureQuality(ctx, ref, want, opt)
		require.NoError(t, err)
		assert.Equal(t, MetricVMAF, one.Metric)
		assert.Contains(t, one.Scores, MetricSSIM)
		assert.InDelta(t, one.Value, many[i].Value, 1e-6, "input %d alone and among others", i)
		assert.InDelta(t, one.Value, many[i+3].Value, 1e-6, "input %d in the second process", i)
	}
	assert.GreaterOrEqual(t, many[0].Value, 98.0)
	assert.Less(t, many[2].Value, 60.0)
	assert.Greater(t, many[1].Value, many[2].Value+10)
	win, err := MeasureQuality(ctx, ref, mid, QualityOptions{FFmpeg: ff, VMAFPixels: 320 * 180})
	require.NoError(t, err)
	assert.InDelta(t, many[1].Value, win.Value, 8, "a centred quarter of the picture")
}

func TestVMAFWindow(t *testing.T) {
	t.Parallel()
	assert.Equal(t, [2]int{960, 540}, vmafWindow(960, 540, vmafWindowPixels))
	assert.Equal(t, [2]int{1280, 404}, vmafWindow(1280, 720, vmafWindowPixels))
	assert.Equal(t, [2]int{960, 540}, vmafWindow(1920, 1080, vmafWindowPixels))
	assert.Equal(t, [2]int{1280, 720}, vmafWindow(1280, 720, 0))
}
