package pershot

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
)

var (
	pal  = media.Timing{RateNum: 25, RateDen: 1, SegmentSeconds: 2}
	ntsc = media.Timing{RateNum: 30000, RateDen: 1001, SegmentSeconds: 2}
)

// starts is the first frame of every shot, then the end of the title.
func starts(chunks []media.Chunk) []int64 {
	var out []int64
	for _, c := range chunks {
		out = append(out, c.First)
	}
	if n := len(chunks); n > 0 {
		out = append(out, chunks[n-1].First+chunks[n-1].Frames)
	}
	return out
}

// TestShotsTable: cuts snap to the segment grid; short shots join a
// neighbour; long shots are split within the limit.
func TestShotsTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		t     media.Timing
		total int64
		cuts  []float64
		rules Rules
		want  []int64
	}{
		{"no cuts: one shot", pal, 400, nil, Rules{}, []int64{0, 400}},
		{"cuts to the nearest segment start; two on one start are one", pal, 400, []float64{3.2, 7.8, 8.8}, Rules{}, []int64{0, 100, 200, 400}},
		{"a long shot split in equal parts", pal, 400, []float64{3.2, 7.8, 8.8}, Rules{MaxSeconds: 6}, []int64{0, 100, 200, 300, 400}},
		{"a cut midway goes to the later start", pal, 400, []float64{3}, Rules{}, []int64{0, 100, 400}},
		{"a shot shorter than a segment joins its neighbours", pal, 400, []float64{5.1, 6.7}, Rules{}, []int64{0, 150, 400}},
		{"the partial last segment joins the shot before", pal, 404, []float64{15.9}, Rules{}, []int64{0, 404}},
		{"short shots join, shortest and earliest first", pal, 400, []float64{2, 4, 10}, Rules{MinSeconds: 5}, []int64{0, 250, 400}},
		{"a short shot joins its shorter neighbour", pal, 400, []float64{6, 8}, Rules{MinSeconds: 4}, []int64{0, 200, 400}},
		{"29.97 fps: segment starts are whole frames", ntsc, 300, []float64{3.9}, Rules{}, []int64{0, 120, 300}},
		{"29.97 fps: a whole segment is long enough", ntsc, 300, []float64{2, 4, 6, 8}, Rules{}, []int64{0, 60, 120, 180, 240, 300}},
		{"cuts outside the title or not numbers are ignored", pal, 200, []float64{math.NaN(), -1, 0, 8, 9, math.Inf(1), math.Inf(-1)}, Rules{}, []int64{0, 200}},
		{"a limit under a segment means one segment", pal, 100, nil, Rules{MaxSeconds: 0.5}, []int64{0, 50, 100}},
		{"a partial last segment within the limit stays", pal, 175, nil, Rules{MaxSeconds: 7}, []int64{0, 175}},
		{"over the limit with the partial segment: split", pal, 175, nil, Rules{MaxSeconds: 6}, []int64{0, 100, 175}},
		{"a title shorter than a segment", pal, 30, []float64{0.5}, Rules{MaxSeconds: 4}, []int64{0, 30}},
		{"segments under a frame add no empty shot", media.Timing{RateNum: 25, RateDen: 1, SegmentSeconds: 0.01}, 3, []float64{0.03, 0.05}, Rules{MaxSeconds: 0.01}, []int64{0, 1, 2, 3}},
	}
	for _, tc := range cases {
		got := Shots(tc.t, tc.total, tc.cuts, tc.rules)
		assert.Equal(t, tc.want, starts(got), tc.name)
		for i, c := range got {
			assert.Equal(t, i, c.Index, tc.name)
		}
	}
	assert.Nil(t, Shots(pal, 0, nil, Rules{}), "no frames")
	assert.Nil(t, Shots(media.Timing{SegmentSeconds: 2}, 100, nil, Rules{}), "no frame rate")
	assert.Nil(t, Shots(media.Timing{RateNum: 25, RateDen: 1}, 100, nil, Rules{}), "no segment length")
}

