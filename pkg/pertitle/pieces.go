package pertitle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
)

// PieceTask is one sampled piece of a title's analysis, as another process
// runs it (Options.Pieces, AnalyzePiece): everything the grid of that piece
// depends on, so that the result is the one this process would have got.
// It is JSON, stored beside the piece.
type PieceTask struct {
	// File is the piece: the sample cut out of the source losslessly,
	// normalised to display size, limited range and 4:2:0 (x264 -qp 0).
	File string
	// Width, Height, Frames and Seconds describe it; FPS is the source's.
	Width, Height int
	Frames        int64
	Seconds       float64
	FPS           float64
	// Sizes are the grid's sizes; CRFs the analysis CRFs and Encoded[si]
	// the indices into CRFs encoded at size si.
	Sizes   [][2]int
	CRFs    []float64
	Encoded [][]int
	// Preset is the analysis preset, SegmentSeconds the final encode's
	// segment (its GOP), Metric what steers (vmaf or ssim) and Every one
	// frame in Every scored.
	Preset         string
	SegmentSeconds float64
	Metric         Metric
	Every          int
}

// PieceResult is a piece's grid: Cells[si][ci] for every size and analysis
// CRF (zero where not encoded), and the CPU time by stage.
type PieceResult struct {
	Cells [][]PieceCell
	CPU   map[string]time.Duration
}

// PieceCell is one (size, CRF) encode of a piece: its steady-state bits over
// Seconds, and its scores.
type PieceCell struct {
	Bits, Seconds float64
	Scores        map[Metric]float64 `json:",omitempty"`
	// FrameBits are the bits of every picture of the encode, in decode
	// order (parameter sets and SEI with the picture they precede): what
	// pkg/pershot measures a candidate's peak rate on.
	FrameBits []int64 `json:",omitempty"`
}

// ErrCannotScore: this process cannot measure the metric a piece task
// steers by (an ffmpeg without libvmaf given a VMAF task). Every attempt on
// it would fail the same way.
var ErrCannotScore = errors.New("pertitle: this scorer cannot measure the task's metric")

// AnalyzePiece runs one piece task here: every grid size and CRF of the
// piece at task.File, encoded with the analysis preset and scored, as the
// analysis of the whole title would. opt gives the binaries (FFmpeg, Scorer,
// VMAFModel) and AnalysisWorkers; the task gives everything else.
func AnalyzePiece(ctx context.Context, task PieceTask, opt Options) (*PieceResult, error) {
	opt.setDefaults()
	if len(task.Sizes) == 0 || len(task.Encoded) != len(task.Sizes) || len(task.CRFs) == 0 || task.FPS <= 0 || task.Frames <= 0 {
		return nil, fmt.Errorf("pertitle: malformed piece task (%d sizes, %d CRFs, %g fps, %d frames)",
			len(task.Sizes), len(task.CRFs), task.FPS, task.Frames)
	}
	for _, idx := range task.Encoded {
		for _, ci := range idx {
			if ci < 0 || ci >= len(task.CRFs) {
				return nil, fmt.Errorf("pertitle: malformed piece task (CRF index %d of %d CRFs)", ci, len(task.CRFs))
			}
		}
	}
	if task.Metric == MetricVMAF {
		if vm := detectVMAF(ctx, opt.Scorer, opt.VMAFModel); vm.filter == "" {
			return nil, fmt.Errorf("%w: %s (%s)", ErrCannotScore, task.Metric, vm.why)
		}
	}
	opt.AnalysisPreset, opt.SegmentSeconds, opt.QualityEvery = task.Preset, task.SegmentSeconds, task.Every
	dir, err := os.MkdirTemp("", "pertitle-piece-*")
	if err != nil {
		return nil, fmt.Errorf("pertitle: %w", err)
	}
	defer removeAll(dir)
	ref := &media.Source{Duration: task.Seconds, Video: &media.VideoStream{Width: task.Width, Height: task.Height,
		FrameRate: task.FPS, ColorRange: "tv"}}
	a := &analyzer{opt: opt, src: ref, dir: dir, fps: task.FPS, sizes: task.Sizes, crfs: task.CRFs, metric: task.Metric}
	p := &piece{path: task.File, ref: ref, secs: task.Seconds, frames: task.Frames}
	// Decoded once into raw video when small enough, as the title's own
	// analysis keeps its pieces: every grid size and scoring run reads it.
	if rawBytes(task.Width, task.Height, task.FPS, task.Seconds) <= maxRawPieceBytes {
		raw := filepath.Join(dir, "piece.nut")
		args := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y"}, media.InputArgs(task.File, media.WorkFormats)...)
		args = append(args, "-map", "0:v:0", "-an", "-sn", "-dn", "-c:v", "rawvideo", "-progress", "pipe:1", raw)
		frames, cpu, err := runFFmpeg(ctx, opt.FFmpeg, args)
		a.addCPU("extract", cpu)
		if err != nil {
			return nil, fmt.Errorf("pertitle: cannot read the piece: %w", err)
		}
		if frames != task.Frames {
			return nil, fmt.Errorf("pertitle: the piece holds %d frames, the task says %d", frames, task.Frames)
		}
		p.path = raw
	}
	cells := make([][]gridResult, len(task.Sizes))
	for si := range cells {
		cells[si] = make([]gridResult, len(task.CRFs))
	}
	if err := a.measure(ctx, []*piece{p}, task.Encoded, [][][]gridResult{cells}, nil); err != nil {
		return nil, err
	}
	res := &PieceResult{Cells: make([][]PieceCell, len(cells)), CPU: a.stages}
	for si, row := range cells {
		res.Cells[si] = make([]PieceCell, len(row))
		for ci, g := range row {
			res.Cells[si][ci] = PieceCell{Bits: g.bits, Seconds: g.secs, Scores: g.scores.Scores, FrameBits: g.frames}
		}
	}
	return res, nil
}

