package media

import (
	"math"
	"strconv"
	"strings"
)

// The GOP structure of every H.264 encode that pertitle makes or measures
// lives here: the final encode (videoArgs), the chunked encode (chunkArgs)
// and the per-title analysis (pkg/pertitle's grid encodes and profile pass)
// all take their flags from this file. The analysis predicts the final
// encode's bits only while both cut GOPs the same way, so a change here
// changes both (TestGOPParity in pkg/pertitle holds them together).

// GOPFrames is the GOP length in frames of an encode at fps with segments of
// segSeconds: round(fps*segSeconds), at least 1 (fps 30 when unknown).
func GOPFrames(fps, segSeconds float64) int {
	if fps <= 0 {
		fps = 30
	}
	return max(1, int(math.Round(fps*segSeconds)))
}

// x264GOPLength are the x264 options fixing the GOP at one segment: no
// scene-cut keyframes, keyint and min-keyint at GOPFrames, closed GOPs.
func x264GOPLength(fps, segSeconds float64) []string {
	gop := strconv.Itoa(GOPFrames(fps, segSeconds))
	return []string{"-sc_threshold", "0", "-g", gop, "-keyint_min", gop, "-flags", "+cgop"}
}

// X264GOPArgs are the x264 output options that make every segment of
// segSeconds start with an IDR picture of a closed GOP, whatever the content:
// renditions switch at the same points, and an encode measured for a ladder
// (pkg/pertitle's analysis) has the GOP structure of the final encode.
func X264GOPArgs(fps, segSeconds float64) []string {
	seg := strconv.FormatFloat(segSeconds, 'f', -1, 64)
	return append(x264GOPLength(fps, segSeconds), "-force_key_frames", "expr:gte(t,n_forced*"+seg+")")
}

// chunkGOPArgs are X264GOPArgs with the keyframes of a chunk listed by time:
// the unchunked rule counts segments from the title's start, which a chunk
// renumbered from zero cannot see.
func chunkGOPArgs(t Timing, keys []float64) []string {
	args := x264GOPLength(t.FPS(), t.SegmentSeconds)
	if len(keys) > 0 {
		s := make([]string, len(keys))
		for i, k := range keys {
			s[i] = strconv.FormatFloat(k, 'f', 6, 64)
		}
		args = append(args, "-force_key_frames", strings.Join(s, ","))
	}
	return args
}

// x264StitchArgs are the x264 options of a chunk that is joined, without
// re-encoding, to chunks of the same rung encoded at other CRFs (a per-shot
// ladder): x264 otherwise writes the CRF into the picture parameter set
// (pic_init_qp), so the chunks' parameter sets differ and the joined
// rendition would change its PPS in band under one sample entry.
// stitchable=1 makes x264 write the same parameter sets whatever the rate
// control (docs/pershot.md).
func x264StitchArgs() []string { return []string{"-x264-params", "stitchable=1"} }
