package pershot

import (
	"fmt"
	"math"

	"github.com/pertitle/pertitle/pkg/pertitle"
)

// Point is the title's rate-quality point of a rung's allocation: its
// average bitrate (all the bits over the title's seconds) and its
// duration-weighted mean quality, at the resolution most of the title has.
func (a Allocation) Point() pertitle.Point {
	p := pertitle.Point{Bitrate: int64(math.Round(a.Bitrate)), Quality: a.Quality}
	secs := map[[2]int]float64{}
	for _, c := range a.Choices {
		k := [2]int{c.Width, c.Height}
		secs[k] += c.Seconds
		if secs[k] > secs[[2]int{p.Width, p.Height}] {
			p.Width, p.Height, p.Metric = c.Width, c.Height, c.Metric
		}
	}
	return p
}

// Curve is the title's points of a ladder's allocations, one per rung.
func Curve(rungs []Allocation) []pertitle.Point {
	out := make([]pertitle.Point, 0, len(rungs))
	for _, a := range rungs {
		out = append(out, a.Point())
	}
	return out
}

// TitleCurve is what per-title encoding gets from the same measurements: for
// every (resolution, CRF) measured in every shot, the title encoded whole at
// that setting, i.e. every shot at it. Its upper hull (pertitle.UpperHull) is
// the exhaustive per-title hull the per-shot plans are compared with.
func TitleCurve(shots []Shot) []pertitle.Point {
	type key struct {
		w, h int
		crf  float64
	}
	type sum struct {
		p             pertitle.Point
		bits, quality float64
		shots         int
	}
	sums := map[key]*sum{}
	var order []key
	var seconds float64
	for i, s := range shots {
		seconds += s.Seconds
		for _, c := range s.Candidates {
			k := key{c.Width, c.Height, c.CRF}
			v := sums[k]
			if v == nil {
				v = &sum{p: c.Point}
				sums[k] = v
				order = append(order, k)
			}
			if v.shots == i { // once per shot, whatever duplicates hold
				v.bits += float64(c.Bitrate) * s.Seconds
				v.quality += c.Quality * s.Seconds
				v.shots++
			}
		}
	}
	var out []pertitle.Point
	for _, k := range order {
		if v := sums[k]; v.shots == len(shots) && seconds > 0 {
			p := v.p
			p.Bitrate, p.Quality, p.Scores = int64(math.Round(v.bits/seconds)), v.quality/seconds, nil
			out = append(out, p)
		}
	}
	return out
}

// Compare is the BD-rate (percent, negative when per-shot needs fewer bits
// for the same quality) of a ladder of per-shot allocations against the
// exhaustive per-title hull of the same shots' measurements.
func Compare(shots []Shot, rungs []Allocation) (float64, error) {
	hull := pertitle.UpperHull(TitleCurve(shots))
	bd, err := pertitle.BDRate(hull, Curve(rungs))
	if err != nil {
		return 0, fmt.Errorf("pershot: per-shot against per-title: %w", err)
	}
	return bd, nil
}
