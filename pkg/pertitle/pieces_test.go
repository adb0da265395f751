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
