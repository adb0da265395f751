package pertitle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
)

// Files the engine writes beside the manifests.
const (
	ReportJSONName = "report.json"
	ReportSVGName  = "report.svg"
	// StaticDir is the subdirectory of the static ladder (Options.WithStatic).
	StaticDir = "static"
)

// Plan probes and validates src, then returns its ladder: for ModeStatic the
// static ladder (no analysis), otherwise Analyze, UpperHull and SelectLadder
// with the source's display size as the size limit.
func Plan(ctx context.Context, src string, opt Options) (Ladder, *Analysis, error) {
	s, err := ProbeSource(ctx, src, &opt)
	if err != nil {
		return Ladder{}, nil, err
	}
	return plan(ctx, src, s, opt)
}

func plan(ctx context.Context, src string, s *media.Source, opt Options) (Ladder, *Analysis, error) {
	dw, dh := s.DisplaySize()
	if opt.Mode == ModeStatic {
		return Ladder{Rungs: AppleLadder(dw, dh), Notes: []string{"static ladder: no analysis"}}, nil, nil
	}
	an, err := analyze(ctx, src, s, opt)
	if err != nil {
		return Ladder{}, nil, err
	}
	l, err := ChooseLadder(an, opt.Constraints, dw, dh)
	return l, an, err
}

// ChooseLadder is how Plan chooses the ladder of an analysis of a title
// shown at dw×dh: SelectLadder over an.Points under c, the size limit the
// display size, and without VMAF (and no TargetQuality in c) a top-rung
// target read off an.Hull (fallbackTarget). pkg/pershot chooses its rung
// targets with it from the same measurements as its shots.
func ChooseLadder(an *Analysis, c Constraints, dw, dh int) (Ladder, error) {
	c.SourceWidth, c.SourceHeight = dw, dh
	var anchor string
	c.TargetQuality, anchor = fallbackTarget(an, c, dw, dh)
	l, err := SelectLadder(an.Points, c)
	if err != nil {
		return Ladder{}, fmt.Errorf("pertitle: cannot choose a ladder: %w", err)
	}
	if anchor != "" {
		l.Notes = append([]string{anchor}, l.Notes...)
	}
	if l.Metric == "" {
		l.Metric = an.Metric
	}
	return l, nil
}

// fallbackTarget is the top-rung target when the metric is not VMAF and the
// caller set none. SSIM (and PSNR) at a given VMAF differ widely between
// titles: across the benchmark clips the SSIM at VMAF 95 spans a wide range
// (fast motion, which VMAF masks, against a still, flat picture), so no
// single SSIM value means "VMAF 95" (docs/benchmarks.md). Within one title the two
// rise together, though, so the target is the lower of the metric's default
// (high enough for VMAF ≥ 95 on every benchmark clip) and the quality the hull
// predicts at the static ladder's top bitrate: the top rung never aims above
// what the static ladder would give this title, and never below it.
func fallbackTarget(an *Analysis, c Constraints, dw, dh int) (float64, string) {
	if c.TargetQuality > 0 || an.Metric == MetricVMAF || len(an.Hull) == 0 {
		return c.TargetQuality, ""
	}
	def := DefaultTargetQuality(an.Metric)
	static := AppleLadder(dw, dh)
	if len(static) == 0 {
		return def, ""
	}
	top := float64(static[0].Bitrate)
	q := hullQuality(an.Hull, top)
	if q <= 0 || q >= def {
		return def, ""
	}
	return q, fmt.Sprintf("target %s %.4g: what the hull gives at the static ladder's top rate %s (below the default %.4g, which suits the stillest content)",
		an.Metric, q, fmtRate(top), def)
}

// Encode probes, plans and encodes src into outDir (created, must be empty):
// CMAF segments with an HLS master and a DASH MPD (media.Encode, one ffmpeg
// process), per-title rungs in constrained-quality mode (-crf with VBV capped
// at the rung's bitrate, buffer 2x), static rungs at their bitrate in two
// passes (ModeStatic and WithStatic: the baseline is a careful static ladder,
// not a one-pass one that needs more bits for the same VMAF; see
// docs/benchmarks.md). With
// WithStatic the static ladder is also encoded into outDir/static and Savings
// computed (which scores both ladders); with MeasureQuality every rendition is
// scored against the source. report.json and report.svg are written into
// outDir. Progress reports stages analysis, encode, static and quality.
func Encode(ctx context.Context, src, outDir string, opt Options) (*Report, error) {
	s, err := ProbeSource(ctx, src, &opt)
	if err != nil {
		return nil, err
	}
	dw, dh := s.DisplaySize()
	rep := &Report{Source: filepath.Base(src), Width: dw, Height: dh, Duration: s.Duration}

	ladder, an, err := plan(ctx, src, s, opt)
	if err != nil {
		return nil, err
	}
	rep.Ladder, rep.Analysis, rep.Metric = ladder, an, ladder.Metric
	if an != nil {
		rep.AnalysisTime = an.Elapsed
		rep.Metric = an.Metric
	}

	out, err := encodeLadder(ctx, src, s, outDir, ladder.Rungs, "encode", opt.Mode == ModeStatic, opt)
	if err != nil {
		return nil, err
	}
	rep.EncodeTime = secondsDuration(out.EncodeSeconds)
	rep.EncodeCPUTime = out.CPUTime
	rep.Renditions = RenditionReports(out, ladder.Rungs)

	if err := FinishReport(ctx, src, s, outDir, rep, opt); err != nil {
		return nil, err
	}
	if err := WriteReport(rep, outDir); err != nil {
		return nil, err
	}
	return rep, nil
}

