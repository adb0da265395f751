package pershot

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
)

// crfStep is the spacing of the CRFs a shot's candidates are interpolated
// at between two measured ones of the same size: the grid's steps of 6
// (twice the bits) are too coarse to meet a rung's target by choosing among
// them.
const crfStep = 1.0

// Ladder is a per-shot plan: the per-title ladder chosen on the title curve
// of the same measurements, and per rung the CRF of every shot.
type Ladder struct {
	// PerTitle is per-title mode's ladder of the same analysis
	// (pertitle.ChooseLadder of Analysis.Title): the rungs' sizes, target
	// bitrates and VBV are its.
	PerTitle pertitle.Ladder
	Rungs    []RungPlan
	// BDRate is the predicted BD-rate (percent) of the per-shot rungs
	// against the per-title hull of the same measurements (Compare);
	// BDRateError says why it is missing.
	BDRate      float64
	BDRateError string `json:",omitempty"`
}

// RungPlan is one rung's allocation.
type RungPlan struct {
	Width, Height int
	// Bitrate is the target, the per-title rung's. MaxRate and BufSize are the
	// per-title rung's VBV (media.VBV of pertitle.MediaRungs), MaxRate the
	// MaxPeak the candidates are held to over BufSize/MaxRate seconds.
	Bitrate, MaxRate, BufSize int64
	PerTitleCRF               float64
	// CRFs is the CRF of every shot, in order.
	CRFs []float64
	// PredictedBitrate and PredictedQuality are the allocation's title
	// averages.
	PredictedBitrate, PredictedQuality float64
	Allocation                         Allocation `json:"-"`
	Notes                              []string   `json:",omitempty"`
}

// MediaRung is the rung for media.Encode: the per-title rung's size, target
// and VBV, at the time-weighted mean CRF (each chunk's own comes from
// EncodeRequest.ChunkCRFs).
func (r RungPlan) MediaRung() media.Rung {
	return media.Rung{Width: r.Width, Height: r.Height, Bitrate: r.Bitrate, MaxRate: r.MaxRate, BufSize: r.BufSize,
		Profile: "high", CRF: r.meanCRF()}
}

func (r RungPlan) meanCRF() float64 {
	var s, w float64
	for i, c := range r.Allocation.Choices {
		s += r.CRFs[i] * c.Seconds
		w += c.Seconds
	}
	if w <= 0 {
		return 0
	}
	return math.Round(s/w*10) / 10
}

// Plan chooses the per-shot ladder of an analysis: per-title mode's ladder
// (pertitle.ChooseLadder of an.Title under opt.Constraints: the rungs'
// sizes, targets and VBV are per-title's), then for each rung Allocate over
// the shots' candidates at the rung's size (interpolated every crfStep CRF
// between measured ones, and at per-title's CRF), with SwitchCost +Inf (one resolution per rung:
// docs/pershot.md) and MaxPeak the rung's VBV max rate, each candidate's
// Peak measured over the rung's buffer duration (PeakRate). A shot whose
// every candidate peaks over the cap keeps its cheapest (the encode's VBV
// then decides), with a note.
//
// Every rung keeps per-title's target: per-title's CRF for every shot is
// among its choices (withCRF, uniformBits), so wherever that plan's peaks
// fit the rung's cap the allocation's predicted quality is never under
// per-title mode's at the same bits.
func Plan(an *Analysis, opt Options) (*Ladder, error) {
	if an == nil || len(an.Shots) == 0 {
		return nil, errors.New("pershot: plan: no shots")
	}
	if an.Title == nil {
		return nil, errors.New("pershot: plan: no per-title analysis")
	}
	shots := an.shotList()
	pl, err := pertitle.ChooseLadder(an.Title, opt.Constraints, an.Width, an.Height)
	if err != nil {
		return nil, fmt.Errorf("pershot: %w", err)
	}
	lad := &Ladder{PerTitle: pl}
	mrs := pertitle.MediaRungs(pl.Rungs, pertitle.TopPeak(an.Source, opt.CapBitrate))
	var allocs []Allocation
	for i, r := range pl.Rungs {
		rp, err := planRung(an, shots, r, mrs[i])
		if err != nil {
			return nil, fmt.Errorf("pershot: rung %d (%s): %w", i, pertitle.RungLabel(r), err)
		}
		if i > 0 && sameAs(rp, lad.Rungs[i-1]) {
			rp.Notes = append(rp.Notes, fmt.Sprintf("the same CRFs as rung %d: no shot can spend more within the grid's lowest CRF and the VBV cap", i-1))
		}
		lad.Rungs = append(lad.Rungs, rp)
		allocs = append(allocs, rp.Allocation)
	}
	if bd, err := Compare(shots, allocs); err != nil {
		lad.BDRateError = err.Error()
	} else {
		lad.BDRate = bd
	}
	return lad, nil
}

