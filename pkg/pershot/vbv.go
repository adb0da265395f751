package pershot

import "math"

// PeakRate is the highest average bitrate (bits/s) of frames (bits each, at
// fps) over any window of seconds: the Peak of a Candidate, measured on its
// encode's packet sizes with the rung's buffer duration (bufsize / maxrate)
// as the window. Frames fewer than a window give their own average. No
// frames, or a non-positive fps, give 0.
func PeakRate(frames []int64, fps, seconds float64) int64 {
	if len(frames) == 0 || !(fps > 0) || math.IsInf(fps, 0) {
		return 0
	}
	w := min(max(int(math.Round(seconds*fps)), 1), len(frames))
	var sum, best int64
	for i, b := range frames {
		sum += b
		if i >= w {
			sum -= frames[i-w]
		}
		if i >= w-1 {
			best = max(best, sum)
		}
	}
	return int64(math.Round(float64(best) * fps / float64(w)))
}

// VBVExcess is how far a run of frames (bits each, at fps) goes over a
// buffer of bufSize bits filled at maxRate: the largest, over every run of
// consecutive frames, of its bits less maxRate times its duration less
// bufSize. Positive means some stretch sends more than the buffer can hold;
// negative is the headroom left. This is the test of a join between two
// shots encoded apart, each from its own buffer fullness: the last frames of
// one and the first of the next, run together (docs/pershot.md).
func VBVExcess(frames []int64, fps float64, maxRate, bufSize int64) float64 {
	if len(frames) == 0 || !(fps > 0) {
		return math.Inf(-1)
	}
	perFrame := float64(maxRate) / fps
	// d is the bits sent so far less what the rate drained; a run's excess
	// is d at its end less d before its start, less the buffer.
	var d float64
	lowest, excess := 0.0, math.Inf(-1)
	for _, b := range frames {
		d += float64(b) - perFrame
		excess = math.Max(excess, d-lowest-float64(bufSize))
		lowest = math.Min(lowest, d)
	}
	return excess
}
