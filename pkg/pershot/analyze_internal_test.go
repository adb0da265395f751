package pershot

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
)

// TestPieceFor: a shot is modelled by a piece inside it when there is one
// (the nearest in cost among those), else by the nearest in cost.
func TestPieceFor(t *testing.T) {
	t.Parallel()
	shot := func(first, frames int64, cost float64) ShotAnalysis {
		return ShotAnalysis{Chunk: media.Chunk{First: first, Frames: frames}, Complexity: cost}
	}
	pieces := []pieceSpan{{0, 50, 100}, {100, 150, 400}, {150, 200, 1600}, {300, 350, 400}}
	tests := []struct {
		name string
		shot ShotAnalysis
		want int
	}{
		{"the one inside", shot(0, 100, 800), 0},
		{"the nearest in cost of those inside", shot(100, 100, 1500), 2},
		{"inside beats nearer in cost outside", shot(100, 50, 1600), 1},
		{"none inside: the nearest in cost", shot(200, 100, 1700), 2},
		{"none inside, cheap", shot(200, 100, 90), 0},
		{"a tie: the earlier", shot(200, 100, 410), 1},
		{"pieces overlapping the shot are not inside it", shot(120, 60, 100), 0},
		{"no profile bits: cost 0 reads as the cheapest", shot(200, 100, 0), 0},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, pieceFor(tc.shot, pieces), tc.name)
	}
}

// TestNormalise: at every grid point the shots' bits (and pictures) are
// scaled together so that their mean over the title is the pooled bitrate;
// quality stays, and points the pool lacks are left alone.
func TestNormalise(t *testing.T) {
	t.Parallel()
	cand := func(crf float64, br int64) Candidate {
		return Candidate{Point: pertitle.Point{Width: 640, Height: 360, CRF: crf, Bitrate: br, Quality: 80}, FrameBits: []int64{br / 25, br / 25}}
	}
	shots := []ShotAnalysis{
		{Seconds: 6, Candidates: []Candidate{cand(24, 1_000_000), cand(30, 500_000), cand(36, 250_000)}},
		{Seconds: 2, Candidates: []Candidate{cand(24, 3_000_000), cand(30, 1_500_000), cand(36, 750_000)}},
	}
	// The shots' mean at CRF 24 is (6*1M + 2*3M)/8 = 1.5M; the pool says 1.2M.
	pooled := []pertitle.Point{{Width: 640, Height: 360, CRF: 24, Bitrate: 1_200_000}, {Width: 640, Height: 360, CRF: 30, Bitrate: 750_000}}
	normalise(shots, pooled)
	assert.Equal(t, int64(800_000), shots[0].Candidates[0].Bitrate)
	assert.Equal(t, int64(2_400_000), shots[1].Candidates[0].Bitrate)
	assert.Equal(t, []int64{32_000, 32_000}, shots[0].Candidates[0].FrameBits)
	assert.Equal(t, int64(500_000), shots[0].Candidates[1].Bitrate, "already the pool's mean")
	assert.Equal(t, int64(1_500_000), shots[1].Candidates[1].Bitrate)
	assert.Equal(t, int64(250_000), shots[0].Candidates[2].Bitrate, "not pooled: as it was")
	for _, sh := range shots {
		for _, c := range sh.Candidates {
			assert.Equal(t, 80.0, c.Quality)
		}
	}
}

// TestWithCRF: per-title's CRF joins a size's candidates where it falls
// between two, interpolated; past them it is extrapolated from the nearest
// two, with a candidate every step on the way; nothing changes where it is
// already there.
func TestWithCRF(t *testing.T) {
	t.Parallel()
	pt := func(crf float64, br int64, q float64) Candidate {
		return Candidate{Point: pertitle.Point{Width: 640, Height: 360, CRF: crf, Bitrate: br, Quality: q}}
	}
	base := func() []Candidate { return []Candidate{pt(24, 1_000_000, 82), pt(30, 250_000, 70)} }
	crfs := func(cs []Candidate) []float64 {
		var out []float64
		for _, c := range cs {
			out = append(out, c.CRF)
		}
		return out
	}
	got := withCRF(base(), 25.5, 1)
	require.Equal(t, []float64{24, 25.5, 30}, crfs(got))
	assert.InDelta(t, 707_107, got[1].Bitrate, 1, "a quarter of the way in log")
	assert.InDelta(t, 79, got[1].Quality, 1e-9)
	assert.Len(t, withCRF(base(), 24, 1), 2)

	got = withCRF(base(), 21.5, 1)
	require.Equal(t, []float64{21.5, 22, 23, 24, 30}, crfs(got), "below the grid")
	assert.InDelta(t, 1_587_401, got[1].Bitrate, 1, "two CRFs under 24: four times the bits per six, to the third")
	assert.InDelta(t, 86, got[1].Quality, 1e-9)
	for i := 1; i < len(got); i++ {
		assert.Less(t, got[i].Bitrate, got[i-1].Bitrate)
	}
	got = withCRF([]Candidate{pt(24, 1_000_000, 97), pt(30, 250_000, 85)}, 18, 1)
	assert.Equal(t, 100.0, got[0].Quality, "quality stays within 0..100")

	got = withCRF(base(), 32, 1)
	require.Equal(t, []float64{24, 30, 31, 32}, crfs(got), "above the grid")
	assert.InDelta(t, 157_490, got[3].Bitrate, 1)
	assert.InDelta(t, 66, got[3].Quality, 1e-9)
	assert.Len(t, withCRF(base()[:1], 20, 1), 1, "one point: nothing to extend")
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
