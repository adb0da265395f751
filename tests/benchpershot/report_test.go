package benchpershot

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/pertitle/pertitle/pkg/pertitle"
)

// Targets of issue 16, checked beside the measurements.
const (
	targetShareOfOptimum = 0.80 // per-shot reaches ≥ 80% of the optimum's gain over the per-title hull
	targetVsPerTitle     = -5.0 // per-shot ≥ 5% better than per-title on multi-scene titles
	targetAnalysis       = 0.30 // analysis CPU ≤ 30% of the final encode's
)

func p(format string, a ...any) { fmt.Printf(format+"\n", a...) }

func pct(b bdr) string {
	if b.Err != nil {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", b.V)
}

func mbps(b int64) string { return fmt.Sprintf("%.2f", float64(b)/1e6) }

// shotLengths summarises the shots: how many, shortest and longest.
func shotLengths(gs []shotGrid) string {
	lo, hi := math.Inf(1), 0.0
	for _, g := range gs {
		lo, hi = math.Min(lo, g.Seconds), math.Max(hi, g.Seconds)
	}
	return fmt.Sprintf("%d (%.0f–%.0f s)", len(gs), lo, hi)
}

func printTitle(r titleResult) {
	line := fmt.Sprintf("# %s: %.1f s, %d cuts, shots %s; optimum vs per-title hull %s (one size per rung %s)",
		r.title.name, r.seconds, len(r.cuts), shotLengths(r.shots), pct(r.optBD), pct(r.fixedBD))
	if m := r.modes; m != nil {
		mm := measureModes(r)
		line += fmt.Sprintf("; per-title vs hull %s, per-shot vs per-title %s, vs hull %s", pct(mm.ptHull), pct(mm.psPT), pct(mm.psHull))
	}
	p("%s", line)
}

// modeMetrics are one title's comparisons of the modes.
type modeMetrics struct {
	ptHull, psHull, psPT, psStatic, ptStatic, hullStatic, optStatic bdr
	share                                                           string
	capStatic, capPT, capPS                                         point
}

func measureModes(r titleResult) modeMetrics {
	m := r.modes
	st, pt, ps := toPoints(m.static.Points), toPoints(m.perTitle.Points), toPoints(m.perShot.Points)
	mm := modeMetrics{ptHull: bd(r.hull, pt), ptStatic: bd(st, pt), hullStatic: bd(st, r.hull), optStatic: bd(st, r.opt),
		capStatic: capped(m.static.Points), capPT: capped(m.perTitle.Points), share: "n/a"}
	if m.perShotErr != nil {
		e := bdr{Err: m.perShotErr}
		mm.psHull, mm.psPT, mm.psStatic = e, e, e
		return mm
	}
	mm.psHull, mm.psPT, mm.psStatic = bd(r.hull, ps), bd(pt, ps), bd(st, ps)
	mm.capPS = capped(m.perShot.Points)
	if mm.psHull.Err == nil && r.optBD.Err == nil && r.optBD.V < 0 {
		mm.share = fmt.Sprintf("%.0f%%", 100*mm.psHull.V/r.optBD.V)
	}
	return mm
}

// capped is the rung a viewer limited to 5 Mbit/s gets: the highest whose
// peak fits, or the lowest.
func capped(ps []point) point {
	best := -1
	for i, x := range ps {
		if x.Peak <= pertitle.DefaultCapBitrate && (best < 0 || x.Bitrate > ps[best].Bitrate) {
			best = i
		}
	}
	if best >= 0 {
		return ps[best]
	}
	if len(ps) == 0 {
		return point{}
	}
	low := ps[0]
	for _, x := range ps {
		if x.Bitrate < low.Bitrate {
			low = x
		}
	}
	return low
}

func share(a, e time.Duration) string {
	if e <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(a)/float64(e))
}

func printTables(rs []titleResult, preset string) {
	p("## pertitle per-shot benchmark (%s, %d cores; titles %dx%d at %d fps; preset %s; VMAF v0.6.1 on %s, upscaled bicubic, frames paired by index; bitrates of the H.264 bitstream)",
		time.Now().UTC().Format("2006-01-02T15:04Z"), runtime.NumCPU(), titleWidth, titleHeight, titleFPS, preset, scoringName())
	p("")
	p("Grid: heights %v × CRF %v, plain CRF without VBV, every shot encoded apart with keyframes every %g s from its start.", gridHeights, gridCRFs, segmentSeconds)
	p("")
	printExhaustiveTable(rs)
	if len(rs) > 0 && rs[0].modes != nil {
		printModesTable(rs)
		printCostTable(rs)
		printTargets(rs)
	}
	printLadders(rs)
}

func printExhaustiveTable(rs []titleResult) {
	p("### Exhaustive: the per-shot optimum against the per-title hull of the same title (BD-rate, VMAF vs log bitrate)")
	p("")
	p("| title | kind | seconds | cuts | shots | grid CPU | per-title hull VMAF range | per-shot optimum vs per-title hull | optimum, one size per rung |")
	p("|---|---|---:|---:|---|---:|---|---:|---:|")
	for _, r := range rs {
		lo, hi := r.hull[0], r.hull[len(r.hull)-1]
		p("| %s | %s | %.1f | %d | %s | %s | %.1f–%.1f | %s | %s |", r.title.name, r.title.kind, r.seconds, len(r.cuts), shotLengths(r.shots),
			r.gridCPU.Round(time.Second), lo.Quality, hi.Quality, pct(r.optBD), pct(r.fixedBD))
	}
	p("")
}

