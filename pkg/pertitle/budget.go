package pertitle

import (
	"math"
)

// The analysis's CPU budget (issue 11): at most 25% of the final encode's
// CPU at every preset, and 15% at slow and slower presets. How many pieces a
// title affords follows by construction from a cost model of both, in units
// of what a veryfast x264 encode (-threads 1) spends on one pixel. The
// constants were measured on a 2 s piece of a 720p title on this project's
// 2-core machine (docs/benchmarks.md, "Issue 11, third round"); only their
// ratios matter, since the analysis and the final encode run on one machine.
const (
	budgetShare     = 0.25
	budgetShareSlow = 0.15
	// vmafPixelCost: libvmaf 1.x per scored pixel (a half-megapixel
	// window).
	vmafPixelCost = 4.2
	// vmafRunCost and vmafRunPixelCost: one libvmaf run before its first
	// frame, a fixed part and a part per pixel of the window (0.28 s of CPU
	// on a 320x180 window, 0.66 s on 1280x404).
	vmafRunCost      = 12e6
	vmafRunPixelCost = 25
	// processCost: starting one ffmpeg; Debian's links about a hundred
	// libraries and spends 0.2 s of CPU before it reads anything.
	processCost = 10e6
	// decodePixelCost: decoding the source, per pixel (a lossless
	// mezzanine in the benchmark): the final encode does it once over the
	// whole title, and so does the profile pass (profileTitle, whose tiny
	// encode costs little more); 1.9 s of CPU on a 10 s 720p title.
	decodePixelCost = 0.5
	// extractPixelCost: extracting a piece, per source pixel: a decode
	// (after a seek) and the raw piece written out.
	extractPixelCost = 1.0
)

// presetCost is x264's CPU per pixel at each preset relative to veryfast
// (one 720p encode of a 2 s piece, -threads 1, the start-up subtracted).
// Unknown presets cost as veryfast.
var presetCost = map[string]float64{
	"ultrafast": 0.27, "superfast": 0.68, "veryfast": 1, "faster": 1.4, "fast": 2.1,
	"medium": 2.7, "slow": 3.8, "slower": 7.2, "veryslow": 14.8,
}

func costOf(preset string) float64 {
	if c, ok := presetCost[preset]; ok {
		return c
	}
	return 1
}

// analysisBudget is the analysis's share of the final encode's CPU that
// opt allows: Options.AnalysisBudget, else by the final preset.
func analysisBudget(opt Options) float64 {
	if opt.AnalysisBudget > 0 {
		return opt.AnalysisBudget
	}
	if costOf(opt.Preset) >= presetCost["slow"] {
		return budgetShareSlow
	}
	return budgetShare
}

// costModel estimates, in veryfast pixel units, what the analysis of a
// title and its final encode cost.
type costModel struct {
	fps      float64
	sourcePx float64 // display pixels of the source
	// gridPx sums the pixels of every grid encode of one piece (each size's
	// pixels times the CRFs encoded there), sizes is how many sizes and
	// points how many encodes.
	gridPx        float64
	sizes, points int
	calibPx       float64 // pixels of the calibration encodes, once per title (0: none)
	windowPx      float64 // pixels VMAF scores per frame
	ladderPx      float64 // pixels of every rung the final encode makes
	analysis      float64 // presetCost of the analysis preset
	final         float64 // and of the final one
	budget        float64 // analysisBudget
}

// newCostModel is the model of a's analysis: the grid as crfsAt staggers it,
// the final ladder estimated from the static ladder's sizes for the source
// (a per-title ladder has as many rungs or more, so the estimate is low and
// the budget cautious).
func newCostModel(a *analyzer) costModel {
	dw, dh := a.src.DisplaySize()
	w := vmafWindow(dw, dh, analysisVMAFPixels)
	m := costModel{fps: a.fps, sourcePx: float64(dw * dh), sizes: len(a.sizes), windowPx: float64(w[0] * w[1]),
		analysis: costOf(a.opt.AnalysisPreset), final: costOf(a.opt.Preset), budget: analysisBudget(a.opt)}
	for si, sz := range a.sizes {
		n := len(a.crfsAt(si))
		m.points += n
		m.gridPx += float64(n * sz[0] * sz[1])
	}
	if calibrating(a.opt) {
		for _, si := range a.calibrationEnds() {
			m.calibPx += float64(a.sizes[si][0] * a.sizes[si][1])
		}
	}
	for _, r := range AppleLadder(dw, dh) {
		m.ladderPx += float64(r.Width * r.Height)
	}
	return m
}

// finalCost is the final encode of a title of duration seconds: its decode
// and the ladder's encodes.
func (m costModel) finalCost(duration float64) float64 {
	return duration*m.fps*(m.ladderPx*m.final+m.sourcePx*decodePixelCost) + processCost
}

// pieceCost is the analysis of one piece of length seconds: its
// extraction, the grid's encodes (one ffmpeg per size) and one scorer run of
// analysisVMAFPairs pairs per encode.
func (m costModel) pieceCost(length float64) float64 {
	frames := length * m.fps
	scored := math.Min(frames, 2*analysisVMAFPairs)
	return frames*(m.sourcePx*extractPixelCost+m.gridPx*m.analysis) + float64(m.sizes+1)*processCost +
		vmafRunCost + vmafRunPixelCost*m.windowPx + float64(m.points)*scored*m.windowPx*vmafPixelCost
}

// onceCost is what the analysis of a title of duration seconds spends once,
// whatever its pieces: the calibration encodes (pieces of length seconds)
// and, on titles over minSceneTitle, the profile pass.
func (m costModel) onceCost(duration, length float64) float64 {
	frames := length * m.fps
	scored := math.Min(frames, 2*analysisVMAFPairs)
	once := 0.0
	if m.calibPx > 0 {
		once += frames*m.calibPx*m.final + 2*processCost + 2*scored*m.windowPx*vmafPixelCost
	}
	if duration > minSceneTitle {
		once += duration*m.fps*m.sourcePx*decodePixelCost + processCost
	}
	return once
}

// share is the analysis's predicted share of the final encode's CPU with n
// pieces of length seconds.
func (m costModel) share(duration float64, n int, length float64) float64 {
	return (float64(n)*m.pieceCost(length) + m.onceCost(duration, length)) / m.finalCost(duration)
}

// affordable is how many pieces of length seconds, from 1 to count, the
// budget affords on a title of duration seconds: the most whose predicted
// share stays within it. When even one piece does not, the pieces get the
// budget to themselves: on a short title that is one piece (every piece is
// a whole GOP on the whole grid, and a title that short cannot be analysed
// for less without losing the ladder's quality); on a long title of a small
// picture at a fast preset, where the profile pass alone (a decode of the
// whole title, as the final encode's) costs about a quarter of the final
// encode, the title still gets pieces in proportion to its length rather
// than one piece for two hours.
func (m costModel) affordable(duration float64, count int, length float64) int {
	spend := func(n int) float64 { return m.share(duration, n, length) }
	if spend(1) > m.budget {
		spend = func(n int) float64 { return float64(n) * m.pieceCost(length) / m.finalCost(duration) }
	}
	n := 1
	for n < count && spend(n+1) <= m.budget {
		n++
	}
	return n
}
