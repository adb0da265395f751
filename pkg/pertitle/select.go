package pertitle

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Defaults of ladder selection, used when the matching Constraints field is zero.
const (
	DefaultMinStep       = 1.5
	DefaultMaxStep       = 2.0
	DefaultMaxRenditions = 6
	// DefaultFloorVMAF is the VMAF below which a bottom rung is not worth
	// watching: the bottom stops where the hull reaches it, and the rungs go
	// where viewers are (above the static ladder's lowest rung on the
	// benchmark's clips, docs/benchmarks.md).
	DefaultFloorVMAF = 40.0
)

// Selection errors, wrapped with the details.
var (
	ErrEmptyHull          = errors.New("no usable hull point")
	ErrInvalidConstraints = errors.New("invalid ladder constraints")
)

// DefaultTargetQuality is the quality above which extra bits are wasted, per
// metric: VMAF 95 (the ~1 JND band under 100), SSIM 0.9975 on ffmpeg's 0–1
// scale (the "All" value of the ssim filter, not dB; VMAF ≈ 95 on the stillest
// benchmark clip, above 95 on the others: see docs/benchmarks.md, and the
// engine lowers it per title to the static ladder's top quality), PSNR 45 dB.
func DefaultTargetQuality(m Metric) float64 {
	switch m {
	case MetricSSIM:
		return 0.9975
	case MetricPSNR:
		return 45
	default:
		return 95
	}
}

// SelectLadder chooses the rungs of the ladder on the hull (UpperHull's output;
// it is re-sanitised, so any point set works) under c.
//
// The top rung sits where the hull reaches the target quality (or at its top
// when it never does), capped by MaxBitrate; the bottom at the hull's lowest
// point, or (VMAF) where the hull reaches DefaultFloorVMAF, raised to
// MinBitrate. Between those and any fixed rungs, rungs are spaced
// geometrically with the step closest to √(MinStep·MaxStep) (≈1.7 with the
// defaults: denser than doubling, where the ladder is judged) that keeps every step within
// [MinStep, MaxStep]; when MaxRenditions does not allow that, steps widen up to
// MaxStep first, then the lowest free rungs are dropped.
//
// Each rung takes, among the resolutions whose own measured curve (the upper
// hull of that resolution's points) spans its bitrate, the one that predicts
// the highest quality there; the overall hull only says which sizes win at
// its points, and between two of them the rung's bitrate may be outside what
// one of them was measured at. When no resolution spans the bitrate, the
// hull's resolution there is used. Resolutions are then lowered where needed
// so that no rung has a larger picture than a rung above it and no rung
// exceeds the source. Quality is interpolated linearly in bitrate along the
// chosen resolution's curve (it is concave in linear bitrate); CRF linearly
// in log(bitrate) between that resolution's points (x264's CRF is close to
// linear in log bitrate: +6 CRF ≈ half the bits), which extrapolates beyond
// them only where no measured resolution covers the rung. So any point set
// works as input, and the full set of measured points gives the best
// choices. ComplexityFactor multiplies the bitrates chosen on the hull; CRF
// and predicted quality are then read at the scaled bitrate. Fixed rungs with
// a bitrate are used as given.
func SelectLadder(hull []Point, c Constraints) (Ladder, error) {
	c, metric, err := normalize(hull, c)
	if err != nil {
		return Ladder{Metric: metric}, err
	}
	s := &selector{c: c, metric: metric, target: c.TargetQuality}
	s.prepare(hull)
	if len(s.hull) == 0 {
		return Ladder{Metric: metric}, fmt.Errorf("cannot select a ladder: %w (%d points given, none with a positive bitrate, a finite quality and within the source size)", ErrEmptyHull, len(hull))
	}
	if err := s.place(); err != nil {
		return Ladder{Metric: metric, Notes: s.notes}, err
	}
	s.assignResolutions()
	return s.build(), nil
}