// TestShotsInvariants: on random cuts, every frame is in exactly one shot,
// every shot starts a segment, none but the first and last is under the
// minimum, none is over the maximum, and each boundary is within half a
// segment of a cut.
func TestShotsInvariants(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(16, 2026))
	for _, tm := range []media.Timing{pal, ntsc, {RateNum: 24000, RateDen: 1001, SegmentSeconds: 4}} {
		for range 300 {
			total := 1 + rng.Int64N(4000)
			cuts := make([]float64, rng.IntN(30))
			for i := range cuts {
				cuts[i] = rng.Float64() * tm.Seconds(total)
			}
			r := Rules{MinSeconds: tm.SegmentSeconds * float64(rng.IntN(3)), MaxSeconds: tm.SegmentSeconds * float64(2+rng.IntN(8))}
			got := Shots(tm, total, cuts, r)
			require.NotEmpty(t, got)
			next := int64(0)
			for _, c := range got {
				require.Equal(t, next, c.First, "shots are contiguous")
				require.Positive(t, c.Frames)
				next = c.First + c.Frames
				onGrid := false
				for n := 0; tm.SegmentStart(n) <= c.First; n++ {
					onGrid = onGrid || tm.SegmentStart(n) == c.First
				}
				assert.True(t, onGrid, "shot at frame %d starts a segment", c.First)
				// Whole segments of whole frames: a frame over at most.
				assert.LessOrEqual(t, tm.Seconds(c.Frames), r.MaxSeconds+tm.Seconds(1))
				// A split's parts are near-equal shares of more than the
				// limit, so at least about half of it, less the rounding
				// of both ends to segment starts.
				if least := math.Min(r.MinSeconds, r.MaxSeconds/2-tm.SegmentSeconds); len(got) > 1 {
					assert.GreaterOrEqual(t, tm.Seconds(c.Frames), least-tm.Seconds(1), "min %g max %g", r.MinSeconds, r.MaxSeconds)
				}
			}
			require.Equal(t, total, next, "every frame in one shot")
		}
	}
}

// TestShotsOfScenes: on a title of four scenes (3.2, 4.6, 1 and 7.2 s), the
// profile pass finds the cuts and the shots start at the segment starts
// nearest them; the 1 s scene joins a neighbour and the last, 7.2 s long,
// is split to stay within 6 s.
//
// The cut at 8.8 s (life into gradients, both seeded at random) does not
// always score over the threshold, and life's first frames may add one just
// after 7.8 s: both land on the segment start at 8 s with the cut at 7.8 s,
// so the shots are the same either way.
func TestShotsOfScenes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clip := testmedia.Scenes(t, testmedia.ScenesSpec{Width: 320, Height: 180, Rate: "25", Scenes: []float64{3.2, 4.6, 1, 7.2}})
	src, err := media.Probe(ctx, "ffprobe", clip)
	require.NoError(t, err)
	tm, err := media.TimingOf(src, 2)
	require.NoError(t, err)
	total, err := media.CountFrames(ctx, "ffprobe", clip)
	require.NoError(t, err)
	require.Equal(t, int64(400), total)

	prof, err := pertitle.ProfileTitle(ctx, "ffmpeg", clip, t.TempDir(), tm.FPS(), 2)
	require.NoError(t, err)
	assert.Positive(t, prof.CPU)
	assert.Len(t, prof.SegmentBits, 8)
	for _, want := range []float64{3.2, 7.8} {
		found := false
		for _, c := range prof.Cuts {
			found = found || math.Abs(c-want) < 0.05
		}
		assert.True(t, found, "cut at %gs in %v", want, prof.Cuts)
	}
	assert.Equal(t, []int64{0, 100, 200, 300, 400}, starts(Shots(tm, total, prof.Cuts, Rules{MaxSeconds: 6})), "cuts %v", prof.Cuts)
}
