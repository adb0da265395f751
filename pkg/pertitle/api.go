// Package pertitle is the per-title engine: it analyses a title, finds the upper
// convex hull of quality over bitrate across resolutions, chooses the ladder on
// it under the user's constraints, encodes and packages it, and reports what it
// did (and, beside a static ladder, what it saved).
package pertitle

import (
	"context"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
)

// Metric names a quality metric.
type Metric string

// Metrics, best first: the engine uses VMAF when its ffmpeg has libvmaf and falls
// back to SSIM (and reports PSNR beside it) otherwise.
const (
	MetricVMAF Metric = "vmaf"
	MetricSSIM Metric = "ssim"
	MetricPSNR Metric = "psnr"
)

// Point is one measured encode of the title (or of its samples): a resolution and
// an encoder quality setting, and what came out of it.
type Point struct {
	Width, Height int
	// CRF is the x264 constant rate factor used to produce the point.
	CRF float64
	// Bitrate is the average video bitrate in bits/s.
	Bitrate int64
	// Quality is the value of Metric for this point, measured against the source
	// at the source's display resolution (the rendition scaled up before scoring).
	Quality float64
	Metric  Metric
	// Scores holds every metric measured for the point (vmaf, ssim, psnr).
	Scores map[Metric]float64
}

// FixedRung is a rendition that must exist in the ladder whatever the hull says.
// Bitrate 0 lets the engine choose it from the hull at that resolution.
type FixedRung struct {
	Width, Height int
	Bitrate       int64
}

// Constraints are the knobs of ladder selection (Bitmovin's per-title knobs are
// the checklist).
type Constraints struct {
	MinBitrate, MaxBitrate int64 // bits/s; 0 = no limit
	// MinStep and MaxStep bound the bitrate ratio between neighbouring rungs
	// (e.g. 1.5 and 2.5).
	MinStep, MaxStep float64
	MaxRenditions    int // 0 = DefaultMaxRenditions (6)
	// TargetQuality is the top-rung quality (in the ladder's metric) above which
	// bits are wasted; the top rung stops there. 0 = the metric's default.
	TargetQuality float64
	// SourceWidth/SourceHeight: rungs never exceed the source's display size.
	SourceWidth, SourceHeight int
	FixedRungs                []FixedRung
	// ComplexityFactor scales chosen bitrates (>1 spends more bits, <1 fewer); 0 = 1.
	ComplexityFactor float64
}

// Rung is one chosen rendition.
type Rung struct {
	Width, Height int
	// Bitrate is the target average video bitrate (bits/s) predicted by the hull.
	Bitrate int64
	// CRF is the quality setting that produced the hull point (constrained quality
	// encodes use it with VBV capped at the bitrate).
	CRF float64
	// PredictedQuality is the hull's quality at Bitrate, in the ladder's metric.
	PredictedQuality float64
	Fixed            bool
	// Why explains the choice in one line (shown by `pertitle analyze`).
	Why string
}

// Ladder is the outcome of selection, top rung first.
type Ladder struct {
	Rungs  []Rung
	Metric Metric
	// Notes explain decisions that shaped the whole ladder (caps, dropped rungs).
	Notes []string
}

// Mode selects how a ladder is obtained.
type Mode string

// Modes.
const (
	ModeFast       Mode = "fast"       // samples of the title, CRF grid
	ModeExhaustive Mode = "exhaustive" // full encodes on the whole grid
	ModeStatic     Mode = "static"     // Apple HLS authoring specification ladder
)

// Analysis is what the analysis measured.
type Analysis struct {
	Mode   Mode
	Metric Metric
	// Points are every measured point; Hull the upper convex hull over them.
	Points []Point
	Hull   []Point
	// Samples are the [start, end) seconds of the pieces analysed (fast mode).
	Samples [][2]float64
	Elapsed time.Duration
	CPUTime time.Duration // user+system CPU of the ffmpeg processes
	// CPUByStage splits CPUTime: "profile" (the whole-title pass that finds
	// scenes and how hard each segment is, on titles over 30 s), "extract"
	// (cutting the pieces), "encode" (the grid), "score" (quality of the
	// grid) and "calibrate" (the final-preset encodes that scale bitrates,
	// with their share of the piece's scorer run).
	CPUByStage map[string]time.Duration `json:",omitempty"`
	Warnings   []string
	// Profile is the profile pass's result (ProfileTitle) where the
	// analysis ran it: sampled titles over 30 s.
	Profile *Profile `json:"-"`
	// PieceGrids are, in the order of Samples, every point each piece
	// measured on its own, in the final preset's terms (the CRF and bits
	// through the calibration) but not scaled to the whole title as the
	// pooled Points are: what pkg/pershot models each shot by.
	PieceGrids [][]PiecePoint `json:"-"`
}

// PiecePoint is one (size, CRF) encode of one piece: its point (Bitrate
// over the piece alone) and the bits of each of its pictures, in decode
// order, scaled as Bitrate is.
type PiecePoint struct {
	Point
	FrameBits []int64
}

// RenditionReport is one encoded rung as measured after the final encode.
type RenditionReport struct {
	Width, Height  int
	Bitrate        int64 // peak (BANDWIDTH)
	AverageBitrate int64
	Bytes          int64
	CRF            float64
	Scores         map[Metric]float64 // measured against the source when requested
	Playlist       string             // HLS media playlist, relative to the output directory
}