func printModesTable(rs []titleResult) {
	p("### The modes on the whole title (BD-rate, VMAF vs log bitrate; negative = fewer bits for the same VMAF)")
	p("")
	p("| title | per-shot vs per-title | per-shot vs per-title hull | share of the optimum's gain | per-title vs hull | per-shot vs static | per-title vs static | hull vs static | optimum vs static | per-shot: shots (measured), its own prediction vs per-title |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rs {
		if r.modes == nil {
			continue
		}
		mm := measureModes(r)
		ps := r.modes.perShot
		pred := fmt.Sprintf("%d (%d), %+.1f%%", ps.Shots, ps.Samples, ps.Predicted)
		if ps.PredictedErr != "" {
			pred = fmt.Sprintf("%d (%d), n/a (%s)", ps.Shots, ps.Samples, ps.PredictedErr)
		}
		if r.modes.perShotErr != nil {
			pred = "failed: " + r.modes.perShotErr.Error()
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", r.title.name, pct(mm.psPT), pct(mm.psHull), mm.share, pct(mm.ptHull),
			pct(mm.psStatic), pct(mm.ptStatic), pct(mm.hullStatic), pct(mm.optStatic), pred)
	}
	p("")
}

func capCell(x point) string {
	if x.W == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%dx%d %s %.1f", x.W, x.H, mbps(x.Bitrate), x.VMAF)
}

func printCostTable(rs []titleResult) {
	p("### Cost, the 5 Mbit/s viewer (size, bitstream Mb/s, VMAF) and storage (ladder bitstream MB)")
	p("")
	p("| title | analysis / encode CPU, per-title | per-shot | 5 Mb/s viewer: static | per-title | per-shot | storage MB: static | per-title | per-shot |")
	p("|---|---:|---:|---|---|---|---:|---:|---:|")
	for _, r := range rs {
		m := r.modes
		if m == nil {
			continue
		}
		mm := measureModes(r)
		ps, psBytes := "n/a", "n/a"
		if m.perShotErr == nil {
			ps, psBytes = share(m.perShot.AnalysisCPU, m.perShot.EncodeCPU), fmt.Sprintf("%.1f", float64(m.perShot.bytes(r.seconds))/1e6)
		}
		p("| %s | %s | %s | %s | %s | %s | %.1f | %.1f | %s |", r.title.name, share(m.perTitle.AnalysisCPU, m.perTitle.EncodeCPU), ps,
			capCell(mm.capStatic), capCell(mm.capPT), capCell(mm.capPS),
			float64(m.static.bytes(r.seconds))/1e6, float64(m.perTitle.bytes(r.seconds))/1e6, psBytes)
	}
	p("")
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// printTargets checks issue 16's targets title by title.
func printTargets(rs []titleResult) {
	p("### Targets (issue 16)")
	p("")
	p("| title | target | result | met? |")
	p("|---|---|---|---|")
	for _, r := range rs {
		m := r.modes
		if m == nil {
			continue
		}
		mm := measureModes(r)
		if r.title.kind == "single scene" {
			p("| %s | per-shot never worse than per-title | %s | %s |", r.title.name, pct(mm.psPT), yes(mm.psPT.Err == nil && mm.psPT.V <= 0))
		} else {
			p("| %s | per-shot ≥ %.0f%% better than per-title | %s | %s |", r.title.name, -targetVsPerTitle, pct(mm.psPT), yes(mm.psPT.Err == nil && mm.psPT.V <= targetVsPerTitle))
			ok := mm.psHull.Err == nil && r.optBD.Err == nil && r.optBD.V < 0 && mm.psHull.V/r.optBD.V >= targetShareOfOptimum
			p("| %s | ≥ %.0f%% of the optimum's gain over the per-title hull | %s of %s: %s | %s |", r.title.name, 100*targetShareOfOptimum, pct(mm.psHull), pct(r.optBD), mm.share, yes(ok))
		}
		if m.perShotErr == nil && m.perShot.EncodeCPU > 0 {
			s := float64(m.perShot.AnalysisCPU) / float64(m.perShot.EncodeCPU)
			p("| %s | per-shot analysis CPU ≤ %.0f%% of the final encode | %.0f%% | %s |", r.title.name, 100*targetAnalysis, 100*s, yes(s <= targetAnalysis))
		}
	}
	p("")
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

func hullCells(hs []pertitle.Point) string {
	var cells []string
	for _, h := range hs {
		c := fmt.Sprintf("%dx%d %s %.1f", h.Width, h.Height, mbps(h.Bitrate), h.Quality)
		if h.CRF > 0 {
			c = fmt.Sprintf("%dx%d crf %g %s %.1f", h.Width, h.Height, h.CRF, mbps(h.Bitrate), h.Quality)
		}
		cells = append(cells, c)
	}
	return strings.Join(cells, " · ")
}

func printLadders(rs []titleResult) {
	p("### Curves and ladders (size, bitstream Mb/s, VMAF)")
	p("")
	for _, r := range rs {
		var shots []string
		for _, g := range r.shots {
			shots = append(shots, fmt.Sprintf("%.0f+%.0f", float64(g.First)/titleFPS, g.Seconds))
		}
		p("- %s shots (start+seconds): %s", r.title.name, strings.Join(shots, ", "))
		p("- %s per-title hull: %s", r.title.name, hullCells(r.hull))
		p("- %s per-shot optimum (main size): %s", r.title.name, hullCells(r.opt))
		if m := r.modes; m != nil {
			p("- %s static (two-pass): %s", r.title.name, ladderCells(m.static.Points))
			p("- %s per-title: %s", r.title.name, ladderCells(m.perTitle.Points))
			if m.perShotErr == nil {
				p("- %s per-shot: %s", r.title.name, ladderCells(m.perShot.Points))
			}
		}
	}
}
