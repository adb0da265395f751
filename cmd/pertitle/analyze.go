package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pertitle/pertitle/pkg/pertitle"
)

// engineFlags are the flags analyze and encode share.
type engineFlags struct {
	mode          string
	maxBitrate    bitrateFlag
	minBitrate    bitrateFlag
	maxRenditions int
	target        float64
	complexity    float64
	preset        string
	vmafModel     string
	scorer        string
	budget        float64
}

func (e *engineFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&e.mode, "analysis", "fast", "analysis: fast (samples of the title) or exhaustive (whole title, whole grid)")
	fs.Var(&e.maxBitrate, "max-bitrate", "highest rung bitrate, bits/s (suffix k or M allowed); 0 = no limit")
	fs.Var(&e.minBitrate, "min-bitrate", "lowest rung bitrate, bits/s (suffix k or M allowed)")
	fs.IntVar(&e.maxRenditions, "max-renditions", 0, "most renditions in the ladder (0 = default)")
	fs.Float64Var(&e.target, "target-quality", 0, "top-rung quality in the ladder's metric (0 = default: VMAF 95, SSIM: what the static ladder's top rate gives this title, at most 0.9975)")
	fs.Float64Var(&e.complexity, "complexity", 0, "scale chosen bitrates (>1 more bits, <1 fewer; 0 = 1)")
	fs.Float64Var(&e.budget, "analysis-budget", 0, "share of the final encode's CPU the fast analysis may spend (0 = 0.25, or 0.15 at slow and slower presets)")
	fs.StringVar(&e.preset, "preset", envOr("PERTITLE_X264_PRESET", pertitle.DefaultPreset), "x264 preset of the final encode")
	fs.StringVar(&e.vmafModel, "vmaf-model", envOr("PERTITLE_VMAF_MODEL", ""), "VMAF model file for libvmaf 1.x (default: the v0.6.1 model the engine ships)")
	fs.StringVar(&e.scorer, "vmaf-ffmpeg", envOr("PERTITLE_VMAF_FFMPEG", pertitle.FindScorer()),
		"ffmpeg with libvmaf that scores quality (default: bin/vmaf-ffmpeg/ffmpeg as make installs it; empty: PERTITLE_FFMPEG, and SSIM when it lacks libvmaf)")
}

func (e *engineFlags) options() (pertitle.Options, error) {
	mode := pertitle.Mode(e.mode)
	if mode != pertitle.ModeFast && mode != pertitle.ModeExhaustive {
		return pertitle.Options{}, fmt.Errorf("--analysis %q: use fast or exhaustive", e.mode)
	}
	return pertitle.Options{
		FFmpeg: envOr("PERTITLE_FFMPEG", "ffmpeg"), FFprobe: envOr("PERTITLE_FFPROBE", "ffprobe"),
		VMAFModel: e.vmafModel, Scorer: e.scorer, Mode: mode, Preset: e.preset, AnalysisBudget: e.budget,
		Constraints: pertitle.Constraints{
			MinBitrate: int64(e.minBitrate), MaxBitrate: int64(e.maxBitrate), MaxRenditions: e.maxRenditions,
			TargetQuality: e.target, ComplexityFactor: e.complexity,
		},
	}, nil
}

// bitrateFlag parses "800k", "5M", "2.5M" or plain bits/s.
type bitrateFlag int64

func (b *bitrateFlag) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *bitrateFlag) Set(s string) error {
	v, err := parseBitrate(s)
	if err != nil {
		return err
	}
	*b = bitrateFlag(v)
	return nil
}

func parseBitrate(s string) (int64, error) {
	mult := 1.0
	t := strings.TrimSpace(s)
	switch {
	case strings.HasSuffix(t, "k"), strings.HasSuffix(t, "K"):
		mult, t = 1e3, t[:len(t)-1]
	case strings.HasSuffix(t, "M"), strings.HasSuffix(t, "m"):
		mult, t = 1e6, t[:len(t)-1]
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad bitrate %q (e.g. 800k, 5M, 2500000)", s)
	}
	return int64(f * mult), nil
}