// normalize fills defaults and rejects contradictory constraints.
func normalize(hull []Point, c Constraints) (Constraints, Metric, error) {
	metric := MetricVMAF
	for _, p := range hull {
		if p.Metric != "" {
			metric = p.Metric
			break
		}
	}
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConstraints}, a...)...))
	}
	if c.MinBitrate < 0 || c.MaxBitrate < 0 {
		bad("negative bitrate bound (min %d, max %d)", c.MinBitrate, c.MaxBitrate)
	}
	if c.MinBitrate > 0 && c.MaxBitrate > 0 && c.MinBitrate > c.MaxBitrate {
		bad("min bitrate %s above max bitrate %s", fmtRate(float64(c.MinBitrate)), fmtRate(float64(c.MaxBitrate)))
	}
	if c.MinStep == 0 {
		c.MinStep = DefaultMinStep
	}
	if c.MaxStep == 0 {
		c.MaxStep = math.Max(DefaultMaxStep, c.MinStep)
	}
	if c.MinStep <= 1 || math.IsNaN(c.MinStep) {
		bad("min step %g must be above 1 (bitrates strictly decrease)", c.MinStep)
	}
	if c.MaxStep < c.MinStep || math.IsNaN(c.MaxStep) {
		bad("max step %g below min step %g", c.MaxStep, c.MinStep)
	}
	if c.MaxRenditions < 0 {
		bad("max renditions %d is negative", c.MaxRenditions)
	}
	if c.MaxRenditions == 0 {
		c.MaxRenditions = DefaultMaxRenditions
	}
	if c.ComplexityFactor < 0 || math.IsNaN(c.ComplexityFactor) || math.IsInf(c.ComplexityFactor, 0) {
		bad("complexity factor %g must be positive", c.ComplexityFactor)
	}
	if c.ComplexityFactor == 0 {
		c.ComplexityFactor = 1
	}
	if c.TargetQuality < 0 || math.IsNaN(c.TargetQuality) {
		bad("target quality %g is negative", c.TargetQuality)
	}
	if c.TargetQuality == 0 {
		c.TargetQuality = DefaultTargetQuality(metric)
	}
	if len(c.FixedRungs) > c.MaxRenditions {
		bad("%d fixed rungs exceed max renditions %d", len(c.FixedRungs), c.MaxRenditions)
	}
	var withRate []FixedRung
	for _, f := range c.FixedRungs {
		switch {
		case f.Width <= 0 || f.Height <= 0:
			bad("fixed rung %dx%d has no size", f.Width, f.Height)
		case !fitsSource(f.Width, f.Height, c.SourceWidth, c.SourceHeight):
			bad("fixed rung %dx%d is larger than the source %dx%d (no upscaling)", f.Width, f.Height, c.SourceWidth, c.SourceHeight)
		case f.Bitrate < 0:
			bad("fixed rung %dx%d has a negative bitrate", f.Width, f.Height)
		case f.Bitrate > 0 && c.MaxBitrate > 0 && f.Bitrate > c.MaxBitrate:
			bad("fixed rung %dx%d at %s is above max bitrate %s", f.Width, f.Height, fmtRate(float64(f.Bitrate)), fmtRate(float64(c.MaxBitrate)))
		case f.Bitrate > 0 && f.Bitrate < c.MinBitrate:
			bad("fixed rung %dx%d at %s is below min bitrate %s", f.Width, f.Height, fmtRate(float64(f.Bitrate)), fmtRate(float64(c.MinBitrate)))
		case f.Bitrate > 0:
			withRate = append(withRate, f)
		}
	}
	sort.Slice(withRate, func(i, j int) bool { return withRate[i].Bitrate > withRate[j].Bitrate })
	for i := 1; i < len(withRate); i++ {
		hi, lo := withRate[i-1], withRate[i]
		if hi.Bitrate == lo.Bitrate {
			bad("two fixed rungs at %s", fmtRate(float64(hi.Bitrate)))
		} else if largerThan(picSize{lo.Width, lo.Height}, picSize{hi.Width, hi.Height}) {
			bad("fixed rung %dx%d at %s is larger than fixed rung %dx%d at %s above it", lo.Width, lo.Height, fmtRate(float64(lo.Bitrate)), hi.Width, hi.Height, fmtRate(float64(hi.Bitrate)))
		}
	}
	return c, metric, errors.Join(errs...)
}

