package pershot

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/pertitle"
)

// TestGroupShots: shots are measured apart unless the budget forces them
// to share; then the groups nearest in cost merge.
func TestGroupShots(t *testing.T) {
	t.Parallel()
	shots := func(costs ...float64) []ShotAnalysis {
		out := make([]ShotAnalysis, len(costs))
		for i, c := range costs {
			out[i] = ShotAnalysis{Seconds: 4, Complexity: c}
		}
		return out
	}
	tests := []struct {
		name   string
		costs  []float64
		budget int
		want   [][]int
	}{
		{"no budget: each alone", []float64{100, 400, 1600}, 0, [][]int{{0}, {1}, {2}}},
		{"alike shots too, without a budget", []float64{100, 105, 1600}, 0, [][]int{{0}, {1}, {2}}},
		{"a budget that fits", []float64{100, 400, 1600}, 3, [][]int{{0}, {1}, {2}}},
		{"a budget merges the nearest", []float64{100, 150, 1600, 6400}, 3, [][]int{{0, 1}, {2}, {3}}},
		{"down to the budget", []float64{100, 150, 1600, 6400}, 2, [][]int{{0, 1}, {2, 3}}},
		{"out of order", []float64{1600, 100, 6400, 150}, 2, [][]int{{0, 2}, {1, 3}}},
		{"a budget of one", []float64{100, 400, 1600}, 1, [][]int{{0, 1, 2}}},
		{"no profile bits", []float64{0, 0, 800}, 2, [][]int{{0, 1}, {2}}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, groupShots(shots(tc.costs...), tc.budget), tc.name)
	}
}

// TestRepresentative: the member nearest the group's mean cost in log, the
// longer one on a tie.
func TestRepresentative(t *testing.T) {
	t.Parallel()
	s := []ShotAnalysis{{Seconds: 2, Complexity: 100}, {Seconds: 2, Complexity: 200}, {Seconds: 2, Complexity: 400}}
	assert.Equal(t, 1, representative(s, []int{0, 1, 2}))
	s = []ShotAnalysis{{Seconds: 2, Complexity: 100}, {Seconds: 6, Complexity: 400}}
	assert.Equal(t, 1, representative(s, []int{0, 1}), "weighted by duration")
	s = []ShotAnalysis{{Seconds: 2, Complexity: 100}, {Seconds: 4, Complexity: 100}}
	assert.Equal(t, 1, representative(s, []int{0, 1}), "the longer on a tie")
}

// TestSampleBudget: titles pertitle analyses whole have no limit; longer
// ones afford a piece per titlePerShotSecond seconds of title per second.
func TestSampleBudget(t *testing.T) {
	t.Parallel()
	opt := Options{Options: pertitle.Options{SampleCount: 8, SampleSeconds: 2, SegmentSeconds: 2}}
	assert.Equal(t, 0, sampleBudget(32, opt))
	assert.Equal(t, 2, sampleBudget(60, opt))
	assert.Equal(t, 4, sampleBudget(120, opt))
	assert.Equal(t, 1, sampleBudget(33, opt))
}

// TestInterpolate: between measured CRFs of one size, candidates every
// step with bits log-linear and quality linear in CRF; measured ones stay.
func TestInterpolate(t *testing.T) {
	t.Parallel()
	pt := func(crf float64, br int64, q float64) Candidate {
		return Candidate{Point: pertitle.Point{Width: 640, Height: 360, CRF: crf, Bitrate: br, Quality: q,
			Scores: map[pertitle.Metric]float64{pertitle.MetricVMAF: q}}, Peak: 2 * br}
	}
	got := interpolate([]Candidate{pt(30, 250_000, 70), pt(24, 1_000_000, 82)}, 1)
	require.Len(t, got, 7)
	for i, c := range got {
		assert.Equal(t, 24+float64(i), c.CRF)
	}
	mid := got[3] // CRF 27: halfway in log between 1000k and 250k
	assert.InDelta(t, 500_000, mid.Bitrate, 1)
	assert.InDelta(t, 1_000_000, mid.Peak, 2)
	assert.InDelta(t, 76, mid.Quality, 1e-9)
	assert.InDelta(t, 76, mid.Scores[pertitle.MetricVMAF], 1e-9)
	for i := 1; i < len(got); i++ {
		assert.Less(t, got[i].Bitrate, got[i-1].Bitrate, "bits fall as CRF rises")
	}
	assert.Equal(t, int64(1_000_000), got[0].Bitrate)
	assert.Equal(t, int64(250_000), got[6].Bitrate)
	assert.Len(t, interpolate([]Candidate{pt(30, 250_000, 70)}, 1), 1, "one point stays one")
}

// TestScaled: shared measurements scale bits and pictures, never quality,
// and never alias the original's.
func TestScaled(t *testing.T) {
	t.Parallel()
	orig := []Candidate{{Point: pertitle.Point{Bitrate: 1000, Quality: 90, Scores: map[pertitle.Metric]float64{pertitle.MetricVMAF: 90}},
		FrameBits: []int64{100, 200}}}
	got := scaled(orig, 1.5)
	assert.Equal(t, int64(1500), got[0].Bitrate)
	assert.Equal(t, []int64{150, 300}, got[0].FrameBits)
	assert.Equal(t, 90.0, got[0].Quality)
	got[0].Scores[pertitle.MetricVMAF] = 0
	assert.Equal(t, 90.0, orig[0].Scores[pertitle.MetricVMAF])
	assert.False(t, math.IsNaN(float64(got[0].Bitrate)))
}
