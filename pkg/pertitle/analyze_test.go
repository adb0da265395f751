package pertitle

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/media"
)

// lavfiClip renders a lavfi filtergraph (e.g. "color=c=gray:s=320x180:r=25")
// into an mp4 of the given length.
func lavfiClip(t *testing.T, graph string, seconds float64) string {
	t.Helper()
	testmedia.RequireFFmpeg(t)
	out := filepath.Join(t.TempDir(), "clip.mp4")
	b, err := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", graph,
		"-t", fmt.Sprint(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", out).CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

// scenesClip concatenates 4 visibly different scenes of sceneSecs each.
func scenesClip(t *testing.T, sceneSecs float64) string {
	t.Helper()
	d := fmt.Sprint(sceneSecs)
	g := "testsrc2=s=320x180:r=25:d=" + d + "[a];mandelbrot=s=320x180:r=25,trim=duration=" + d + "[b];" +
		"color=c=red:s=320x180:r=25:d=" + d + "[c];life=s=320x180:r=25:mold=10:ratio=0.5,trim=duration=" + d + ",format=yuv420p[e];" +
		"[a][b][c][e]concat=n=4:v=1:a=0"
	return lavfiClip(t, g, 4*sceneSecs)
}

func TestChooseSamples(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		duration float64
		cuts     []float64
		count    int
		length   float64
		seg      float64
		want     [][2]float64 // nil: check the invariants only
	}{
		{"short title is analysed whole", 10, nil, 3, 2, 2, [][2]float64{{0, 10}}},
		{"no cuts: middle of each stretch", 30, nil, 3, 2, 0, [][2]float64{{4, 6}, {14, 16}, {24, 26}}},
		{"the middle moves to the nearest segment start", 33, nil, 3, 2, 2, [][2]float64{{4, 6}, {16, 18}, {26, 28}}},
		{"cut inside the middle piece moves it into one scene", 30, []float64{15}, 3, 2, 2, nil},
		{"many cuts", 120, []float64{3, 17, 29, 44, 58, 61, 77, 90, 101, 115}, 4, 2, 2, nil},
		{"one long scene", 60, []float64{59}, 4, 2, 2, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := chooseSamples(tc.duration, tc.cuts, tc.count, tc.length, tc.seg)
			if tc.want != nil {
				assert.InDeltaSlice(t, flatten(tc.want), flatten(got), 1e-9)
				return
			}
			require.Len(t, got, tc.count)
			stretch := tc.duration / float64(tc.count)
			for i, p := range got {
				assert.GreaterOrEqual(t, p[0], stretch*float64(i)-1e-9, "piece %d lies in its stretch", i)
				assert.LessOrEqual(t, p[0], stretch*float64(i+1), "piece %d lies in its stretch", i)
				assert.Greater(t, p[1], p[0])
				assert.LessOrEqual(t, p[1], tc.duration)
				assert.GreaterOrEqual(t, p[1]-p[0], tc.length/2)
				for _, c := range tc.cuts {
					assert.False(t, c > p[0]+1e-6 && c < p[1]-1e-6, "piece %v straddles the cut at %g", p, c)
				}
				if i > 0 {
					assert.GreaterOrEqual(t, p[0], got[i-1][1], "pieces do not overlap")
				}
			}
		})
	}
}

func flatten(ps [][2]float64) []float64 {
	var out []float64
	for _, p := range ps {
		out = append(out, p[0], p[1])
	}
	return out
}