// picSize is a picture size.
type picSize struct{ w, h int }

func (r picSize) String() string { return fmt.Sprintf("%dx%d", r.w, r.h) }
func (r picSize) pixels() int    { return r.w * r.h }

// largerThan reports whether a does not fit inside b.
func largerThan(a, b picSize) bool { return a.w > b.w || a.h > b.h }

// fitsSource reports whether w×h fits in the source (an unknown source fits all).
func fitsSource(w, h, srcW, srcH int) bool {
	return (srcW <= 0 || w <= srcW) && (srcH <= 0 || h <= srcH)
}

type slotKind int

const (
	slotTop slotKind = iota
	slotBottom
	slotStep
	slotFixed
)

// slot is one rung while the ladder is being built; b is its final bitrate.
type slot struct {
	b     float64
	kind  slotKind
	fixed *FixedRung
	r     picSize
	why   string
	// lowered is set when the best resolution was replaced to keep the
	// ladder's resolutions monotone; beyond when no measured resolution spans
	// the rung's bitrate (the hull's resolution is extrapolated).
	lowered, beyond bool
}

type selector struct {
	c      Constraints
	metric Metric
	target float64
	hull   []Point
	curves map[picSize][]Point // the hull's points per resolution, bitrate ascending
	// own is each measured resolution's own upper hull, bitrate ascending.
	own   map[picSize][]Point
	sizes []picSize // sizes available: the measured ones and the fixed rungs', by pixels
	slots []slot    // top first
	notes []string
}

func (s *selector) note(format string, a ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, a...))
}

func (s *selector) prepare(hull []Point) {
	var in []Point
	dropped := 0
	for _, p := range hull {
		if !fitsSource(p.Width, p.Height, s.c.SourceWidth, s.c.SourceHeight) {
			dropped++
			continue
		}
		in = append(in, p)
	}
	if dropped > 0 {
		s.note("%d hull points larger than the source %dx%d ignored (no upscaling)", dropped, s.c.SourceWidth, s.c.SourceHeight)
	}
	s.hull = UpperHull(in)
	s.curves = map[picSize][]Point{}
	for _, p := range s.hull {
		r := picSize{p.Width, p.Height}
		s.curves[r] = append(s.curves[r], p)
	}
	bySize := map[picSize][]Point{}
	for _, p := range in {
		r := picSize{p.Width, p.Height}
		bySize[r] = append(bySize[r], p)
	}
	s.own = map[picSize][]Point{}
	for r, ps := range bySize {
		if h := UpperHull(ps); len(h) > 0 {
			s.own[r] = h
		}
	}
	seen := map[picSize]bool{}
	for r := range s.own {
		seen[r] = true
		s.sizes = append(s.sizes, r)
	}
	for _, f := range s.c.FixedRungs {
		if r := (picSize{f.Width, f.Height}); !seen[r] {
			seen[r] = true
			s.sizes = append(s.sizes, r)
		}
	}
	sort.Slice(s.sizes, func(i, j int) bool {
		if s.sizes[i].pixels() != s.sizes[j].pixels() {
			return s.sizes[i].pixels() < s.sizes[j].pixels()
		}
		return s.sizes[i].h < s.sizes[j].h
	})
}

// place decides the bitrates of every rung: the ends of the usable range,
// the anchors (fixed rungs and the free ends), the rungs between anchors,
// and the rounding of them all.
func (s *selector) place() error {
	top, bottom := s.ends()
	anchors, err := s.anchors(top, bottom)
	if err != nil {
		return err
	}
	s.fillGaps(anchors)
	s.roundSlots()
	return nil
}