// Savings compares the per-title ladder with the static one on the same title.
type Savings struct {
	// BDRate is the Bjøntegaard delta rate of per-title against static in percent
	// (negative = fewer bits for the same quality).
	BDRate float64
	// BDRateError says why BDRate could not be computed (then BDRate is 0):
	// missing scores, or quality ranges that do not overlap.
	BDRateError string
	// StorageBytes: total ladder bytes of each, and the saved fraction.
	PerTitleBytes, StaticBytes int64
	StorageSaved               float64
	// CappedViewer: the top rung a viewer limited to CapBitrate gets under each.
	CapBitrate                int64
	PerTitleTop, StaticTop    RenditionReport
	TopBitrateSaved           float64 // fraction of StaticTop's average bitrate
	StreamingCostSavedPerHour float64 // bytes per viewing hour saved for that viewer
}

// Report is the per-title report: JSON for machines, SVG for people.
type Report struct {
	Source       string
	Width        int
	Height       int
	Duration     float64
	Metric       Metric
	Analysis     *Analysis
	Ladder       Ladder
	Renditions   []RenditionReport
	AnalysisTime time.Duration
	EncodeTime   time.Duration
	Static       []RenditionReport // when the static ladder was encoded too
	Savings      *Savings

	// EncodeCPUTime is the user+system CPU of the final encode (the analysis
	// budget is a share of it: Analysis.CPUTime / EncodeCPUTime).
	EncodeCPUTime time.Duration
}

// Progress of a long engine run (analysis, encode), for the CLI and as events.
type Progress struct {
	Stage   string // "analysis", "encode", "static", "quality"
	Percent float64
	ETA     time.Duration
	// A chunked encode's chunks done, all, and workers (see media.Progress).
	ChunksDone, Chunks, Workers int
}

// Options configure an engine run. Zero values take documented defaults.
type Options struct {
	FFmpeg, FFprobe string
	// Scorer is the ffmpeg that measures quality (analysis and renditions);
	// FFmpeg when empty. Encodes always use FFmpeg: a scorer with libvmaf
	// (FindScorer) lets the engine steer by VMAF while it encodes with the
	// system's ffmpeg. Without libvmaf in the scorer the engine falls back to
	// SSIM/PSNR and says so in Analysis.Warnings.
	Scorer string
	// VMAFModel is the model file for libvmaf 1.x; empty takes the v0.6.1
	// model the engine ships (vmafmodel), and libvmaf 2.x its built-in one.
	VMAFModel string
	Mode      Mode
	// Constraints for ladder selection; SourceWidth/Height are filled from the probe.
	Constraints Constraints
	// Preset is the x264 preset of the final encode; AnalysisPreset that of the
	// analysis encodes (faster; the engine measures how the two relate at
	// equal quality on one piece and maps the analysis onto Preset).
	Preset, AnalysisPreset string
	SegmentSeconds         float64
	// Heights considered by the analysis (capped at the source); CRFs the quality
	// points of the grid.
	Heights []int
	CRFs    []float64
	// SampleCount pieces of SampleSeconds each (never shorter than a
	// segment, the final encode's GOP) are analysed in fast mode, or fewer
	// (at least one) where they would cost more than AnalysisBudget.
	SampleCount   int
	SampleSeconds float64
	// AnalysisBudget is the share of the final encode's CPU the fast
	// analysis may spend, as estimated before it runs (budget.go); 0 takes
	// 0.25, or 0.15 at slow and slower presets.
	AnalysisBudget float64
	// WithStatic also encodes the static ladder and computes Savings.
	WithStatic bool
	// CapBitrate is the bandwidth of the capped viewer in Savings (default 5 Mbit/s).
	CapBitrate int64
	// MeasureQuality scores every final rendition against the source.
	MeasureQuality bool
	Progress       func(Progress)
	// AnalysisWorkers bounds how many analysis ffmpeg processes run at once
	// (default 2).
	AnalysisWorkers int
	// QualityEvery scores one frame in QualityEvery (default 2; 1 = every frame).
	QualityEvery int
	// Encoder encodes and packages a ladder (the chosen one, and the static
	// one with WithStatic); nil is media.Encode, one ffmpeg on this machine.
	// encoder-dispatch hands long titles to its chunk workers through it.
	Encoder func(ctx context.Context, req media.EncodeRequest) (*media.Output, error)
	// Pieces runs the sampled analysis's pieces (each a PieceTask: every
	// grid size and CRF of one piece) somewhere else, e.g. on every
	// encoder-dispatch worker; nil runs them here. It calls done once per
	// piece finished, and returns the results in the tasks' order. Titles
	// analysed whole (short ones, exhaustive mode) always run here.
	Pieces func(ctx context.Context, tasks []PieceTask, done func()) ([]PieceResult, error)
}

// The engine's entry points (engine.go) are:
//
//	func Analyze(ctx context.Context, src string, opt Options) (*Analysis, error)
//	func Plan(ctx context.Context, src string, opt Options) (Ladder, *Analysis, error)
//	func Encode(ctx context.Context, src, outDir string, opt Options) (*Report, error)
//
// with the pieces pkg/pershot builds on: ProbeSource, ProfileTitle,
// CutPieces and AnalyzePiece (analysis), ChooseLadder (the ladder of an
// analysis), RenditionReports and FinishReport (the static ladder, scores
// and savings of a report),
//
// and the pure part (hull.go, select.go, static.go, bdrate.go, report.go):
//
//	func UpperHull(points []Point) []Point
//	func SelectLadder(hull []Point, c Constraints) (Ladder, error)
//	func AppleLadder(width, height int) []Rung
//	func BDRate(reference, test []Point) (float64, error)
//	func ComputeSavings(perTitle, static []RenditionReport, metric Metric, capBitrate int64) (*Savings, error)
//	func (r *Report) JSON() ([]byte, error)
//	func (r *Report) SVG() []byte