// TestSamplingSpreadsOverScenes: on a title of four scenes the profile pass
// finds the cuts and how hard each segment is, and fast analysis samples the
// easiest and the hardest scenes.
func TestSamplingSpreadsOverScenes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clip := scenesClip(t, 15)
	cuts, segBits, cpu, err := profileTitle(ctx, "ffmpeg", clip, t.TempDir(), 25, 2)
	require.NoError(t, err)
	assert.Positive(t, cpu)
	require.GreaterOrEqual(t, len(cuts), 3, "cuts %v", cuts)
	require.Len(t, segBits, 30)
	// The flat red scene (30-45 s) is the cheapest to encode by far.
	assert.Less(t, segBits[17], segBits[2]/5, "%v", segBits)
	for _, want := range []float64{15, 30, 45} {
		found := false
		for _, c := range cuts {
			found = found || (c > want-0.1 && c < want+0.1)
		}
		assert.True(t, found, "cut at %gs in %v", want, cuts)
	}

	// A 320x180 title's final encode is so cheap that the usual budget
	// affords one piece; this test needs three.
	a, err := Analyze(ctx, clip, Options{SampleCount: 3, SampleSeconds: 1, SegmentSeconds: 1, Heights: []int{180, 90}, CRFs: []float64{24, 36},
		AnalysisBudget: 10})
	require.NoError(t, err)
	require.Len(t, a.Samples, 3)
	scenes := map[int]bool{}
	for _, s := range a.Samples {
		assert.InDelta(t, 0, math.Mod(s[0], 1), 1e-9, "piece %v starts a segment", s)
		scenes[int(s[0]/15)] = true
	}
	assert.True(t, scenes[2] && scenes[3], "the cheapest scene (red) and the dearest (life) are both sampled: %v", a.Samples)
	assert.Contains(t, a.CPUByStage, "profile")
	assert.Len(t, a.Points, 4)
	assert.NotEmpty(t, a.Hull)
	assert.Positive(t, a.CPUTime)
	for _, p := range a.Points {
		assert.Positive(t, p.Bitrate)
		assert.Equal(t, a.Metric, p.Metric)
		assert.Contains(t, p.Scores, MetricPSNR)
	}

	// The pieces' own grids (what pkg/pershot models shots by) pool into
	// the points: their mean, scaled by the profile pass's correction.
	require.NotNil(t, a.Profile)
	assert.Equal(t, cuts, a.Profile.Cuts)
	require.Len(t, a.PieceGrids, 3)
	scale := sampleScale(a.Profile.SegmentBits, 1, a.Samples)
	for j, p := range a.Points {
		var bits, q float64
		for _, g := range a.PieceGrids {
			require.Len(t, g, len(a.Points))
			assert.Equal(t, [3]float64{float64(p.Width), float64(p.Height), p.CRF}, [3]float64{float64(g[j].Width), float64(g[j].Height), g[j].CRF})
			assert.Len(t, g[j].FrameBits, 25, "a 1 s piece's pictures")
			bits += float64(g[j].Bitrate)
			q += g[j].Quality
		}
		assert.InEpsilon(t, float64(p.Bitrate), bits/3*scale, 0.01, "point %d", j)
		assert.InDelta(t, p.Quality, q/3, 1e-6, "point %d", j)
	}
}

// TestStaticContentGetsCheaperLadder: a still picture needs far fewer bits
// than noise for the same quality, and the chosen ladders show it.
func TestStaticContentGetsCheaperLadder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	still := lavfiClip(t, "color=c=0x406080:s=640x360:r=25,drawbox=x=100:y=80:w=200:h=120:c=yellow:t=fill", 3)
	noise := lavfiClip(t, "nullsrc=s=640x360:r=25,geq=lum='random(1)*255':cb=128:cr=128", 3)
	opt := Options{CRFs: []float64{20, 28, 36}}
	ls, as, err := Plan(ctx, still, opt)
	require.NoError(t, err)
	ln, an, err := Plan(ctx, noise, opt)
	require.NoError(t, err)
	require.NotEmpty(t, ls.Rungs)
	require.NotEmpty(t, ln.Rungs)
	assert.Less(t, ls.Rungs[0].Bitrate*5, ln.Rungs[0].Bitrate, "top rung: still %d, noise %d", ls.Rungs[0].Bitrate, ln.Rungs[0].Bitrate)
	assert.Less(t, sumBitrates(ls.Rungs)*5, sumBitrates(ln.Rungs))
	assert.Equal(t, [][2]float64{{0, 3}}, as.Samples, "a 3 s title is no longer than two pieces of a segment: analysed whole")
	t.Logf("still: %v (cpu %v)\nnoise: %v (cpu %v)", ls.Rungs, as.CPUTime, ln.Rungs, an.CPUTime)
}