// ends are the free top and bottom rungs: the hull's range (the top stops
// where the hull reaches the target quality), scaled by the complexity
// factor and held within the min and max bitrates.
func (s *selector) ends() (top, bottom slot) {
	c, cf := s.c, s.c.ComplexityFactor
	lo, hi := s.hull[0], s.hull[len(s.hull)-1]
	top = slot{b: float64(hi.Bitrate), kind: slotTop, why: fmt.Sprintf("top: end of the hull (%s %.4g, below the target %.4g)", s.metric, hi.Quality, s.target)}
	bottom = slot{b: float64(lo.Bitrate), kind: slotBottom, why: "bottom: lowest point of the hull"}
	if b, ok := hullBitrateAt(s.hull, s.target); ok {
		top.b = b
		top.why = fmt.Sprintf("top: the hull reaches the target %s %.4g here; more bits would be wasted", s.metric, s.target)
		if b < float64(hi.Bitrate) {
			s.note("target quality %s %.4g reached at %s: the top rung stops there (the hull goes on to %s)", s.metric, s.target, fmtRate(b), fmtRate(float64(hi.Bitrate)))
		}
	} else {
		s.note("the hull tops out at %s %.4g (%s), below the target %.4g", s.metric, hi.Quality, fmtRate(float64(hi.Bitrate)), s.target)
		if b, ok := s.beyondHull(); ok {
			s.note("the top rung goes on to %s, where the hull's last slope reaches the target (within one doubling past the grid)", fmtRate(b))
			top.b, top.why = b, fmt.Sprintf("top: past the measured grid (it ends at %s %.4g), towards the target %.4g", s.metric, hi.Quality, s.target)
		}
	}
	if b, ok := s.floorBitrate(); ok && b < top.b {
		bottom.b = b
		bottom.why = fmt.Sprintf("bottom: the hull reaches %s %g here; lower rungs are not worth watching", s.metric, DefaultFloorVMAF)
	}
	top.b, bottom.b = top.b*cf, bottom.b*cf
	if cf != 1 {
		s.note("complexity factor %.3g applied to the bitrates chosen on the hull", cf)
	}
	if mx := float64(c.MaxBitrate); mx > 0 && top.b > mx {
		s.note("max bitrate %s caps the top rung (the hull would go to %s)", fmtRate(mx), fmtRate(top.b))
		top.b, top.why = mx, "top: capped by the max bitrate"
		if bottom.b > top.b {
			bottom.b = top.b
		}
	}
	if mn := float64(c.MinBitrate); mn > 0 && bottom.b < mn {
		s.note("min bitrate %s raises the bottom rung (the hull starts at %s)", fmtRate(mn), fmtRate(bottom.b))
		bottom.b, bottom.why = mn, "bottom: raised to the min bitrate"
		if top.b < bottom.b {
			s.note("min bitrate %s is above the top the hull allows (%s): one rung at the min bitrate", fmtRate(mn), fmtRate(top.b))
			top.b, top.why = bottom.b, "top: raised to the min bitrate"
		}
	}
	return top, bottom
}

// floorBitrate is where a VMAF hull reaches DefaultFloorVMAF, when it
// starts below it.
func (s *selector) floorBitrate() (float64, bool) {
	if s.metric != MetricVMAF || s.hull[0].Quality >= DefaultFloorVMAF {
		return 0, false
	}
	return hullBitrateAt(s.hull, DefaultFloorVMAF)
}

