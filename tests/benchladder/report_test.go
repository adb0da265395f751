package benchladder

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/pertitle/pertitle/pkg/pertitle"
)

// Targets of issue 11, checked beside the measurements.
const (
	targetHullMean     = 2.0  // per-title within +2% BD-rate of the hull on average
	targetHullWorst    = 4.0  // and within +4% on every title
	targetShare        = 0.80 // at least 80% of the hull's saving over two-pass static, on average
	targetWorstStatic  = 1.0  // never worse than two-pass static by more than 1%
	targetAnalysis     = 0.25 // analysis CPU ≤ 25% of the final encode's at every preset
	targetAnalysisSlow = 0.15 // and ≤ 15% at slow
)

// metrics is what one title's numbers come to at the first preset.
type metrics struct {
	passes, vsHull, hullSave, save         float64 // BD-rates in percent
	passesErr, vsHullErr, hullErr, saveErr error
	capStatic, capFast                     point
	shares                                 map[string]float64
}

// capped is the rung a viewer limited to 5 Mbit/s gets: the highest whose
// peak fits, or the lowest.
func capped(ps []point) point {
	best := -1
	for i, p := range ps {
		if p.Peak <= pertitle.DefaultCapBitrate && (best < 0 || p.Bitrate > ps[best].Bitrate) {
			best = i
		}
	}
	if best >= 0 {
		return ps[best]
	}
	low := ps[0]
	for _, p := range ps {
		if p.Bitrate < low.Bitrate {
			low = p
		}
	}
	return low
}

func measure(r titleResult, presets []string) metrics {
	fast := toPoints(r.runs[presets[0]].points)
	m := metrics{shares: map[string]float64{}}
	m.passes, m.passesErr = pertitle.BDRate(toPoints(r.static1), toPoints(r.static2))
	m.vsHull, m.vsHullErr = pertitle.BDRate(r.hull, fast)
	m.hullSave, m.hullErr = pertitle.BDRate(toPoints(r.static2), r.hull)
	m.save, m.saveErr = pertitle.BDRate(toPoints(r.static2), fast)
	m.capStatic, m.capFast = capped(r.static2), capped(r.runs[presets[0]].points)
	for _, p := range presets {
		run := r.runs[p]
		if run.encodeCPU > 0 {
			m.shares[p] = float64(run.analysisCPU) / float64(run.encodeCPU)
		}
	}
	return m
}

// capOK is the capped viewer's guarantee: at least static's VMAF minus one
// point, or 94 where static is above 95.
func capOK(static, fast point) bool {
	if static.VMAF > 95 {
		return fast.VMAF >= 94
	}
	return fast.VMAF >= static.VMAF-1
}

func pct(v float64, err error) string {
	if err != nil {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", v)
}

func mbps(b int64) string { return fmt.Sprintf("%.2f", float64(b)/1e6) }

func printTitle(r titleResult, presets []string) {
	m := measure(r, presets)
	fmt.Printf("# %s (%s): vs hull %s, hull vs static %s, per-title vs static %s, two-pass vs one-pass static %s, shares %v\n",
		r.clip.name, r.clip.set, pct(m.vsHull, m.vsHullErr), pct(m.hullSave, m.hullErr), pct(m.save, m.saveErr), pct(m.passes, m.passesErr), m.shares)
}

func printTables(rs []titleResult, presets []string) {
	p := func(format string, a ...any) { fmt.Printf(format+"\n", a...) }
	p("## pertitle ladder benchmark (%s, %d cores; first %d s of each clip; VMAF v0.6.1 on %s, upscaled bicubic to the source, frames paired by index; bitrates of the H.264 bitstream)",
		time.Now().UTC().Format("2006-01-02T15:04Z"), runtime.NumCPU(), clipSeconds, scoringName())
	p("")
	p("Quality at the `%s` final preset; the hull is plain CRF without VBV at that preset; static is Apple's ladder, two-pass, VBV max rate 1.5× and buffer 2× each rung's bitrate.", presets[0])
	p("")
	p("### Static baselines: two-pass against one-pass (BD-rate, negative = two-pass needs fewer bits)")
	p("")
	p("| title | set | two-pass vs one-pass |")
	p("|---|---|---:|")
	ms := make([]metrics, len(rs))
	for i, r := range rs {
		ms[i] = measure(r, presets)
		p("| %s | %s | %s |", r.clip.name, r.clip.set, pct(ms[i].passes, ms[i].passesErr))
	}
	p("")
	p("### Per-title (fast) against the hull and the two-pass static ladder")
	p("")
	head := "| title | set | per-title vs hull | hull vs static | per-title vs static | share of the hull's saving | 5 Mb/s viewer: static Mb/s, VMAF | per-title Mb/s, VMAF |"
	sep := "|---|---|---:|---:|---:|---:|---|---|"
	for _, pr := range presets {
		head += " analysis / encode CPU at " + pr + " |"
		sep += "---:|"
	}
	p(head)
	p(sep)
	for i, r := range rs {
		m := ms[i]
		share := "n/a"
		if m.saveErr == nil && m.hullErr == nil && m.hullSave < 0 {
			share = fmt.Sprintf("%.0f%%", 100*m.save/m.hullSave)
		}
		flag := ""
		if !capOK(m.capStatic, m.capFast) {
			flag = " ✗"
		}
		row := fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s %dx%d %.1f | %s %dx%d %.1f%s |", r.clip.name, r.clip.set,
			pct(m.vsHull, m.vsHullErr), pct(m.hullSave, m.hullErr), pct(m.save, m.saveErr), share,
			mbps(m.capStatic.Bitrate), m.capStatic.W, m.capStatic.H, m.capStatic.VMAF,
			mbps(m.capFast.Bitrate), m.capFast.W, m.capFast.H, m.capFast.VMAF, flag)
		for _, pr := range presets {
			row += fmt.Sprintf(" %.0f%% |", 100*m.shares[pr])
		}
		p("%s", row)
	}
	p("")
	printStages(rs, presets)
	for _, set := range []string{"tuning", "tuning (long)", "holdout"} {
		printTargets(set, rs, ms, presets)
	}
	p("### Ladders (top first: size, bitstream Mb/s, VMAF)")
	p("")
	for _, r := range rs {
		p("- %s static (two-pass): %s", r.clip.name, ladderCells(r.static2))
		p("- %s static (one-pass): %s", r.clip.name, ladderCells(r.static1))
		p("- %s per-title: %s", r.clip.name, ladderCells(r.runs[presets[0]].points))
		var hull []string
		for _, h := range r.hull {
			hull = append(hull, fmt.Sprintf("%dx%d crf %g %s %.1f", h.Width, h.Height, h.CRF, mbps(h.Bitrate), h.Quality))
		}
		p("- %s hull: %s", r.clip.name, strings.Join(hull, " · "))
	}
}

