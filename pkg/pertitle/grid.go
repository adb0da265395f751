package pertitle

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
)

// gridSizes turns heights (the short side: height for landscape, width for
// portrait, as media.BuiltinLadder does) into even picture sizes of the
// source's display aspect, never above the source. The source's own size is
// added when it lies between grid steps, so a 480p title can keep 480p.
func gridSizes(dw, dh int, heights []int) [][2]int {
	portrait := dh > dw
	short, long := dh, dw
	if portrait {
		short, long = dw, dh
	}
	var shorts []int
	top := 0
	for _, h := range heights {
		top = max(top, h)
		if h <= short {
			shorts = append(shorts, h)
		}
	}
	if short <= top && !contains(shorts, short) && (len(shorts) == 0 || short > maxInt(shorts)) {
		shorts = append(shorts, short)
	}
	if len(shorts) == 0 {
		shorts = []int{short}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(shorts)))
	var out [][2]int
	for _, sh := range shorts {
		s, l := media.EvenSize(float64(sh)), media.EvenSize(float64(sh)*float64(long)/float64(short))
		if sh == short {
			s, l = media.EvenSize(float64(short)-0.5), media.EvenSize(float64(long)-0.5)
		}
		if portrait {
			out = append(out, [2]int{s, l})
		} else {
			out = append(out, [2]int{l, s})
		}
	}
	return out
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func maxInt(xs []int) int {
	m := xs[0]
	for _, v := range xs[1:] {
		m = max(m, v)
	}
	return m
}

// crfsAt returns the indices into Options.CRFs encoded at grid size si. With
// four CRFs or more and more than one size the grid is staggered: the largest
// size skips the highest CRF and the smaller sizes skip the lowest. The hull
// takes the largest size at high bitrates and the smaller ones at low
// bitrates, so those corners never reach it (a small picture at the lowest
// CRF costs more bits than the large one at the same quality, and the reverse
// at the highest), and a quarter of the analysis encodes is saved.
func (a *analyzer) crfsAt(si int) []int {
	n := len(a.opt.CRFs)
	idx := make([]int, 0, n)
	for ci := range n {
		if n >= 4 && len(a.sizes) > 1 && ((si == 0 && ci == n-1) || (si > 0 && ci == 0)) {
			continue
		}
		idx = append(idx, ci)
	}
	return idx
}

// encodeArgs encodes input at size si and every CRF of the grid (one output
// each, raw H.264 so that the file size is the video's size) with the final
// encode's GOP structure.
func (a *analyzer) encodeArgs(in *piece, si int, preset string, crfs []float64, names []string) []string {
	w, h := a.sizes[si][0], a.sizes[si][1]
	var g strings.Builder
	fmt.Fprintf(&g, "[0:v:0]%s,split=%d", normalizeFilter(in.ref, w, h), len(crfs))
	for i := range crfs {
		fmt.Fprintf(&g, "[o%d]", i)
	}
	args := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y"}, media.InputArgs(in.path, media.WorkFormats)...)
	args = append(args, "-filter_complex", g.String())
	for i, crf := range crfs {
		args = append(args, "-map", fmt.Sprintf("[o%d]", i), "-an", "-sn", "-dn",
			"-c:v", "libx264", "-preset", preset, "-crf", strconv.FormatFloat(crf, 'f', -1, 64),
			"-profile:v", "high", "-threads", "1")
		args = append(args, media.X264GOPArgs(a.fps, a.opt.SegmentSeconds)...)
		args = append(args, "-f", "h264", names[i])
	}
	return append(args, "-progress", "pipe:1")
}

// encoded is one analysis encode of a piece waiting to be scored: its file,
// the grid cell it fills, its frames and its steady-state bits over secs.
type encoded struct {
	file       string
	si, ci     int
	frames     int64
	bits, secs float64
	frameBits  []int64 // bits per picture, in decode order
	stage      string  // where its share of the scoring CPU is booked
}

