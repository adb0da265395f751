package pertitle

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/media"
)

// TestSelectedFrames counts, by brute force over frame indices, the frames
// qualityGraph's selection keeps, and checks selectedFrames against it.
func TestSelectedFrames(t *testing.T) {
	t.Parallel()
	for _, every := range []int{1, 2, 5} {
		for _, n := range []int64{0, 1, 2, 3, 10, 11, 12, 13, 40, 50, 60} {
			var want int64
			for i := int64(0); i < n; i++ {
				if every <= 1 || i%int64(2*every+1) < 2 {
					want++
				}
			}
			assert.Equal(t, want, selectedFrames(n, every), "every %d, %d frames", every, n)
		}
	}
}

func TestSplitJoined(t *testing.T) {
	t.Parallel()
	got, err := splitJoined([]float64{7, 1, 3, 10, 20}, 2, 2)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.InDelta(t, 2, got[0].Value, 1e-9, "the lead-in frame is dropped")
	assert.InDelta(t, 15, got[1].Value, 1e-9)
	assert.Equal(t, MetricVMAF, got[1].Metric)
	assert.Equal(t, map[Metric]float64{MetricVMAF: got[1].Value}, got[1].Scores)
	_, err = splitJoined([]float64{7, 1, 3, 10}, 2, 2)
	assert.True(t, errors.Is(err, errJoinedFrames), "a frame short: %v", err)
}

// TestVMAFJoined: one libvmaf run over several encodes gives each the score
// it gets alone (up to the first frame's motion, which alone has no
// neighbour before it), the same score wherever a file sits in the run, and
// refuses files whose frame count is not the reference's.
func TestVMAFJoined(t *testing.T) {
	t.Parallel()
	ff := testScorer(t)
	ctx := context.Background()
	clip := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 2, Source: "mandelbrot"})
	ref := transcode(t, "ffmpeg", clip, "ref.nut", "-c:v", "rawvideo", "-pix_fmt", "yuv420p")
	frames := int64(50)
	mid := transcode(t, "ffmpeg", ref, "mid.h264", "-c:v", "libx264", "-crf", "30", "-preset", "veryfast")
	bad := transcode(t, "ffmpeg", ref, "bad.h264", "-vf", "scale=160:90", "-c:v", "libx264", "-crf", "42", "-preset", "veryfast")
	short := transcode(t, "ffmpeg", ref, "short.h264", "-frames:v", "40", "-c:v", "libx264", "-crf", "30", "-preset", "veryfast")
	src := &media.Source{Duration: 2, Video: &media.VideoStream{Width: 320, Height: 180, FrameRate: 25, ColorRange: "tv"}}
	opt := QualityOptions{FFmpeg: ff, Every: 5}
	files := []string{mid, bad, mid, ref}
	joined, cpu, err := measureVMAFJoined(ctx, ref, src, frames, files, []int64{frames, frames, frames, frames}, opt)
	require.NoError(t, err)
	require.Len(t, joined, len(files))
	assert.Positive(t, cpu)
	assert.InDelta(t, joined[0].Value, joined[2].Value, 1e-6, "the same file first and third")
	assert.GreaterOrEqual(t, joined[3].Value, 98.0, "the reference itself")
	assert.Greater(t, joined[0].Value, joined[1].Value+10)
	opt.vmafOnly = true
	for i, f := range files[:2] {
		alone, _, err := measureSources(ctx, ref, src, []string{f}, []*media.Source{nil}, opt)
		require.NoError(t, err)
		assert.NotContains(t, alone[0].Scores, MetricSSIM, "VMAF alone")
		assert.InDelta(t, alone[0].Value, joined[i].Value, 3, "file %d joined and alone", i)
	}
	_, _, err = measureVMAFJoined(ctx, ref, src, frames, []string{mid, short}, []int64{frames, 40}, opt)
	assert.True(t, errors.Is(err, errJoinedFrames), "%v", err)
}

// TestAnalysisEvery: VMAF pairs are spread so that a piece of any frame
// rate gets at most analysisVMAFPairs pairs (and close to that), never
// denser than two in eleven nor than QualityEvery asks, with an odd period;
// SSIM keeps one frame in four.
func TestAnalysisEvery(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		qualityEvery int
		frames       int64
	}{
		{"2 s at 20 fps", 2, 40},
		{"2 s at 24 fps", 2, 48},
		{"2 s at 25 fps", 2, 50},
		{"2 s at 30 fps", 2, 60},
		{"2 s at 60 fps", 2, 120},
		{"a short piece", 2, 12},
		{"unknown length", 2, 0},
		{"QualityEvery asks for fewer", 9, 40},
	}
	for _, tc := range cases {
		o := Options{QualityEvery: tc.qualityEvery}
		e := o.analysisEvery(MetricVMAF, tc.frames)
		assert.GreaterOrEqual(t, e, max(analysisVMAFEvery, tc.qualityEvery), tc.name)
		if tc.frames >= int64(2*analysisVMAFEvery+1)*analysisVMAFPairs {
			n := selectedFrames(tc.frames, e)
			assert.LessOrEqual(t, n, int64(2*analysisVMAFPairs), tc.name)
			assert.GreaterOrEqual(t, n, int64(2*analysisVMAFPairs-2), tc.name)
		}
		assert.Equal(t, max(tc.qualityEvery, analysisEveryMin), o.analysisEvery(MetricSSIM, tc.frames), tc.name)
	}
}
