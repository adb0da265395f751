// Package pershot plans per-shot encoding: where a title's shots start, on
// the segment grid the chunked encode already uses, and which resolution and
// CRF each shot gets in each rung so that every shot sits at the same slope
// of quality over bits (constant-slope, or Lagrangian, allocation).
//
// The allocation (Shots, Allocate, Compare) is pure: measurements in, a plan
// out. Analyze measures a title's shots with pertitle's piece analysis, Plan
// turns the measurements into a ladder with a CRF per shot per rung, and
// Encode encodes it chunk by chunk (media.EncodeRequest.ChunkCRFs) and
// reports. docs/pershot.md says how it fits the chunked encode and what
// remains to build.
package pershot

import (
	"errors"
	"fmt"
	"maps"
	"math"

	"github.com/pertitle/pertitle/pkg/pertitle"
)

// Candidate is one measured encode of a shot: a resolution and a CRF, and
// the bitrate and quality they gave on that shot.
type Candidate struct {
	pertitle.Point
	// Peak is the highest bitrate (bits/s) over any window of the VBV
	// buffer's length inside the shot; 0 when not measured, then Bitrate
	// stands for it.
	Peak int64
	// FrameBits are the bits of every picture of the measured encode, in
	// decode order, when kept (FromPiece): what Peak is measured on.
	FrameBits []int64 `json:"-"`
}

// peak is the candidate's peak bitrate, its average when not measured.
func (c Candidate) peak() int64 {
	if c.Peak > 0 {
		return c.Peak
	}
	return c.Bitrate
}

// timesBits is c with its bits, the average and every picture's, times f;
// its pictures and scores are copies, never c's own.
func (c Candidate) timesBits(f float64) Candidate {
	c.Bitrate = int64(math.Round(float64(c.Bitrate) * f))
	fb := make([]int64, len(c.FrameBits))
	for j, b := range c.FrameBits {
		fb[j] = int64(math.Round(float64(b) * f))
	}
	c.FrameBits, c.Scores = fb, maps.Clone(c.Scores)
	return c
}

// Shot is what the allocation knows of one shot: its length and its
// measured candidates (all of them, or the upper hull of them: points under
// the hull are never chosen either way).
type Shot struct {
	Seconds    float64
	Candidates []Candidate
}

// Target is what one rung must respect.
type Target struct {
	// Bitrate is the title's average video bitrate (bits/s, over the whole
	// title's duration) that the rung must not exceed.
	Bitrate int64
	// MaxPeak (bits/s, 0 for none) excludes every candidate whose Peak
	// exceeds it: the encode's VBV cap would have clipped that encode, so
	// its measured quality is not what the capped encode would give.
	MaxPeak int64
	// SwitchCost is what a change of resolution between neighbouring shots
	// must gain to happen, in VMAF points times seconds (1 = one point over
	// one second of title). A switch costs a new decoder configuration and
	// a visible change of sharpness; 0 makes switches free, +Inf keeps one
	// resolution for the whole rung.
	SwitchCost float64
}

// Choice is the candidate chosen for one shot.
type Choice struct {
	Candidate
	Index   int     // into the shot's Candidates
	Seconds float64 // the shot's
}

// Allocation is one rung's plan: a candidate per shot.
type Allocation struct {
	Choices []Choice // one per shot, in order
	// Lambda is the common slope (VMAF per bit/s) the shots sit at: every
	// shot's choice is its best trade of quality against Lambda times bits.
	Lambda float64
	// Bitrate is the title's average bitrate (bits over seconds) and Quality
	// its duration-weighted mean quality.
	Bitrate, Quality float64
	// Fits is false when even the cheapest choice in every shot exceeds the
	// target: Choices then hold that cheapest plan.
	Fits bool
	// Switches counts the changes of resolution between neighbouring shots.
	Switches int
}

// ErrInput is wrapped by every error of Allocate about its input.
var ErrInput = errors.New("pershot: cannot allocate")

// Allocate chooses, for one rung, a candidate per shot such that the shots
// sit at (nearly) the same slope of quality over bits and the title's
// average bitrate is at or just under target.Bitrate.
//
// For a multiplier λ every shot picks the candidate that maximises
// seconds × (quality − λ × bitrate), less target.SwitchCost for each change of
// resolution from the previous shot (a Viterbi pass over the shots when
// switches cost anything). The average bitrate only falls as λ grows, so λ
// is found by bisection: the smallest λ whose plan fits. Because a plan at a
// λ is a vertex of the shots' convex hulls, a little budget is usually
// left; it goes, best quality per bit first, to moving single shots up to
// a dearer candidate of the same resolution while the total still fits.
//
// Ties go to the cheaper candidate, then to the smaller picture. A shot
// with no usable candidate (non-positive bitrate, non-finite quality, over
// MaxPeak) is an error, as is a SwitchCost of +Inf with no resolution
// measured in every shot.
func Allocate(shots []Shot, target Target) (Allocation, error) {
	p, err := newProblem(shots, target)
	if err != nil {
		return Allocation{}, err
	}
	// A hair over the exact budget: a plan whose bits equal it must not
	// fail on the rounding of the sum.
	budget := float64(target.Bitrate) * p.seconds * (1 + 1e-12)
	plan := p.solve(0)
	lambda := 0.0
	if p.bits(plan) > budget {
		lambda, plan = p.bisect(budget)
	}
	fits := p.bits(plan) <= budget
	if fits {
		plan = p.fill(plan, budget)
	}
	return p.allocation(plan, lambda, fits), nil
}

