package pertitle

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPiecesAnalysedElsewhereGiveTheSameAnalysis: a sampled title analysed
// with its pieces run "elsewhere" (each task marshalled to JSON, its piece
// copied away, AnalyzePiece run on the copy, the result marshalled back, as
// encoder-dispatch does across workers) gives exactly the points of the
// analysis run here, steered by VMAF, with the pieces' CPU counted.
func TestPiecesAnalysedElsewhereGiveTheSameAnalysis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clip := scenesClip(t, 12)
	// A 320x180 title's final encode is so cheap that the usual budget
	// affords one piece; this test needs three.
	opt := Options{Scorer: testScorer(t), SampleCount: 3, SampleSeconds: 1, SegmentSeconds: 1, Heights: []int{180, 90}, CRFs: []float64{24, 30, 36},
		AnalysisBudget: 10}
	here, err := Analyze(ctx, clip, opt)
	require.NoError(t, err)
	require.Len(t, here.Samples, 3, "the title is sampled, not analysed whole")

	var ran, done atomic.Int32
	elsewhere := t.TempDir()
	opt.Pieces = func(ctx context.Context, tasks []PieceTask, finished func()) ([]PieceResult, error) {
		out := make([]PieceResult, len(tasks))
		for i, task := range tasks {
			b, err := json.Marshal(task)
			require.NoError(t, err)
			var got PieceTask
			require.NoError(t, json.Unmarshal(b, &got))
			data, err := os.ReadFile(got.File)
			require.NoError(t, err)
			got.File = filepath.Join(elsewhere, filepath.Base(got.File))
			require.NoError(t, os.WriteFile(got.File, data, 0o644))
			r, err := AnalyzePiece(ctx, got, Options{Scorer: testScorer(t)})
			if err != nil {
				return nil, err
			}
			ran.Add(1)
			b, err = json.Marshal(r)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &out[i]))
			finished()
			done.Add(1)
		}
		return out, nil
	}
	there, err := Analyze(ctx, clip, opt)
	require.NoError(t, err)
	assert.EqualValues(t, 3, ran.Load(), "one task per piece")
	assert.EqualValues(t, 3, done.Load())
	assert.Equal(t, here.Samples, there.Samples)
	assert.Equal(t, MetricVMAF, there.Metric)
	require.Len(t, there.Points, len(here.Points))
	for i := range here.Points {
		assert.Equal(t, here.Points[i].Bitrate, there.Points[i].Bitrate, "point %d", i)
		assert.InDelta(t, here.Points[i].Quality, there.Points[i].Quality, 1e-9, "point %d", i)
	}
	assert.Positive(t, there.CPUByStage["encode"])
	assert.Positive(t, there.CPUByStage["score"])
}

// TestAPieceTaskNeedsItsMetric: a VMAF task on a process whose scorer has
// no libvmaf fails with ErrCannotScore instead of steering by zeros, and a
// malformed task is refused before any work.
func TestAPieceTaskNeedsItsMetric(t *testing.T) {
	t.Parallel()
	task := PieceTask{File: "/nonexistent", Width: 320, Height: 180, Frames: 25, Seconds: 1, FPS: 25,
		Sizes: [][2]int{{320, 180}}, CRFs: []float64{30}, Encoded: [][]int{{0}}, Preset: "veryfast", Metric: MetricVMAF}
	_, err := AnalyzePiece(context.Background(), task, Options{Scorer: "ffmpeg"})
	assert.ErrorIs(t, err, ErrCannotScore)
	task.Encoded = nil
	_, err = AnalyzePiece(context.Background(), task, Options{Scorer: testScorer(t)})
	assert.ErrorContains(t, err, "malformed piece task")
}

// TestCutPiecesAreAnalysed: stretches of a title cut by CutPieces become
// tasks AnalyzePiece measures, each cell keeping the bits of every picture
// (what pkg/pershot measures peaks on), summing to the cell's bits less the
// start codes; without
// libvmaf the tasks steer by SSIM and say so; a stretch outside the title
// is refused.
func TestCutPiecesAreAnalysed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clip := scenesClip(t, 6)
	opt := Options{Scorer: "ffmpeg", SegmentSeconds: 1, Heights: []int{90}, CRFs: []float64{30, 36}}
	s, err := ProbeSource(ctx, clip, &opt)
	require.NoError(t, err)
	cut, err := CutPieces(ctx, clip, s, [][2]float64{{0, 1}, {4, 5}}, t.TempDir(), opt)
	require.NoError(t, err)
	assert.Equal(t, MetricSSIM, cut.Metric)
	assert.NotEmpty(t, cut.Warnings)
	assert.Positive(t, cut.CPU)
	require.Len(t, cut.Tasks, 2)
	for i, task := range cut.Tasks {
		assert.EqualValues(t, 25, task.Frames, "stretch %d: one second of frames", i)
		res, err := AnalyzePiece(ctx, task, opt)
		require.NoError(t, err)
		for ci, cell := range res.Cells[0] {
			require.Len(t, cell.FrameBits, 25, "stretch %d CRF %g: a size per picture", i, task.CRFs[ci])
			var sum int64
			for _, b := range cell.FrameBits {
				sum += b
			}
			// All but the start codes (up to 4 bytes a NAL unit: a slice per
			// picture, and a parameter set or SEI here and there).
			assert.InDelta(t, cell.Bits-32*(25+3), float64(sum), 32*(25+3), "stretch %d CRF %g: the pictures hold the cell's bits", i, task.CRFs[ci])
		}
	}
	_, err = CutPieces(ctx, clip, s, [][2]float64{{20, 40}}, t.TempDir(), opt)
	assert.ErrorContains(t, err, "not inside")
}
