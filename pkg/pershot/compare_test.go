package pershot

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTitleCurve: per-title at one setting is every shot at that setting:
// bits summed over the title's seconds and quality weighted by duration;
// a setting not measured in every shot has no per-title point.
func TestTitleCurve(t *testing.T) {
	t.Parallel()
	shots := []Shot{
		{Seconds: 1, Candidates: []Candidate{cand(1280, 720, 23, 2_000_000, 90), cand(640, 360, 30, 400_000, 60), cand(1920, 1080, 18, 9_000_000, 99)}},
		{Seconds: 3, Candidates: []Candidate{cand(640, 360, 30, 200_000, 80), cand(1280, 720, 23, 1_000_000, 94), cand(1280, 720, 23, 7, 1)}},
	}
	got := TitleCurve(shots)
	require.Len(t, got, 2)
	assert.Equal(t, 720, got[0].Height)
	assert.Equal(t, int64(1_250_000), got[0].Bitrate) // (2M×1 + 1M×3)/4
	assert.InDelta(t, 93, got[0].Quality, 1e-9)       // (90×1 + 94×3)/4
	assert.Equal(t, 360, got[1].Height)
	assert.Equal(t, int64(250_000), got[1].Bitrate)
	assert.InDelta(t, 75, got[1].Quality, 1e-9)
}

// TestCompare: on shots of different difficulty the per-shot ladder needs
// fewer bits than the per-title hull for the same quality; on a title whose
// shots are all alike it is exactly the per-title hull.
func TestCompare(t *testing.T) {
	t.Parallel()
	ladder := func(shots []Shot, targets []int64) []Allocation {
		var out []Allocation
		for _, b := range targets {
			a, err := Allocate(shots, Target{Bitrate: b})
			require.NoError(t, err)
			out = append(out, a)
		}
		return out
	}
	varied := []Shot{logShot(4, 4), logShot(10, 12), logShot(2, 30), logShot(6, 8), logShot(8, 3)}
	bd, err := Compare(varied, ladder(varied, []int64{300_000, 600_000, 1_200_000, 2_400_000}))
	require.NoError(t, err)
	assert.Less(t, bd, -5.0, "per-shot saves bits on varied shots")
	t.Logf("varied shots: per-shot against per-title %.2f%% BD-rate", bd)

	alike := []Shot{logShot(4, 10), logShot(6, 10), logShot(2, 10)}
	c := alike[0].Candidates
	bd, err = Compare(alike, ladder(alike, []int64{c[5].Bitrate, c[12].Bitrate, c[20].Bitrate, c[30].Bitrate}))
	require.NoError(t, err)
	assert.InDelta(t, 0, bd, 1e-3, "shots all alike: per-shot is per-title (bitrates round to whole bits)")

	_, err = Compare(alike, ladder(alike, []int64{c[5].Bitrate}))
	assert.Error(t, err, "one rung is no curve")
}

// TestAllocationPoint: a rung's point carries the resolution most of the
// title's seconds are encoded at.
func TestAllocationPoint(t *testing.T) {
	t.Parallel()
	a := Allocation{Bitrate: 1234.6, Quality: 80, Choices: []Choice{
		{Candidate: cand(1280, 720, 23, 1, 1), Seconds: 2},
		{Candidate: cand(640, 360, 23, 1, 1), Seconds: 3},
		{Candidate: cand(1280, 720, 23, 1, 1), Seconds: 2},
	}}
	p := a.Point()
	assert.Equal(t, 720, p.Height)
	assert.Equal(t, int64(1235), p.Bitrate)
	a.Choices[1].Seconds = 5
	assert.Equal(t, 360, a.Point().Height)
}