// problem is Allocate's input, checked and grouped: for each shot, the
// usable candidates by resolution.
type problem struct {
	shots   []Shot
	groups  [][]group // per shot
	cost    float64
	seconds float64
}

// group is the usable candidates of one resolution in one shot.
type group struct {
	width, height int
	idx           []int // into the shot's Candidates
}

func newProblem(shots []Shot, target Target) (*problem, error) {
	if len(shots) == 0 {
		return nil, fmt.Errorf("%w: no shots", ErrInput)
	}
	if target.Bitrate <= 0 {
		return nil, fmt.Errorf("%w: target bitrate %d", ErrInput, target.Bitrate)
	}
	if math.IsNaN(target.SwitchCost) || target.SwitchCost < 0 {
		return nil, fmt.Errorf("%w: switch cost %g", ErrInput, target.SwitchCost)
	}
	p := &problem{shots: shots, cost: target.SwitchCost, groups: make([][]group, len(shots))}
	for i, s := range shots {
		if !(s.Seconds > 0) || math.IsInf(s.Seconds, 0) {
			return nil, fmt.Errorf("%w: shot %d lasts %g s", ErrInput, i, s.Seconds)
		}
		p.seconds += s.Seconds
		for j, c := range s.Candidates {
			if c.Bitrate <= 0 || math.IsNaN(c.Quality) || math.IsInf(c.Quality, 0) ||
				(target.MaxPeak > 0 && c.peak() > target.MaxPeak) {
				continue
			}
			p.groups[i] = addToGroup(p.groups[i], c, j)
		}
		if len(p.groups[i]) == 0 {
			return nil, fmt.Errorf("%w: shot %d has no usable candidate (of %d, peak limit %d)", ErrInput, i, len(s.Candidates), target.MaxPeak)
		}
	}
	if math.IsInf(p.cost, 1) && len(p.common()) == 0 {
		return nil, fmt.Errorf("%w: one resolution for the rung asked, but none is measured in every shot", ErrInput)
	}
	return p, nil
}

func addToGroup(gs []group, c Candidate, j int) []group {
	for k := range gs {
		if gs[k].width == c.Width && gs[k].height == c.Height {
			gs[k].idx = append(gs[k].idx, j)
			return gs
		}
	}
	return append(gs, group{width: c.Width, height: c.Height, idx: []int{j}})
}

// common is the resolutions measured in every shot.
func (p *problem) common() [][2]int {
	var out [][2]int
	for _, g := range p.groups[0] {
		in := true
		for _, gs := range p.groups[1:] {
			found := false
			for _, h := range gs {
				found = found || (h.width == g.width && h.height == g.height)
			}
			in = in && found
		}
		if in {
			out = append(out, [2]int{g.width, g.height})
		}
	}
	return out
}

func (p *problem) cand(shot, j int) Candidate { return p.shots[shot].Candidates[j] }

// bits is the plan's total bits (bitrate times seconds, summed).
func (p *problem) bits(plan []int) float64 {
	var b float64
	for i, j := range plan {
		b += float64(p.cand(i, j).Bitrate) * p.shots[i].Seconds
	}
	return b
}

// bisect finds the smallest λ whose plan fits budget bits, and that plan;
// when no λ makes it fit, the plan of the largest λ tried (the cheapest).
func (p *problem) bisect(budget float64) (float64, []int) {
	lo, hi := 0.0, 1e-12
	plan := p.solve(hi)
	for n := 0; p.bits(plan) > budget && n < 256; n++ {
		lo, hi = hi, hi*2
		plan = p.solve(hi)
	}
	if p.bits(plan) > budget {
		return hi, plan
	}
	for n := 0; n < 200 && hi-lo > hi*1e-12; n++ {
		mid := lo + (hi-lo)/2
		if m := p.solve(mid); p.bits(m) <= budget {
			hi, plan = mid, m
		} else {
			lo = mid
		}
	}
	return hi, plan
}

func (p *problem) allocation(plan []int, lambda float64, fits bool) Allocation {
	a := Allocation{Lambda: lambda, Fits: fits}
	var bits, q float64
	for i, j := range plan {
		c := p.cand(i, j)
		a.Choices = append(a.Choices, Choice{Candidate: c, Index: j, Seconds: p.shots[i].Seconds})
		bits += float64(c.Bitrate) * p.shots[i].Seconds
		q += c.Quality * p.shots[i].Seconds
		if i > 0 && !sameSize(c, a.Choices[i-1].Candidate) {
			a.Switches++
		}
	}
	a.Bitrate, a.Quality = bits/p.seconds, q/p.seconds
	return a
}

func sameSize(a, b Candidate) bool { return a.Width == b.Width && a.Height == b.Height }
