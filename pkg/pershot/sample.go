package pershot

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"time"

	"github.com/pertitle/pertitle/pkg/pertitle"
)

// titlePerShotSecond is how many seconds of title one second measured on
// the grid needs for the analysis to stay within about 30% of the final
// encode's CPU. pertitle's sampled analysis measured 14 s of title per
// analysed second for about 25% at the default preset (its former
// titlePerSampleSecond, docs/benchmarks.md; it now sizes its pieces with a
// cost model, pertitle's budget.go); the per-shot analysis encodes
// the same grid with the same scorer, and its profile pass takes a few
// percent more, so the same ratio keeps it under 30%.
const titlePerShotSecond = 14.0

// sampleBudget is how many stretches (groups of shots) a title of duration
// seconds affords: 0 (no limit) for a title pertitle would analyse whole
// (no longer than twice its samples), else its duration over
// titlePerShotSecond in pieces of SampleSeconds, at least one.
func sampleBudget(duration float64, opt Options) int {
	pieceSecs := math.Max(opt.SampleSeconds, opt.SegmentSeconds)
	if duration <= 2*float64(opt.SampleCount)*pieceSecs {
		return 0
	}
	return max(1, int(duration/titlePerShotSecond/pieceSecs))
}

// groupShots groups the shots that share a measurement: each shot alone,
// then, while there are more groups than budget (0: no limit), the two
// groups nearest in profile cost merge. Shots share only when the budget
// forces it: the profile pass's cost is blind to grain (at 160 px and CRF 28
// a clean and a grainy testsrc2 read within 15% of each other, where the
// final encode at CRF 22 spent 1.4 times the bits on the grainy one,
// TestEncodeMultiShot's title), so shots alike
// by it may not be alike. Groups list shot indices, ascending, in order of
// their first shot.
func groupShots(shots []ShotAnalysis, budget int) [][]int {
	order := make([]int, len(shots))
	for i := range order {
		order[i] = i
	}
	lc := func(k int) float64 { return math.Log(math.Max(shots[k].Complexity, 1)) }
	sort.SliceStable(order, func(i, j int) bool { return lc(order[i]) < lc(order[j]) })
	groups := make([][]int, len(order))
	for i, k := range order {
		groups[i] = []int{k}
	}
	mean := func(g []int) float64 {
		var s, w float64
		for _, k := range g {
			s += lc(k) * shots[k].Seconds
			w += shots[k].Seconds
		}
		return s / w
	}
	for budget > 0 && len(groups) > budget {
		best := 1
		for i := 2; i < len(groups); i++ {
			if mean(groups[i])-mean(groups[i-1]) < mean(groups[best])-mean(groups[best-1]) {
				best = i
			}
		}
		groups[best-1] = append(groups[best-1], groups[best]...)
		groups = append(groups[:best], groups[best+1:]...)
	}
	for _, g := range groups {
		sort.Ints(g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i][0] < groups[j][0] })
	return groups
}

// representative is the member whose cost is nearest (in log) the group's
// duration-weighted mean; the longer on a tie.
func representative(shots []ShotAnalysis, members []int) int {
	var s, w float64
	for _, k := range members {
		s += math.Log(math.Max(shots[k].Complexity, 1)) * shots[k].Seconds
		w += shots[k].Seconds
	}
	best, bestD := members[0], math.Inf(1)
	for _, k := range members {
		d := math.Abs(math.Log(math.Max(shots[k].Complexity, 1)) - s/w)
		if d < bestD-1e-12 || (math.Abs(d-bestD) <= 1e-12 && shots[k].Seconds > shots[best].Seconds) {
			best, bestD = k, d
		}
	}
	return best
}

// sampleOf is the stretch of shot k measured for its group: whole segments
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

// measure cuts the stretches losslessly and measures each on the grid,
// here or through opt.Pieces, and returns each one's candidates.
func (an *Analysis) measure(ctx context.Context, src string, stretches [][2]float64, opt Options) ([][]Candidate, error) {
	dir, err := os.MkdirTemp("", "pershot-analysis-*")
	if err != nil {
		return nil, fmt.Errorf("pershot: %w", err)
	}
	defer os.RemoveAll(dir)
	progress := func(done int) {
		if opt.Progress != nil {
			opt.Progress(pertitle.Progress{Stage: "analysis", Percent: 100 * float64(done) / float64(len(stretches)+1)})
		}
	}
	cut, err := pertitle.CutPieces(ctx, src, an.Source, stretches, dir, opt.Options)
	if err != nil {
		return nil, err
	}
	an.Metric, an.Warnings = cut.Metric, append(an.Warnings, cut.Warnings...)
	an.addCPU("extract", cut.CPU)
	progress(1)
	results, err := an.runPieces(ctx, cut.Tasks, opt, progress)
	if err != nil {
		return nil, err
	}
	out := make([][]Candidate, len(results))
	for i, r := range results {
		for stage, d := range r.CPU {
			an.addCPU(stage, d)
		}
		if out[i], err = FromPiece(cut.Tasks[i], &r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// runPieces measures the tasks through opt.Pieces, or here one after the
// other (each runs its sizes AnalysisWorkers at a time).
func (an *Analysis) runPieces(ctx context.Context, tasks []pertitle.PieceTask, opt Options, progress func(int)) ([]pertitle.PieceResult, error) {
	done := 1
	if opt.Pieces != nil {
		res, err := opt.Pieces(ctx, tasks, func() { done++; progress(done) })
		if err == nil && len(res) != len(tasks) {
			err = fmt.Errorf("pershot: %d piece results for %d pieces", len(res), len(tasks))
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
		done++
		progress(done)
	}
	return out, nil
}

func (an *Analysis) addCPU(stage string, d time.Duration) {
	if an.CPUByStage == nil {
		an.CPUByStage = map[string]time.Duration{}
	}
	an.CPUByStage[stage] += d
	an.CPUTime += d
}
