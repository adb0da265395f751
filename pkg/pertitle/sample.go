package pertitle

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
)

// Sampling defaults (fast mode).
const (
	DefaultSampleCount   = 8
	DefaultSampleSeconds = 2.0
	// sceneThreshold is the select filter's scene score above which a frame
	// starts a new scene.
	sceneThreshold = 0.3
)

// samplePlan is how many pieces, and how long, fast analysis takes from a
// title of duration seconds: count pieces of seconds (at least one segment
// of seg seconds) when the CPU budget affords them (m.affordable), otherwise
// as many as it affords, at least one.
//
// A piece is never shorter than a segment: the final encode's GOP. x264's
// macroblock tree gives a picture fewer bits the fewer pictures follow it
// within its lookahead, so a piece that stops mid-GOP reads low on
// predictable content: a 1 s piece of a slow pan read about half the bits its
// pictures get with the rest of their GOP after them (docs/benchmarks.md,
// "Pieces are whole GOPs"). A piece that ends where
// the final encode's closed GOP ends has nothing after it to miss.
func samplePlan(duration float64, count int, seconds, seg float64, m costModel) (int, float64) {
	length := math.Max(seconds, seg)
	return m.affordable(duration, max(count, 1), length), length
}

// minSceneTitle: titles up to this long (seconds) are sampled without the
// profile pass (profileTitle). It decodes the whole title, which on a short
// title costs as much as a piece's analysis encodes (docs/benchmarks.md,
// "Numbers behind the engine's comments"), and a title that short yields one
// piece, placed in its middle.
const minSceneTitle = 30.0

// profileWidth is the width of the profile pass's pictures: scene cuts stay
// obvious and a tiny encode's bits follow the title's complexity, for little
// more than the cost of decoding.
const profileWidth = 160

// Profile is what the profile pass found in a whole title.
type Profile struct {
	Cuts        []float64 // scene cuts, seconds from the title's start, ascending
	SegmentBits []float64 // bits of a tiny ultrafast encode per segment, in order
	CPU         time.Duration
}

// ProfileTitle runs the profile pass (profileTitle) over the whole title:
// its scene cuts and how hard each segment of seg seconds is to encode, for
// little more than the cost of decoding it. fps is the title's frame rate;
// dir receives temporary files.
func ProfileTitle(ctx context.Context, ffmpeg, src, dir string, fps, seg float64) (Profile, error) {
	cuts, bits, cpu, err := profileTitle(ctx, ffmpeg, src, dir, fps, seg)
	return Profile{Cuts: cuts, SegmentBits: bits, CPU: cpu}, err
}

