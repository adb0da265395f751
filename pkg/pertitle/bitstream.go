package pertitle

import (
	"os"
)

// steadyBits returns the bits of an analysis encode (raw H.264, Annex B) and
// the seconds they stand for. When the encode holds fewer frames than one GOP
// of the final encode (a piece shorter than a segment), its one IDR picture
// weighs more than it will in the final stream, where it starts gop frames:
// the bits are then those of one whole GOP, the IDR access unit plus the
// other pictures' bits scaled from frames-1 to gop-1, over gop frames. On
// still content, where an IDR costs as much as a second of P pictures, a
// 1 s piece would otherwise read close to twice the bitrate. (Pieces are
// whole segments, see samplePlan; one ends early only at a scene cut.)
// Otherwise the file's bits over frames (secs 0: the caller's duration).
func steadyBits(path string, frames int64, gop int, fps float64) (bits, secs float64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	total := float64(len(b)) * 8
	if frames <= 1 || frames >= int64(gop) || fps <= 0 {
		return total, 0, nil
	}
	var idr, rest float64
	nals := 0
	forEachNAL(b, func(typ byte, size int) {
		nals++
		switch typ {
		case 5, 7, 8: // IDR slice, SPS, PPS
			idr += float64(size) * 8
		case 6, 9: // SEI (x264 writes its settings once), access unit delimiter
		default:
			rest += float64(size) * 8
		}
	})
	if nals == 0 || idr == 0 {
		return total, 0, nil
	}
	return idr + rest*float64(gop-1)/float64(frames-1), float64(gop) / fps, nil
}

// forEachNAL calls fn with the type and size (header included, start code
// excluded) of every NAL unit of an Annex B stream.
func forEachNAL(b []byte, fn func(typ byte, size int)) {
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			continue
		}
		if start >= 0 {
			end := i
			if end > start && b[end-1] == 0 { // 4-byte start code
				end--
			}
			fn(b[start]&0x1f, end-start)
		}
		start = i + 3
		i += 2
	}
	if start >= 0 && start < len(b) {
		fn(b[start]&0x1f, len(b)-start)
	}
}

// segmentBits sums an Annex B stream's bits per run of perSegment pictures
// (one slice per picture, as x264 writes with one thread; parameter sets and
// SEI count towards the picture they precede).
func segmentBits(stream []byte, perSegment int) []float64 {
	var out []float64
	var pending float64
	pic := 0
	forEachNAL(stream, func(typ byte, size int) {
		pending += float64(size) * 8
		if typ != 1 && typ != 5 {
			return
		}
		k := pic / perSegment
		for len(out) <= k {
			out = append(out, 0)
		}
		out[k] += pending
		pending = 0
		pic++
	})
	return out
}

// frameBits is the bits of every picture of the raw H.264 stream at path,
// in decode order (segmentBits of one picture each).
func frameBits(path string) ([]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	per := segmentBits(b, 1)
	out := make([]int64, len(per))
	for i, v := range per {
		out[i] = int64(v)
	}
	return out, nil
}
