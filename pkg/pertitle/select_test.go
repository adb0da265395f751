package pertitle

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testHull is the hull of a synthetic 1080p title (see modelPoints): 416x234
// at the bottom, 1920x1080 at the top, VMAF 95 reached near 4.3 Mb/s.
func testHull() []Point {
	return UpperHull(modelPoints([]int{1080, 720, 540, 360, 234}, []float64{18, 22, 26, 30, 34, 38, 42}))
}

// checkLadder asserts the invariants every ladder keeps.
func checkLadder(t *testing.T, l Ladder, c Constraints) {
	t.Helper()
	require.NotEmpty(t, l.Rungs)
	maxR := c.MaxRenditions
	if maxR == 0 {
		maxR = DefaultMaxRenditions
	}
	assert.LessOrEqual(t, len(l.Rungs), maxR, "max renditions")
	for i, r := range l.Rungs {
		assert.NotEmpty(t, r.Why, "rung %d explains itself", i)
		assert.Positive(t, r.Bitrate)
		assert.True(t, r.Width%2 == 0 && r.Height%2 == 0 || r.Fixed, "even size %dx%d", r.Width, r.Height)
		assert.True(t, fitsSource(r.Width, r.Height, c.SourceWidth, c.SourceHeight), "no upscaling: %dx%d", r.Width, r.Height)
		assert.GreaterOrEqual(t, r.CRF, 0.0)
		assert.LessOrEqual(t, r.CRF, 51.0)
		if c.MaxBitrate > 0 {
			assert.LessOrEqual(t, r.Bitrate, c.MaxBitrate, "max bitrate")
		}
		assert.GreaterOrEqual(t, r.Bitrate, c.MinBitrate, "min bitrate")
		if i == 0 {
			continue
		}
		up := l.Rungs[i-1]
		assert.Less(t, r.Bitrate, up.Bitrate, "bitrates strictly decreasing")
		assert.False(t, largerThan(picSize{r.Width, r.Height}, picSize{up.Width, up.Height}),
			"rung %d (%dx%d) larger than the rung above (%dx%d)", i, r.Width, r.Height, up.Width, up.Height)
		assert.LessOrEqual(t, r.CRF, 51.0)
	}
}

func steps(l Ladder) []float64 {
	var out []float64
	for i := 1; i < len(l.Rungs); i++ {
		out = append(out, float64(l.Rungs[i-1].Bitrate)/float64(l.Rungs[i].Bitrate))
	}
	return out
}