const analyzeUsage = "usage: pertitle analyze SRC [--analysis fast|exhaustive] [--json] [--max-bitrate R] [--min-bitrate R] [--max-renditions N] [--target-quality Q] [--complexity F] [--analysis-budget S]"

func cmdAnalyze(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze", strings.TrimPrefix(analyzeUsage, "usage: "), stderr)
	var ef engineFlags
	ef.register(fs)
	asJSON := fs.Bool("json", false, "print the analysis and the ladder as JSON")
	pos, err := parseArgs(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return exitError{2, errors.New(analyzeUsage)}
	}
	opt, err := ef.options()
	if err != nil {
		return exitError{2, err}
	}
	opt.Progress = progressPrinter(stderr)
	ladder, an, err := pertitle.Plan(ctx, pos[0], opt)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Analysis *pertitle.Analysis `json:"analysis"`
			Ladder   pertitle.Ladder    `json:"ladder"`
		}{an, ladder})
	}
	printAnalysis(stdout, an, ladder)
	return nil
}

func printAnalysis(w io.Writer, an *pertitle.Analysis, l pertitle.Ladder) {
	if an != nil {
		fmt.Fprintf(w, "analysis: %s, metric %s, %d points, %d on the hull, CPU %s, took %s\n",
			an.Mode, an.Metric, len(an.Points), len(an.Hull), an.CPUTime.Round(10*time.Millisecond), an.Elapsed.Round(10*time.Millisecond))
		if len(an.CPUByStage) > 0 {
			var parts []string
			for _, st := range []string{"scenes", "extract", "encode", "score", "calibrate"} {
				if d, ok := an.CPUByStage[st]; ok {
					parts = append(parts, fmt.Sprintf("%s %s", st, d.Round(10*time.Millisecond)))
				}
			}
			fmt.Fprintf(w, "analysis CPU: %s\n", strings.Join(parts, ", "))
		}
		if len(an.Samples) > 0 {
			var ss []string
			for _, s := range an.Samples {
				ss = append(ss, fmt.Sprintf("%.1f-%.1fs", s[0], s[1]))
			}
			fmt.Fprintf(w, "samples: %s\n", strings.Join(ss, ", "))
		}
		for _, warn := range an.Warnings {
			fmt.Fprintf(w, "note: %s\n", warn)
		}
		fmt.Fprintln(w, "\nhull:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "resolution\tCRF\tkbit/s\t%s\t\n", an.Metric)
		for _, p := range an.Hull {
			fmt.Fprintf(tw, "%dx%d\t%g\t%d\t%s\t\n", p.Width, p.Height, p.CRF, p.Bitrate/1000, fmtQuality(p.Metric, p.Quality))
		}
		tw.Flush()
	}
	metric := l.Metric
	if metric == "" && an != nil {
		metric = an.Metric
	}
	fmt.Fprintf(w, "\nladder (%d renditions, metric %s):\n", len(l.Rungs), orDash(string(metric)))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range l.Rungs {
		q := ""
		if r.PredictedQuality > 0 {
			q = fmtQuality(metric, r.PredictedQuality)
		}
		crf := ""
		if r.CRF > 0 {
			crf = fmt.Sprintf("crf %.1f", r.CRF)
		}
		fmt.Fprintf(tw, "%dx%d\t%d kbit/s\t%s\t%s\t%s\n", r.Width, r.Height, r.Bitrate/1000, crf, q, r.Why)
	}
	tw.Flush()
	for _, n := range l.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func fmtQuality(m pertitle.Metric, v float64) string {
	switch m {
	case pertitle.MetricSSIM:
		return fmt.Sprintf("%.4f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// progressPrinter prints a line on w when the stage changes or the percentage
// moves by 10 points.
func progressPrinter(w io.Writer) func(pertitle.Progress) {
	stage, last := "", -100.0
	return func(p pertitle.Progress) {
		if p.Stage == stage && p.Percent < last+10 && !(p.Percent >= 100 && last < 100) {
			return
		}
		stage, last = p.Stage, p.Percent
		eta := ""
		if p.ETA > 0 {
			eta = ", ETA " + p.ETA.Round(time.Second).String()
		}
		fmt.Fprintf(w, "%s: %3.0f%%%s\n", p.Stage, p.Percent, eta)
	}
}
