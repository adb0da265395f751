package pershot

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/pertitle"
)

// logShot is a shot whose quality grows as c × ln(bitrate) at one resolution,
// measured on a CRF grid whose bitrates step by 12%: its slope of quality
// over bits at rate R is c/R, so the harder a shot gains quality (larger c)
// the more bits the constant-slope plan gives it.
func logShot(seconds, c float64) Shot {
	s := Shot{Seconds: seconds}
	for k := range 40 {
		r := 100_000 * math.Pow(1.12, float64(k))
		s.Candidates = append(s.Candidates, cand(1280, 720, float64(51-k), int64(r), c*math.Log(r/50_000)))
	}
	return s
}

func cand(w, h int, crf float64, rate int64, q float64) Candidate {
	return Candidate{Point: pertitle.Point{Width: w, Height: h, CRF: crf, Bitrate: rate, Quality: q, Metric: pertitle.MetricVMAF}}
}

// TestEqualSlopes: shots of different difficulty end at the same slope of
// quality over bits, where one CRF for the whole title leaves their slopes as
// far apart as their difficulties (7.5 times here), and the plan beats every
// per-title setting that fits the same budget.
//
// The multiplier's plan meets the discrete condition exactly: every shot's
// chord slope into its point is at least λ and the one out of it at most λ.
// Spending what is left then moves a shot or two up a step or two, so the
// final plan's slopes (c/R on these curves) stay within a few grid steps.
func TestEqualSlopes(t *testing.T) {
	t.Parallel()
	difficulty := []float64{4, 12, 30, 8}
	shots := []Shot{logShot(4, 4), logShot(10, 12), logShot(2, 30), logShot(6, 8)}
	for _, target := range []int64{300_000, 800_000, 2_000_000} {
		p, err := newProblem(shots, Target{Bitrate: target})
		require.NoError(t, err)
		lambda, plan := p.bisect(float64(target) * p.seconds)
		for i, j := range plan {
			cs := shots[i].Candidates
			slope := func(a, b Candidate) float64 { return (b.Quality - a.Quality) / float64(b.Bitrate-a.Bitrate) }
			if j > 0 {
				assert.GreaterOrEqual(t, slope(cs[j-1], cs[j]), lambda, "target %d shot %d: slope into its point", target, i)
			}
			if j+1 < len(cs) {
				assert.LessOrEqual(t, slope(cs[j], cs[j+1]), lambda, "target %d shot %d: slope out of its point", target, i)
			}
		}

		a, err := Allocate(shots, Target{Bitrate: target})
		require.NoError(t, err)
		require.True(t, a.Fits)
		require.Len(t, a.Choices, len(shots))
		assert.Equal(t, lambda, a.Lambda)
		lo, hi := math.Inf(1), 0.0
		for i, c := range a.Choices {
			assert.GreaterOrEqual(t, c.Index, plan[i], "spending what is left only moves shots up")
			slope := difficulty[i] / float64(c.Bitrate)
			lo, hi = math.Min(lo, slope), math.Max(hi, slope)
		}
		assert.Less(t, hi/lo, math.Pow(1.12, 3), "target %d: slopes %g..%g", target, lo, hi)
		assert.LessOrEqual(t, a.Bitrate, float64(target))
		assert.Zero(t, a.Switches)
		for _, p := range TitleCurve(shots) {
			if p.Bitrate <= target {
				assert.GreaterOrEqual(t, a.Quality, p.Quality, "target %d: per-title CRF %g", target, p.CRF)
			}
		}
	}
}

// TestTargetsMet: the title's average bitrate is at or under the target, and
// so close under it that no shot could move up to its next candidate within
// what is left.
func TestTargetsMet(t *testing.T) {
	t.Parallel()
	shots := []Shot{logShot(3.2, 5), logShot(7, 15), logShot(1.04, 9)}
	for _, target := range []int64{100_000, 123_456, 450_000, 999_999, 5_000_000, 8_000_000} {
		a, err := Allocate(shots, Target{Bitrate: target})
		require.NoError(t, err)
		assert.True(t, a.Fits)
		assert.LessOrEqual(t, a.Bitrate, float64(target)*(1+1e-12), "target %d", target)
		left := (float64(target) - a.Bitrate) * (3.2 + 7 + 1.04)
		for i, c := range a.Choices {
			if c.Index+1 < len(shots[i].Candidates) {
				next := shots[i].Candidates[c.Index+1]
				assert.Greater(t, float64(next.Bitrate-c.Bitrate)*shots[i].Seconds, left, "target %d: shot %d could move up", target, i)
			}
		}
	}
}

