package pertitle

import (
	"errors"
	"fmt"
	"math"

	"github.com/pertitle/pertitle/pkg/media"
)

// Analysis defaults. The grid is up to 5 heights (never above the source) x 4
// CRFs, staggered (see crfsAt: 3 CRFs per height); CRF 18..36 spans
// "transparent" to "visibly soft" for x264, which is the range a ladder uses,
// and CRF is interpolated linearly in log bitrate between the points (6 CRF ≈
// ×2 bits, so a 6-step grid is the coarsest that keeps that interpolation
// close). The staggered 4-CRF grid does 12 encodes on a 720p title where
// 5 CRFs did 20 (docs/benchmarks.md).
var (
	DefaultHeights = []int{1080, 720, 540, 360, 234}
	DefaultCRFs    = []float64{18, 24, 30, 36}
)

// Engine defaults.
const (
	// DefaultPreset is the final encode's x264 preset: cheap enough to encode
	// a ladder near real time on a small machine. Slower presets spend more
	// CPU for fewer bits (docs/benchmarks.md); callers with CPU to spare set
	// Preset.
	DefaultPreset = "veryfast"
	// DefaultAnalysisPreset is used for analysis encodes when the final preset
	// is slower; for veryfast and faster presets the analysis uses the final
	// preset itself. The engine measures, on one piece, how the final preset
	// relates to it at equal quality (bits ratio and CRF offset) and maps the
	// analysis points onto the final preset. veryfast rather than superfast:
	// superfast has no macroblock tree, whose gain depends on the picture
	// size, so superfast moves the crossovers between sizes; veryfast's
	// relation to slow varies far less across sizes, though not nothing on
	// every title (hence two calibration points). Measurements in
	// docs/benchmarks.md ("What changed in the engine").
	DefaultAnalysisPreset  = "veryfast"
	DefaultAnalysisWorkers = 2
)

// fastPresets are presets cheap enough to analyse with directly.
var fastPresets = map[string]bool{"ultrafast": true, "superfast": true, "veryfast": true}

func (o *Options) setDefaults() {
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	if o.FFprobe == "" {
		o.FFprobe = "ffprobe"
	}
	if o.Scorer == "" {
		o.Scorer = o.FFmpeg
	}
	if o.Mode == "" {
		o.Mode = ModeFast
	}
	if o.Preset == "" {
		o.Preset = DefaultPreset
	}
	if o.AnalysisPreset == "" {
		o.AnalysisPreset = DefaultAnalysisPreset
		if fastPresets[o.Preset] {
			o.AnalysisPreset = o.Preset
		}
	}
	if o.Mode == ModeExhaustive {
		o.AnalysisPreset = o.Preset
	}
	if o.SegmentSeconds <= 0 {
		o.SegmentSeconds = media.DefaultSegmentSeconds
	}
	if len(o.Heights) == 0 {
		o.Heights = DefaultHeights
	}
	if len(o.CRFs) == 0 {
		o.CRFs = DefaultCRFs
	}
	if o.SampleCount <= 0 {
		o.SampleCount = DefaultSampleCount
	}
	if o.SampleSeconds <= 0 {
		o.SampleSeconds = DefaultSampleSeconds
	}
	if o.CapBitrate <= 0 {
		o.CapBitrate = 5_000_000
	}
	if o.AnalysisWorkers <= 0 {
		o.AnalysisWorkers = DefaultAnalysisWorkers
	}
	if o.QualityEvery <= 0 {
		o.QualityEvery = DefaultQualityEvery
	}
}

func (o *Options) validate() error {
	var errs []error
	switch o.Mode {
	case ModeFast, ModeExhaustive, ModeStatic:
	default:
		errs = append(errs, fmt.Errorf("unknown analysis mode %q (fast, exhaustive or static)", o.Mode))
	}
	for _, c := range o.CRFs {
		if c <= 0 || c > 51 {
			errs = append(errs, fmt.Errorf("CRF %g is outside 1..51", c))
		}
	}
	for _, h := range o.Heights {
		if h < 16 {
			errs = append(errs, fmt.Errorf("height %d is too small", h))
		}
	}
	if !(o.AnalysisBudget >= 0) || math.IsInf(o.AnalysisBudget, 1) {
		errs = append(errs, fmt.Errorf("analysis budget %g is no share of the final encode's CPU (0 for the preset's default)", o.AnalysisBudget))
	}
	return errors.Join(errs...)
}