func ladderCells(ps []point) string {
	var cells []string
	for _, x := range ps {
		c := fmt.Sprintf("%dx%d %s %.1f", x.W, x.H, mbps(x.Bitrate), x.VMAF)
		if x.CRF > 0 {
			c = fmt.Sprintf("%dx%d crf %g %s %.1f", x.W, x.H, x.CRF, mbps(x.Bitrate), x.VMAF)
		}
		cells = append(cells, c)
	}
	return strings.Join(cells, " · ")
}

// printTargets checks one set's titles against issue 11's targets.
func printTargets(set string, rs []titleResult, ms []metrics, presets []string) {
	var vsHull, saves, hullSaves []float64
	worstHull, worstStatic := math.Inf(-1), math.Inf(-1)
	capFails, n := 0, 0
	shareMax := map[string]float64{}
	for i, r := range rs {
		if r.clip.set != set {
			continue
		}
		n++
		m := ms[i]
		if m.vsHullErr == nil {
			vsHull = append(vsHull, m.vsHull)
			worstHull = math.Max(worstHull, m.vsHull)
		}
		if m.saveErr == nil && m.hullErr == nil {
			saves, hullSaves = append(saves, m.save), append(hullSaves, m.hullSave)
			worstStatic = math.Max(worstStatic, m.save)
		}
		if !capOK(m.capStatic, m.capFast) {
			capFails++
		}
		for pr, v := range m.shares {
			shareMax[pr] = math.Max(shareMax[pr], v)
		}
	}
	if n == 0 {
		return
	}
	p := func(format string, a ...any) { fmt.Printf(format+"\n", a...) }
	share := mean(saves) / mean(hullSaves)
	p("### Targets: %s set (%d titles)", set, n)
	p("")
	p("| target | result | met? |")
	p("|---|---|---|")
	p("| per-title within +%.0f%% of the hull on average | %+.1f%% | %s |", targetHullMean, mean(vsHull), yes(mean(vsHull) <= targetHullMean))
	p("| within +%.0f%% on every title | worst %+.1f%% | %s |", targetHullWorst, worstHull, yes(worstHull <= targetHullWorst))
	p("| ≥ %.0f%% of the hull's saving over two-pass static, on average | per-title %+.1f%%, hull %+.1f%%: %.0f%% | %s |", 100*targetShare, mean(saves), mean(hullSaves), 100*share, yes(share >= targetShare))
	p("| never worse than two-pass static by more than %.0f%% | worst %+.1f%% | %s |", targetWorstStatic, worstStatic, yes(worstStatic <= targetWorstStatic))
	p("| the 5 Mbit/s viewer: static's VMAF − 1 (≥ 94 where static > 95) | %d of %d titles miss | %s |", capFails, n, yes(capFails == 0))
	for _, pr := range presets {
		lim := targetAnalysis
		if pr == "slow" {
			lim = targetAnalysisSlow
		}
		p("| analysis CPU ≤ %.0f%% of the final encode at %s, every title | worst %.0f%% | %s |", 100*lim, pr, 100*shareMax[pr], yes(shareMax[pr] <= lim))
	}
	p("")
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// analysisStages are the stages of Analysis.CPUByStage, in the order they run.
var analysisStages = []string{"profile", "extract", "encode", "score", "calibrate"}

// printStages splits every run's analysis CPU by stage, in seconds, beside
// the final encode's CPU: where the analysis's cost goes.
func printStages(rs []titleResult, presets []string) {
	p := func(format string, a ...any) { fmt.Printf(format+"\n", a...) }
	p("### Analysis CPU by stage (user+system seconds) against the final encode's")
	p("")
	p("| title | preset | %s | analysis | final encode | share |", strings.Join(analysisStages, " | "))
	p("|---|---|%s---:|---:|---:|", strings.Repeat("---:|", len(analysisStages)))
	for _, r := range rs {
		for _, pr := range presets {
			run := r.runs[pr]
			row := fmt.Sprintf("| %s | %s |", r.clip.name, pr)
			for _, st := range analysisStages {
				row += fmt.Sprintf(" %.1f |", run.stages[st].Seconds())
			}
			share := 0.0
			if run.encodeCPU > 0 {
				share = 100 * run.analysisCPU.Seconds() / run.encodeCPU.Seconds()
			}
			p("%s %.1f | %.1f | %.0f%% |", row, run.analysisCPU.Seconds(), run.encodeCPU.Seconds(), share)
		}
	}
	p("")
}
