package pertitle

import "fmt"

// appleH264 is the H.264 ladder of Apple's HLS Authoring Specification for
// 16:9 video (short side, bitrate in bits/s), lowest first.
var appleH264 = []struct {
	w, h    int
	bitrate int64
}{
	{416, 234, 145_000},
	{640, 360, 365_000},
	{768, 432, 730_000},
	{768, 432, 1_100_000},
	{960, 540, 2_000_000},
	{1280, 720, 3_000_000},
	{1280, 720, 4_500_000},
	{1920, 1080, 6_000_000},
	{1920, 1080, 7_800_000},
}

// AppleLadder is the Apple HLS Authoring Specification H.264 ladder (the
// static baseline per-title is measured against), top rung first, adapted to a
// width×height source:
//
//   - aspect: each rung keeps the specification's short side and takes the
//     source's aspect ratio for the long side (so a portrait source gets
//     234x416 … 1080x1920), both rounded to even numbers;
//   - no upscaling: rungs larger than the source are dropped, except that when
//     the source's size is not itself in the ladder, the lowest-bitrate dropped
//     rung is kept at the source's size (rounded down to even), so the ladder
//     reaches the source's resolution (a 720x400 source gets 720x400 at 730
//     kb/s above 640x360 at 365 kb/s).
//
// Non-positive dimensions give the 16:9 ladder unchanged.
func AppleLadder(width, height int) []Rung {
	out := make([]Rung, 0, len(appleH264))
	add := func(w, h int, b int64, why string) {
		out = append(out, Rung{Width: w, Height: h, Bitrate: b, Why: why})
	}
	if width <= 0 || height <= 0 {
		for i := len(appleH264) - 1; i >= 0; i-- {
			r := appleH264[i]
			add(r.w, r.h, r.bitrate, "Apple HLS authoring specification H.264 ladder")
		}
		return out
	}
	portrait := height > width
	short, long := height, width
	if portrait {
		short, long = width, height
	}
	srcW, srcH := evenDown(width), evenDown(height)
	var cappedAt int64
	native := false
	for _, r := range appleH264 {
		s := r.h
		l := evenDown(int(float64(s)*float64(long)/float64(short) + 0.5))
		w, h := l, s
		if portrait {
			w, h = s, l
		}
		if w <= width && h <= height {
			add(w, h, r.bitrate, fmt.Sprintf("Apple HLS authoring specification H.264 ladder, %dx%d adapted to the source's aspect ratio", r.w, r.h))
			native = native || (w == srcW && h == srcH)
			continue
		}
		if cappedAt == 0 {
			cappedAt = r.bitrate
		}
	}
	if cappedAt > 0 && !native {
		add(srcW, srcH, cappedAt, "Apple HLS authoring specification H.264 rung capped at the source's size (no upscaling)")
	}
	// Top first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func evenDown(n int) int {
	if n%2 != 0 {
		n--
	}
	return max(n, 2)
}
