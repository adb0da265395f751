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

// TestCorrection: a shot's probe against its piece's gives, at each probed
// CRF, the quality to add and the log ratio of bits; linear between probed
// CRFs and held beyond them; CRFs only one side measured are left out.
func TestCorrection(t *testing.T) {
	t.Parallel()
	shot := probeCurve{crf: []float64{22, 28, 34}, logBits: []float64{math.Log(2e6), math.Log(8e5), math.Log(3e5)}, quality: []float64{90, 80, 62}}
	ref := probeCurve{crf: []float64{22, 28, 34}, logBits: []float64{math.Log(1e6), math.Log(4e5), math.Log(2e5)}, quality: []float64{94, 90, 84}}
	c := diff(shot, ref)
	require.Equal(t, []float64{22, 28, 34}, c.crf)
	tests := []struct {
		crf       float64
		ratio, dq float64
		name      string
	}{
		{22, 2, -4, "at a probed CRF"},
		{25, 2, -7, "halfway: quality linear, bits ratio linear in log"},
		{34, 1.5, -22, "the last"},
		{16, 2, -4, "below: held"},
		{40, 1.5, -22, "above: held"},
	}
	for _, tc := range tests {
		dl, dq := c.at(tc.crf)
		assert.InDelta(t, tc.ratio, math.Exp(dl), 1e-9, tc.name)
		assert.InDelta(t, tc.dq, dq, 1e-9, tc.name)
	}
	partial := diff(probeCurve{crf: []float64{22, 28}, logBits: []float64{1, 2}, quality: []float64{9, 8}}, ref)
	assert.Equal(t, []float64{22, 28}, partial.crf)
	dl, dq := correction{}.at(30)
	assert.Zero(t, dl+dq, "no probe, no correction")
}

// TestCorrect: a piece's candidates become the shot's: bits and pictures
// times the ratio at their CRF, quality (and its score) moved, within the
// metric's range; the piece's own candidates are left as they were.
func TestCorrect(t *testing.T) {
	t.Parallel()
	cand := func(crf float64, br int64, q float64) Candidate {
		return Candidate{Point: pertitle.Point{Width: 640, Height: 360, CRF: crf, Bitrate: br, Quality: q, Metric: pertitle.MetricVMAF,
			Scores: map[pertitle.Metric]float64{pertitle.MetricVMAF: q}}, FrameBits: []int64{br / 25}}
	}
	piece := []Candidate{cand(22, 1_000_000, 98), cand(34, 200_000, 84)}
	c := correction{crf: []float64{22, 34}, dLogBits: []float64{math.Log(2), math.Log(1.5)}, dQuality: []float64{4, -22}}
	got := correct(piece, c)
	assert.Equal(t, int64(2_000_000), got[0].Bitrate)
	assert.Equal(t, []int64{80_000}, got[0].FrameBits)
	assert.Equal(t, 100.0, got[0].Quality, "within VMAF's range")
	assert.Equal(t, 100.0, got[0].Scores[pertitle.MetricVMAF])
	assert.Equal(t, int64(300_000), got[1].Bitrate)
	assert.InDelta(t, 62, got[1].Quality, 1e-9)
	assert.Equal(t, int64(1_000_000), piece[0].Bitrate, "the piece's own stay")
	assert.Equal(t, 98.0, piece[0].Scores[pertitle.MetricVMAF])
	assert.Equal(t, []int64{40_000}, piece[0].FrameBits)
}

// TestProbeChoices: the middle size, and CRFs a quarter, half and three
// quarters up the grid (all of a short one).
func TestProbeChoices(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 2, probeSize([][2]int{{960, 540}, {768, 432}, {640, 360}, {416, 234}}))
	assert.Equal(t, 0, probeSize([][2]int{{320, 180}}))
	assert.Equal(t, []int{2, 4, 6}, probeCRFs(8))
	assert.Equal(t, []int{1, 2, 3}, probeCRFs(5))
	assert.Equal(t, []int{0, 1}, probeCRFs(2))
}

// TestPerTitlesPlanAlwaysFits: where the shots' model puts per-title's CRF
// a hair over per-title's own prediction, a one-shot title still gets
// per-title's CRF, not the next CRF up.
func TestPerTitlesPlanAlwaysFits(t *testing.T) {
	t.Parallel()
	pt := func(crf float64, br int64, q float64) Candidate {
		return Candidate{Point: pertitle.Point{Width: 640, Height: 360, CRF: crf, Bitrate: br, Quality: q, Metric: pertitle.MetricVMAF}}
	}
	shots := []Shot{{Seconds: 10, Candidates: []Candidate{pt(18, 2_000_000, 96), pt(24, 1_000_000, 90), pt(30, 500_000, 80)}}}
	an := &Analysis{Timing: media.Timing{RateNum: 25, RateDen: 1, SegmentSeconds: 2}}
	at := between(shots[0].Candidates[0], shots[0].Candidates[1], 21.5)
	r := pertitle.Rung{Width: 640, Height: 360, CRF: 21.5, Bitrate: int64(float64(at.Bitrate) * 0.995)}
	rp, err := planRung(an, shots, r, pertitle.MediaRungs([]pertitle.Rung{r}, 0)[0])
	require.NoError(t, err)
	assert.Equal(t, []float64{21.5}, rp.CRFs)
	assert.Equal(t, r.Bitrate, rp.Bitrate, "the rung keeps per-title's target as its label")
}