// FinishReport is the end of Encode once rep holds the encoded ladder of s
// (Renditions, Metric): with opt.WithStatic it encodes the static ladder into
// outDir/static (two-pass average bitrate) and fills rep.Static; with
// WithStatic or MeasureQuality it scores every rendition against the source;
// with WithStatic it computes rep.Savings. opt has its defaults (ProbeSource).
func FinishReport(ctx context.Context, src string, s *media.Source, outDir string, rep *Report, opt Options) error {
	if opt.WithStatic {
		dw, dh := s.DisplaySize()
		static := AppleLadder(dw, dh)
		for i := range static {
			static[i].CRF = 0 // the static ladder is what it is: average bitrate
		}
		staticOut, err := encodeLadder(ctx, src, s, filepath.Join(outDir, StaticDir), static, "static", true, opt)
		if err != nil {
			return err
		}
		rep.Static = RenditionReports(staticOut, static)
		for i := range rep.Static {
			rep.Static[i].Playlist = StaticDir + "/" + rep.Static[i].Playlist
		}
	}
	if opt.MeasureQuality || opt.WithStatic {
		if err := scoreReport(ctx, src, s, outDir, rep, opt); err != nil {
			return err
		}
	}
	if opt.WithStatic {
		sv, err := ComputeSavings(rep.Renditions, rep.Static, rep.Metric, opt.CapBitrate)
		if err != nil {
			return fmt.Errorf("pertitle: %w", err)
		}
		rep.Savings = sv
	}
	return nil
}

// scoreReport scores the report's renditions, the static ones too, and
// names the metric when the analysis did not.
func scoreReport(ctx context.Context, src string, s *media.Source, outDir string, rep *Report, opt Options) error {
	all := append(append([]RenditionReport(nil), rep.Renditions...), rep.Static...)
	if err := scoreRenditions(ctx, src, s, outDir, all, opt); err != nil {
		return err
	}
	copy(rep.Renditions, all[:len(rep.Renditions)])
	copy(rep.Static, all[len(rep.Renditions):])
	if rep.Metric == "" && len(all) > 0 {
		if _, ok := all[0].Scores[MetricVMAF]; ok {
			rep.Metric = MetricVMAF
		} else {
			rep.Metric = MetricSSIM
		}
	}
	return nil
}

