package pertitle

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/testmedia"
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

// TestQualityVMAF runs only with a libvmaf ffmpeg (PERTITLE_TEST_VMAF_FFMPEG,
// e.g. from scripts/vmaf-ffmpeg.sh; PERTITLE_TEST_VMAF_MODEL for libvmaf 1.x).
func TestQualityVMAF(t *testing.T) {
	t.Parallel()
	ff := os.Getenv("PERTITLE_TEST_VMAF_FFMPEG")
	if ff == "" {
		t.Skip("PERTITLE_TEST_VMAF_FFMPEG is not set")
	}
	model := os.Getenv("PERTITLE_TEST_VMAF_MODEL")
	if model == "" {
		if _, err := os.Stat("/work/shared/vmaf/vmaf_v0.6.1.pkl"); err == nil {
			model = "/work/shared/vmaf/vmaf_v0.6.1.pkl"
		}
	}
	ctx := context.Background()
	m, why := QualityMetric(ctx, ff, model)
	require.Equal(t, MetricVMAF, m, why)
	ref := testmedia.Clip(t, testmedia.Spec{Width: 640, Height: 360, Seconds: 2})
	good := transcode(t, ff, ref, "good.mkv", "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast")
	bad := transcode(t, ff, ref, "bad.mp4", "-vf", "scale=160:90", "-c:v", "libx264", "-crf", "45", "-preset", "ultrafast")
	opt := QualityOptions{FFmpeg: ff, VMAFModel: model}
	g, err := MeasureQuality(ctx, ref, good, opt)
	require.NoError(t, err)
	assert.Equal(t, MetricVMAF, g.Metric)
	assert.GreaterOrEqual(t, g.Value, 99.0)
	assert.Contains(t, g.Scores, MetricSSIM)
	b, err := MeasureQuality(ctx, ref, bad, opt)
	require.NoError(t, err)
	assert.Less(t, b.Value, 60.0)
}
