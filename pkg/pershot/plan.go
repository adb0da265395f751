package pershot

import (
	"errors"
	"fmt"
	"math"
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
	// PerTitle is what pertitle would choose from these measurements
	// (pertitle.ChooseLadder over TitleCurve): the rungs' sizes, target
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
	// Bitrate is the target: the per-title rung's, lowered when the rung
	// above is under its own (see Plan). MaxRate and BufSize are the
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

// Plan chooses the per-shot ladder of an analysis: the per-title ladder on
// the hull of TitleCurve (pertitle.ChooseLadder under opt.Constraints, so
// rung sizes and targets are per-title's), then for each rung Allocate over
// the shots' candidates at the rung's size (interpolated every crfStep CRF
// between measured ones), with SwitchCost +Inf (one resolution per rung:
// docs/pershot.md) and MaxPeak the rung's VBV max rate, each candidate's
// Peak measured over the rung's buffer duration (PeakRate). A shot whose
// every candidate peaks over the cap keeps its cheapest (the encode's VBV
// then decides), with a note.
//
// A rung's target is never above the rung above's predicted bitrate times
// per-title's step between the two targets: where the VBV caps or the
// grid's lowest CRF keep a rung under its target, the rungs below keep
// per-title's spacing under it instead of repeating it.
func Plan(an *Analysis, opt Options) (*Ladder, error) {
	if an == nil || len(an.Shots) == 0 {
		return nil, errors.New("pershot: plan: no shots")
	}
	shots := an.shotList()
	curve := TitleCurve(shots)
	pa := &pertitle.Analysis{Metric: an.Metric, Points: curve, Hull: pertitle.UpperHull(curve)}
	pl, err := pertitle.ChooseLadder(pa, opt.Constraints, an.Width, an.Height)
	if err != nil {
		return nil, fmt.Errorf("pershot: %w", err)
	}
	lad := &Ladder{PerTitle: pl}
	mrs := pertitle.MediaRungs(pl.Rungs)
	var allocs []Allocation
	for i, r := range pl.Rungs {
		target := r.Bitrate
		if i > 0 && pl.Rungs[i-1].Bitrate > 0 {
			target = min(target, int64(lad.Rungs[i-1].PredictedBitrate*float64(r.Bitrate)/float64(pl.Rungs[i-1].Bitrate)))
		}
		rp, err := planRung(an, shots, r, mrs[i], target)
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

// planRung allocates one rung at target bits/s: every shot's candidates at
// the rung's size, peaks over the rung's buffer, interpolated, then Allocate.
func planRung(an *Analysis, shots []Shot, r pertitle.Rung, m media.Rung, target int64) (RungPlan, error) {
	maxRate, bufSize := media.VBV(m)
	rp := RungPlan{Width: r.Width, Height: r.Height, Bitrate: target, MaxRate: maxRate, BufSize: bufSize, PerTitleCRF: r.CRF}
	if target < r.Bitrate {
		rp.Notes = append(rp.Notes, fmt.Sprintf("target %s, under per-title's %s: the rung above is under its own", fmtRate(target), fmtRate(r.Bitrate)))
	}
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
		at = interpolate(at, crfStep)
		if cheapest := under(at, maxRate); cheapest >= 0 {
			at[cheapest].Peak = maxRate
			rp.Notes = append(rp.Notes, fmt.Sprintf("shot %d peaks over %s even at CRF %g: the VBV cap decides", k, fmtRate(maxRate), at[cheapest].CRF))
		}
		rung[k] = Shot{Seconds: s.Seconds, Candidates: at}
	}
	a, err := Allocate(rung, Target{Bitrate: max(target, 1), MaxPeak: maxRate, SwitchCost: math.Inf(1)})
	if err != nil {
		return rp, err
	}
	switch {
	case !a.Fits && target < r.Bitrate:
		// Lowered under what the rung can spend: its cheapest plan is its
		// target, still within per-title's.
		rp.Bitrate = min(r.Bitrate, int64(math.Ceil(a.Bitrate)))
		rp.Notes = append(rp.Notes, fmt.Sprintf("the cheapest CRFs average %s: that is the target", fmtRate(rp.Bitrate)))
	case !a.Fits:
		rp.Notes = append(rp.Notes, fmt.Sprintf("even the cheapest CRFs average %s, over the target", fmtRate(int64(a.Bitrate))))
	}
	rp.Allocation, rp.PredictedBitrate, rp.PredictedQuality = a, a.Bitrate, a.Quality
	for _, c := range a.Choices {
		rp.CRFs = append(rp.CRFs, c.CRF)
	}
	return rp, nil
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
			f := (crf - a.CRF) / (b.CRF - a.CRF)
			c := Candidate{Point: a.Point}
			c.CRF = crf
			c.Bitrate = int64(math.Round(logLerp(float64(a.Bitrate), float64(b.Bitrate), f)))
			c.Peak = int64(math.Round(logLerp(float64(a.peak()), float64(b.peak()), f)))
			c.Quality = a.Quality + f*(b.Quality-a.Quality)
			c.Scores = map[pertitle.Metric]float64{}
			for m, v := range a.Scores {
				if w, ok := b.Scores[m]; ok {
					c.Scores[m] = v + f*(w-v)
				}
			}
			out = append(out, c)
		}
		out = append(out, b)
	}
	return out
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
