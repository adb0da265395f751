package pershot

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
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

// Analysis is what Analyze measured of a title: per-title's analysis of it,
// its shots, and for each the candidates of the (size, CRF) grid.
type Analysis struct {
	Source *media.Source `json:"-"`
	// Width and Height are the title's display size.
	Width, Height int
	Metric        pertitle.Metric
	Timing        media.Timing
	Frames        int64
	// Title is per-title mode's analysis of the title
	// (pertitle.AnalyzeSource with the same options): the ladder's sizes,
	// targets and VBV are what per-title mode would choose from it.
	Title *pertitle.Analysis `json:"-"`
	// Cuts and SegmentBits are the profile pass's (pertitle.ProfileTitle).
	Cuts        []float64
	SegmentBits []float64
	Shots       []ShotAnalysis
	Elapsed     time.Duration
	// CPUTime is the user+system CPU time of every ffmpeg of the analysis,
	// the profile pass included; CPUByStage splits it (profile, extract,
	// encode, score, calibrate).
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
	// Measured is the piece of per-title's analysis that stands for this
	// shot (an index into Title.Samples), Sample that stretch of the title
	// (seconds) and Scale the factor applied to the piece's bits: this
	// shot's complexity over the piece's, before the candidates are
	// normalised to the title's pooled bitrates (normalise).
	Measured int
	Sample   [2]float64
	Scale    float64
	// Probe is the stretch of this shot (seconds) probed beside its piece
	// when no piece lies inside it (probeShots); Scale is then the probes'
	// mean ratio of bits. Zero when not probed.
	Probe [2]float64
	// Candidates are the grid's points for this shot.
	Candidates []Candidate
}

// Analyze probes src and analyses it as per-title mode does
// (pertitle.AnalyzeSource: the same pieces, grid, scorer and CPU budget),
// then cuts it into shots and models each by one of those pieces.
//
// The profile pass (pertitle.ProfileTitle, run by per-title's analysis on
// sampled titles and here otherwise) gives the scene cuts and every
// segment's cost; Shots snaps the cuts to the segment grid. Each shot is
// modelled by the piece inside it nearest its cost, else the piece nearest
// its cost anywhere (pieceFor): the piece's grid with the bits scaled by
// the shot's cost over the piece's, quality as measured. A shot with no
// piece inside it is probed, and its piece's grid corrected by the probes'
// difference (probeShots). Then, point by point, the shots' bits are
// normalised so that their mean over the title is per-title's pooled
// prediction (normalise): one CRF for every shot is exactly per-title
// mode's rung, so the allocation can only move bits between shots, by how
// their quality trades against bits.
//
// Per-shot mode's analysis costs per-title's, the probes, and a profile
// pass on titles per-title analyses without one.
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
	title, err := pertitle.AnalyzeSource(ctx, src, s, opt.Options)
	if err != nil {
		return nil, err
	}
	an, err := shotsOf(ctx, src, s, title, opt)
	if err != nil {
		return nil, err
	}
	if len(title.Samples) == 0 || len(title.PieceGrids) != len(title.Samples) {
		return nil, fmt.Errorf("pershot: per-title's analysis kept %d piece grids for %d samples", len(title.PieceGrids), len(title.Samples))
	}
	t := an.Timing
	spans := make([]pieceSpan, len(title.Samples))
	for i, sm := range title.Samples {
		a := int64(math.Round(sm[0] * t.FPS()))
		b := min(an.Frames, int64(math.Round(sm[1]*t.FPS())))
		spans[i] = pieceSpan{first: a, end: b, cost: an.cost(a, b)}
	}
	for k := range an.Shots {
		sh := &an.Shots[k]
		i := pieceFor(*sh, spans)
		sh.Measured, sh.Sample, sh.Scale = i, title.Samples[i], 1
		if spans[i].cost > 0 && sh.Complexity > 0 {
			sh.Scale = sh.Complexity / spans[i].cost
		}
		sh.Candidates = scaled(an.pieceCandidates(i), sh.Scale)
	}
	if len(an.Shots) > 1 {
		if err := an.probeShots(ctx, src, spans, opt); err != nil {
			return nil, err
		}
	}
	normalise(an.Shots, title.Points)
	an.Elapsed = time.Since(start)
	return an, nil
}

// pieceCandidates are piece i's grid (per-title's analysis) as candidates.
func (an *Analysis) pieceCandidates(i int) []Candidate {
	cands := make([]Candidate, len(an.Title.PieceGrids[i]))
	for j, p := range an.Title.PieceGrids[i] {
		cands[j] = Candidate{Point: p.Point, FrameBits: p.FrameBits}
	}
	return cands
}

// shotsOf cuts the title into shots on the profile pass's cuts: per-title's
// where its analysis ran one, else its own.
func shotsOf(ctx context.Context, src string, s *media.Source, title *pertitle.Analysis, opt Options) (*Analysis, error) {
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
	dw, dh := s.DisplaySize()
	an := &Analysis{Source: s, Width: dw, Height: dh, Metric: title.Metric, Timing: t, Frames: total, Title: title,
		CPUTime: title.CPUTime, CPUByStage: maps.Clone(title.CPUByStage), Warnings: slices.Clone(title.Warnings)}
	prof := title.Profile
	if prof == nil {
		dir, err := os.MkdirTemp("", "pershot-profile-*")
		if err != nil {
			return nil, fmt.Errorf("pershot: %w", err)
		}
		defer os.RemoveAll(dir)
		p, err := pertitle.ProfileTitle(ctx, opt.FFmpeg, src, dir, t.FPS(), t.SegmentSeconds)
		if err != nil {
			return nil, err
		}
		an.addCPU("profile", p.CPU)
		prof = &p
	}
	an.Cuts, an.SegmentBits = prof.Cuts, prof.SegmentBits
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

// addCPU counts d of stage into the analysis's CPU.
func (an *Analysis) addCPU(stage string, d time.Duration) {
	if an.CPUByStage == nil {
		an.CPUByStage = map[string]time.Duration{}
	}
	an.CPUByStage[stage] += d
	an.CPUTime += d
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
		out[i] = c.timesBits(f)
	}
	return out
}
