package pershot

import (
	"math"

	"github.com/pertitle/pertitle/pkg/pertitle"
)

// pieceSpan is one piece per-title's analysis measured: its frames in the
// title and the profile pass's cost over them (bits per second).
type pieceSpan struct {
	first, end int64
	cost       float64
}

// pieceFor is the piece that stands for shot sh: among the pieces inside
// the shot, the one whose profile cost is nearest the shot's (in log); when
// none lies inside it, the nearest in cost of all. Ties go to the earlier
// piece.
func pieceFor(sh ShotAnalysis, pieces []pieceSpan) int {
	lc := func(c float64) float64 { return math.Log(math.Max(c, 1)) }
	best, bestIn, bestD := -1, false, math.Inf(1)
	for i, p := range pieces {
		in := p.first >= sh.First && p.end <= sh.First+sh.Frames
		d := math.Abs(lc(p.cost) - lc(sh.Complexity))
		if best < 0 || (in && !bestIn) || (in == bestIn && d < bestD-1e-12) {
			best, bestIn, bestD = i, in, d
		}
	}
	return best
}

// sizeCRF names a grid point.
type sizeCRF struct {
	w, h int
	crf  float64
}

func keyOf(p pertitle.Point) sizeCRF { return sizeCRF{p.Width, p.Height, math.Round(p.CRF * 100)} }

// normalise scales, at every grid point, the shots' bits (and pictures) so
// that their duration-weighted mean is the pooled bitrate per-title's
// analysis predicts for the title there: every shot at one CRF then costs
// what per-title mode's rung at that CRF is predicted to, and the
// allocation moves bits between shots without moving the rung's total.
// Points the pooled analysis lacks are left as they are.
func normalise(shots []ShotAnalysis, pooled []pertitle.Point) {
	want := map[sizeCRF]float64{}
	for _, p := range pooled {
		want[keyOf(p)] = float64(p.Bitrate)
	}
	bits, secs := map[sizeCRF]float64{}, map[sizeCRF]float64{}
	for _, sh := range shots {
		for _, c := range sh.Candidates {
			bits[keyOf(c.Point)] += float64(c.Bitrate) * sh.Seconds
			secs[keyOf(c.Point)] += sh.Seconds
		}
	}
	for k := range shots {
		for i := range shots[k].Candidates {
			c := &shots[k].Candidates[i]
			key := keyOf(c.Point)
			w, ok := want[key]
			if !ok || bits[key] <= 0 || w <= 0 {
				continue
			}
			*c = c.timesBits(w / (bits[key] / secs[key]))
		}
	}
}
