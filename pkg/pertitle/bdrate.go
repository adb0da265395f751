package pertitle

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// ErrBDRate is wrapped by every BDRate error.
var ErrBDRate = errors.New("cannot compute BD-rate")

// BDRate is the Bjøntegaard delta rate of test against reference in percent:
// the average difference in bitrate for the same quality, negative when test
// needs fewer bits.
//
// As in VCEG-M33, quality is the x-axis and log10(bitrate) is fitted over it;
// the two fits are integrated over the quality interval both curves cover, and
// the mean log difference d gives (10^d − 1)·100. The fit is piecewise cubic
// Hermite interpolation (PCHIP, Fritsch–Carlson slopes) through every point
// rather than the original cubic polynomial through four: it needs only two
// points per curve, goes through the measurements, never overshoots between
// them (a cubic through noisy points can wiggle and even bend back, which
// makes the integral meaningless) and is what current BD-rate tools use for
// ladders with more than four rungs. Integration is exact (Simpson's rule on
// each cubic piece).
//
// Points with a non-positive bitrate or a non-finite quality are ignored; of
// points with the same quality, the one with fewer bits is kept.
func BDRate(reference, test []Point) (float64, error) {
	rq, rl, err := bdCurve("reference", reference)
	if err != nil {
		return 0, err
	}
	tq, tl, err := bdCurve("test", test)
	if err != nil {
		return 0, err
	}
	lo := math.Max(rq[0], tq[0])
	hi := math.Min(rq[len(rq)-1], tq[len(tq)-1])
	if !(hi > lo) {
		return 0, fmt.Errorf("%w: the quality ranges do not overlap (reference %.4g–%.4g, test %.4g–%.4g)", ErrBDRate, rq[0], rq[len(rq)-1], tq[0], tq[len(tq)-1])
	}
	rf, tf := newPCHIP(rq, rl), newPCHIP(tq, tl)
	// Both fits are cubic between the union of their knots.
	knots := []float64{lo, hi}
	for _, x := range append(append([]float64{}, rq...), tq...) {
		if x > lo && x < hi {
			knots = append(knots, x)
		}
	}
	sort.Float64s(knots)
	var area float64
	for i := 1; i < len(knots); i++ {
		a, b := knots[i-1], knots[i]
		if b <= a {
			continue
		}
		d := func(x float64) float64 { return tf.at(x) - rf.at(x) }
		area += (b - a) / 6 * (d(a) + 4*d((a+b)/2) + d(b))
	}
	return (math.Pow(10, area/(hi-lo)) - 1) * 100, nil
}

// bdCurve returns quality (strictly increasing) and log10(bitrate).
func bdCurve(name string, points []Point) ([]float64, []float64, error) {
	ps := make([]Point, 0, len(points))
	for _, p := range points {
		if p.Bitrate > 0 && !math.IsNaN(p.Quality) && !math.IsInf(p.Quality, 0) {
			ps = append(ps, p)
		}
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Quality != ps[j].Quality {
			return ps[i].Quality < ps[j].Quality
		}
		return ps[i].Bitrate < ps[j].Bitrate
	})
	var q, l []float64
	for _, p := range ps {
		if len(q) > 0 && p.Quality == q[len(q)-1] {
			continue
		}
		q = append(q, p.Quality)
		l = append(l, math.Log10(float64(p.Bitrate)))
	}
	if len(q) < 2 {
		return nil, nil, fmt.Errorf("%w: the %s curve has %d usable point(s) of distinct quality, 2 are needed", ErrBDRate, name, len(q))
	}
	return q, l, nil
}

// pchip is a monotone piecewise cubic Hermite interpolant.
type pchip struct{ x, y, d []float64 }

func newPCHIP(x, y []float64) pchip {
	n := len(x)
	h := make([]float64, n-1)
	delta := make([]float64, n-1)
	for i := range h {
		h[i] = x[i+1] - x[i]
		delta[i] = (y[i+1] - y[i]) / h[i]
	}
	d := make([]float64, n)
	if n == 2 {
		d[0], d[1] = delta[0], delta[0]
		return pchip{x, y, d}
	}
	for i := 1; i < n-1; i++ {
		if delta[i-1]*delta[i] <= 0 {
			continue
		}
		w1, w2 := 2*h[i]+h[i-1], h[i]+2*h[i-1]
		d[i] = (w1 + w2) / (w1/delta[i-1] + w2/delta[i])
	}
	d[0] = pchipEnd(h[0], h[1], delta[0], delta[1])
	d[n-1] = pchipEnd(h[n-2], h[n-3], delta[n-2], delta[n-3])
	return pchip{x, y, d}
}

// pchipEnd is the shape-preserving three-point end slope.
func pchipEnd(h0, h1, d0, d1 float64) float64 {
	d := ((2*h0+h1)*d0 - h0*d1) / (h0 + h1)
	switch {
	case math.Signbit(d) != math.Signbit(d0) || d0 == 0:
		return 0
	case math.Signbit(d0) != math.Signbit(d1) && math.Abs(d) > 3*math.Abs(d0):
		return 3 * d0
	}
	return d
}

func (p pchip) at(v float64) float64 {
	n := len(p.x)
	i := sort.SearchFloat64s(p.x, v) - 1
	i = min(max(i, 0), n-2)
	h := p.x[i+1] - p.x[i]
	t := (v - p.x[i]) / h
	t2, t3 := t*t, t*t*t
	return (2*t3-3*t2+1)*p.y[i] + (t3-2*t2+t)*h*p.d[i] + (-2*t3+3*t2)*p.y[i+1] + (t3-t2)*h*p.d[i+1]
}
