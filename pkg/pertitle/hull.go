package pertitle

import (
	"math"
	"sort"
)

// UpperHull returns the Pareto-efficient, concave frontier of quality over
// bitrate across every resolution: for each bitrate the best quality any
// resolution reaches, convexified, sorted by bitrate ascending.
//
// The hull is taken over linear bitrate, not log(bitrate). A player switching
// between two encodes A and B (segment by segment) reaches any mix of them: a
// point below the straight chord between A and B in the (bitrate, quality)
// plane is beaten by such a mix, which is the rate-distortion argument behind
// Lagrangian per-title optimisation. The concave envelope in log(bitrate) is a
// stricter test: it would also drop points that are above every linear chord,
// i.e. efficient encodes. Plots still use a log bitrate axis (svg.go).
//
// Only the rising part of the envelope is kept, so along the result more bits
// always buy more quality: a point with more bits and less or equal quality than
// another is dominated and dropped. Points with a non-positive bitrate or a
// non-finite quality are ignored. Of points with the same bitrate, the best
// quality is kept.
func UpperHull(points []Point) []Point {
	ps := make([]Point, 0, len(points))
	for _, p := range points {
		if p.Bitrate <= 0 || math.IsNaN(p.Quality) || math.IsInf(p.Quality, 0) {
			continue
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil
	}
	// Bitrate ascending; on equal bitrate the best quality first, then the
	// smaller picture (cheaper to decode), so the first of a bitrate wins.
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Bitrate != b.Bitrate {
			return a.Bitrate < b.Bitrate
		}
		if a.Quality != b.Quality {
			return a.Quality > b.Quality
		}
		return a.Width*a.Height < b.Width*b.Height
	})
	uniq := ps[:1]
	for _, p := range ps[1:] {
		if p.Bitrate != uniq[len(uniq)-1].Bitrate {
			uniq = append(uniq, p)
		}
	}

	// Andrew's monotone chain, upper half: drop the middle point while it lies
	// below the chord of its neighbours. Collinear points stay: they are
	// measured vertices, better than interpolation between their neighbours.
	hull := make([]Point, 0, len(uniq))
	for _, p := range uniq {
		for len(hull) >= 2 && hullCross(hull[len(hull)-2], hull[len(hull)-1], p) > 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, p)
	}

	// The concave envelope rises then falls; the falling part is dominated by
	// its peak (more bits, no more quality).
	best := 0
	for i, p := range hull {
		if p.Quality > hull[best].Quality {
			best = i
		}
	}
	out := make([]Point, best+1)
	copy(out, hull[:best+1])
	return out
}

// hullCross is the z component of (b-a)×(c-a) in the (bitrate, quality) plane:
// positive when a→b→c turns counter-clockwise (b lies below the chord a–c).
func hullCross(a, b, c Point) float64 {
	return float64(b.Bitrate-a.Bitrate)*(c.Quality-a.Quality) -
		(b.Quality-a.Quality)*float64(c.Bitrate-a.Bitrate)
}

// hullQuality is the hull's quality at bitrate b: linear between vertices (the
// hull is concave in linear bitrate), clamped to the end points outside.
func hullQuality(hull []Point, b float64) float64 {
	n := len(hull)
	if n == 0 {
		return 0
	}
	if b <= float64(hull[0].Bitrate) {
		return hull[0].Quality
	}
	if b >= float64(hull[n-1].Bitrate) {
		return hull[n-1].Quality
	}
	i := sort.Search(n, func(i int) bool { return float64(hull[i].Bitrate) >= b })
	lo, hi := hull[i-1], hull[i]
	t := (b - float64(lo.Bitrate)) / float64(hi.Bitrate-lo.Bitrate)
	return lo.Quality + t*(hi.Quality-lo.Quality)
}

// hullBitrateAt is the lowest bitrate at which the hull reaches quality q, and
// false when it never does.
func hullBitrateAt(hull []Point, q float64) (float64, bool) {
	for i, p := range hull {
		if p.Quality < q {
			continue
		}
		if i == 0 {
			return float64(p.Bitrate), true
		}
		lo := hull[i-1]
		t := (q - lo.Quality) / (p.Quality - lo.Quality)
		return float64(lo.Bitrate) + t*float64(p.Bitrate-lo.Bitrate), true
	}
	return 0, false
}
