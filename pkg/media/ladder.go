package media

import (
	"fmt"
	"math"
)

// Rung is one rendition of a bitrate ladder (H.264 High profile).
type Rung struct {
	Width, Height int
	Bitrate       int64  // target average video bits/s (-b:v)
	MaxRate       int64  // VBV max rate, bits/s (-maxrate)
	BufSize       int64  // VBV buffer size, bits (-bufsize)
	Profile       string // H.264 profile, "high"
	Level         string // H.264 level, e.g. "3.1"
	// CRF > 0 encodes in constrained-quality mode: -crf CRF with VBV capped at
	// MaxRate (Bitrate when 0) and BufSize (2 x that rate when 0), so the
	// advertised bitrate holds while easy scenes spend fewer bits. CRF 0 keeps
	// average-bitrate mode (-b:v Bitrate).
	CRF float64
	// Lossless encodes with -qp 0 and no rate cap (tests of frame exactness).
	Lossless bool
}

func (r Rung) String() string {
	return fmt.Sprintf("%dx%d@%dk", r.Width, r.Height, r.Bitrate/1000)
}

// ladderStep is one step of the fixed ladder, keyed on the short side of the
// picture (the height for landscape video, the width for portrait video).
type ladderStep struct {
	short   int
	bitrate int64
}

// fixedSteps is the fixed H.264 ladder, top first. For 16:9 landscape video
// it reads 1920x1080@5000k, 1280x720@3000k, 960x540@2000k, 640x360@800k,
// 416x234@400k.
var fixedSteps = []ladderStep{
	{1080, 5_000_000},
	{720, 3_000_000},
	{540, 2_000_000},
	{360, 800_000},
	{234, 400_000},
}

// minRungBitrate is the floor of a tiny source's single rung.
const minRungBitrate = 100_000

// BuiltinLadder returns pertitle's own five-step H.264 ladder (the "fixed" ladder
// mode; not the Apple "static" ladder of pkg/pertitle) adapted to src, top rung first:
//
//   - rung sizes follow the aspect ratio of src.DisplaySize() with even
//     dimensions; steps are defined on the short side (height for landscape,
//     width for portrait), so 1080x1920 portrait video gets 1080x1920, 720x1280, ...
//   - steps whose short side exceeds the source's are dropped (no upscaling);
//     a step equal to the source keeps the source's exact (even) size. A
//     1080p source therefore gets 5 rungs, a 720p source 4, a 360p source 2;
//   - a source smaller than the smallest step gets a single rung at its own
//     (even) size with the smallest step's bitrate scaled by pixel count
//     (floor 100 kbit/s);
//   - MaxRate and BufSize from HeadroomVBV (1.5x and 2x Bitrate), Profile "high", Level the
//     lowest H.264 level fitting size, frame rate and VBV.
//
// It always returns at least one rung; a nil source or one without video is
// treated as 1920x1080 at 30 fps.
func BuiltinLadder(src *Source) []Rung {
	dw, dh := src.DisplaySize()
	if dw <= 0 || dh <= 0 {
		dw, dh = 1920, 1080
	}
	fps := 30.0
	if src != nil && src.Video != nil && src.Video.FrameRate > 0 {
		fps = src.Video.FrameRate
	}
	portrait := dh > dw
	short, long := dh, dw
	if portrait {
		short, long = dw, dh
	}

	var rungs []Rung
	for _, st := range fixedSteps {
		if st.short > short {
			continue
		}
		s, l := st.short, EvenSize(float64(st.short)*float64(long)/float64(short))
		if st.short == short {
			s, l = evenFloor(short), evenFloor(long)
		}
		rungs = append(rungs, makeRung(s, l, portrait, st.bitrate, fps))
	}
	if len(rungs) == 0 {
		smallest := fixedSteps[len(fixedSteps)-1]
		s, l := evenFloor(short), evenFloor(long)
		refPixels := float64(smallest.short) * float64(EvenSize(float64(smallest.short)*16/9))
		br := int64(math.Round(float64(smallest.bitrate) * float64(s*l) / refPixels))
		if br < minRungBitrate {
			br = minRungBitrate
		}
		rungs = append(rungs, makeRung(s, l, portrait, br, fps))
	}
	return rungs
}

func makeRung(short, long int, portrait bool, bitrate int64, fps float64) Rung {
	w, h := long, short
	if portrait {
		w, h = short, long
	}
	r := Rung{Width: w, Height: h, Bitrate: bitrate, Profile: "high"}
	r.MaxRate, r.BufSize = HeadroomVBV(bitrate)
	r.Level = h264Level(w, h, fps, r.MaxRate, r.BufSize)
	return r
}

// EvenSize is the even picture dimension nearest x, at least 2: x264's 4:2:0
// pictures need even sizes.
func EvenSize(x float64) int {
	n := int(math.Round(x/2)) * 2
	if n < 2 {
		n = 2
	}
	return n
}

func evenFloor(n int) int {
	n &^= 1
	if n < 2 {
		n = 2
	}
	return n
}

// h264Levels are the H.264 (Table A-1) limits, with MaxBR/MaxCPB already
// scaled by 1.25 for the High profile. Levels below 3.0 are not used.
var h264Levels = []struct {
	name   string
	maxFS  int     // macroblocks per frame
	maxMBP float64 // macroblocks per second
	maxBR  int64   // bits/s
	maxCPB int64   // bits
}{
	{"3.0", 1620, 40500, 12_500_000, 12_500_000},
	{"3.1", 3600, 108000, 17_500_000, 17_500_000},
	{"3.2", 5120, 216000, 25_000_000, 25_000_000},
	{"4.0", 8192, 245760, 25_000_000, 31_250_000},
	{"4.1", 8192, 245760, 62_500_000, 78_125_000},
	{"4.2", 8704, 522240, 62_500_000, 78_125_000},
	{"5.0", 22080, 589824, 168_750_000, 168_750_000},
	{"5.1", 36864, 983040, 300_000_000, 300_000_000},
	{"5.2", 36864, 2073600, 300_000_000, 300_000_000},
}

// h264Level returns the lowest level that fits the given parameters.
func h264Level(w, h int, fps float64, maxRate, bufSize int64) string {
	mbw, mbh := (w+15)/16, (h+15)/16
	fs := mbw * mbh
	for _, l := range h264Levels {
		side := int(math.Sqrt(float64(l.maxFS) * 8))
		if fs <= l.maxFS && mbw <= side && mbh <= side &&
			float64(fs)*fps <= l.maxMBP && maxRate <= l.maxBR && bufSize <= l.maxCPB {
			return l.name
		}
	}
	return h264Levels[len(h264Levels)-1].name
}
