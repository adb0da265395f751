package pertitle

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pt(w, h int, crf float64, bitrate int64, q float64) Point {
	return Point{Width: w, Height: h, CRF: crf, Bitrate: bitrate, Quality: q, Metric: MetricVMAF}
}

// brq lists the (bitrate, quality) pairs of points.
func brq(ps []Point) [][2]float64 {
	out := [][2]float64{}
	for _, p := range ps {
		out = append(out, [2]float64{float64(p.Bitrate), p.Quality})
	}
	return out
}

func TestUpperHull(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []Point
		want [][2]float64
	}{
		{"empty", nil, [][2]float64{}},
		{"single point", []Point{pt(640, 360, 23, 500, 80)}, [][2]float64{{500, 80}}},
		{"invalid points ignored", []Point{
			pt(640, 360, 23, 0, 80), pt(640, 360, 23, -5, 90), pt(640, 360, 23, 100, math.NaN()),
			pt(640, 360, 23, 200, math.Inf(1)), pt(640, 360, 23, 300, 70),
		}, [][2]float64{{300, 70}}},
		{"duplicate bitrate keeps the best quality", []Point{
			pt(640, 360, 23, 300, 70), pt(1280, 720, 23, 300, 75), pt(640, 360, 23, 300, 70),
		}, [][2]float64{{300, 75}}},
		{"dominated: more bits, less or equal quality", []Point{
			pt(640, 360, 30, 100, 50), pt(640, 360, 26, 200, 70), pt(1280, 720, 30, 250, 70), pt(1280, 720, 26, 300, 65),
		}, [][2]float64{{100, 50}, {200, 70}}},
		{"below the chord is dropped", []Point{
			pt(640, 360, 30, 100, 50), pt(640, 360, 26, 200, 55), pt(640, 360, 22, 300, 90),
		}, [][2]float64{{100, 50}, {300, 90}}},
		{"linear-bitrate hull keeps a point a log hull would drop", []Point{
			pt(640, 360, 30, 1000, 0), pt(640, 360, 26, 2000, 0.8), pt(640, 360, 22, 4000, 2),
		}, [][2]float64{{1000, 0}, {2000, 0.8}, {4000, 2}}},
		{"collinear points stay", []Point{
			pt(640, 360, 30, 100, 10), pt(640, 360, 26, 200, 20), pt(640, 360, 22, 300, 30),
		}, [][2]float64{{100, 10}, {200, 20}, {300, 30}}},
		{"unsorted input, crossover of resolutions", []Point{
			pt(1280, 720, 22, 4000, 96), pt(640, 360, 34, 300, 60), pt(1280, 720, 34, 600, 55),
			pt(640, 360, 22, 2000, 84), pt(1280, 720, 28, 1500, 88), pt(640, 360, 28, 800, 75),
		}, [][2]float64{{300, 60}, {800, 75}, {1500, 88}, {4000, 96}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, brq(UpperHull(tt.in)))
		})
	}
}

func TestUpperHullProperties(t *testing.T) {
	t.Parallel()
	points := modelPoints([]int{1080, 720, 540, 360, 234}, []float64{18, 22, 26, 30, 34, 38, 42})
	hull := UpperHull(points)
	require.NotEmpty(t, hull)
	assert.Contains(t, resolutionsOf(hull), "416x234", "the smallest size wins at the lowest bitrates")
	assert.Contains(t, resolutionsOf(hull), "1920x1080", "the largest size wins at the highest bitrates")
	for i := 1; i < len(hull); i++ {
		assert.Greater(t, hull[i].Bitrate, hull[i-1].Bitrate, "bitrate ascending")
		assert.Greater(t, hull[i].Quality, hull[i-1].Quality, "more bits, more quality")
		if i >= 2 {
			s0 := (hull[i-1].Quality - hull[i-2].Quality) / float64(hull[i-1].Bitrate-hull[i-2].Bitrate)
			s1 := (hull[i].Quality - hull[i-1].Quality) / float64(hull[i].Bitrate-hull[i-1].Bitrate)
			assert.LessOrEqual(t, s1, s0+1e-12, "concave")
		}
	}
	for _, p := range points {
		assert.GreaterOrEqual(t, hullQuality(hull, float64(p.Bitrate))+1e-9, math.Min(p.Quality, hull[len(hull)-1].Quality),
			"no point above the hull: %dx%d crf %v", p.Width, p.Height, p.CRF)
	}
	assert.Equal(t, brq(hull), brq(UpperHull(hull)), "idempotent")
}

func resolutionsOf(ps []Point) []string {
	var out []string
	for _, p := range ps {
		out = append(out, picSize{p.Width, p.Height}.String())
	}
	return out
}

// modelPoints is a synthetic title: bitrate halves every 6 CRF, quality
// saturates with bits per pixel, larger pictures cap higher but need more bits.
func modelPoints(heights []int, crfs []float64) []Point {
	caps := map[int]float64{1080: 100, 720: 97.5, 540: 94, 432: 91, 360: 87, 234: 75}
	var ps []Point
	for _, h := range heights {
		w := evenDown(h*16/9 + 1)
		if h == 234 {
			w = 416
		}
		pixels := float64(w * h)
		for _, crf := range crfs {
			b := pixels * 2.2 * math.Pow(2, (23-crf)/6)
			k := pixels * 0.12
			q := caps[h] * b / (b + k)
			ps = append(ps, Point{Width: w, Height: h, CRF: crf, Bitrate: int64(b), Quality: q, Metric: MetricVMAF})
		}
	}
	return ps
}