func TestSelectLadder(t *testing.T) {
	t.Parallel()
	base, err := SelectLadder(testHull(), Constraints{SourceWidth: 1920, SourceHeight: 1080})
	require.NoError(t, err)

	tests := []struct {
		name  string
		hull  []Point
		c     Constraints
		check func(t *testing.T, l Ladder)
	}{
		{"defaults: target quality caps the top, steps within 1.5–2", testHull(), Constraints{SourceWidth: 1920, SourceHeight: 1080},
			func(t *testing.T, l Ladder) {
				assert.Equal(t, MetricVMAF, l.Metric)
				assert.InDelta(t, 95, l.Rungs[0].PredictedQuality, 0.05, "top at the target")
				assert.Less(t, l.Rungs[0].Bitrate, int64(8_000_000), "bits above the target are not spent")
				for _, s := range steps(l) {
					assert.GreaterOrEqual(t, s, 1.5-1e-3)
					assert.LessOrEqual(t, s, 2.0+1e-3)
				}
				assert.Len(t, l.Rungs, 6)
				assert.True(t, hasNote(l, "max renditions 6: dropped"), "six rungs at ×2 do not span this hull: the lowest go")
				assert.True(t, hasNote(l, "target quality"))
			}},
		{"the bottom stops where the hull reaches the VMAF floor", []Point{
			pt(416, 234, 40, 50_000, 20), pt(416, 234, 34, 100_000, 38), pt(416, 234, 28, 200_000, 55),
			pt(640, 360, 26, 400_000, 72), pt(640, 360, 22, 800_000, 85), pt(640, 360, 18, 1_600_000, 95),
		}, Constraints{},
			func(t *testing.T, l Ladder) {
				bottom := l.Rungs[len(l.Rungs)-1]
				assert.InDelta(t, DefaultFloorVMAF, bottom.PredictedQuality, 0.5, "not the hull's lowest point, VMAF 20")
				assert.Contains(t, bottom.Why, "not worth watching")
				assert.Greater(t, bottom.Bitrate, int64(100_000))
			}},
		{"lower target quality lowers the top", testHull(), Constraints{TargetQuality: 90},
			func(t *testing.T, l Ladder) {
				assert.InDelta(t, 90, l.Rungs[0].PredictedQuality, 0.05)
				assert.Less(t, l.Rungs[0].Bitrate, base.Rungs[0].Bitrate)
			}},
		{"target out of reach within a doubling past the hull: top at the hull's end", testHull(), Constraints{TargetQuality: 99.5},
			func(t *testing.T, l Ladder) {
				h := testHull()
				assert.InDelta(t, h[len(h)-1].Bitrate, l.Rungs[0].Bitrate, 500, "rounded to kb/s")
				assert.Equal(t, 1920, l.Rungs[0].Width)
				assert.True(t, hasNote(l, "below the target"))
			}},
		{"target just above the hull: the top goes as far as the last slope says", testHull(), Constraints{TargetQuality: testHull()[len(testHull())-1].Quality + 0.5},
			func(t *testing.T, l Ladder) {
				h := testHull()
				a, b := h[len(h)-2], h[len(h)-1]
				perDoubling := (b.Quality - a.Quality) / math.Log2(float64(b.Bitrate)/float64(a.Bitrate))
				want := float64(b.Bitrate) * math.Pow(2, 0.5/perDoubling)
				assert.InDelta(t, want, float64(l.Rungs[0].Bitrate), 1000)
				assert.Less(t, l.Rungs[0].CRF, b.CRF, "a lower CRF than the grid's lowest")
				assert.Contains(t, l.Rungs[0].Why, "past the measured grid")
			}},
		{"max bitrate caps the top", testHull(), Constraints{MaxBitrate: 2_000_000},
			func(t *testing.T, l Ladder) {
				assert.Equal(t, int64(2_000_000), l.Rungs[0].Bitrate)
				assert.True(t, hasNote(l, "max bitrate"))
			}},
		{"min bitrate raises the bottom", testHull(), Constraints{MinBitrate: 200_000},
			func(t *testing.T, l Ladder) {
				assert.Equal(t, int64(200_000), l.Rungs[len(l.Rungs)-1].Bitrate)
				assert.True(t, hasNote(l, "min bitrate"))
			}},
		{"no upscaling: a 720p source never gets 1080p", testHull(), Constraints{SourceWidth: 1280, SourceHeight: 720, TargetQuality: 99.5},
			func(t *testing.T, l Ladder) {
				assert.Equal(t, 1280, l.Rungs[0].Width)
				assert.True(t, hasNote(l, "no upscaling"))
			}},
		{"custom steps", testHull(), Constraints{MinStep: 1.8, MaxStep: 2.0, MaxRenditions: 10},
			func(t *testing.T, l Ladder) {
				for _, s := range steps(l) {
					assert.GreaterOrEqual(t, s, 1.8-1e-2)
					assert.LessOrEqual(t, s, 2.0+1e-2)
				}
				assert.Greater(t, len(l.Rungs), 6)
			}},
		{"max renditions drops the bottom at the widest step", testHull(), Constraints{MaxRenditions: 3},
			func(t *testing.T, l Ladder) {
				assert.Len(t, l.Rungs, 3)
				for _, s := range steps(l) {
					assert.LessOrEqual(t, s, 2.5+1e-2)
				}
				assert.True(t, hasNote(l, "max renditions 3"))
			}},
		{"fixed rung with a bitrate is kept as given", testHull(), Constraints{FixedRungs: []FixedRung{{Width: 1280, Height: 720, Bitrate: 3_000_000}}},
			func(t *testing.T, l Ladder) {
				r := findRung(l, 1280, 720, 3_000_000)
				require.NotNil(t, r)
				assert.True(t, r.Fixed)
				assert.Contains(t, r.Why, "fixed")
				for _, o := range l.Rungs {
					if o.Bitrate != 3_000_000 {
						assert.GreaterOrEqual(t, ratio2(o.Bitrate, 3_000_000), 1.5-1e-3, "free rungs keep the min step from the fixed one")
					}
				}
			}},
		{"fixed rung without bitrate is taken from its stretch of the hull", testHull(), Constraints{FixedRungs: []FixedRung{{Width: 640, Height: 360}}},
			func(t *testing.T, l Ladder) {
				var r *Rung
				for i := range l.Rungs {
					if l.Rungs[i].Fixed {
						r = &l.Rungs[i]
					}
				}
				require.NotNil(t, r)
				assert.Equal(t, 640, r.Width)
				assert.InDelta(t, math.Sqrt(89604*358418), float64(r.Bitrate), 1000, "geometric middle of 640x360's hull points")
				assert.Greater(t, r.CRF, 26.0)
				assert.Less(t, r.CRF, 38.0)
			}},
		{"fixed rung at a size the hull skips", testHull(), Constraints{FixedRungs: []FixedRung{{Width: 768, Height: 432}}},
			func(t *testing.T, l Ladder) {
				found := false
				for _, r := range l.Rungs {
					if r.Fixed {
						found = true
						assert.Equal(t, 768, r.Width)
						assert.Greater(t, r.Bitrate, int64(358418))
						assert.Less(t, r.Bitrate, int64(508026))
					}
				}
				assert.True(t, found)
			}},
		{"complexity factor scales the bitrates", testHull(), Constraints{SourceWidth: 1920, SourceHeight: 1080, ComplexityFactor: 1.2},
			func(t *testing.T, l Ladder) {
				require.Len(t, l.Rungs, len(base.Rungs))
				for i, r := range l.Rungs {
					assert.InDelta(t, 1.2*float64(base.Rungs[i].Bitrate), float64(r.Bitrate), 1200, "rung %d", i)
					assert.Less(t, r.CRF, base.Rungs[i].CRF+1e-9, "more bits, lower CRF")
					assert.Contains(t, r.Why, "complexity")
				}
			}},
		{"range narrower than a step: one rung", []Point{pt(640, 360, 26, 1000_000, 90), pt(640, 360, 24, 1200_000, 96)}, Constraints{},
			func(t *testing.T, l Ladder) {
				require.Len(t, l.Rungs, 1)
				assert.InDelta(t, 95, l.Rungs[0].PredictedQuality, 0.05)
			}},
		{"single hull point", []Point{pt(640, 360, 23, 800_000, 90)}, Constraints{},
			func(t *testing.T, l Ladder) {
				require.Len(t, l.Rungs, 1)
				assert.Equal(t, int64(800_000), l.Rungs[0].Bitrate)
				assert.Equal(t, 23.0, l.Rungs[0].CRF)
			}},
		{"CRF interpolates in log bitrate between points of a resolution", []Point{
			pt(640, 360, 30, 500_000, 70), pt(640, 360, 24, 2_000_000, 90),
		}, Constraints{MinStep: 2, MaxStep: 2, MaxRenditions: 3, TargetQuality: 90},
			func(t *testing.T, l Ladder) {
				require.Len(t, l.Rungs, 3)
				assert.Equal(t, int64(1_000_000), l.Rungs[1].Bitrate)
				assert.InDelta(t, 27, l.Rungs[1].CRF, 0.01)
				assert.InDelta(t, 70+20.0/3, l.Rungs[1].PredictedQuality, 0.01, "quality linear in bitrate along the hull")
			}},
		{"SSIM default target", []Point{
			{Width: 640, Height: 360, CRF: 30, Bitrate: 300_000, Quality: 0.95, Metric: MetricSSIM},
			{Width: 640, Height: 360, CRF: 20, Bitrate: 3_000_000, Quality: 0.999, Metric: MetricSSIM},
		}, Constraints{},
			func(t *testing.T, l Ladder) {
				assert.Equal(t, MetricSSIM, l.Metric)
				assert.InDelta(t, 0.9975, l.Rungs[0].PredictedQuality, 1e-4)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := SelectLadder(tt.hull, tt.c)
			require.NoError(t, err)
			checkLadder(t, l, tt.c)
			tt.check(t, l)
		})
	}
}

func TestSelectLadderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		hull []Point
		c    Constraints
		want error
		msg  string
	}{
		{"empty hull", nil, Constraints{}, ErrEmptyHull, "no usable hull point"},
		{"only unusable points", []Point{pt(640, 360, 23, 0, 90), pt(640, 360, 23, 100, math.NaN())}, Constraints{}, ErrEmptyHull, ""},
		{"every point upscaled", []Point{pt(1920, 1080, 23, 100, 90)}, Constraints{SourceWidth: 1280, SourceHeight: 720}, ErrEmptyHull, ""},
		{"min above max", testHull(), Constraints{MinBitrate: 3_000_000, MaxBitrate: 1_000_000}, ErrInvalidConstraints, "min bitrate 3 Mb/s above max bitrate 1 Mb/s"},
		{"min step above max step", testHull(), Constraints{MinStep: 3, MaxStep: 2}, ErrInvalidConstraints, "max step 2 below min step 3"},
		{"min step of 1", testHull(), Constraints{MinStep: 1}, ErrInvalidConstraints, "above 1"},
		{"fixed rung above the source", testHull(), Constraints{SourceWidth: 1280, SourceHeight: 720, FixedRungs: []FixedRung{{Width: 1920, Height: 1080, Bitrate: 6_000_000}}}, ErrInvalidConstraints, "larger than the source"},
		{"fixed rung above max bitrate", testHull(), Constraints{MaxBitrate: 2_000_000, FixedRungs: []FixedRung{{Width: 640, Height: 360, Bitrate: 3_000_000}}}, ErrInvalidConstraints, "above max bitrate"},
		{"more fixed rungs than renditions", testHull(), Constraints{MaxRenditions: 1, FixedRungs: []FixedRung{{Width: 640, Height: 360, Bitrate: 1}, {Width: 640, Height: 360, Bitrate: 2}}}, ErrInvalidConstraints, "exceed max renditions"},
		{"fixed rungs in the wrong order", testHull(), Constraints{FixedRungs: []FixedRung{{Width: 1280, Height: 720, Bitrate: 500_000}, {Width: 640, Height: 360, Bitrate: 2_000_000}}}, ErrInvalidConstraints, "larger than fixed rung"},
		{"negative complexity", testHull(), Constraints{ComplexityFactor: -1}, ErrInvalidConstraints, "complexity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := SelectLadder(tt.hull, tt.c)
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestDefaultTargetQuality(t *testing.T) {
	t.Parallel()
	for m, want := range map[Metric]float64{MetricVMAF: 95, MetricSSIM: 0.9975, MetricPSNR: 45, "": 95} {
		assert.Equal(t, want, DefaultTargetQuality(m), string(m))
	}
}

func hasNote(l Ladder, sub string) bool {
	for _, n := range l.Notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

func findRung(l Ladder, w, h int, b int64) *Rung {
	for i, r := range l.Rungs {
		if r.Width == w && r.Height == h && r.Bitrate == b {
			return &l.Rungs[i]
		}
	}
	return nil
}

func ratio2(a, b int64) float64 { return stepRatio(float64(a), float64(b)) }

// clip04Points are the measured points of a real analysis (Big Buck Bunny,
// 720p, SSIM, staggered grid). Its hull jumps from 640x360 at CRF 36
// (101 kb/s) straight to 960x540 at CRF 36 (156 kb/s).
func clip04Points() []Point {
	type m struct {
		w, h int
		crf  float64
		kbps int64
		q    float64
	}
	var ps []Point
	for _, x := range []m{
		{1280, 720, 18, 2996, 0.990174}, {1280, 720, 24, 1177, 0.981298}, {1280, 720, 30, 462, 0.961571},
		{960, 540, 24, 851, 0.972941}, {960, 540, 30, 346, 0.947714}, {960, 540, 36, 155, 0.900460},
		{640, 360, 24, 579, 0.953216}, {640, 360, 30, 236, 0.919396}, {640, 360, 36, 101, 0.862099},
		{416, 234, 24, 360, 0.911102}, {416, 234, 30, 139, 0.871899}, {416, 234, 36, 57, 0.810768},
	} {
		ps = append(ps, Point{Width: x.w, Height: x.h, CRF: x.crf, Bitrate: x.kbps * 1000, Quality: x.q, Metric: MetricSSIM})
	}
	return ps
}

// TestSelectLadderStaysWithinMeasuredCurves: a rung between two hull points of
// different sizes takes a size that was measured at its bitrate, and its CRF
// is interpolated on that size's curve, not extrapolated past the grid on the
// larger size (which put a 960x540 rung at CRF 37.5 on this title and scored
// VMAF 40 where exhaustive analysis had 640x360 at 52).
func TestSelectLadderStaysWithinMeasuredCurves(t *testing.T) {
	t.Parallel()
	// The steps of the earlier default (up to ×2.5) put a rung in the gap
	// this test is about.
	c := Constraints{SourceWidth: 1280, SourceHeight: 720, TargetQuality: 0.9902, MaxStep: 2.5}
	l, err := SelectLadder(clip04Points(), c)
	require.NoError(t, err)
	checkLadder(t, l, c)
	own := map[picSize][2]int64{} // each size's measured bitrate span
	for _, p := range clip04Points() {
		r := picSize{p.Width, p.Height}
		s, ok := own[r]
		if !ok {
			s = [2]int64{p.Bitrate, p.Bitrate}
		}
		own[r] = [2]int64{min(s[0], p.Bitrate), max(s[1], p.Bitrate)}
	}
	between := false
	for i, r := range l.Rungs {
		span := own[picSize{r.Width, r.Height}]
		if i == 0 && strings.Contains(r.Why, "past the measured grid") {
			// The hull tops out below the target: the top goes on, a doubling at most.
			assert.LessOrEqual(t, r.Bitrate, 2*span[1]+500)
			assert.GreaterOrEqual(t, r.CRF, 12.0-1e-9, "one doubling past CRF 18")
			continue
		}
		assert.True(t, float64(r.Bitrate) >= float64(span[0])*0.98 && float64(r.Bitrate) <= float64(span[1])*1.02,
			"rung %d: %dx%d at %d b/s is outside that size's measured span %v", i, r.Width, r.Height, r.Bitrate, span)
		assert.GreaterOrEqual(t, r.CRF, 18.0-1e-9, "rung %d: CRF within the grid", i)
		assert.LessOrEqual(t, r.CRF, 36.0+1e-9, "rung %d: CRF within the grid", i)
		if r.Bitrate > 101_000 && r.Bitrate < 155_000 {
			between = true
			assert.Equal(t, [2]int{640, 360}, [2]int{r.Width, r.Height}, "rung %d at %d b/s", i, r.Bitrate)
			assert.Contains(t, r.Why, "predicts the best quality")
		}
	}
	require.True(t, between, "the ladder has a rung in the hull's 640x360-960x540 gap: %+v", l.Rungs)

	// The hull alone (what the analysis used to pass) cannot tell: the rung
	// in the gap went to the nearer hull point's size, extrapolated.
	lh, err := SelectLadder(UpperHull(clip04Points()), c)
	require.NoError(t, err)
	for _, r := range lh.Rungs {
		if r.Bitrate > 101_000 && r.Bitrate < 155_000 {
			assert.Equal(t, [2]int{960, 540}, [2]int{r.Width, r.Height})
			assert.Greater(t, r.CRF, 36.0)
		}
	}
}

// TestSelectLadderOnMeasuredVMAFGrids replays exhaustive grids measured by
// make bench-ladder (whole 10 s titles, veryfast, plain CRF, VMAF v0.6.1 on
// pairs of frames: clips 01 and 07 of ../shared/media): a ladder chosen with
// perfect knowledge of the grid loses little against the grid's own hull
// for being a few rungs rather than a dense curve (the rung-spacing share of
// per-title's distance to the hull), its top rung stops at VMAF 95, and no
// rung is larger than the one above.
func TestSelectLadderOnMeasuredVMAFGrids(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"grid_01_bottles_640x360.json", "grid_07_marathon_720x400.json"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(filepath.Join("testdata", name))
			require.NoError(t, err)
			var grid []struct {
				W, H    int
				CRF     float64
				Bitrate int64
				VMAF    float64
			}
			require.NoError(t, json.Unmarshal(b, &grid))
			var pts []Point
			for _, g := range grid {
				pts = append(pts, Point{Width: g.W, Height: g.H, CRF: g.CRF, Bitrate: g.Bitrate, Quality: g.VMAF, Metric: MetricVMAF})
			}
			l, err := SelectLadder(pts, Constraints{SourceWidth: grid[0].W, SourceHeight: grid[0].H})
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(l.Rungs), 4)
			var rungs []Point
			for i, r := range l.Rungs {
				rungs = append(rungs, Point{Bitrate: r.Bitrate, Quality: r.PredictedQuality})
				if i > 0 {
					assert.False(t, largerThan(picSize{r.Width, r.Height}, picSize{l.Rungs[i-1].Width, l.Rungs[i-1].Height}), "rung %d", i)
				}
			}
			assert.InDelta(t, 95, l.Rungs[0].PredictedQuality, 0.5)
			bd, err := BDRate(UpperHull(pts), rungs)
			require.NoError(t, err)
			assert.Less(t, bd, 2.0, "the ladder's rungs against the dense hull")
			assert.Greater(t, bd, -0.5, "rungs on the hull cannot beat it")
		})
	}
}
