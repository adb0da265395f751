package pertitle

import (
	"context"
	"fmt"
	"math"
)

// analysisCRFShift moves the analysis grid down when the final preset is
// slower than the analysis preset: a slower preset reaches a given quality at
// a higher CRF than veryfast (docs/benchmarks.md gives the offsets measured
// from fast to veryslow). Shifted, the
// grid mapped onto the final preset spans about the CRFs asked for, so the
// top of the hull is not cut short and its bottom not pushed past them.
const analysisCRFShift = 2.0

// calibrating reports whether the analysis points need mapping onto the
// final preset: they do whenever the grid is encoded with another preset.
func calibrating(opt Options) bool { return opt.AnalysisPreset != opt.Preset }

// analysisCRFs are the CRFs the grid is encoded at: Options.CRFs, moved down
// by analysisCRFShift when the analysis preset is not the final one.
func analysisCRFs(opt Options) []float64 {
	crfs := append([]float64(nil), opt.CRFs...)
	if calibrating(opt) {
		for i := range crfs {
			crfs[i] = math.Max(1, crfs[i]-analysisCRFShift)
		}
	}
	return crfs
}

// presetMap carries measurements made with the analysis preset over to the
// final preset: at equal quality, the final preset spends ratio times the
// bits at offset more CRF. x264's presets differ in both bits and quality at
// one CRF (slow at a given CRF spends more bits than veryfast for a better
// picture), so matching the two at equal CRF gets both wrong; matched at
// equal quality the relation is close to constant across sizes on most
// titles (docs/benchmarks.md).
type presetMap struct {
	ratio, offset float64
}

// apply gives an analysis cell (its CRF and bits/s) in the final preset's
// terms: the CRF moved by offset (within 0..51, to a hundredth) and the
// bitrate scaled by ratio.
func (m presetMap) apply(crf, bitrate float64) (float64, int64) {
	return math.Round(clampF(crf+m.offset, 0, 51)*100) / 100, int64(math.Round(bitrate * m.ratio))
}

// presetMaps gives every grid size its presetMap: the identity when the grid
// was encoded with the final preset, else calibrateSizes on the middle piece,
// reported in a warning.
func (a *analyzer) presetMaps(ctx context.Context, pieces []*piece, results [][][]gridResult, res *Analysis) ([]presetMap, error) {
	maps := make([]presetMap, len(a.sizes))
	if !calibrating(a.opt) {
		for i := range maps {
			maps[i] = presetMap{ratio: 1}
		}
		return maps, nil
	}
	mid := len(pieces) / 2
	maps, err := a.calibrateSizes(ctx, pieces[mid], mid, results[mid])
	if err != nil {
		return nil, err
	}
	top, bottom := maps[0], maps[len(maps)-1]
	res.Warnings = append(res.Warnings, fmt.Sprintf("analysis preset %s, final preset %s: at equal quality the final preset spends %.3f× the bits at CRF %+.1f at %dx%d and %.3f× at CRF %+.1f at %dx%d (measured; sizes between interpolated); points are given in the final preset's terms",
		a.opt.AnalysisPreset, a.opt.Preset, top.ratio, top.offset, a.sizes[0][0], a.sizes[0][1],
		bottom.ratio, bottom.offset, a.sizes[len(a.sizes)-1][0], a.sizes[len(a.sizes)-1][1]))
	return maps, nil
}

// calJob is one calibration encode: piece pi at grid size si and CRF
// Options.CRFs[ci] with the final preset.
type calJob struct{ pi, si, ci int }

// calibrationEnds are the grid sizes calibrated: the largest and the smallest.
func (a *analyzer) calibrationEnds() []int {
	if len(a.sizes) == 1 {
		return []int{0}
	}
	return []int{0, len(a.sizes) - 1}
}

// calibrationJobs are the calibration encodes of a title analysed from n
// pieces, when the grid is encoded with another preset than the final one:
// the middle piece at each of calibrationEnds and the middle CRF measured
// there. The grid encodes them beside its own and scores them in the same
// scorer run (measure), which saves a run per size (about half a second of
// CPU each, see measureVMAFJoined).
func (a *analyzer) calibrationJobs(n int) []calJob {
	if !calibrating(a.opt) || n == 0 {
		return nil
	}
	a.calibrated = make([]gridResult, len(a.sizes))
	var jobs []calJob
	for _, si := range a.calibrationEnds() {
		idx := a.crfsAt(si)
		jobs = append(jobs, calJob{pi: n / 2, si: si, ci: idx[len(idx)/2]})
	}
	return jobs
}

