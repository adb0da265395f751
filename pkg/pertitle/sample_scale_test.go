package pertitle

import (
	"math"
	"testing"
)

func TestSampleScale(t *testing.T) {
	easy, hard := 100.0, 400.0
	// Ten easy segments, then six hard ones, 2 s each.
	var bits []float64
	for range 10 {
		bits = append(bits, easy)
	}
	for range 6 {
		bits = append(bits, hard)
	}
	mean := (10*easy + 6*hard) / 16
	cases := []struct {
		name    string
		bits    []float64
		samples [][2]float64
		want    float64
	}{
		{"one easy piece stands for a dearer title", bits, [][2]float64{{4, 6}}, mean / easy},
		{"one hard piece for a cheaper one", bits, [][2]float64{{24, 26}}, mean / hard},
		{"a piece of each kind", bits, [][2]float64{{4, 6}, {24, 26}}, mean / ((easy + hard) / 2)},
		{"the whole title", bits, [][2]float64{{0, 32}}, 1},
		{"bounded above", []float64{1, 1000, 1000, 1000}, [][2]float64{{0, 2}}, maxSampleScale},
		{"no profile", nil, [][2]float64{{0, 2}}, 1},
		{"no sample on a measured segment", bits, [][2]float64{{40, 42}}, 1},
	}
	for _, c := range cases {
		if got := sampleScale(c.bits, 2, c.samples); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: sampleScale = %.4f, want %.4f", c.name, got, c.want)
		}
	}
}