func sumBitrates(rs []Rung) int64 {
	var n int64
	for _, r := range rs {
		n += r.Bitrate
	}
	return n
}

func TestGridSizes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		w, h int
		want [][2]int
	}{
		{1920, 1080, [][2]int{{1920, 1080}, {1280, 720}, {960, 540}, {640, 360}, {416, 234}}},
		{640, 360, [][2]int{{640, 360}, {416, 234}}},
		{854, 480, [][2]int{{854, 480}, {640, 360}, {416, 234}}},
		{1080, 1920, [][2]int{{1080, 1920}, {720, 1280}, {540, 960}, {360, 640}, {234, 416}}},
		{3840, 2160, [][2]int{{1920, 1080}, {1280, 720}, {960, 540}, {640, 360}, {416, 234}}},
		{160, 90, [][2]int{{160, 90}}},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, gridSizes(tc.w, tc.h, DefaultHeights), "%dx%d", tc.w, tc.h)
	}
}

// TestStaggeredGrid: the largest size skips the highest CRF, the smaller
// ones the lowest; a single size or a short CRF list keeps the full grid.
func TestStaggeredGrid(t *testing.T) {
	t.Parallel()
	a := &analyzer{opt: Options{CRFs: []float64{18, 24, 30, 36}}, sizes: gridSizes(1280, 720, DefaultHeights)}
	assert.Equal(t, []int{0, 1, 2}, a.crfsAt(0))
	for si := 1; si < len(a.sizes); si++ {
		assert.Equal(t, []int{1, 2, 3}, a.crfsAt(si))
	}
	one := &analyzer{opt: Options{CRFs: []float64{18, 24, 30, 36}}, sizes: [][2]int{{160, 90}}}
	assert.Equal(t, []int{0, 1, 2, 3}, one.crfsAt(0))
	short := &analyzer{opt: Options{CRFs: []float64{20, 30}}, sizes: gridSizes(640, 360, DefaultHeights)}
	assert.Equal(t, []int{0, 1}, short.crfsAt(1))
}

// TestFallbackTarget: without VMAF the top-rung target is the SSIM default,
// lowered to what the hull gives at the static ladder's top rate; VMAF and a
// caller's target are left alone.
func TestFallbackTarget(t *testing.T) {
	t.Parallel()
	hull := []Point{
		{Width: 640, Height: 360, Bitrate: 100_000, Quality: 0.95, Metric: MetricSSIM},
		{Width: 640, Height: 360, Bitrate: 400_000, Quality: 0.98, Metric: MetricSSIM},
		{Width: 640, Height: 360, Bitrate: 1_600_000, Quality: 0.999, Metric: MetricSSIM},
	}
	// 640x360: the static top is 365 kb/s, where the hull is below the default.
	q, note := fallbackTarget(&Analysis{Metric: MetricSSIM, Hull: hull}, Constraints{}, 640, 360)
	assert.InDelta(t, hullQuality(hull, 365_000), q, 1e-9)
	assert.Less(t, q, DefaultTargetQuality(MetricSSIM))
	assert.NotEmpty(t, note)
	// 1280x720: the static top is 4.5 Mb/s, beyond the hull's top quality 0.999.
	q, _ = fallbackTarget(&Analysis{Metric: MetricSSIM, Hull: hull}, Constraints{}, 1280, 720)
	assert.Equal(t, DefaultTargetQuality(MetricSSIM), q)
	q, note = fallbackTarget(&Analysis{Metric: MetricSSIM, Hull: hull}, Constraints{TargetQuality: 0.97}, 640, 360)
	assert.Equal(t, 0.97, q)
	assert.Empty(t, note)
	q, _ = fallbackTarget(&Analysis{Metric: MetricVMAF, Hull: hull}, Constraints{}, 640, 360)
	assert.Zero(t, q, "VMAF keeps its default")
}

// testCostModel is the cost model of a 1280x720 25 fps title analysed on
// the default grid for a final encode at preset.
func testCostModel(preset string) costModel {
	src := &media.Source{Duration: 60, Video: &media.VideoStream{Width: 1280, Height: 720, FrameRate: 25}}
	opt := Options{Preset: preset}
	opt.setDefaults()
	return newCostModel(newAnalyzer(src, opt, ""))
}