// encodeCells encodes piece p at grid size si and the CRFs table[idx] with
// preset in one ffmpeg, booking its CPU time to stage.
func (a *analyzer) encodeCells(ctx context.Context, p *piece, pi, si int, preset string, table []float64, idx []int, stage string) ([]encoded, error) {
	names := make([]string, len(idx))
	crfs := make([]float64, len(idx))
	for k, ci := range idx {
		names[k] = filepath.Join(a.dir, fmt.Sprintf("p%d_s%d_c%d_%s.h264", pi, si, ci, preset))
		crfs[k] = table[ci]
	}
	frames, cpu, err := runFFmpeg(ctx, a.opt.FFmpeg, a.encodeArgs(p, si, preset, crfs, names))
	a.addCPU(stage, cpu)
	if err != nil {
		return nil, fmt.Errorf("pertitle: analysis encode at %dx%d: %w", a.sizes[si][0], a.sizes[si][1], err)
	}
	if frames <= 0 {
		frames = p.frames
	}
	secs := p.secs
	if frames > 0 {
		secs = float64(frames) / a.fps
	}
	gop := media.GOPFrames(a.fps, a.opt.SegmentSeconds)
	out := make([]encoded, len(idx))
	for k, n := range names {
		bits, gsecs, err := steadyBits(n, frames, gop, a.fps)
		if err != nil {
			return nil, fmt.Errorf("pertitle: analysis encode: %w", err)
		}
		if gsecs <= 0 {
			gsecs = secs
		}
		fb, err := frameBits(n)
		if err != nil {
			return nil, fmt.Errorf("pertitle: analysis encode: %w", err)
		}
		out[k] = encoded{file: n, si: si, ci: idx[k], frames: frames, bits: bits, secs: gsecs, frameBits: fb, stage: "score"}
		if stage != "encode" {
			out[k].stage = stage
		}
	}
	return out, nil
}

// scoreCells scores encodes of piece p against it and removes their files;
// the results are in the order of cells, the CPU booked to the cells' stages
// in proportion. When VMAF steers, every cell is
// scored in one libvmaf run (measureVMAFJoined) with VMAF alone: the
// analysis reads nothing else, and SSIM and PSNR beside it cost CPU for
// numbers nobody uses (the renditions' scoring, MeasureQuality, keeps all
// three). It falls back to one file per run when the frame counts are
// unknown (a title analysed whole) or differ.
func (a *analyzer) scoreCells(ctx context.Context, p *piece, cells []encoded) ([]gridResult, error) {
	files := make([]string, len(cells))
	frames := make([]int64, len(cells))
	for k, c := range cells {
		files[k], frames[k] = c.file, c.frames
	}
	defer func() {
		for _, f := range files {
			_ = os.Remove(f)
		}
	}()
	q := QualityOptions{FFmpeg: a.opt.Scorer, FFprobe: a.opt.FFprobe, VMAFModel: a.opt.VMAFModel,
		Every: a.opt.analysisEvery(a.metric, p.frames), VMAFPixels: analysisVMAFPixels, vmafOnly: a.metric == MetricVMAF}
	var (
		scores []Score
		cpu    time.Duration
		err    error
	)
	if a.metric == MetricVMAF {
		scores, cpu, err = measureVMAFJoined(ctx, p.path, p.ref, p.frames, files, frames, q)
	}
	if a.metric != MetricVMAF || errors.Is(err, errJoinedFrames) {
		var c time.Duration
		scores, c, err = measureSources(ctx, p.path, p.ref, files, make([]*media.Source, len(files)), q)
		cpu += c
	}
	for _, c := range cells {
		a.addCPU(c.stage, cpu/time.Duration(len(cells)))
	}
	if err != nil {
		return nil, err
	}
	out := make([]gridResult, len(cells))
	for k, c := range cells {
		out[k] = gridResult{bits: c.bits, secs: c.secs, scores: scores[k], frames: c.frameBits}
	}
	return out, nil
}

