package pertitle

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// curve samples bitrate(q) = scale · 10^(q/25) at the given qualities (log
// bitrate linear in quality) plus a bend, so the fits are not all straight lines.
func curve(scale float64, qs ...float64) []Point {
	var ps []Point
	for _, q := range qs {
		b := scale * math.Pow(10, q/25+0.002*(q-70)*(q-70)/25)
		ps = append(ps, Point{Bitrate: int64(math.Round(b)), Quality: q})
	}
	return ps
}

func TestBDRate(t *testing.T) {
	t.Parallel()
	ref := curve(1000, 60, 70, 80, 90, 95)
	tests := []struct {
		name      string
		ref, test []Point
		want      float64
		delta     float64
	}{
		{"identical curves", ref, ref, 0, 1e-9},
		{"half the bits everywhere", ref, curve(500, 60, 70, 80, 90, 95), -50, 0.01},
		{"a constant 10% more", ref, curve(1100, 60, 70, 80, 90, 95), 10, 0.01},
		{"same curve sampled elsewhere", ref, curve(1000, 62, 73, 77, 88, 93), 0, 0.05},
		{"only the overlap counts", ref, curve(800, 85, 90, 97, 99), -20, 0.05},
		{"two points each", curve(1000, 60, 90), curve(2000, 65, 95), 100, 1e-3},
		{"order and junk do not matter", ref, append(curve(500, 95, 60, 80, 70, 90), Point{Bitrate: 0, Quality: 75}, Point{Bitrate: 10, Quality: math.NaN()}), -50, 0.01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := BDRate(tt.ref, tt.test)
			require.NoError(t, err)
			assert.InDelta(t, tt.want, got, tt.delta)
		})
	}
}

func TestBDRateErrors(t *testing.T) {
	t.Parallel()
	ref := curve(1000, 60, 70, 80)
	tests := []struct {
		name      string
		ref, test []Point
		msg       string
	}{
		{"empty reference", nil, ref, "reference curve has 0 usable"},
		{"one test point", ref, curve(1000, 70), "test curve has 1 usable"},
		{"equal qualities collapse", ref, []Point{{Bitrate: 100, Quality: 70}, {Bitrate: 200, Quality: 70}}, "test curve has 1 usable"},
		{"no overlap", ref, curve(1000, 85, 95), "do not overlap"},
		{"touching ranges only", ref, curve(1000, 80, 95), "do not overlap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := BDRate(tt.ref, tt.test)
			require.ErrorIs(t, err, ErrBDRate)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestPCHIPIsMonotoneAndInterpolates(t *testing.T) {
	t.Parallel()
	x := []float64{0, 1, 2, 3, 4}
	y := []float64{0, 0.1, 0.2, 3, 3.05}
	p := newPCHIP(x, y)
	for i := range x {
		assert.InDelta(t, y[i], p.at(x[i]), 1e-12)
	}
	prev := p.at(0)
	for v := 0.01; v <= 4; v += 0.01 {
		cur := p.at(v)
		assert.GreaterOrEqual(t, cur, prev-1e-12, "no overshoot at %v", v)
		prev = cur
	}
}