// sameAs reports whether two rungs encode alike: one size, one CRF per shot.
func sameAs(a, b RungPlan) bool {
	if a.Width != b.Width || a.Height != b.Height || len(a.CRFs) != len(b.CRFs) {
		return false
	}
	for k := range a.CRFs {
		if a.CRFs[k] != b.CRFs[k] {
			return false
		}
	}
	return true
}

// shotList is the analysis's shots as Allocate takes them.
func (an *Analysis) shotList() []Shot {
	out := make([]Shot, len(an.Shots))
	for i, s := range an.Shots {
		out[i] = Shot{Seconds: s.Seconds, Candidates: s.Candidates}
	}
	return out
}

// planRung allocates one rung at per-title's target: every shot's
// candidates at the rung's size, peaks over the rung's buffer, interpolated,
// then Allocate.
func planRung(an *Analysis, shots []Shot, r pertitle.Rung, m media.Rung) (RungPlan, error) {
	target := r.Bitrate
	maxRate, bufSize := media.VBV(m)
	rp := RungPlan{Width: r.Width, Height: r.Height, Bitrate: target, MaxRate: maxRate, BufSize: bufSize, PerTitleCRF: r.CRF}
	window := float64(bufSize) / float64(maxRate)
	rung := make([]Shot, len(shots))
	for k, s := range shots {
		var at []Candidate
		for _, c := range s.Candidates {
			if c.Width == r.Width && c.Height == r.Height {
				c.Peak = PeakRate(c.FrameBits, an.Timing.FPS(), window)
				at = append(at, c)
			}
		}
		if len(at) == 0 {
			return rp, fmt.Errorf("shot %d has no candidate at %dx%d", k, r.Width, r.Height)
		}
		at = withCRF(interpolate(at, crfStep), r.CRF, crfStep)
		if cheapest := under(at, maxRate); cheapest >= 0 {
			at[cheapest].Peak = maxRate
			rp.Notes = append(rp.Notes, fmt.Sprintf("shot %d peaks over %s even at CRF %g: the VBV cap decides", k, fmtRate(maxRate), at[cheapest].CRF))
		}
		rung[k] = Shot{Seconds: s.Seconds, Candidates: at}
	}
	// Per-title's plan, every shot at its CRF, must fit: where the shots'
	// model puts it a hair over per-title's own prediction (their
	// interpolations differ), the target is that plan's bits.
	if u, ok := uniformBits(rung, r.CRF, maxRate); ok {
		target = max(target, int64(math.Ceil(u)))
	}
	a, err := Allocate(rung, Target{Bitrate: max(target, 1), MaxPeak: maxRate, SwitchCost: math.Inf(1)})
	if err != nil {
		return rp, err
	}
	if !a.Fits {
		rp.Notes = append(rp.Notes, fmt.Sprintf("even the cheapest CRFs average %s, over the target", fmtRate(int64(a.Bitrate))))
	}
	rp.Allocation, rp.PredictedBitrate, rp.PredictedQuality = a, a.Bitrate, a.Quality
	for _, c := range a.Choices {
		rp.CRFs = append(rp.CRFs, c.CRF)
	}
	return rp, nil
}

// uniformBits is the title's bitrate with every shot at crf, as the
// shots' candidates predict it; false when some shot has no candidate
// there within maxRate.
func uniformBits(shots []Shot, crf float64, maxRate int64) (float64, bool) {
	var bits, secs float64
	for _, s := range shots {
		found := false
		for _, c := range s.Candidates {
			if math.Abs(c.CRF-crf) < 1e-9 && c.peak() <= maxRate {
				bits += float64(c.Bitrate) * s.Seconds
				found = true
				break
			}
		}
		if !found {
			return 0, false
		}
		secs += s.Seconds
	}
	return bits / secs, secs > 0
}

