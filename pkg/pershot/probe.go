package pershot

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"

	"github.com/pertitle/pertitle/pkg/pertitle"
)

// Probes: per-title's analysis measures a piece or a few on the whole grid,
// too few to tell shots apart. A shot with no piece inside it would take a
// piece's quality as its own, and VMAF at one CRF is not alike across
// shots: on make bench-pershot's titles an easy shot lost 9 points from CRF
// 18 to 30 at 960x540 where the dear ones lost 18 to 24 (docs/benchmarks.md,
// "Per-shot on per-title's analysis"). An allocation that believes them alike moves bits from the
// dear shots to the easy ones, the wrong way. So every such shot is probed:
// a stretch of it, and the stretch of its piece beside it, are encoded at
// one size (probeSize) and a few CRFs (probeCRFs) and scored, and the
// shot's candidates are its piece's corrected by the difference (correct).

// probeSize is the grid size probes are encoded at: the middle one (of
// 540, 432, 360 and 234 lines, 360), where the sizes the ladder keeps at
// middle rates are.
func probeSize(sizes [][2]int) int { return len(sizes) / 2 }

// probeCRFs are the analysis CRFs probes are encoded at (indices into
// them): a quarter, half and three quarters of the way up, which span the
// rates of the ladder's middle rungs; the correction is held beyond them.
func probeCRFs(n int) []int {
	if n < 3 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	return []int{n / 4, n / 2, 3 * n / 4}
}

// probeCurve is one probe: at each probed CRF (analysis terms), bitrate and
// quality.
type probeCurve struct {
	crf, logBits, quality []float64
}

// correction is the difference of a shot's probe from its piece's probe:
// at each probed CRF, the quality added and the log of the bits ratio.
type correction struct {
	crf, dLogBits, dQuality []float64
}

// at is the correction at crf: linear between probed CRFs, held beyond.
func (c correction) at(crf float64) (dLogBits, dQuality float64) {
	n := len(c.crf)
	switch {
	case n == 0:
		return 0, 0
	case crf <= c.crf[0]:
		return c.dLogBits[0], c.dQuality[0]
	case crf >= c.crf[n-1]:
		return c.dLogBits[n-1], c.dQuality[n-1]
	}
	i := sort.SearchFloat64s(c.crf, crf)
	f := (crf - c.crf[i-1]) / (c.crf[i] - c.crf[i-1])
	return c.dLogBits[i-1] + f*(c.dLogBits[i]-c.dLogBits[i-1]), c.dQuality[i-1] + f*(c.dQuality[i]-c.dQuality[i-1])
}

// diff is shot's probe minus ref's at the CRFs both measured.
func diff(shot, ref probeCurve) correction {
	var c correction
	for i, crf := range shot.crf {
		for j, r := range ref.crf {
			if r == crf {
				c.crf = append(c.crf, crf)
				c.dLogBits = append(c.dLogBits, shot.logBits[i]-ref.logBits[j])
				c.dQuality = append(c.dQuality, shot.quality[i]-ref.quality[j])
			}
		}
	}
	return c
}

// correct applies c to a piece's candidates for a shot: bits (and every
// picture's) times the ratio, quality plus the difference, within the
// metric's range. The correction is read at each candidate's CRF in the
// final preset's terms against probes in the analysis preset's; the two
// differ by a calibration offset of a CRF or two, across which the
// correction barely changes.
func correct(cands []Candidate, c correction) []Candidate {
	out := make([]Candidate, len(cands))
	for i, cd := range cands {
		dl, dq := c.at(cd.CRF)
		cd = cd.timesBits(math.Exp(dl))
		cd.Quality = clampQ(cd.Metric, cd.Quality+dq)
		if _, ok := cd.Scores[cd.Metric]; ok {
			cd.Scores[cd.Metric] = cd.Quality
		}
		out[i] = cd
	}
	return out
}

// probeShots probes every shot with no piece inside it, and the pieces
// standing for them, and corrects those shots' candidates (see Probes).
// Shots with a piece inside them keep it as measured. The probes' CPU is
// the analysis's stage "probe".
func (an *Analysis) probeShots(ctx context.Context, src string, spans []pieceSpan, opt Options) error {
	var shots []int
	for k, sh := range an.Shots {
		if p := spans[sh.Measured]; !(p.first >= sh.First && p.end <= sh.First+sh.Frames) {
			shots = append(shots, k)
		}
	}
	if len(shots) == 0 {
		return nil
	}
	// One stretch per probed shot and per piece that stands for one.
	var stretches [][2]float64
	index := map[[2]int64]int{}
	add := func(a, b int64) int {
		key := [2]int64{a, b}
		if i, ok := index[key]; ok {
			return i
		}
		index[key] = len(stretches)
		stretches = append(stretches, [2]float64{an.Timing.Seconds(a), an.Timing.Seconds(b)})
		return index[key]
	}
	shotProbe, pieceProbe := map[int]int{}, map[int]int{}
	for _, k := range shots {
		s := an.sampleOf(k, opt)
		shotProbe[k] = add(s[0], s[1])
		p := spans[an.Shots[k].Measured]
		pieceProbe[k] = add(p.first, p.end)
	}
	curves, err := an.measureProbes(ctx, src, stretches, opt)
	if err != nil {
		return err
	}
	for _, k := range shots {
		sh := &an.Shots[k]
		c := diff(curves[shotProbe[k]], curves[pieceProbe[k]])
		sh.Probe = stretches[shotProbe[k]]
		var sum float64
		for _, d := range c.dLogBits {
			sum += d
		}
		if len(c.dLogBits) > 0 {
			sh.Scale = math.Exp(sum / float64(len(c.dLogBits)))
		}
		sh.Candidates = correct(an.pieceCandidates(sh.Measured), c)
	}
	return nil
}