// WriteReport writes report.json and report.svg into dir.
func WriteReport(rep *Report, dir string) error {
	js, err := rep.JSON()
	if err != nil {
		return fmt.Errorf("pertitle: report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ReportJSONName), js, 0o644); err != nil {
		return fmt.Errorf("pertitle: report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ReportSVGName), rep.SVG(), 0o644); err != nil {
		return fmt.Errorf("pertitle: report: %w", err)
	}
	return nil
}

// MediaRungs turns chosen rungs into media.Encode rungs. Without a CRF:
// average bitrate with media.VBV's usual cap. With one (constrained
// quality): the static ladder's headroom (media.HeadroomVBV: a max rate of
// 1.5× the rung's bitrate), so a title harder than its samples is not
// starved where the analysis guessed low; the top rung's max rate, which
// players read as its peak (HLS BANDWIDTH), is kept within topPeak
// (TopPeak; 0 for no limit) but never under its bitrate.
//
// The top rung used to be capped at its own bitrate (media.CappedVBV):
// wherever the samples were easier than the title, that starved the dear
// shots of the title's best rendition (docs/benchmarks.md, "The top
// rung's headroom").
func MediaRungs(rungs []Rung, topPeak int64) []media.Rung {
	out := make([]media.Rung, 0, len(rungs))
	for i, r := range rungs {
		m := media.Rung{Width: r.Width, Height: r.Height, Bitrate: r.Bitrate, Profile: "high", CRF: r.CRF}
		if r.CRF > 0 {
			m.MaxRate, m.BufSize = media.HeadroomVBV(r.Bitrate)
			if i == 0 && topPeak > 0 && m.MaxRate > topPeak {
				m.MaxRate = max(r.Bitrate, topPeak)
			}
		}
		out = append(out, m)
	}
	return out
}

// TopPeak is the most the top constrained-quality rung of a title s may
// peak at (MediaRungs): the static ladder's top bitrate for its display
// size, within capBitrate (the capped viewer's bandwidth; 0 for none).
// Past static's top average, the headroom would buy the capped viewer more
// than static gives it, for more bits than static spends (on a multi-scene
// title, 2.29 Mbit/s against static's 2.01: docs/benchmarks.md).
func TopPeak(s *media.Source, capBitrate int64) int64 {
	peak := capBitrate
	if s == nil || s.Video == nil {
		return peak
	}
	dw, dh := s.DisplaySize()
	if l := AppleLadder(dw, dh); len(l) > 0 && (peak <= 0 || l[0].Bitrate < peak) {
		peak = l[0].Bitrate
	}
	return peak
}

// encodeLadder encodes rungs into dir; twoPass for the static ladder, which
// is encoded as careful static ladders are: two-pass average bitrate under
// media.VBV's cap (media.HeadroomVBV).
func encodeLadder(ctx context.Context, src string, s *media.Source, dir string, rungs []Rung, stage string, twoPass bool, opt Options) (*media.Output, error) {
	if len(rungs) == 0 {
		return nil, fmt.Errorf("pertitle: the %s ladder is empty", stage)
	}
	encode := opt.Encoder
	if encode == nil {
		encode = media.Encode
	}
	out, err := encode(ctx, media.EncodeRequest{
		FFmpeg: opt.FFmpeg, SourcePath: src, Source: s, OutDir: dir, Ladder: MediaRungs(rungs, TopPeak(s, opt.CapBitrate)),
		SegmentSeconds: opt.SegmentSeconds, Preset: opt.Preset, TwoPass: twoPass,
		Progress: func(p media.Progress) {
			if opt.Progress != nil {
				opt.Progress(Progress{Stage: stage, Percent: p.Percent, ETA: p.ETA,
					ChunksDone: p.ChunksDone, Chunks: p.Chunks, Workers: p.Workers})
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("pertitle: %s: %w", stage, err)
	}
	return out, nil
}

// RenditionReports describes an encoded ladder's renditions for a Report,
// each with the CRF its rung was chosen at.
func RenditionReports(out *media.Output, rungs []Rung) []RenditionReport {
	rs := make([]RenditionReport, 0, len(out.Renditions))
	for i, r := range out.Renditions {
		rr := RenditionReport{Width: r.Width, Height: r.Height, Bitrate: r.Bitrate, AverageBitrate: r.AverageBitrate,
			Bytes: r.Bytes, Playlist: r.Playlist}
		if i < len(rungs) {
			rr.CRF = rungs[i].CRF
		}
		rs = append(rs, rr)
	}
	return rs
}

// scoreRenditions measures every rendition against the source in one ffmpeg
// process (the source is decoded once), each rendition read as one fMP4 file
// joined from its segments.
func scoreRenditions(ctx context.Context, src string, s *media.Source, outDir string, rs []RenditionReport, opt Options) error {
	if opt.Progress != nil {
		opt.Progress(Progress{Stage: "quality"})
	}
	tmp, err := os.MkdirTemp("", "pertitle-quality-*")
	if err != nil {
		return fmt.Errorf("pertitle: %w", err)
	}
	defer removeAll(tmp)
	paths := make([]string, len(rs))
	for i, r := range rs {
		paths[i] = filepath.Join(tmp, fmt.Sprintf("r%d.mp4", i))
		f, err := os.Create(paths[i])
		if err != nil {
			return fmt.Errorf("pertitle: %w", err)
		}
		dir, pl := outDir, r.Playlist
		if d, file := filepath.Split(filepath.FromSlash(pl)); d != "" {
			dir, pl = filepath.Join(outDir, d), file
		}
		err = media.JoinRendition(dir, pl, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("pertitle: quality: %w", err)
		}
	}
	scores, _, err := measureSources(ctx, src, s, paths, make([]*media.Source, len(paths)), QualityOptions{
		FFmpeg: opt.Scorer, FFprobe: opt.FFprobe, VMAFModel: opt.VMAFModel, Every: opt.QualityEvery, VMAFPixels: vmafWindowPixels})
	if err != nil {
		return err
	}
	for i := range rs {
		rs[i].Scores = scores[i].Scores
	}
	if opt.Progress != nil {
		opt.Progress(Progress{Stage: "quality", Percent: 100})
	}
	return nil
}

func secondsDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