// under is -1 when some candidate peaks within maxRate, else the index of
// the cheapest.
func under(cands []Candidate, maxRate int64) int {
	cheapest := 0
	for i, c := range cands {
		if c.peak() <= maxRate {
			return -1
		}
		if c.Bitrate < cands[cheapest].Bitrate {
			cheapest = i
		}
	}
	return cheapest
}

// interpolate adds, between every two measured CRFs of one size, candidates
// every step CRF: bitrate and peak linear in log (x264's CRF is close to
// linear in log bitrate: +6 is about half the bits), quality and scores
// linear in CRF. The measured candidates stay; the result is sorted by CRF.
func interpolate(cands []Candidate, step float64) []Candidate {
	sort.Slice(cands, func(i, j int) bool { return cands[i].CRF < cands[j].CRF })
	out := []Candidate{cands[0]}
	for i := 1; i < len(cands); i++ {
		a, b := cands[i-1], cands[i]
		for crf := a.CRF + step; crf < b.CRF-1e-9; crf += step {
			out = append(out, between(a, b, crf))
		}
		out = append(out, b)
	}
	return out
}

// withCRF adds to cands (one size, sorted by CRF) per-title's CRF for the
// rung, so that one CRF for every shot, per-title mode's plan, is always a
// choice: interpolated as interpolate does where it lies between two
// candidates, and where it lies past the measured ones (per-title extends
// its top rung past the grid towards its target quality) extrapolated from
// the two nearest, with candidates every step CRF on the way, quality
// within 0..100.
func withCRF(cands []Candidate, crf, step float64) []Candidate {
	n := len(cands)
	if n < 2 {
		return cands
	}
	for _, c := range cands {
		if math.Abs(c.CRF-crf) < 1e-9 {
			return cands
		}
	}
	switch {
	case crf < cands[0].CRF:
		a, b := cands[0], cands[1]
		var ext []Candidate
		for c := a.CRF - step; c > crf+1e-9; c -= step {
			ext = append(ext, between(a, b, c))
		}
		ext = append(ext, between(a, b, crf))
		slices.Reverse(ext)
		return append(ext, cands...)
	case crf > cands[n-1].CRF:
		a, b := cands[n-2], cands[n-1]
		for c := b.CRF + step; c < crf-1e-9; c += step {
			cands = append(cands, between(a, b, c))
		}
		return append(cands, between(a, b, crf))
	}
	for i := 1; i < n; i++ {
		if a, b := cands[i-1], cands[i]; a.CRF < crf && crf < b.CRF {
			return slices.Insert(cands, i, between(a, b, crf))
		}
	}
	return cands
}

// between is the candidate at crf on the line through a and b (a.CRF <
// b.CRF; crf between them, or past them to extrapolate): bitrate and peak
// linear in log, quality and scores linear in CRF, within 0..100.
func between(a, b Candidate, crf float64) Candidate {
	f := (crf - a.CRF) / (b.CRF - a.CRF)
	c := Candidate{Point: a.Point}
	c.CRF = crf
	c.Bitrate = int64(math.Round(logLerp(float64(a.Bitrate), float64(b.Bitrate), f)))
	c.Peak = int64(math.Round(logLerp(float64(a.peak()), float64(b.peak()), f)))
	c.Quality = clampQ(a.Metric, a.Quality+f*(b.Quality-a.Quality))
	c.Scores = map[pertitle.Metric]float64{}
	for m, v := range a.Scores {
		if w, ok := b.Scores[m]; ok {
			c.Scores[m] = clampQ(m, v+f*(w-v))
		}
	}
	return c
}

// clampQ keeps an extrapolated score of metric m within its range: 0..1
// for SSIM, else 0..100.
func clampQ(m pertitle.Metric, q float64) float64 {
	top := 100.0
	if m == pertitle.MetricSSIM {
		top = 1
	}
	return math.Max(0, math.Min(top, q))
}

func logLerp(a, b, f float64) float64 {
	if a <= 0 || b <= 0 {
		return a + f*(b-a)
	}
	return math.Exp(math.Log(a) + f*(math.Log(b)-math.Log(a)))
}

// fmtRate prints a bitrate in kbit/s or Mbit/s.
func fmtRate(b int64) string {
	if b >= 1_000_000 {
		return fmt.Sprintf("%.2f Mbit/s", float64(b)/1e6)
	}
	return fmt.Sprintf("%.0f kbit/s", float64(b)/1e3)
}
