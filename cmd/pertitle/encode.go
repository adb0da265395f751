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
	"github.com/pertitle/pertitle/pkg/pertitle"
)

const encodeUsage = "usage: pertitle encode SRC -o DIR [--ladder pertitle|static] [--analysis fast|exhaustive] [--with-static] [--measure-quality]"

func cmdEncode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("encode", strings.TrimPrefix(encodeUsage, "usage: "), stderr)
	var ef engineFlags
	ef.register(fs)
	outDir := fs.String("o", "", "output directory (created; must be empty)")
	ladder := fs.String("ladder", "pertitle", "ladder: pertitle (analysed) or static (Apple HLS authoring specification)")
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
	case "pertitle":
	case "static":
		opt.Mode = pertitle.ModeStatic
	default:
		return exitError{2, fmt.Errorf("--ladder %q: use pertitle or static", *ladder)}
	}
	opt.WithStatic, opt.MeasureQuality, opt.SegmentSeconds = *withStatic, *measure, *segment
	var mu sync.Mutex
	pp := progressPrinter(stderr)
	opt.Progress = func(p pertitle.Progress) { mu.Lock(); pp(p); mu.Unlock() }

	start := time.Now()
	rep, err := pertitle.Encode(ctx, pos[0], *outDir, opt)
	if err != nil {
		return err
	}
	printAnalysis(stdout, rep.Analysis, rep.Ladder)
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
