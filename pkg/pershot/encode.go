package pershot

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
)

// Report is the per-shot report: pertitle's (so that report.json is a
// superset of a per-title one: the ladder is the per-title ladder whose
// sizes and targets the rungs keep, Renditions the per-shot encode's), the
// shots with their CRFs, the rungs' plans and the predicted BD-rate against
// per-title.
type Report struct {
	pertitle.Report
	Shots []ShotReport
	Rungs []RungPlan
	// PerTitleBDRate is the predicted BD-rate (percent, negative: per-shot
	// needs fewer bits for the same quality) of the per-shot rungs against
	// the per-title hull of the same measurements (Compare);
	// PerTitleBDRateError says why it is missing.
	PerTitleBDRate      float64
	PerTitleBDRateError string `json:",omitempty"`
}

// ShotReport is one shot of the report.
type ShotReport struct {
	Index          int
	First, Frames  int64
	Start, Seconds float64
	Complexity     float64 // the profile pass's bits per second
	// Measured is the piece of the analysis (Sample, seconds of the title)
	// that stands for this shot, Scale the factor on its bits.
	Measured int
	Sample   [2]float64
	Scale    float64
	// Probe is the stretch of this shot probed beside its piece, when no
	// piece lies inside it (zero otherwise).
	Probe [2]float64
	// CRFs, Bitrates and Qualities are this shot's in every rung, in
	// ladder order (bitrates and qualities as the allocation predicts them).
	CRFs      []float64
	Bitrates  []int64
	Qualities []float64
}

// Encode analyses src shot by shot (Analyze), plans the ladder (Plan) and
// encodes it into outDir (created, must be empty) through opt.Encoder
// (media.Encode when nil) with the shots as EncodeRequest.Chunks and their
// CRFs as ChunkCRFs: CMAF segments with an HLS master and a DASH MPD, as
// pertitle.Encode writes. WithStatic and MeasureQuality do what they do
// there (pertitle.FinishReport). report.json and report.svg are written into
// outDir (WriteReport). Progress reports stages analysis, encode, static and
// quality.
func Encode(ctx context.Context, src, outDir string, opt Options) (*Report, error) {
	s, err := pertitle.ProbeSource(ctx, src, &opt.Options)
	if err != nil {
		return nil, err
	}
	an, err := analyze(ctx, src, s, opt)
	if err != nil {
		return nil, err
	}
	lad, err := Plan(an, opt)
	if err != nil {
		return nil, err
	}
	rep := newReport(src, an, lad)
	out, err := encodeShots(ctx, src, s, outDir, an, lad, opt)
	if err != nil {
		return nil, err
	}
	rep.EncodeTime = time.Duration(out.EncodeSeconds * float64(time.Second))
	rep.EncodeCPUTime = out.CPUTime
	rungs := make([]pertitle.Rung, len(lad.Rungs))
	for i, r := range lad.Rungs {
		rungs[i] = lad.PerTitle.Rungs[i]
		rungs[i].CRF = r.meanCRF()
	}
	rep.Renditions = pertitle.RenditionReports(out, rungs)
	if err := pertitle.FinishReport(ctx, src, s, outDir, &rep.Report, opt.Options); err != nil {
		return nil, err
	}
	if err := WriteReport(rep, outDir); err != nil {
		return nil, err
	}
	return rep, nil
}

// encodeShots encodes the planned ladder chunk by chunk, one chunk per shot.
func encodeShots(ctx context.Context, src string, s *media.Source, outDir string, an *Analysis, lad *Ladder, opt Options) (*media.Output, error) {
	req := media.EncodeRequest{FFmpeg: opt.FFmpeg, SourcePath: src, Source: s, OutDir: outDir,
		SegmentSeconds: opt.SegmentSeconds, Preset: opt.Preset}
	for _, r := range lad.Rungs {
		req.Ladder = append(req.Ladder, r.MediaRung())
	}
	for k, sh := range an.Shots {
		req.Chunks = append(req.Chunks, sh.Chunk)
		crfs := make([]float64, len(lad.Rungs))
		for i, r := range lad.Rungs {
			crfs[i] = r.CRFs[k]
		}
		req.ChunkCRFs = append(req.ChunkCRFs, crfs)
	}
	req.Progress = func(p media.Progress) {
		if opt.Progress != nil {
			opt.Progress(pertitle.Progress{Stage: "encode", Percent: p.Percent, ETA: p.ETA,
				ChunksDone: p.ChunksDone, Chunks: p.Chunks, Workers: p.Workers})
		}
	}
	encode := opt.Encoder
	if encode == nil {
		encode = media.Encode
	}
	out, err := encode(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("pershot: encode: %w", err)
	}
	return out, nil
}

// newReport is the report of a plan before the encode: the source, the
// analysis as pertitle reports one (the title curve, its hull, the samples,
// the CPU), the per-title ladder, the shots and the rungs.
func newReport(src string, an *Analysis, lad *Ladder) *Report {
	pa := *an.Title
	pa.Elapsed, pa.CPUTime, pa.CPUByStage, pa.Warnings = an.Elapsed, an.CPUTime, an.CPUByStage, an.Warnings
	rep := &Report{Report: pertitle.Report{Source: filepath.Base(src), Width: an.Width, Height: an.Height,
		Duration: an.Source.Duration, Metric: an.Metric, Analysis: &pa, Ladder: lad.PerTitle, AnalysisTime: an.Elapsed},
		Rungs: lad.Rungs, PerTitleBDRate: lad.BDRate, PerTitleBDRateError: lad.BDRateError}
	for k, sh := range an.Shots {
		sr := ShotReport{Index: k, First: sh.First, Frames: sh.Frames, Start: sh.Start, Seconds: sh.Seconds,
			Complexity: sh.Complexity, Measured: sh.Measured, Sample: sh.Sample, Scale: sh.Scale, Probe: sh.Probe}
		for _, r := range lad.Rungs {
			c := r.Allocation.Choices[k]
			sr.CRFs, sr.Bitrates, sr.Qualities = append(sr.CRFs, c.CRF), append(sr.Bitrates, c.Bitrate), append(sr.Qualities, c.Quality)
		}
		rep.Shots = append(rep.Shots, sr)
	}
	return rep
}