// TestVBVPeak: a candidate whose peak exceeds the rung's limit is never
// chosen, even when the budget would pay for it.
func TestVBVPeak(t *testing.T) {
	t.Parallel()
	spiky := Shot{Seconds: 4, Candidates: []Candidate{
		cand(1280, 720, 30, 400_000, 70), cand(1280, 720, 26, 600_000, 80), cand(1280, 720, 22, 900_000, 88),
	}}
	spiky.Candidates[1].Peak = 1_500_000
	spiky.Candidates[2].Peak = 2_500_000
	calm := Shot{Seconds: 4, Candidates: []Candidate{
		cand(1280, 720, 30, 300_000, 85), cand(1280, 720, 26, 500_000, 90), cand(1280, 720, 22, 800_000, 93),
	}}
	cases := []struct {
		name    string
		maxPeak int64
		want    []float64 // CRF per shot
	}{
		{"no limit", 0, []float64{22, 22}},
		{"limit spares the middle", 2_000_000, []float64{26, 22}},
		{"limit keeps the cheapest", 1_000_000, []float64{30, 22}},
		{"peak unmeasured means its average", 850_000, []float64{30, 22}},
	}
	for _, tc := range cases {
		a, err := Allocate([]Shot{spiky, calm}, Target{Bitrate: 900_000, MaxPeak: tc.maxPeak})
		require.NoError(t, err, tc.name)
		for i, c := range a.Choices {
			assert.Equal(t, tc.want[i], c.CRF, "%s: shot %d", tc.name, i)
			if tc.maxPeak > 0 {
				assert.LessOrEqual(t, c.peak(), tc.maxPeak, tc.name)
			}
		}
	}
	_, err := Allocate([]Shot{spiky}, Target{Bitrate: 900_000, MaxPeak: 100_000})
	assert.ErrorIs(t, err, ErrInput, "no candidate of the shot is under the peak limit")
}

// TestTies: equal bitrate and quality go to the smaller picture; equal
// shots get equal choices when the target is one of their points; a tie of
// the objective goes to the cheaper candidate.
func TestTies(t *testing.T) {
	t.Parallel()
	twin := Shot{Seconds: 2, Candidates: []Candidate{
		cand(1920, 1080, 30, 500_000, 80), cand(1280, 720, 28, 500_000, 80), cand(1280, 720, 24, 900_000, 86),
	}}
	a, err := Allocate([]Shot{twin}, Target{Bitrate: 600_000})
	require.NoError(t, err)
	assert.Equal(t, 720, a.Choices[0].Height, "same bits and quality: the smaller picture")

	same := logShot(3, 10)
	a, err = Allocate([]Shot{same, same, same}, Target{Bitrate: same.Candidates[17].Bitrate})
	require.NoError(t, err)
	for _, c := range a.Choices {
		assert.Equal(t, 17, c.Index)
	}
	assert.InDelta(t, float64(same.Candidates[17].Bitrate), a.Bitrate, 1e-6)

	// Both candidates are worth the same at λ = 0 (same quality): the
	// cheaper is kept although the budget would pay for the dearer.
	flat := Shot{Seconds: 1, Candidates: []Candidate{cand(640, 360, 20, 900_000, 95), cand(640, 360, 30, 300_000, 95)}}
	a, err = Allocate([]Shot{flat}, Target{Bitrate: 1_000_000})
	require.NoError(t, err)
	assert.Equal(t, int64(300_000), a.Choices[0].Bitrate)
	assert.Zero(t, a.Lambda)
}