// encodeAndScore encodes piece p at grid size si and the CRFs table[idx]
// with preset (encodeCells), then scores the outputs (scoreCells). CPU time
// is booked to stage ("calibrate") or, when stage is empty, to "encode" and
// "score". The result is indexed like table; CRFs not in idx stay zero.
func (a *analyzer) encodeAndScore(ctx context.Context, p *piece, pi, si int, preset string, table []float64, idx []int, stage string) ([]gridResult, error) {
	if stage == "" {
		stage = "encode"
	}
	cells, err := a.encodeCells(ctx, p, pi, si, preset, table, idx, stage)
	if err != nil {
		return nil, err
	}
	got, err := a.scoreCells(ctx, p, cells)
	if err != nil {
		return nil, err
	}
	res := make([]gridResult, len(table))
	for k, c := range cells {
		res[c.ci] = got[k]
	}
	return res, nil
}

// grid encodes and scores every piece at every grid size and analysis CRF,
// here (measure) or, when remote, through Options.Pieces. The result is
// indexed [piece][size][crf].
func (a *analyzer) grid(ctx context.Context, pieces []*piece, remote bool) ([][][]gridResult, error) {
	if remote {
		return a.remoteGrid(ctx, pieces)
	}
	results := make([][][]gridResult, len(pieces))
	for i := range results {
		results[i] = make([][]gridResult, len(a.sizes))
		for si := range a.sizes {
			results[i][si] = make([]gridResult, len(a.crfs))
		}
	}
	jobs := make([][]int, len(a.sizes))
	for si := range a.sizes {
		jobs[si] = a.crfsAt(si)
	}
	return results, a.measure(ctx, pieces, jobs, results, a.calibrationJobs(len(pieces)))
}

// measure encodes every piece at every size si with CRFs jobs[si] (indices
// into the analysis CRFs; none: the size is skipped), one ffmpeg per piece
// and size, and the calibration encodes cal (calibrate.go, into
// a.calibrated), then scores each piece's encodes in one scorer run
// (scoreCells), into results[piece][size][crf].
func (a *analyzer) measure(ctx context.Context, pieces []*piece, jobs [][]int, results [][][]gridResult, cal []calJob) error {
	type enc struct {
		pi, si int
		cal    *calJob
	}
	var encs []enc
	for pi := range pieces {
		for si, idx := range jobs {
			if len(idx) > 0 {
				encs = append(encs, enc{pi: pi, si: si})
			}
		}
	}
	for i := range cal {
		encs = append(encs, enc{pi: cal[i].pi, si: cal[i].si, cal: &cal[i]})
	}
	cells := make([][]encoded, len(pieces))
	var mu sync.Mutex
	err := runPool(ctx, a.opt.AnalysisWorkers, len(encs), func(ctx context.Context, j int) error {
		e := encs[j]
		var c []encoded
		var err error
		if e.cal == nil {
			c, err = a.encodeCells(ctx, pieces[e.pi], e.pi, e.si, a.opt.AnalysisPreset, a.crfs, jobs[e.si], "encode")
		} else {
			c, err = a.encodeCells(ctx, pieces[e.pi], e.pi, e.si, a.opt.Preset, a.opt.CRFs, []int{e.cal.ci}, "calibrate")
		}
		mu.Lock()
		cells[e.pi] = append(cells[e.pi], c...)
		mu.Unlock()
		a.step()
		return err
	})
	if err != nil {
		return err
	}
	return runPool(ctx, a.opt.AnalysisWorkers, len(pieces), func(ctx context.Context, pi int) error {
		got, err := a.scoreCells(ctx, pieces[pi], cells[pi])
		for k, c := range cells[pi] {
			switch {
			case err != nil:
			case c.stage == "calibrate":
				a.calibrated[c.si] = got[k]
			default:
				results[pi][c.si][c.ci] = got[k]
			}
		}
		return err
	})
}