// profileTitle is one cheap pass over the whole title: scene cuts (the
// select filter's scene score) and the bits an x264 ultrafast encode of a
// profileWidth picture spends on each segment of seg seconds, a measure of
// how hard each stretch of the title is to encode. fps is the title's frame
// rate. It returns the cuts, the bits per segment and the pass's CPU time.
func profileTitle(ctx context.Context, ffmpeg, src, dir string, fps, seg float64) ([]float64, []float64, time.Duration, error) {
	scenes := filepath.Join(dir, "scenes.txt")
	tiny := filepath.Join(dir, "profile.h264")
	g := fmt.Sprintf("[0:v:0]scale=%d:-2:flags=fast_bilinear,format=yuv420p,split[a][b];[a]select='gt(scene\\,%g)',metadata=print:file=%s[s]",
		profileWidth, sceneThreshold, escapeFilterArg(scenes))
	args := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y"}, media.InputArgs(src, media.SourceFormats)...)
	args = append(args, "-filter_complex", g, "-map", "[s]", "-f", "null", "-",
		"-map", "[b]", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28", "-threads", "1")
	args = append(args, media.X264GOPArgs(fps, seg)...)
	args = append(args, "-f", "h264", tiny, "-progress", "pipe:1")
	_, cpu, err := runFFmpeg(ctx, ffmpeg, args)
	if err != nil {
		return nil, nil, cpu, fmt.Errorf("pertitle: profile pass: %w", err)
	}
	defer os.Remove(tiny)
	var cuts []float64
	if b, err := os.ReadFile(scenes); err == nil {
		for _, m := range rePTSTime.FindAllStringSubmatch(string(b), -1) {
			if t, err := strconv.ParseFloat(m[1], 64); err == nil && t > 0 {
				cuts = append(cuts, t)
			}
		}
	}
	sort.Float64s(cuts)
	b, err := os.ReadFile(tiny)
	if err != nil {
		return nil, nil, cpu, fmt.Errorf("pertitle: profile pass: %w", err)
	}
	return cuts, segmentBits(b, media.GOPFrames(fps, seg)), cpu, nil
}

// stratifiedSamples picks count pieces of length seconds for a title whose
// segments (seg seconds each, in order) cost segBits in the profile pass:
// the segments sorted by cost fall into count groups of equal size, and each
// group is represented by its median segment (the nearest to it that stays
// inside one scene, when one does). Every piece then stands for the same share of the
// title, so the analysis's plain average over pieces is the title's, and
// easy and hard stretches are represented in proportion wherever they are.
// Pieces start on segment boundaries (the final encode's GOPs).
func stratifiedSamples(segBits []float64, seg float64, duration float64, cuts []float64, count int, length float64) [][2]float64 {
	n := len(segBits)
	if n > 0 && float64(n-1)*seg+length > duration {
		n-- // the last segment is too short for a piece
	}
	if count < 1 || n < count {
		return chooseSamples(duration, cuts, count, length, seg)
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return segBits[order[i]] < segBits[order[j]] })
	// A cut inside the segment makes it a mix of two scenes, whose cost the
	// piece (its first length seconds) may not share.
	crosses := func(s float64) bool {
		i := sort.SearchFloat64s(cuts, s+1e-6)
		return i < len(cuts) && cuts[i] < s+seg-1e-6
	}
	var out [][2]float64
	for g := range count {
		lo, hi := g*n/count, (g+1)*n/count
		group := order[lo:hi]
		mid := len(group) / 2
		best := group[mid]
		for d := 0; d < len(group); d++ {
			// Outward from the median: mid, mid+1, mid-1, ...
			k := mid + (d+1)/2*(1-2*(d%2))
			if k >= 0 && k < len(group) && !crosses(float64(group[k])*seg) {
				best = group[k]
				break
			}
		}
		start := float64(best) * seg
		out = append(out, [2]float64{start, math.Min(start+length, duration)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// wholeTitle reports whether a title is short enough to be analysed whole
// rather than sampled: sampling saves nothing when the pieces would cover
// half of it anyway.
func wholeTitle(duration float64, count int, seconds float64) bool {
	return duration <= 2*float64(count)*seconds
}

var rePTSTime = regexp.MustCompile(`pts_time:\s*([0-9.]+)`)

// chooseSamples picks count pieces of length seconds in [0, duration): one in
// each of count equal stretches of the title (so the pieces cover its whole
// length), each inside a single scene where the cuts allow it, and in
// different scenes where possible. The middle of a stretch is moved to the
// nearest segment boundary (seg seconds; 0 leaves it), where the final
// encode's GOP starts. A title too short to sample is returned whole.
func chooseSamples(duration float64, cuts []float64, count int, length, seg float64) [][2]float64 {
	if count < 1 || length <= 0 || wholeTitle(duration, count, length) {
		return [][2]float64{{0, duration}}
	}
	sceneOf := func(t float64) int { return sort.SearchFloat64s(cuts, t+1e-6) }
	// crosses reports whether a cut falls strictly inside (s, s+length).
	crosses := func(s float64) bool {
		i := sort.SearchFloat64s(cuts, s+1e-6)
		return i < len(cuts) && cuts[i] < s+length-1e-6
	}
	stretch := duration / float64(count)
	used := map[int]bool{}
	var out [][2]float64
	prevEnd := 0.0
	for k := range count {
		a, b := float64(k)*stretch, float64(k+1)*stretch
		lo, hi := math.Max(a, prevEnd), math.Min(b, duration)-length
		if hi < lo {
			hi = lo
		}
		// Candidates: the middle of the stretch, then just after each cut in it.
		mid := a + (stretch-length)/2
		if seg > 0 {
			mid = math.Round(mid/seg) * seg
		}
		cands := []float64{clampF(mid, lo, hi)}
		for _, c := range cuts {
			if c >= lo && c <= hi {
				cands = append(cands, c)
			}
		}
		best, bestScore := cands[0], math.Inf(-1)
		for _, s := range cands {
			score := 0.0
			if !crosses(s) {
				score += 2 // one scene per piece: its rate is that scene's rate
			}
			if !used[sceneOf(s)] {
				score++ // a scene not yet sampled
			}
			// Prefer the middle of the stretch among equals.
			score -= math.Abs(s-(a+b-length)/2) / (stretch + 1)
			if score > bestScore {
				best, bestScore = s, score
			}
		}
		if crosses(best) {
			// Still straddles a cut: end the piece at the cut if enough is left.
			i := sort.SearchFloat64s(cuts, best+1e-6)
			if cuts[i]-best >= length/2 {
				used[sceneOf(best)] = true
				out = append(out, [2]float64{best, cuts[i]})
				prevEnd = cuts[i]
				continue
			}
		}
		used[sceneOf(best)] = true
		end := math.Min(best+length, duration)
		out = append(out, [2]float64{best, end})
		prevEnd = end
	}
	return out
}

func clampF(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

// Bounds of sampleScale: the profile pass is a 160 px ultrafast encode, so
// its ratios follow the title's complexity only roughly (it misses grain,
// for one); a correction past these would trust it too far.
const (
	minSampleScale = 0.5
	maxSampleScale = 3.0
)

// sampleScale is how much dearer the whole title is than the pieces
// sampled from it, by the profile pass's bits per segment (segBits, seg
// seconds each): the mean over every segment over the mean over the
// segments the samples cover, bounded. With few pieces (a minute-long title
// at veryfast affords one) the stratified pieces stand for the median
// segment, not the mean: on a title of a long easy shot and short hard ones
// the pooled bitrates, and so the top rung's VBV cap, came out at a third
// of what the title needs, and the cap then starved the hard shots
// (docs/benchmarks.md, "Per-shot": the long-and-short title). 1 when
// nothing can be said.
func sampleScale(segBits []float64, seg float64, samples [][2]float64) float64 {
	var all, in float64
	var nAll, nIn int
	for i, b := range segBits {
		if b <= 0 {
			continue
		}
		all += b
		nAll++
		start := float64(i) * seg
		for _, sm := range samples {
			if start >= sm[0]-1e-6 && start < sm[1]-1e-6 {
				in += b
				nIn++
				break
			}
		}
	}
	if nAll == 0 || nIn == 0 || in <= 0 {
		return 1
	}
	return clampF((all/float64(nAll))/(in/float64(nIn)), minSampleScale, maxSampleScale)
}
