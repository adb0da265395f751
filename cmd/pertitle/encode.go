package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pershot"
	"github.com/pertitle/pertitle/pkg/pertitle"
)

const encodeUsage = "usage: pertitle encode SRC -o DIR [--ladder pertitle|pershot|static] [--analysis fast|exhaustive] [--with-static] [--measure-quality]"

func cmdEncode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("encode", strings.TrimPrefix(encodeUsage, "usage: "), stderr)
	var ef engineFlags
	ef.register(fs)
	outDir := fs.String("o", "", "output directory (created; must be empty)")
	ladder := fs.String("ladder", "pertitle", "ladder: pertitle (analysed), pershot (analysed, then each rung's CRF chosen per shot) or static (Apple HLS authoring specification)")
	withStatic := fs.Bool("with-static", false, "also encode the static ladder into DIR/static and report the savings")
	measure := fs.Bool("measure-quality", false, "score every rendition against the source")
	segment := fs.Float64("segment", media.DefaultSegmentSeconds, "segment (and GOP) duration, seconds")
	pos, err := parseArgs(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *outDir == "" {
		return exitError{2, errors.New(encodeUsage)}
	}
	opt, err := ef.options()
	if err != nil {
		return exitError{2, err}
	}
	switch *ladder {
	case "pertitle", "pershot":
	case "static":
		opt.Mode = pertitle.ModeStatic
	default:
		return exitError{2, fmt.Errorf("--ladder %q: use pertitle, pershot or static", *ladder)}
	}
	opt.WithStatic, opt.MeasureQuality, opt.SegmentSeconds = *withStatic, *measure, *segment
	var mu sync.Mutex
	pp := progressPrinter(stderr)
	opt.Progress = func(p pertitle.Progress) { mu.Lock(); pp(p); mu.Unlock() }

	start := time.Now()
	rep, shots, err := encodeLadder(ctx, *ladder, pos[0], *outDir, opt)
	if err != nil {
		return err
	}
	printAnalysis(stdout, rep.Analysis, rep.Ladder)
	if shots != nil {
		printShots(stdout, shots)
	}
	fmt.Fprintf(stdout, "\nencoded in %s (final encode %s, CPU %s", time.Since(start).Round(100*time.Millisecond),
		rep.EncodeTime.Round(100*time.Millisecond), rep.EncodeCPUTime.Round(100*time.Millisecond))
	if rep.Analysis != nil && rep.EncodeCPUTime > 0 {
		fmt.Fprintf(stdout, "; analysis CPU %.0f%% of it", 100*rep.Analysis.CPUTime.Seconds()/rep.EncodeCPUTime.Seconds())
	}
	fmt.Fprintln(stdout, ")")
	printRenditions(stdout, "renditions", rep.Renditions)
	if len(rep.Static) > 0 {
		printRenditions(stdout, "static ladder", rep.Static)
	}
	if s := rep.Savings; s != nil {
		fmt.Fprintf(stdout, "\nsavings against the static ladder: BD-rate %+.1f%%, storage %.0f%%, capped viewer (%d kbit/s) top rung %.0f%% fewer bits\n",
			s.BDRate, 100*s.StorageSaved, s.CapBitrate/1000, 100*s.TopBitrateSaved)
	}
	fmt.Fprintf(stdout, "\n%s\n%s\n%s\n%s\n",
		filepath.Join(*outDir, media.HLSMasterName), filepath.Join(*outDir, media.DASHManifestName),
		filepath.Join(*outDir, pertitle.ReportJSONName), filepath.Join(*outDir, pertitle.ReportSVGName))
	return nil
}

// encodeLadder encodes src into outDir per title (or static, as opt.Mode
// says), or per shot; a per-shot encode returns its report's shots too.
func encodeLadder(ctx context.Context, ladder, src, outDir string, opt pertitle.Options) (*pertitle.Report, *pershot.Report, error) {
	if ladder != "pershot" {
		rep, err := pertitle.Encode(ctx, src, outDir, opt)
		return rep, nil, err
	}
	rep, err := pershot.Encode(ctx, src, outDir, pershot.Options{Options: opt})
	if err != nil {
		return nil, nil, err
	}
	return &rep.Report, rep, nil
}

// printShots lists the shots of a per-shot encode with each rung's CRF.
func printShots(w io.Writer, rep *pershot.Report) {
	fmt.Fprintf(w, "\nshots (%d), CRF per rung:\n", len(rep.Shots))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "shot\tstart\tseconds")
	for _, r := range rep.Rungs {
		fmt.Fprintf(tw, "\t%dx%d", r.Width, r.Height)
	}
	fmt.Fprintln(tw)
	for _, s := range rep.Shots {
		fmt.Fprintf(tw, "%d\t%.2f\t%.2f", s.Index, s.Start, s.Seconds)
		for _, c := range s.CRFs {
			fmt.Fprintf(tw, "\t%.1f", c)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if rep.PerTitleBDRateError != "" {
		fmt.Fprintf(w, "predicted BD-rate against per-title: not measurable: %s\n", rep.PerTitleBDRateError)
	} else {
		fmt.Fprintf(w, "predicted BD-rate against per-title: %+.1f%%\n", rep.PerTitleBDRate)
	}
}

func printRenditions(w io.Writer, title string, rs []pertitle.RenditionReport) {
	fmt.Fprintf(w, "\n%s:\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rs {
		q := ""
		for _, m := range []pertitle.Metric{pertitle.MetricVMAF, pertitle.MetricSSIM, pertitle.MetricPSNR} {
			if v, ok := r.Scores[m]; ok {
				q += fmt.Sprintf("%s %s  ", m, fmtQuality(m, v))
			}
		}
		fmt.Fprintf(tw, "%dx%d\tpeak %d kbit/s\tavg %d kbit/s\t%d KiB\t%s\n", r.Width, r.Height, r.Bitrate/1000, r.AverageBitrate/1000, r.Bytes/1024, q)
	}
	tw.Flush()
}