// beyondHull is the bitrate past the hull's end where the slope of its last
// segment (quality per doubling of the bitrate) reaches the target, when
// that is at most twice the end's bitrate. The hull ends below the target where the grid's
// lowest CRF does (a detailed title at 18); stopping there left the top rung
// under the static ladder's on one clip (docs/benchmarks.md). The
// slope only falls past the end (quality is concave in log bitrate), so the
// estimate errs low, and the doubling bounds it.
func (s *selector) beyondHull() (float64, bool) {
	n := len(s.hull)
	if n < 2 {
		return 0, false
	}
	a, b := s.hull[n-2], s.hull[n-1]
	doublings := math.Log2(float64(b.Bitrate) / float64(a.Bitrate))
	if doublings <= 0 || b.Quality <= a.Quality {
		return 0, false
	}
	need := (s.target - b.Quality) / ((b.Quality - a.Quality) / doublings)
	if need <= 0 || need > 1 {
		return 0, false // out of reach: twice the bits for part of the way is poor value
	}
	return float64(b.Bitrate) * math.Pow(2, need), true
}

// anchors are the rungs whose bitrates are decided before the steps between
// them: the fixed rungs, then the free top and bottom unless a fixed rung
// sits within MinStep of them (the bottom only when the range spans a step).
// Top first.
func (s *selector) anchors(top, bottom slot) ([]slot, error) {
	c := s.c
	var anchors []slot
	for i := range c.FixedRungs {
		f := &c.FixedRungs[i]
		b, why := float64(f.Bitrate), fmt.Sprintf("fixed rung %dx%d at %s, as requested", f.Width, f.Height, fmtRate(float64(f.Bitrate)))
		if f.Bitrate == 0 {
			b, why = s.fixedPosition(picSize{f.Width, f.Height}, bottom.b, top.b)
		}
		anchors = append(anchors, slot{b: b, kind: slotFixed, fixed: f, r: picSize{f.Width, f.Height}, why: why})
	}
	sortSlots(anchors)
	for i := 1; i < len(anchors); i++ {
		a, b := anchors[i-1], anchors[i]
		if math.Round(a.b) == math.Round(b.b) {
			return nil, fmt.Errorf("%w: fixed rungs %s and %s land on the same bitrate %s", ErrInvalidConstraints, a.r, b.r, fmtRate(a.b))
		}
		if largerThan(b.r, a.r) {
			return nil, fmt.Errorf("%w: fixed rung %s at %s is larger than fixed rung %s at %s above it", ErrInvalidConstraints, b.r, fmtRate(b.b), a.r, fmtRate(a.b))
		}
	}
	free := []slot{top}
	if top.b/bottom.b >= c.MinStep {
		free = append(free, bottom)
	} else if top.b > bottom.b {
		s.note("the usable range %s–%s is narrower than one step (×%.3g): one free rung", fmtRate(bottom.b), fmtRate(top.b), c.MinStep)
	}
	for _, f := range free {
		near := false
		for _, a := range anchors {
			if stepRatio(f.b, a.b) < c.MinStep {
				near = true
			}
		}
		if !near {
			anchors = append(anchors, f)
		}
	}
	sortSlots(anchors)
	return anchors, nil
}

// fillGaps sets s.slots to the anchors with rungs at equal ratios between
// them: the preferred number per gap (steps near the geometric middle of
// MinStep and MaxStep), then fewer (up to MaxStep) while over MaxRenditions,
// and, still over, the lowest rungs that are not fixed dropped.
func (s *selector) fillGaps(anchors []slot) {
	c := s.c
	pref := math.Sqrt(c.MinStep * c.MaxStep)
	type gap struct{ k, kMin int }
	gaps := make([]gap, max(len(anchors)-1, 0))
	total := len(anchors)
	for i := range gaps {
		l := math.Log(anchors[i].b / anchors[i+1].b)
		kMin := max(int(math.Ceil(l/math.Log(c.MaxStep)-1e-9))-1, 0)
		kMax := max(int(math.Floor(l/math.Log(c.MinStep)+1e-9))-1, kMin)
		k := min(max(int(math.Round(l/math.Log(pref)))-1, kMin), kMax)
		gaps[i] = gap{k, kMin}
		total += k
	}
	for i := len(gaps) - 1; i >= 0 && total > c.MaxRenditions; i-- {
		cut := min(gaps[i].k-gaps[i].kMin, total-c.MaxRenditions)
		gaps[i].k -= cut
		total -= cut
	}
	s.slots = s.slots[:0]
	for i, a := range anchors {
		s.slots = append(s.slots, a)
		if i == len(gaps) {
			break
		}
		step := math.Pow(a.b/anchors[i+1].b, 1/float64(gaps[i].k+1))
		for j := 1; j <= gaps[i].k; j++ {
			s.slots = append(s.slots, slot{b: a.b / math.Pow(step, float64(j)), kind: slotStep})
		}
	}
	if len(s.slots) > c.MaxRenditions {
		var drop []string
		for len(s.slots) > c.MaxRenditions {
			i := len(s.slots) - 1
			for i >= 0 && s.slots[i].kind == slotFixed {
				i--
			}
			drop = append(drop, fmtRate(s.slots[i].b))
			s.slots = append(s.slots[:i], s.slots[i+1:]...)
		}
		s.note("max renditions %d: dropped the rungs at %s even at the widest step ×%.3g", c.MaxRenditions, strings.Join(drop, ", "), c.MaxStep)
	}
}

