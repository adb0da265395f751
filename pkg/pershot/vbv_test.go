package pershot

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPeakRate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		frames  []int64
		fps     float64
		seconds float64
		want    int64
	}{
		{"flat", []int64{100, 100, 100, 100}, 4, 1, 400},
		{"a burst inside a window", []int64{100, 100, 900, 100, 100, 100}, 2, 1, 1000},
		{"the burst counts once per window", []int64{100, 100, 900, 100, 100, 100}, 4, 1, 1200},
		{"the window slides to the burst", []int64{0, 0, 0, 0, 500, 500}, 2, 1, 1000},
		{"fewer frames than a window: their average", []int64{100, 300}, 10, 1, 2000},
		{"a window under a frame is one frame", []int64{10, 50, 20}, 1, 0.1, 50},
		{"no frames", nil, 25, 1, 0},
		{"no frame rate", []int64{1}, 0, 1, 0},
		{"NaN frame rate", []int64{1}, math.NaN(), 1, 0},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, PeakRate(tc.frames, tc.fps, tc.seconds), tc.name)
	}
}

// TestVBVExcess: a run within rate × time + buffer fits; the same frames
// with a burst at a join do not, by exactly the burst's excess.
func TestVBVExcess(t *testing.T) {
	t.Parallel()
	// 10 fps, 1000 bits/s: 100 bits a frame drain; a buffer of 500 bits.
	steady := []int64{100, 100, 100, 100, 100, 100}
	assert.InDelta(t, -500, VBVExcess(steady, 10, 1000, 500), 1e-9, "frames at the rate never touch the buffer")
	cheapThenDear := []int64{20, 20, 20, 20, 400, 400, 100}
	// The two dear frames: 800 bits in 0.2 s = 200 drained + 500 buffered + 100 over.
	assert.InDelta(t, 100, VBVExcess(cheapThenDear, 10, 1000, 500), 1e-9)
	assert.InDelta(t, 0, VBVExcess([]int64{350, 350}, 10, 1000, 500), 1e-9, "exactly full")
	assert.True(t, math.IsInf(VBVExcess(nil, 10, 1000, 500), -1))
	assert.True(t, math.IsInf(VBVExcess(steady, 0, 1000, 500), -1))
}