// PieceCut is what CutPieces made: a task per stretch, the metric they
// steer by, why it is not VMAF (Warnings) and the CPU time of the cuts.
type PieceCut struct {
	Tasks    []PieceTask
	Metric   Metric
	Warnings []string
	CPU      time.Duration
}

// CutPieces cuts stretches ([start, end) seconds) of the probed title src
// into dir (piece<i>.mkv), as the sampled analysis cuts pieces for other
// processes: losslessly (x264 -qp 0) at display size, limited range and
// 4:2:0. Each becomes a PieceTask over opt's analysis grid (sizes, CRFs
// staggered as the analysis does, the analysis preset) steered by what the
// scorer can measure (VMAF, else SSIM with a warning), for AnalyzePiece to
// measure here or on a worker. opt has its defaults (ProbeSource).
// Stretches should be whole segments (samplePlan says why).
func CutPieces(ctx context.Context, src string, s *media.Source, stretches [][2]float64, dir string, opt Options) (*PieceCut, error) {
	a := newAnalyzer(s, opt, dir)
	res := &Analysis{}
	a.chooseMetric(ctx, res)
	pieces := make([]*piece, len(stretches))
	for i, st := range stretches {
		if !(st[0] >= 0 && st[1] > st[0] && st[1] <= s.Duration+1) {
			return nil, fmt.Errorf("pertitle: stretch %d [%g, %g) is not inside a %g s title", i, st[0], st[1], s.Duration)
		}
		pieces[i] = &piece{start: st[0], secs: st[1] - st[0]}
	}
	if err := a.extractAll(ctx, src, pieces, true); err != nil {
		return nil, err
	}
	return &PieceCut{Tasks: a.pieceTasks(pieces), Metric: a.metric, Warnings: res.Warnings, CPU: a.cpu}, nil
}

// pieceTasks describes the extracted pieces as tasks for Options.Pieces.
func (a *analyzer) pieceTasks(pieces []*piece) []PieceTask {
	encoded := make([][]int, len(a.sizes))
	for si := range a.sizes {
		encoded[si] = a.crfsAt(si)
	}
	tasks := make([]PieceTask, len(pieces))
	for i, p := range pieces {
		tasks[i] = PieceTask{File: p.path, Width: p.ref.Video.Width, Height: p.ref.Video.Height, Frames: p.frames,
			Seconds: p.secs, FPS: a.fps, Sizes: a.sizes, CRFs: a.crfs, Encoded: encoded, Preset: a.opt.AnalysisPreset,
			SegmentSeconds: a.opt.SegmentSeconds, Metric: a.metric, Every: a.opt.analysisEvery(a.metric, p.frames)}
	}
	return tasks
}

// remoteGrid runs the grid through Options.Pieces and returns it as the
// local grid would be: [piece][size][crf].
func (a *analyzer) remoteGrid(ctx context.Context, pieces []*piece) ([][][]gridResult, error) {
	tasks := a.pieceTasks(pieces)
	out, err := a.opt.Pieces(ctx, tasks, func() {
		for range a.sizes {
			a.step()
		}
	})
	if err != nil {
		return nil, err
	}
	if len(out) != len(pieces) {
		return nil, fmt.Errorf("pertitle: %d piece results for %d pieces", len(out), len(pieces))
	}
	results := make([][][]gridResult, len(pieces))
	for pi, r := range out {
		if len(r.Cells) != len(a.sizes) {
			return nil, fmt.Errorf("pertitle: piece %d: %d sizes in its result, %d in the grid", pi, len(r.Cells), len(a.sizes))
		}
		results[pi] = make([][]gridResult, len(a.sizes))
		for si, row := range r.Cells {
			if len(row) != len(a.crfs) {
				return nil, fmt.Errorf("pertitle: piece %d size %d: %d CRFs in its result, %d in the grid", pi, si, len(row), len(a.crfs))
			}
			results[pi][si] = make([]gridResult, len(row))
			for ci, c := range row {
				results[pi][si][ci] = gridResult{bits: c.Bits, secs: c.Seconds, scores: Score{Metric: a.metric, Value: c.Scores[a.metric], Scores: c.Scores}}
			}
		}
		for stage, d := range r.CPU {
			a.addCPU(stage, d)
		}
	}
	return results, nil
}