// TestSamplePlan: the number of pieces is the most the CPU budget affords
// (the next one would break it), at least one and at most count; it never
// falls as titles get longer; a slower final preset, whose encode costs
// more, affords at least as many pieces (and more on some titles) although
// its budget is a smaller share; a short title gets one piece.
func TestSamplePlan(t *testing.T) {
	t.Parallel()
	fast, slow := testCostModel("veryfast"), testCostModel("slow")
	require.Greater(t, slow.finalCost(100), fast.finalCost(100))
	require.Less(t, slow.budget, fast.budget)
	more := false
	prev := map[string]int{}
	for _, d := range []float64{5, 10, 30, 65, 100, 224, 600, 1800, 7200} {
		for name, m := range map[string]costModel{"veryfast": fast, "slow": slow} {
			n, secs := samplePlan(d, 8, 2, 2, m)
			assert.InDelta(t, 2, secs, 1e-9)
			assert.GreaterOrEqual(t, n, 1, "%s %gs", name, d)
			assert.LessOrEqual(t, n, 8, "%s %gs", name, d)
			assert.GreaterOrEqual(t, n, prev[name], "%s %gs: no fewer pieces on a longer title", name, d)
			prev[name] = n
			// Within the budget, or the pieces alone within it when the
			// once-costs (profile pass, calibration) break it by themselves.
			spend := m.share(d, n, secs)
			next := m.share(d, n+1, secs)
			if m.share(d, 1, secs) > m.budget {
				spend = float64(n) * m.pieceCost(secs) / m.finalCost(d)
				next = float64(n+1) * m.pieceCost(secs) / m.finalCost(d)
			}
			if n > 1 {
				assert.LessOrEqual(t, spend, m.budget, "%s %gs: within the budget", name, d)
			}
			if n < 8 {
				assert.Greater(t, next, m.budget, "%s %gs: one more piece breaks it", name, d)
			}
		}
		nf, _ := samplePlan(d, 8, 2, 2, fast)
		ns, _ := samplePlan(d, 8, 2, 2, slow)
		assert.GreaterOrEqual(t, ns, nf, "%gs", d)
		more = more || ns > nf
	}
	assert.True(t, more, "slow affords more pieces on some title")
	n, _ := samplePlan(10, 8, 2, 2, fast)
	assert.Equal(t, 1, n, "a 10 s title")
	n, _ = samplePlan(7200, 8, 2, 2, fast)
	assert.Equal(t, 8, n, "a two-hour film")
	// A small picture at veryfast: the profile pass alone is about a quarter
	// of the final encode, and a long title still gets its pieces.
	small := costModel{fps: 25, sourcePx: 640 * 360, gridPx: 3 * (640*360 + 416*234), sizes: 2, points: 6,
		windowPx: 640 * 360, ladderPx: 640*360 + 416*234, analysis: 1, final: 1, budget: budgetShare}
	require.Greater(t, small.share(7200, 1, 2), small.budget)
	n, _ = samplePlan(7200, 8, 2, 2, small)
	assert.Equal(t, 8, n, "a two-hour film of a small picture")
	// Options.AnalysisBudget widens the budget.
	wide := fast
	wide.budget = 4 * fast.budget
	nf, _ := samplePlan(120, 8, 2, 2, fast)
	nw, _ := samplePlan(120, 8, 2, 2, wide)
	assert.Greater(t, nw, nf, "four times the budget")
	// A piece is never shorter than a segment (the final encode's GOP).
	for _, tc := range []struct{ seconds, seg, secs float64 }{{1, 2, 2}, {1, 4, 4}, {3, 2, 3}} {
		_, secs := samplePlan(600, 8, tc.seconds, tc.seg, fast)
		assert.InDelta(t, tc.secs, secs, 1e-9, "%g s pieces, %g s segments", tc.seconds, tc.seg)
	}
}