// roundSlots rounds the bitrates that were not given to whole kbit/s (bits/s
// below 10 kb/s), keeps them strictly decreasing (a fixed rung wins a tie),
// explains the steps, and notes steps outside [MinStep, MaxStep].
func (s *selector) roundSlots() {
	c := s.c
	out := s.slots[:0]
	for _, sl := range s.slots {
		if sl.kind != slotFixed || sl.fixed.Bitrate == 0 {
			unit := 1000.0
			if sl.b < 10_000 {
				unit = 1
			}
			sl.b = math.Max(1, math.Round(sl.b/unit)*unit)
		}
		if len(out) > 0 && sl.b >= out[len(out)-1].b {
			if sl.kind == slotFixed {
				out[len(out)-1] = sl
			}
			continue
		}
		out = append(out, sl)
	}
	s.slots = out
	for i := range s.slots {
		if s.slots[i].kind == slotStep {
			s.slots[i].why = fmt.Sprintf("step ×%.2f below the rung above", s.slots[i-1].b/s.slots[i].b)
		}
	}
	for i := 1; i < len(s.slots); i++ {
		if r := s.slots[i-1].b / s.slots[i].b; r < c.MinStep-1e-6 || r > c.MaxStep+1e-6 {
			s.note("step ×%.2f between %s and %s is outside [%.3g, %.3g] (fixed rungs or max renditions)", r, fmtRate(s.slots[i-1].b), fmtRate(s.slots[i].b), c.MinStep, c.MaxStep)
		}
	}
}

// fixedPosition chooses the bitrate of a fixed rung given without one: the
// geometric middle of its resolution's stretch of the hull, or, when the hull
// never uses that resolution, the boundary between the smaller and the larger
// resolutions it does use. The result is clamped to [bottom, top].
func (s *selector) fixedPosition(r picSize, bottom, top float64) (float64, string) {
	cf := s.c.ComplexityFactor
	clamp := func(b float64) float64 { return math.Min(math.Max(b*cf, bottom), top) }
	if pts := s.curves[r]; len(pts) > 0 {
		lo, hi := float64(pts[0].Bitrate), float64(pts[len(pts)-1].Bitrate)
		return clamp(math.Sqrt(lo * hi)), fmt.Sprintf("fixed rung %s, bitrate from the hull: middle of its stretch %s–%s", r, fmtRate(lo), fmtRate(hi))
	}
	below, above := 0.0, math.Inf(1)
	for _, p := range s.hull {
		switch q := (picSize{p.Width, p.Height}); {
		case q.pixels() < r.pixels():
			below = math.Max(below, float64(p.Bitrate))
		case q.pixels() > r.pixels():
			above = math.Min(above, float64(p.Bitrate))
		}
	}
	switch {
	case below > 0 && !math.IsInf(above, 1):
		return clamp(math.Sqrt(below * above)), fmt.Sprintf("fixed rung %s (not on the hull), bitrate where the hull moves past its size", r)
	case below > 0:
		return top, fmt.Sprintf("fixed rung %s (larger than any hull point), at the top", r)
	default:
		return bottom, fmt.Sprintf("fixed rung %s (smaller than any hull point), at the bottom", r)
	}
}