// TestDegenerate: one shot, one point, and no point under the target.
func TestDegenerate(t *testing.T) {
	t.Parallel()
	one := Shot{Seconds: 5, Candidates: []Candidate{
		cand(640, 360, 34, 200_000, 60), cand(960, 540, 28, 700_000, 78), cand(1280, 720, 24, 1_500_000, 90),
	}}
	for target, want := range map[int64]int64{200_000: 200_000, 699_999: 200_000, 700_000: 700_000, 1_400_000: 700_000, 9_000_000: 1_500_000} {
		a, err := Allocate([]Shot{one}, Target{Bitrate: target})
		require.NoError(t, err)
		assert.True(t, a.Fits)
		assert.Equal(t, want, a.Choices[0].Bitrate, "one shot, target %d: the best point under it", target)
	}

	point := Shot{Seconds: 1, Candidates: []Candidate{cand(640, 360, 30, 500_000, 70)}}
	a, err := Allocate([]Shot{point}, Target{Bitrate: 600_000})
	require.NoError(t, err)
	assert.True(t, a.Fits)
	a, err = Allocate([]Shot{point}, Target{Bitrate: 400_000})
	require.NoError(t, err)
	assert.False(t, a.Fits, "the only point is over the target")
	assert.Equal(t, int64(500_000), a.Choices[0].Bitrate)

	a, err = Allocate([]Shot{one, logShot(2, 10)}, Target{Bitrate: 50_000})
	require.NoError(t, err)
	assert.False(t, a.Fits)
	assert.Equal(t, []int{0, 0}, []int{a.Choices[0].Index, a.Choices[1].Index}, "nothing fits: the cheapest of every shot")
	assert.InDelta(t, (200_000*5+100_000*2)/7.0, a.Bitrate, 1e-6)
}

// TestBadInput: what cannot be allocated is an error, never a plan.
func TestBadInput(t *testing.T) {
	t.Parallel()
	ok := Shot{Seconds: 1, Candidates: []Candidate{cand(640, 360, 30, 500_000, 70)}}
	other := Shot{Seconds: 1, Candidates: []Candidate{cand(1280, 720, 30, 500_000, 70)}}
	cases := map[string]struct {
		shots  []Shot
		target Target
	}{
		"no shots":                {nil, Target{Bitrate: 1}},
		"no target":               {[]Shot{ok}, Target{}},
		"shot of no time":         {[]Shot{ok, {Seconds: 0, Candidates: ok.Candidates}}, Target{Bitrate: 1}},
		"shot of NaN time":        {[]Shot{{Seconds: math.NaN(), Candidates: ok.Candidates}}, Target{Bitrate: 1}},
		"shot without candidates": {[]Shot{ok, {Seconds: 1}}, Target{Bitrate: 1}},
		"only NaN quality": {[]Shot{{Seconds: 1, Candidates: []Candidate{cand(640, 360, 30, 500_000, math.NaN())}}},
			Target{Bitrate: 1}},
		"only zero bitrate":         {[]Shot{{Seconds: 1, Candidates: []Candidate{cand(640, 360, 30, 0, 50)}}}, Target{Bitrate: 1}},
		"negative switch cost":      {[]Shot{ok}, Target{Bitrate: 1, SwitchCost: -1}},
		"one resolution, no common": {[]Shot{ok, other}, Target{Bitrate: 1, SwitchCost: math.Inf(1)}},
	}
	for name, tc := range cases {
		_, err := Allocate(tc.shots, tc.target)
		assert.ErrorIs(t, err, ErrInput, name)
	}
}

// TestSwitchOnlyWherePays: a resolution change between shots happens only
// when what it gains beats its cost; +Inf keeps one resolution.
func TestSwitchOnlyWherePays(t *testing.T) {
	t.Parallel()
	shot := func(hi, lo float64) Shot {
		return Shot{Seconds: 4, Candidates: []Candidate{cand(1280, 720, 23, 1_000_000, hi), cand(640, 360, 23, 1_000_000, lo)}}
	}
	small := []Shot{shot(90, 80), shot(85, 85.5), shot(90, 80)} // 360p gains 0.5 × 4 s in the middle
	large := []Shot{shot(90, 80), shot(70, 80), shot(90, 80)}   // 360p gains 10 × 4 s
	cases := []struct {
		name     string
		shots    []Shot
		cost     float64
		middle   int // height of the middle shot
		switches int
	}{
		{"free switches", small, 0, 360, 2},
		{"a small gain does not pay two switches", small, 1.5, 720, 0},
		{"a small gain pays two cheap switches", small, 0.9, 360, 2},
		{"a large gain pays", large, 15, 360, 2},
		{"a large gain does not pay dear switches", large, 25, 720, 0},
		{"one resolution", large, math.Inf(1), 720, 0},
	}
	for _, tc := range cases {
		a, err := Allocate(tc.shots, Target{Bitrate: 1_000_000, SwitchCost: tc.cost})
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.middle, a.Choices[1].Height, tc.name)
		assert.Equal(t, tc.switches, a.Switches, tc.name)
		assert.Equal(t, 720, a.Choices[0].Height, tc.name)
	}
}