func TestSegmentBits(t *testing.T) {
	t.Parallel()
	// SPS, PPS, IDR (3 pictures per segment), P, P | P, SEI, P
	stream := []byte{0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 1, 0, 0, 1, 0x65, 1, 1, 1,
		0, 0, 1, 0x41, 1, 0, 0, 1, 0x41, 1, 0, 0, 1, 0x41, 1, 1, 0, 0, 1, 0x06, 1, 0, 0, 1, 0x41, 1}
	assert.Equal(t, []float64{8 * (2 + 2 + 4 + 2 + 2), 8 * (3 + 2 + 2)}, segmentBits(stream, 3))
}

// TestStratifiedSamples: on a title whose first half is easy and second half
// hard, pieces stand for equal shares from easy to hard, start on segment
// boundaries and avoid straddling a cut when their group allows.
func TestStratifiedSamples(t *testing.T) {
	t.Parallel()
	bits := []float64{10, 11, 12, 13, 14, 100, 110, 120, 130, 140}
	got := stratifiedSamples(bits, 2, 20, nil, 2, 1)
	assert.Equal(t, [][2]float64{{4, 5}, {14, 15}}, got, "the median of each half")
	got = stratifiedSamples(bits, 2, 20, []float64{14.5}, 2, 1)
	assert.Equal(t, [][2]float64{{4, 5}, {12, 13}}, got, "the hard piece moves off the segment with a cut")
	got = stratifiedSamples(bits, 2, 20, nil, 4, 2)
	require.Len(t, got, 4)
	for _, p := range got {
		assert.InDelta(t, 0, math.Mod(p[0], 2), 1e-9)
		assert.InDelta(t, 2, p[1]-p[0], 1e-9)
	}
	assert.Equal(t, chooseSamples(20, nil, 12, 1, 2), stratifiedSamples(bits, 2, 20, nil, 12, 1), "more pieces than segments")
}

func TestForEachNAL(t *testing.T) {
	t.Parallel()
	// SPS (3-byte start code), PPS (4-byte), IDR slice, then a P slice at the end.
	stream := []byte{0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 4, 5, 6, 0, 0, 1, 0x41, 7}
	type nal struct {
		typ  byte
		size int
	}
	var got []nal
	forEachNAL(stream, func(typ byte, size int) { got = append(got, nal{typ, size}) })
	assert.Equal(t, []nal{{7, 3}, {8, 2}, {5, 4}, {1, 2}}, got)
	got = nil
	forEachNAL([]byte{1, 2, 3}, func(typ byte, size int) { got = append(got, nal{typ, size}) })
	assert.Empty(t, got, "no start code, no NAL unit")
}

