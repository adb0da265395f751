package pershot

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
)

// Options configure a per-shot run: pertitle's options (binaries, analysis
// grid, constraints, presets, WithStatic, MeasureQuality, Encoder, Pieces,
// Progress), which mean here what they mean to pertitle.Encode, and the
// rules the shots are cut by.
type Options struct {
	pertitle.Options
	Rules Rules
}

// Analysis is what Analyze measured of a title: its shots, and for each the
// candidates of the (size, CRF) grid.
type Analysis struct {
	Source *media.Source `json:"-"`
	// Width and Height are the title's display size.
	Width, Height int
	Metric        pertitle.Metric
	Timing        media.Timing
	Frames        int64
	// Cuts and SegmentBits are the profile pass's (pertitle.ProfileTitle).
	Cuts        []float64
	SegmentBits []float64
	Shots       []ShotAnalysis
	Elapsed     time.Duration
	// CPUTime is the user+system CPU time of every ffmpeg of the analysis,
	// the profile pass included; CPUByStage splits it (profile, extract,
	// encode, score).
	CPUTime    time.Duration
	CPUByStage map[string]time.Duration
	Warnings   []string
}

// ShotAnalysis is one shot and what stands for it.
type ShotAnalysis struct {
	media.Chunk
	Start, Seconds float64 // in the title
	// Complexity is the profile pass's bits per second over the shot's
	// segments: how hard the shot is to encode, relative to the others.
	Complexity float64
	// Measured is the shot whose sample was encoded on the grid for this
	// one (its own index unless it shares), Sample that stretch of the
	// title (seconds) and Scale the factor applied to the sample's bits:
	// this shot's complexity over the sample's.
	Measured int
	Sample   [2]float64
	Scale    float64
	// Candidates are the grid's points for this shot (bits scaled).
	Candidates []Candidate
}

// Analyze probes src, finds its shots and measures them: the profile pass
// (pertitle.ProfileTitle) gives the scene cuts and every segment's cost,
// Shots snaps the cuts to the segment grid, shots of similar cost are
// grouped (each group is measured once), and for each group one stretch of
// whole segments inside a shot of it (the one whose cost is nearest the
// shot's) is cut losslessly and encoded on the analysis grid with the final
// preset, scored by VMAF (SSIM when the scorer has no libvmaf), through
// pertitle.CutPieces and pertitle.AnalyzePiece (or opt.Pieces, elsewhere).
// Every shot's candidates are its group's measurements with the bits scaled
// by the shot's cost over the sample's; quality is taken as measured.
//
// The number of groups is bounded by the CPU budget on titles longer than
// pertitle analyses whole (see sampleBudget); shorter titles get a sample
// per group of alike shots.
func Analyze(ctx context.Context, src string, opt Options) (*Analysis, error) {
	s, err := pertitle.ProbeSource(ctx, src, &opt.Options)
	if err != nil {
		return nil, err
	}
	return analyze(ctx, src, s, opt)
}

// analyze is Analyze of a probed source, opt with its defaults.
func analyze(ctx context.Context, src string, s *media.Source, opt Options) (*Analysis, error) {
	start := time.Now()
	// The grid is encoded with the final preset: CRFs then mean what the
	// final encode's mean, with no calibration between presets.
	opt.AnalysisPreset = opt.Preset
	an, err := shotsOf(ctx, src, s, opt)
	if err != nil {
		return nil, err
	}
	groups := groupShots(an.Shots, sampleBudget(s.Duration, opt))
	stretches := make([][2]float64, len(groups))
	frames := make([][2]int64, len(groups))
	for g, members := range groups {
		rep := representative(an.Shots, members)
		frames[g] = an.sampleOf(rep, opt)
		stretches[g] = [2]float64{an.Timing.Seconds(frames[g][0]), an.Timing.Seconds(frames[g][1])}
		for _, k := range members {
			an.Shots[k].Measured, an.Shots[k].Sample = rep, stretches[g]
		}
	}
	cands, err := an.measure(ctx, src, stretches, opt)
	if err != nil {
		return nil, err
	}
	for g, members := range groups {
		sampleCost := an.cost(frames[g][0], frames[g][1])
		for _, k := range members {
			sh := &an.Shots[k]
			sh.Scale = 1
			if sampleCost > 0 && sh.Complexity > 0 {
				sh.Scale = sh.Complexity / sampleCost
			}
			sh.Candidates = scaled(cands[g], sh.Scale)
		}
	}
	an.Elapsed = time.Since(start)
	return an, nil
}

// shotsOf runs the profile pass and cuts the title into shots.
func shotsOf(ctx context.Context, src string, s *media.Source, opt Options) (*Analysis, error) {
	t, err := media.TimingOf(s, opt.SegmentSeconds)
	if err != nil {
		return nil, fmt.Errorf("pershot: %w", err)
	}
	total := s.Video.Frames
	if total <= 0 {
		if total, err = media.CountFrames(ctx, opt.FFprobe, src); err != nil {
			return nil, fmt.Errorf("pershot: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "pershot-profile-*")
	if err != nil {
		return nil, fmt.Errorf("pershot: %w", err)
	}
	defer os.RemoveAll(dir)
	prof, err := pertitle.ProfileTitle(ctx, opt.FFmpeg, src, dir, t.FPS(), t.SegmentSeconds)
	if err != nil {
		return nil, err
	}
	dw, dh := s.DisplaySize()
	an := &Analysis{Source: s, Width: dw, Height: dh, Timing: t, Frames: total, Cuts: prof.Cuts, SegmentBits: prof.SegmentBits,
		CPUTime: prof.CPU, CPUByStage: map[string]time.Duration{"profile": prof.CPU}}
	for _, c := range Shots(t, total, prof.Cuts, opt.Rules) {
		a, b := t.Seconds(c.First), t.Seconds(c.First+c.Frames)
		an.Shots = append(an.Shots, ShotAnalysis{Chunk: c, Start: a, Seconds: b - a})
		an.Shots[len(an.Shots)-1].Complexity = an.cost(c.First, c.First+c.Frames)
	}
	if len(an.Shots) == 0 {
		return nil, fmt.Errorf("pershot: a title of %d frames has no shots", total)
	}
	return an, nil
}

// cost is the profile pass's bits per second over frames [a, b): the bits
// of the segments starting there over its seconds (0 when the profile has
// none there).
func (an *Analysis) cost(a, b int64) float64 {
	t := an.Timing
	var bits float64
	for n := 0; n < len(an.SegmentBits) && t.SegmentStart(n) < b; n++ {
		if t.SegmentStart(n) >= a {
			bits += an.SegmentBits[n]
		}
	}
	if secs := t.Seconds(b - a); secs > 0 {
		return bits / secs
	}
	return 0
}

// scaled is cands with bits (bitrate and every picture's) times f.
func scaled(cands []Candidate, f float64) []Candidate {
	out := make([]Candidate, len(cands))
	for i, c := range cands {
		c.Bitrate = int64(math.Round(float64(c.Bitrate) * f))
		fb := make([]int64, len(c.FrameBits))
		for j, b := range c.FrameBits {
			fb[j] = int64(math.Round(float64(b) * f))
		}
		c.FrameBits, c.Scores = fb, maps.Clone(c.Scores)
		out[i] = c
	}
	return out
}