// calibrateSizes calibrates at the largest and the smallest grid size (in
// parallel) and gives every size a map interpolated between the two in log
// pixels: how much the final preset gains over the analysis preset depends on
// the picture size on some titles (clip 03 in docs/benchmarks.md), and one
// point would make the other end of the grid look too cheap or too dear
// against it.
func (a *analyzer) calibrateSizes(ctx context.Context, p *piece, pi int, measured [][]gridResult) ([]presetMap, error) {
	ends := a.calibrationEnds()
	got := make([]presetMap, len(ends))
	if err := runPool(ctx, a.opt.AnalysisWorkers, len(ends), func(ctx context.Context, i int) error {
		m, err := a.calibrate(ctx, p, pi, ends[i], measured)
		got[i] = m
		a.step()
		return err
	}); err != nil {
		return nil, err
	}
	px := func(si int) float64 { return math.Log(float64(a.sizes[si][0] * a.sizes[si][1])) }
	hi, lo := got[0], got[len(got)-1]
	pxHi, pxLo := px(0), px(len(a.sizes)-1)
	maps := make([]presetMap, len(a.sizes))
	for si := range a.sizes {
		t := 0.0
		if pxHi > pxLo {
			t = clampF((px(si)-pxLo)/(pxHi-pxLo), 0, 1)
		}
		maps[si] = presetMap{
			ratio:  math.Exp(math.Log(lo.ratio) + t*(math.Log(hi.ratio)-math.Log(lo.ratio))),
			offset: lo.offset + t*(hi.offset-lo.offset),
		}
	}
	return maps, nil
}

// calibrate takes the encode of piece p at grid size si and its middle CRF
// with the final preset (measured with the grid, else encoded and scored
// here), and finds on the analysis preset's curve of the
// same piece and size (CRF against quality and log bits, linear between grid
// CRFs) the point of equal quality. ratio is bounded to [0.4, 1.6], offset to
// [-8, 8+analysisCRFShift].
func (a *analyzer) calibrate(ctx context.Context, p *piece, pi, si int, measured [][]gridResult) (presetMap, error) {
	idx := a.crfsAt(si)
	ci := idx[len(idx)/2]
	var final gridResult
	if si < len(a.calibrated) {
		final = a.calibrated[si]
	}
	if final.bits <= 0 {
		got, err := a.encodeAndScore(ctx, p, pi, si, a.opt.Preset, a.opt.CRFs, []int{ci}, "calibrate")
		if err != nil {
			return presetMap{}, fmt.Errorf("pertitle: preset calibration: %w", err)
		}
		final = got[ci]
	}
	var crfs, quality, logBits []float64
	for _, k := range idx {
		g := measured[si][k]
		if g.bits <= 0 || g.secs <= 0 {
			continue
		}
		crfs = append(crfs, a.crfs[k])
		quality = append(quality, g.scores.Value)
		logBits = append(logBits, math.Log(g.bits))
	}
	if final.bits <= 0 || len(crfs) < 2 {
		return presetMap{ratio: 1}, nil
	}
	crf, bits := equalQuality(crfs, quality, logBits, final.scores.Value)
	return presetMap{
		ratio:  clampF(final.bits/math.Exp(bits), 0.4, 1.6),
		offset: clampF(a.opt.CRFs[ci]-crf, -8, 8+analysisCRFShift),
	}, nil
}

// equalQuality finds where quality (falling as CRF rises, crfs ascending)
// reaches q: the CRF and log bits there, linear between neighbouring grid
// points and extrapolated from the end segments by at most one grid step.
func equalQuality(crfs, quality, logBits []float64, q float64) (crf, logB float64) {
	n := len(crfs)
	i := 0
	for i < n-2 && quality[i+1] > q {
		i++
	}
	dq := quality[i+1] - quality[i]
	t := 0.5
	if dq != 0 {
		t = clampF((q-quality[i])/dq, -1, 2)
	}
	return crfs[i] + t*(crfs[i+1]-crfs[i]), logBits[i] + t*(logBits[i+1]-logBits[i])
}