// measureProbes cuts the stretches and encodes each at probeSize and
// probeCRFs, here or through opt.Pieces, and returns their curves.
func (an *Analysis) measureProbes(ctx context.Context, src string, stretches [][2]float64, opt Options) ([]probeCurve, error) {
	dir, err := os.MkdirTemp("", "pershot-probe-*")
	if err != nil {
		return nil, fmt.Errorf("pershot: %w", err)
	}
	defer os.RemoveAll(dir)
	cut, err := pertitle.CutPieces(ctx, src, an.Source, stretches, dir, opt.Options)
	if err != nil {
		return nil, err
	}
	an.addCPU("probe", cut.CPU)
	if len(cut.Tasks) != len(stretches) {
		return nil, fmt.Errorf("pershot: %d probe tasks for %d stretches", len(cut.Tasks), len(stretches))
	}
	si, cis := probeSize(cut.Tasks[0].Sizes), probeCRFs(len(cut.Tasks[0].CRFs))
	for i := range cut.Tasks {
		enc := make([][]int, len(cut.Tasks[i].Sizes))
		enc[si] = cis
		cut.Tasks[i].Encoded = enc
	}
	results, err := runProbes(ctx, cut.Tasks, opt)
	if err != nil {
		return nil, err
	}
	curves := make([]probeCurve, len(results))
	for i, r := range results {
		for _, d := range r.CPU {
			an.addCPU("probe", d)
		}
		if len(r.Cells) <= si || len(r.Cells[si]) != len(cut.Tasks[i].CRFs) {
			return nil, fmt.Errorf("pershot: probe %d: a result of %d sizes for a task of %d", i, len(r.Cells), len(cut.Tasks[i].Sizes))
		}
		for _, ci := range cis {
			cell := r.Cells[si][ci]
			q, ok := cell.Scores[cut.Metric]
			if cell.Bits <= 0 || !(cell.Seconds > 0) || !ok {
				return nil, fmt.Errorf("pershot: probe %d at CRF %g has no %s score or no bits", i, cut.Tasks[i].CRFs[ci], cut.Metric)
			}
			curves[i].crf = append(curves[i].crf, cut.Tasks[i].CRFs[ci])
			curves[i].logBits = append(curves[i].logBits, math.Log(cell.Bits/cell.Seconds))
			curves[i].quality = append(curves[i].quality, q)
		}
	}
	return curves, nil
}

// runProbes measures the probe tasks through opt.Pieces, or here one after
// the other.
func runProbes(ctx context.Context, tasks []pertitle.PieceTask, opt Options) ([]pertitle.PieceResult, error) {
	if opt.Pieces != nil {
		res, err := opt.Pieces(ctx, tasks, func() {})
		if err == nil && len(res) != len(tasks) {
			err = fmt.Errorf("pershot: %d probe results for %d probes", len(res), len(tasks))
		}
		return res, err
	}
	out := make([]pertitle.PieceResult, len(tasks))
	for i, task := range tasks {
		r, err := pertitle.AnalyzePiece(ctx, task, opt.Options)
		if err != nil {
			return nil, err
		}
		out[i] = *r
	}
	return out, nil
}

// sampleOf is the stretch of shot k a probe measures: whole segments
// (SampleSeconds of them, at least one, at most the shot's), the run whose
// profile cost is nearest the shot's; the shot whole when it holds no whole
// segment. The stretch is in frames.
func (an *Analysis) sampleOf(k int, opt Options) [2]int64 {
	t, sh := an.Timing, an.Shots[k]
	end := sh.First + sh.Frames
	n0 := 0
	for t.SegmentStart(n0) < sh.First {
		n0++
	}
	whole := 0
	for t.SegmentStart(n0+whole+1) <= end {
		whole++
	}
	if whole == 0 {
		return [2]int64{sh.First, end}
	}
	segs := min(whole, max(1, int(math.Ceil(opt.SampleSeconds/t.SegmentSeconds-1e-9))))
	best, bestD := n0, math.Inf(1)
	for n := n0; n+segs <= n0+whole; n++ {
		c := an.cost(t.SegmentStart(n), t.SegmentStart(n+segs))
		d := math.Abs(math.Log(math.Max(c, 1)) - math.Log(math.Max(sh.Complexity, 1)))
		if d < bestD-1e-12 {
			best, bestD = n, d
		}
	}
	return [2]int64{t.SegmentStart(best), t.SegmentStart(best + segs)}
}