// points pools every grid cell over the pieces (bits and seconds summed,
// scores weighted by seconds) and gives it in the final preset's terms
// through the size's presetMap. Cells no piece encoded give no point.
func (a *analyzer) points(results [][][]gridResult, maps []presetMap) []Point {
	var points []Point
	for si := range a.sizes {
		for ci, crf := range a.crfs {
			var bits, secs float64
			sums := map[Metric]float64{}
			for pi := range results {
				g := results[pi][si][ci]
				bits += g.bits
				secs += g.secs
				for m, v := range g.scores.Scores {
					sums[m] += v * g.secs
				}
			}
			if secs <= 0 {
				continue
			}
			for m := range sums {
				sums[m] /= secs
			}
			points = append(points, a.cellPoint(maps[si], si, crf, bits/secs*a.scale(), sums))
		}
	}
	return points
}

// cellPoint is the grid cell of size si and analysis CRF crf, at bitrate
// bits/s with scores (kept, not copied), as a point in the final preset's
// terms (the size's presetMap).
func (a *analyzer) cellPoint(m presetMap, si int, crf, bitrate float64, scores map[Metric]float64) Point {
	finalCRF, br := m.apply(crf, bitrate)
	return Point{Width: a.sizes[si][0], Height: a.sizes[si][1], CRF: finalCRF, Metric: a.metric, Scores: scores,
		Bitrate: br, Quality: scores[a.metric]}
}

// pieceGrids are the points of every piece on its own (Analysis.PieceGrids):
// as points makes them, less the pooling and the title's scale.
func (a *analyzer) pieceGrids(results [][][]gridResult, maps []presetMap) [][]PiecePoint {
	out := make([][]PiecePoint, len(results))
	for pi := range results {
		for si := range a.sizes {
			for ci, crf := range a.crfs {
				g := results[pi][si][ci]
				if g.secs <= 0 {
					continue
				}
				scores := make(map[Metric]float64, len(g.scores.Scores))
				for m, v := range g.scores.Scores {
					scores[m] = v
				}
				p := PiecePoint{Point: a.cellPoint(maps[si], si, crf, g.bits/g.secs, scores)}
				p.FrameBits = make([]int64, len(g.frames))
				for i, b := range g.frames {
					p.FrameBits[i] = int64(math.Round(float64(b) * maps[si].ratio))
				}
				out[pi] = append(out[pi], p)
			}
		}
	}
	return out
}

// corners are the cells the staggered grid skipped (crfsAt) next to a
// measured point of the same size that is on the hull: there the corner may
// be on the hull too, and without it the hull would jump to another size for
// want of a measurement. It happens where two sizes are close (a 272-line
// source against 234 lines: the large size stays on the hull down to the
// lowest rates, docs/benchmarks.md). Each is a [size, crf] index pair.
func (a *analyzer) corners(hull []Point, maps []presetMap) [][2]int {
	on := func(si, ci int) bool {
		crf, _ := maps[si].apply(a.crfs[ci], 0)
		for _, p := range hull {
			if p.Width == a.sizes[si][0] && p.Height == a.sizes[si][1] && math.Abs(p.CRF-crf) < 1e-6 {
				return true
			}
		}
		return false
	}
	var out [][2]int
	for si := range a.sizes {
		measured := a.crfsAt(si)
		if len(measured) == 0 || len(measured) == len(a.crfs) {
			continue
		}
		lo, hi := measured[0], measured[len(measured)-1]
		if lo > 0 && on(si, lo) {
			out = append(out, [2]int{si, lo - 1})
		}
		if hi < len(a.crfs)-1 && on(si, hi) {
			out = append(out, [2]int{si, hi + 1})
		}
	}
	return out
}

// refine encodes and scores the corners on every piece, here (the pieces
// are local files whether or not the grid ran elsewhere), into results.
func (a *analyzer) refine(ctx context.Context, pieces []*piece, results [][][]gridResult, corners [][2]int) error {
	jobs := make([][]int, len(a.sizes))
	for _, c := range corners {
		jobs[c[0]] = append(jobs[c[0]], c[1])
	}
	n := 0
	for _, idx := range jobs {
		n += boolInt(len(idx) > 0)
	}
	a.mu.Lock()
	a.total += len(pieces) * n
	a.mu.Unlock()
	return a.measure(ctx, pieces, jobs, results, nil)
}