// hullRes is the resolution the hull uses at hull bitrate p.
func (s *selector) hullRes(p float64) picSize {
	h := s.hull
	if p <= float64(h[0].Bitrate) {
		return picSize{h[0].Width, h[0].Height}
	}
	i := sort.Search(len(h), func(i int) bool { return float64(h[i].Bitrate) >= p })
	if i == len(h) {
		last := h[len(h)-1]
		return picSize{last.Width, last.Height}
	}
	lo, hi := h[i-1], h[i]
	if math.Log(p/float64(lo.Bitrate)) < math.Log(float64(hi.Bitrate)/p) {
		return picSize{lo.Width, lo.Height}
	}
	return picSize{hi.Width, hi.Height}
}

// spanTolerance lets a resolution's curve count as spanning a bitrate up to
// this fraction beyond its end points (rungs are rounded to whole kb/s).
const spanTolerance = 0.02

// bestSize is the resolution for a rung at hull bitrate b: of the measured
// resolutions whose own curve spans b, the one predicting the highest quality
// there (the smaller on a tie); the hull's resolution when none spans b.
func (s *selector) bestSize(b float64) (picSize, bool) {
	var (
		best  picSize
		bestQ = math.Inf(-1)
		found bool
	)
	for r, pts := range s.own {
		if !spans(pts, b) {
			continue
		}
		q := hullQuality(pts, b)
		if q > bestQ || (q == bestQ && r.pixels() < best.pixels()) {
			best, bestQ, found = r, q, true
		}
	}
	if !found {
		return s.hullRes(b), false
	}
	return best, true
}

// quality is the quality predicted for a rung of size r at hull bitrate b:
// along r's own curve when it spans b, else along the hull.
func (s *selector) quality(r picSize, b float64) float64 {
	if pts := s.own[r]; spans(pts, b) {
		return hullQuality(pts, b)
	}
	return hullQuality(s.hull, b)
}

// spans reports whether a curve (bitrate ascending) covers bitrate b, within
// spanTolerance.
func spans(pts []Point, b float64) bool {
	if len(pts) == 0 {
		return false
	}
	lo, hi := float64(pts[0].Bitrate), float64(pts[len(pts)-1].Bitrate)
	return b >= lo*(1-spanTolerance) && b <= hi*(1+spanTolerance)
}

// assignResolutions gives every free rung the best measured resolution at its bitrate,
// bounded by the fixed rungs around it, then lowers resolutions top-down so that
// none is larger than the rung above.
func (s *selector) assignResolutions() {
	for i := range s.slots {
		sl := &s.slots[i]
		if sl.kind == slotFixed {
			continue
		}
		var spanned bool
		sl.r, spanned = s.bestSize(sl.b / s.c.ComplexityFactor)
		sl.beyond = !spanned
		var floor *picSize
		for j := i + 1; j < len(s.slots); j++ {
			if s.slots[j].kind == slotFixed && (floor == nil || largerThan(s.slots[j].r, *floor)) {
				floor = &s.slots[j].r
			}
		}
		if floor != nil && largerThan(*floor, sl.r) {
			sl.r = s.fit(*floor, nil)
			sl.lowered = true
		}
	}
	for i := 1; i < len(s.slots); i++ {
		sl, above := &s.slots[i], s.slots[i-1].r
		if sl.kind != slotFixed && largerThan(sl.r, above) {
			floor := picSize{}
			for j := i + 1; j < len(s.slots); j++ {
				if s.slots[j].kind == slotFixed && largerThan(s.slots[j].r, floor) {
					floor = s.slots[j].r
				}
			}
			sl.r = s.fit(floor, &above)
			sl.lowered = true
		}
	}
}

