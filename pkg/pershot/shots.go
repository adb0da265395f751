package pershot

import (
	"math"
	"sort"

	"github.com/pertitle/pertitle/pkg/media"
)

// Rules bound the length of shots.
type Rules struct {
	// MinSeconds: a shot shorter than this joins a neighbour. 0 means one
	// segment; snapping already makes every shot whole segments, so this
	// only takes the title's last, partial segment, unless set longer.
	MinSeconds float64
	// MaxSeconds: a longer shot is split into near-equal parts of whole
	// segments, none longer (the longest chunk a worker takes). 0 means no
	// limit; less than a segment means one segment.
	MaxSeconds float64
}

// Shots cuts a title of total frames into shots for a per-shot encode: the
// chunks of the chunked encode, each starting at a segment's first frame
// (t.SegmentStart), at the scene cuts where the segment grid allows.
//
// Each cut (seconds from the title's start, as the profile pass reports
// them) moves to the nearest segment start, the later one on a tie; cuts
// that land on the same segment start are one boundary, so a shot shorter
// than a segment joins its neighbours. Then every shot shorter than
// r.MinSeconds joins its shorter neighbour (the earlier one on a tie),
// shortest first; and every shot of more than r.MaxSeconds is split into as
// few near-equal parts of whole segments as keep each within it. Splitting
// wins over joining: with MinSeconds above half MaxSeconds a split part can
// be shorter than MinSeconds.
//
// Every frame is in exactly one shot, and every shot but the last is whole
// segments, so every rung's segments stay those of the fixed grid whatever
// each shot is encoded at.
func Shots(t media.Timing, total int64, cuts []float64, r Rules) []media.Chunk {
	if total <= 0 || t.RateNum <= 0 || t.RateDen <= 0 || !(t.SegmentSeconds > 0) {
		return nil
	}
	g := grid{t: t, total: total}
	for g.t.SegmentStart(g.segs) < total {
		g.segs++
	}
	bounds := g.join(g.snap(cuts), r.MinSeconds)
	bounds = g.split(bounds, r.MaxSeconds)
	var chunks []media.Chunk
	first := int64(0)
	for _, b := range bounds[1:] {
		// Segments shorter than a frame share their first frame: a boundary
		// on one of them adds nothing.
		if end := g.frame(b); end > first {
			chunks = append(chunks, media.Chunk{Index: len(chunks), First: first, Frames: end - first})
			first = end
		}
	}
	return chunks
}

// grid is a title's segment grid: segments 0..segs-1, the last possibly
// partial. Shot boundaries are segment numbers, 0 and segs included.
type grid struct {
	t     media.Timing
	total int64
	segs  int
}

// frame is the first frame of segment n, the title's end for n = segs.
func (g grid) frame(n int) int64 {
	if n >= g.segs {
		return g.total
	}
	return g.t.SegmentStart(n)
}

func (g grid) seconds(a, b int) float64 { return g.t.Seconds(g.frame(b)) - g.t.Seconds(g.frame(a)) }

// snap is the boundaries (0, the segment starts nearest the cuts, segs),
// ascending and distinct. Cuts that are not finite or fall outside the
// title are ignored.
func (g grid) snap(cuts []float64) []int {
	set := map[int]bool{0: true, g.segs: true}
	end := g.t.Seconds(g.total)
	for _, c := range cuts {
		if math.IsNaN(c) || c <= 0 || c >= end {
			continue
		}
		n := min(int(c/g.t.SegmentSeconds), g.segs)
		best := n
		for _, m := range []int{n - 1, n + 1} {
			if m < 0 || m > g.segs {
				continue
			}
			d, db := math.Abs(g.t.Seconds(g.frame(m))-c), math.Abs(g.t.Seconds(g.frame(best))-c)
			if d < db || (d == db && m > best) {
				best = m
			}
		}
		set[best] = true
	}
	out := make([]int, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// join removes boundaries until no shot is shorter than minSeconds (one
// segment when 0) or one shot is left: the shortest shot joins its shorter
// neighbour.
func (g grid) join(bounds []int, minSeconds float64) []int {
	if minSeconds <= 0 {
		minSeconds = g.t.SegmentSeconds
	}
	// A frame's worth under the limit still counts as long enough: segment
	// starts are whole frames, so a whole segment may be a hair short of it.
	limit := minSeconds - 0.5*float64(g.t.RateDen)/float64(g.t.RateNum)
	for len(bounds) > 2 {
		short := -1
		for i := 1; i < len(bounds); i++ {
			if l := g.seconds(bounds[i-1], bounds[i]); l < limit && (short < 0 || l < g.seconds(bounds[short-1], bounds[short])) {
				short = i
			}
		}
		if short < 0 {
			break
		}
		// Shot short spans bounds[short-1]..bounds[short]; drop the boundary
		// it shares with the neighbour it joins.
		drop := short - 1
		switch {
		case short == 1:
			drop = 1
		case short == len(bounds)-1:
		case g.seconds(bounds[short], bounds[short+1]) < g.seconds(bounds[short-2], bounds[short-1]):
			drop = short
		}
		bounds = append(bounds[:drop], bounds[drop+1:]...)
	}
	return bounds
}

// split cuts every shot of more than maxSeconds into as few parts of whole
// segments as keep each within it, of near-equal length in seconds (the
// title's last segment may be partial: counting segments would leave it a
// part of its own).
func (g grid) split(bounds []int, maxSeconds float64) []int {
	if maxSeconds <= 0 {
		return bounds
	}
	most := max(int(math.Floor(maxSeconds/g.t.SegmentSeconds+1e-9)), 1)
	frame := float64(g.t.RateDen) / float64(g.t.RateNum)
	out := []int{bounds[0]}
	for _, b := range bounds[1:] {
		a := out[len(out)-1]
		secs := g.seconds(a, b)
		if secs <= maxSeconds+frame {
			out = append(out, b)
			continue
		}
		// Whole segments are parts*most >= the shot's segments; each
		// boundary goes to the segment start nearest an equal share,
		// clamped so that the parts before and after it fit.
		parts := (b - a + most - 1) / most
		prev := a
		for k := 1; k < parts; k++ {
			at := a + int(math.Round(float64(k)*secs/float64(parts)/g.t.SegmentSeconds))
			at = min(max(at, prev+1, b-(parts-k)*most), prev+most)
			out = append(out, at)
			prev = at
		}
		out = append(out, b)
	}
	return out
}