// TestSteadyBitsCorrectsShortPieces: a piece shorter than one GOP carries its
// IDR picture over fewer frames than the final stream will; on a still,
// grainy picture (the IDR is most of the bits) steadyBits must estimate the
// rate of a whole GOP much better than the piece's plain rate, which reads
// close to twice it. (It errs low by some 15% here: x264's macroblock tree
// gives the IDR of a longer GOP more bits, since more pictures refer to it.)
func TestSteadyBitsCorrectsShortPieces(t *testing.T) {
	t.Parallel()
	testmedia.RequireFFmpeg(t)
	dir := t.TempDir()
	encode := func(name string, frames int) string {
		out := filepath.Join(dir, name)
		b, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
			"-i", "mandelbrot=s=320x180:r=25,trim=end_frame=1,loop=loop=-1:size=1,setpts=N/25/TB,noise=alls=4:allf=t", "-frames:v", fmt.Sprint(frames), "-c:v", "libx264", "-preset", "veryfast",
			"-crf", "30", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-threads", "1", "-f", "h264", out).CombinedOutput()
		require.NoError(t, err, "%s", b)
		return out
	}
	whole := encode("gop.h264", 50)   // one whole GOP: 2 s
	piece := encode("piece.h264", 25) // its first second

	wholeBits, secs, err := steadyBits(whole, 50, 50, 25)
	require.NoError(t, err)
	assert.Zero(t, secs, "a whole GOP is taken as it is")
	wantRate := wholeBits / 2

	pieceBits, secs, err := steadyBits(piece, 25, 50, 25)
	require.NoError(t, err)
	require.InDelta(t, 2, secs, 1e-9, "the piece stands for one GOP")
	naive := float64(fileSize(t, piece)) * 8 / 1
	steady := pieceBits / secs
	naiveErr, steadyErr := math.Abs(naive/wantRate-1), math.Abs(steady/wantRate-1)
	assert.Less(t, steadyErr, 0.3, "steady rate %.0f against the GOP's %.0f", steady, wantRate)
	assert.Less(t, steadyErr, naiveErr/2, "steady %.0f, plain %.0f, GOP %.0f b/s", steady, naive, wantRate)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

func TestEqualQuality(t *testing.T) {
	t.Parallel()
	crfs := []float64{24, 30, 36}
	quality := []float64{0.98, 0.96, 0.90}
	logBits := []float64{math.Log(800e3), math.Log(400e3), math.Log(200e3)}
	cases := []struct {
		q, crf, bits float64
	}{
		{0.97, 27, math.Sqrt(800e3 * 400e3)}, // halfway between two grid points
		{0.96, 30, 400e3},                    // on one
		{0.93, 33, math.Sqrt(400e3 * 200e3)}, // in the second segment
		{0.99, 21, 800e3 * math.Sqrt2},       // above the grid: extrapolated (half a step)
		{1.10, 18, 1600e3},                   // far above: at most one grid step
		{0.50, 42, 100e3},                    // far below: at most one grid step
	}
	for _, tc := range cases {
		crf, lb := equalQuality(crfs, quality, logBits, tc.q)
		assert.InDelta(t, tc.crf, crf, 1e-6, "q %g: CRF", tc.q)
		assert.InDelta(t, tc.bits, math.Exp(lb), tc.bits*1e-6, "q %g: bits", tc.q)
	}
}

// TestAnalyzeMapsOntoASlowerFinalPreset: with a final preset slower than the
// analysis preset, the grid is encoded lower, calibrated at both ends of the
// grid, and every point comes back in the final preset's terms.
func TestAnalyzeMapsOntoASlowerFinalPreset(t *testing.T) {
	t.Parallel()
	clip := lavfiClip(t, "testsrc2=s=320x180:r=25", 4)
	a, err := Analyze(context.Background(), clip, Options{Preset: "medium", Heights: []int{180, 90}, CRFs: []float64{24, 30, 36}})
	require.NoError(t, err)
	assert.Positive(t, a.CPUByStage["calibrate"], "calibration encodes ran: %v", a.CPUByStage)
	assert.Positive(t, a.CPUByStage["encode"])
	found := false
	for _, w := range a.Warnings {
		found = found || strings.Contains(w, "final preset medium")
	}
	assert.True(t, found, "the mapping is reported: %v", a.Warnings)
	bySize := map[int][]Point{}
	for _, p := range a.Points {
		assert.GreaterOrEqual(t, p.CRF, 1.0)
		assert.LessOrEqual(t, p.CRF, 51.0)
		bySize[p.Height] = append(bySize[p.Height], p)
	}
	require.Len(t, bySize, 2)
	assert.NotEqual(t, []float64{24, 24}, []float64{bySize[180][0].CRF, bySize[90][0].CRF},
		"grid CRFs (encoded 2 lower) come back moved by the measured offsets")
	for h, ps := range bySize {
		require.Len(t, ps, 3, "%dp", h)
		for i := 1; i < len(ps); i++ {
			assert.Greater(t, ps[i].CRF, ps[i-1].CRF, "%dp: CRFs in grid order", h)
			assert.Less(t, ps[i].Bitrate, ps[i-1].Bitrate, "%dp: fewer bits at a higher CRF", h)
			assert.InDelta(t, 6, ps[i].CRF-ps[i-1].CRF, 1e-6, "%dp: one offset per size keeps the grid's spacing", h)
		}
	}
}

// TestAnalyzeSteersByVMAF: with the scorer make installs, the analysis and
// the ladder are in VMAF, every point carries VMAF alone (SSIM and PSNR beside it would cost CPU for nothing), and
// nothing warns about a fallback; with a scorer lacking libvmaf the fallback
// says so.
func TestAnalyzeSteersByVMAF(t *testing.T) {
	t.Parallel()
	clip := lavfiClip(t, "mandelbrot=s=320x180:r=25", 4)
	opt := Options{Scorer: testScorer(t), Heights: []int{180, 90}, CRFs: []float64{24, 30, 36}}
	l, a, err := Plan(context.Background(), clip, opt)
	require.NoError(t, err)
	assert.Equal(t, MetricVMAF, a.Metric)
	assert.Equal(t, MetricVMAF, l.Metric)
	for _, p := range a.Points {
		assert.Equal(t, MetricVMAF, p.Metric)
		assert.Equal(t, p.Scores[MetricVMAF], p.Quality)
		assert.NotContains(t, p.Scores, MetricSSIM)
		assert.NotContains(t, p.Scores, MetricPSNR)
	}
	for _, w := range a.Warnings {
		assert.NotContains(t, w, "VMAF")
	}
	require.NotEmpty(t, l.Rungs)
	assert.LessOrEqual(t, l.Rungs[0].PredictedQuality, 100.0)

	opt.Scorer = "ffmpeg"
	_, a, err = Plan(context.Background(), clip, opt)
	require.NoError(t, err)
	assert.Equal(t, MetricSSIM, a.Metric)
	assert.Contains(t, strings.Join(a.Warnings, "\n"), "NOT STEERED BY VMAF")
}

// TestCornersFollowTheHull: a skipped corner of the staggered grid is
// measured only where its measured neighbour of the same size is on the
// hull (scene_cuts in docs/benchmarks.md: 1280x272 stayed on the hull below
// its highest measured CRF).
func TestCornersFollowTheHull(t *testing.T) {
	t.Parallel()
	a := &analyzer{opt: Options{CRFs: []float64{18, 24, 30, 36}}, sizes: [][2]int{{1280, 272}, {1102, 234}}, crfs: []float64{18, 24, 30, 36}}
	maps := []presetMap{{ratio: 1}, {ratio: 1}}
	pt := func(w, h int, crf float64) Point { return Point{Width: w, Height: h, CRF: crf} }
	cases := []struct {
		name string
		hull []Point
		want [][2]int
	}{
		{"the large size wins down to its highest CRF", []Point{pt(1102, 234, 36), pt(1280, 272, 30), pt(1280, 272, 18)}, [][2]int{{0, 3}}},
		{"the small size wins up to its lowest CRF", []Point{pt(1102, 234, 30), pt(1102, 234, 24), pt(1280, 272, 18)}, [][2]int{{1, 0}}},
		{"both", []Point{pt(1102, 234, 24), pt(1280, 272, 30)}, [][2]int{{0, 3}, {1, 0}}},
		{"the usual crossover needs no corner", []Point{pt(1102, 234, 36), pt(1102, 234, 30), pt(1280, 272, 24), pt(1280, 272, 18)}, nil},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, a.corners(tc.hull, maps), tc.name)
	}
}

// TestAnalysisSaysWhenOverBudget: a short title sampled from one piece
// costs more than the budget allows, and the analysis says so with its
// estimate; a budget wide enough for it says nothing.
func TestAnalysisSaysWhenOverBudget(t *testing.T) {
	t.Parallel()
	clip := lavfiClip(t, "mandelbrot=s=320x180:r=25", 12)
	opt := Options{SampleCount: 1, SampleSeconds: 2, SegmentSeconds: 2, Heights: []int{180, 90}, CRFs: []float64{24, 36}}
	a, err := Analyze(context.Background(), clip, opt)
	require.NoError(t, err)
	require.Len(t, a.Samples, 1)
	assert.Contains(t, strings.Join(a.Warnings, "\n"), "over the 25% budget")
	opt.AnalysisBudget = 100
	a, err = Analyze(context.Background(), clip, opt)
	require.NoError(t, err)
	require.Len(t, a.Samples, 1, "still sampled")
	assert.NotContains(t, strings.Join(a.Warnings, "\n"), "budget:")
}