// fit returns the largest known size that is at least floor and fits in ceil
// (nil: no ceiling); floor itself when none does.
func (s *selector) fit(floor picSize, ceil *picSize) picSize {
	best, ok := floor, false
	for _, r := range s.sizes {
		if largerThan(floor, r) || (ceil != nil && largerThan(r, *ceil)) {
			continue
		}
		if !ok || r.pixels() > best.pixels() {
			best, ok = r, true
		}
	}
	if ceil != nil && largerThan(best, *ceil) {
		return *ceil
	}
	return best
}

// crfAt estimates the CRF that gives bitrate b at resolution r: linear in
// log(bitrate) between that resolution's measured points (its own upper
// hull), extrapolated with the nearest segment's slope (or x264's 6 CRF per
// doubling). A resolution never measured borrows the curve of the closest size.
func (s *selector) crfAt(r picSize, b float64) float64 {
	pts := s.own[r]
	if len(pts) == 0 {
		var bestD int
		for q, ps := range s.own {
			d := q.pixels() - r.pixels()
			if d < 0 {
				d = -d
			}
			if pts == nil || d < bestD || (d == bestD && q.pixels() < r.pixels()) {
				pts, bestD = ps, d
			}
		}
	}
	const perDoubling = -6.0
	x := math.Log2(b)
	crf := func(i, j int) float64 {
		x0, x1 := math.Log2(float64(pts[i].Bitrate)), math.Log2(float64(pts[j].Bitrate))
		slope := (pts[j].CRF - pts[i].CRF) / (x1 - x0)
		if slope >= 0 || math.IsNaN(slope) {
			slope = perDoubling
		}
		return pts[i].CRF + slope*(x-x0)
	}
	var v float64
	switch n := len(pts); {
	case n == 1:
		v = pts[0].CRF + perDoubling*(x-math.Log2(float64(pts[0].Bitrate)))
	case b <= float64(pts[0].Bitrate):
		v = crf(0, 1)
	case b >= float64(pts[n-1].Bitrate):
		v = crf(n-2, n-1)
	default:
		i := sort.Search(n, func(i int) bool { return float64(pts[i].Bitrate) >= b })
		v = crf(i-1, i)
	}
	return math.Round(math.Min(math.Max(v, 0), 51)*100) / 100
}

func (s *selector) build() Ladder {
	l := Ladder{Metric: s.metric, Notes: s.notes}
	cf := s.c.ComplexityFactor
	for _, sl := range s.slots {
		why := sl.why
		if sl.kind != slotFixed {
			switch {
			case sl.lowered:
				why += fmt.Sprintf("; %s, lowered so that no rung is larger than the one above", sl.r)
			case sl.beyond:
				why += fmt.Sprintf("; %s is the hull's resolution here (no measured size spans this bitrate)", sl.r)
			default:
				why += fmt.Sprintf("; %s predicts the best quality here", sl.r)
			}
			if cf != 1 {
				why += fmt.Sprintf("; ×%.3g complexity factor", cf)
			}
		}
		l.Rungs = append(l.Rungs, Rung{
			Width:            sl.r.w,
			Height:           sl.r.h,
			Bitrate:          int64(sl.b),
			CRF:              s.crfAt(sl.r, sl.b),
			PredictedQuality: s.quality(sl.r, sl.b),
			Fixed:            sl.kind == slotFixed,
			Why:              why,
		})
	}
	return l
}

func sortSlots(xs []slot) { sort.SliceStable(xs, func(i, j int) bool { return xs[i].b > xs[j].b }) }

func stepRatio(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	return a / b
}

// fmtRate formats bits/s for people: "450 kb/s", "2.1 Mb/s".
func fmtRate(b float64) string {
	switch {
	case b >= 1e6:
		return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.2f", b/1e6), "0"), ".0") + " Mb/s"
	default:
		return fmt.Sprintf("%.0f kb/s", b/1e3)
	}
}
