package pertitle

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
)

// Sampling defaults (fast mode).
const (
	DefaultSampleCount   = 4
	DefaultSampleSeconds = 2.0
	// sceneThreshold is the select filter's scene score above which a frame
	// starts a new scene.
	sceneThreshold = 0.3
	// sceneWidth is the width pictures are scaled to before scene scoring: cuts
	// stay obvious and the pass costs little more than decoding.
	sceneWidth = 160
)

// titlePerSampleSecond is how many seconds of title one analysed second
// needs for the analysis to stay within ~25% of the final encode's CPU time.
// First measured with a 4 heights x 5 CRFs grid at veryfast for both analysis
// and final encode on a 60 s 720p title (8 s of samples cost 64%, so 1/19).
// With the current defaults (staggered 4x3 grid at veryfast from raw
// pieces, SSIM on every 4th frame) and a slow final encode, one 2 s piece of
// a 10 s 720p title costs about a quarter of the final encode
// (docs/benchmarks.md), i.e. ~1/8 of the title per analysed second; the
// constant is kept, so longer titles get their second and later pieces
// conservatively.
const titlePerSampleSecond = 19.0

// budgetedCount is how many pieces of seconds each the analysis takes from a
// title of duration seconds: up to count, fewer on shorter titles so the
// analysis stays within budget, at least one.
func budgetedCount(duration float64, count int, seconds float64) int {
	n := int(duration / titlePerSampleSecond / seconds)
	return max(min(n, count), min(1, count))
}

// shortTitlePieces: a title shorter than this many pieces' worth gets a
// shorter piece (down to half of SampleSeconds), so that a 5 s title is not
// analysed from 40% of its length while a 10 s one uses 20%: one piece is
// the least the analysis takes, and its cost is against an encode that
// shrinks with the title.
const shortTitlePieces = 5

// pieceSeconds is the length of the pieces taken from a title of duration
// seconds: seconds, or duration/shortTitlePieces on short titles, never less
// than seconds/2. Pieces shorter than a segment are measured as if their GOP
// ran the segment's length (see steadyBits).
func pieceSeconds(duration, seconds float64) float64 {
	return clampF(duration/shortTitlePieces, seconds/2, seconds)
}

// minSceneTitle: titles up to this long (seconds) are sampled without scene
// detection. Finding the cuts decodes the whole title, which on a 10 s 720p
// title costs about as much as the analysis encodes of one piece, and a
// title that short yields one piece, placed in its middle.
const minSceneTitle = 30.0

// wholeTitle reports whether a title is short enough to be analysed whole
// rather than sampled: sampling saves nothing when the pieces would cover
// half of it anyway.
func wholeTitle(duration float64, count int, seconds float64) bool {
	return duration <= 2*float64(count)*seconds
}

var rePTSTime = regexp.MustCompile(`pts_time:\s*([0-9.]+)`)

// detectScenes returns the times (seconds) at which new scenes start, from
// ffmpeg's scene score on a downscaled decode, and the CPU time it took.
func detectScenes(ctx context.Context, ffmpeg, src string) ([]float64, time.Duration, error) {
	vf := fmt.Sprintf("scale=%d:-2:flags=fast_bilinear,select='gt(scene\\,%g)',showinfo", sceneWidth, sceneThreshold)
	args := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", "info"}, media.InputArgs(src, media.SourceFormats)...)
	args = append(args, "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", vf, "-f", "null", "-")
	var stderr bytes.Buffer
	res, err := (&media.Cmd{Bin: ffmpeg, Args: args, Stderr: &stderr}).Run(ctx)
	cpu := res.CPU
	if ctx.Err() != nil {
		return nil, cpu, ctx.Err()
	}
	if err != nil {
		return nil, cpu, fmt.Errorf("pertitle: scene detection: %w", err)
	}
	var cuts []float64
	for _, m := range rePTSTime.FindAllStringSubmatch(stderr.String(), -1) {
		if t, err := strconv.ParseFloat(m[1], 64); err == nil && t > 0 {
			cuts = append(cuts, t)
		}
	}
	sort.Float64s(cuts)
	return cuts, cpu, nil
}

// chooseSamples picks count pieces of length seconds in [0, duration): one in
// each of count equal stretches of the title (so the pieces cover its whole
// length), each inside a single scene where the cuts allow it, and in
// different scenes where possible. A title too short to sample is returned
// whole.
func chooseSamples(duration float64, cuts []float64, count int, length float64) [][2]float64 {
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
		cands := []float64{clampF(a+(stretch-length)/2, lo, hi)}
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
