// Package benchladder measures the per-title engine against the static ladder
// on real footage (`make bench-ladder`). It runs only with
// PERTITLE_BENCH_LADDER=1 and needs ../shared/media (the clips) and a
// VMAF-capable ffmpeg (scripts/vmaf-ffmpeg.sh): the product's ffmpeg may lack
// libvmaf, so every rendition is scored here, independently of the engine.
package benchladder

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
)

// clipSeconds of each clip are used.
const clipSeconds = 10

// Targets of the issue, printed beside the measurements.
const (
	targetFastShare     = 0.85 // fast keeps ≥ 85% of exhaustive's BD-rate saving on average
	targetWorstVsStatic = 2.0  // no clip more than 2% worse than static
	targetAnalysisShare = 0.25 // analysis CPU ≤ 25% of the final encode's CPU
	targetWallRatio     = 1.10 // engine final encode ≤ 1.10 × one plain ffmpeg
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

// vmafTools returns the VMAF-capable ffmpeg and the model, or skips.
func vmafTools(t *testing.T) (bin, model string) {
	t.Helper()
	root := repoRoot(t)
	bin = os.Getenv("PERTITLE_VMAF_FFMPEG")
	if bin == "" {
		bin = filepath.Join(root, "bin", "vmaf-ffmpeg", "ffmpeg")
	}
	model = filepath.Join(root, "..", "shared", "vmaf", "vmaf_v0.6.1.pkl")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no VMAF-capable ffmpeg at %s: run scripts/vmaf-ffmpeg.sh (or set PERTITLE_VMAF_FFMPEG)", bin)
	}
	if _, err := os.Stat(model); err != nil {
		t.Skipf("no VMAF model at %s (../shared/vmaf)", model)
	}
	return bin, model
}

func ffmpegBin() string {
	if b := os.Getenv("PERTITLE_FFMPEG"); b != "" {
		return b
	}
	return "ffmpeg"
}

func ffprobeBin() string {
	if b := os.Getenv("PERTITLE_FFPROBE"); b != "" {
		return b
	}
	return "ffprobe"
}

func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s := string(out)
		if len(s) > 2000 {
			s = s[len(s)-2000:]
		}
		return string(out), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, s)
	}
	return string(out), nil
}

// prepareSource cuts the first seconds of clip's first video stream into a
// lossless, limited-range yuv420p H.264 file with a keyframe every second:
// the source every ladder and every VMAF measurement of the clip uses.
// Mezzanine formats are intra-only or short-GOP, so a piece can be cut from
// the middle without decoding everything before it; x264's default (one
// keyframe in 250 frames) would charge the analysis for decoding the title
// up to each piece.
func prepareSource(ctx context.Context, clip, out string, seconds float64) error {
	_, err := run(ctx, ffmpegBin(), "-nostdin", "-hide_banner", "-v", "error", "-y",
		"-i", clip, "-t", strconv.FormatFloat(seconds, 'f', -1, 64), "-map", "0:v:0", "-an", "-sn", "-dn",
		"-map_metadata", "-1", "-vf", "scale=out_range=tv,format=yuv420p", "-color_range", "tv",
		"-c:v", "libx264", "-preset", "veryfast", "-qp", "0", "-force_key_frames", "expr:gte(t,n_forced*1)", out)
	return err
}

var reVMAF = regexp.MustCompile(`VMAF score[:=]\s*([0-9.]+)`)

// vmaf scores distorted against reference (its size w×h): the rendition is
// scaled up with bicubic and frames are paired by index on both inputs
// (setpts=N/(FRAME_RATE*TB)), so edit lists or encoder delay never shift the
// pairing, which would score a perfect copy in the 70s.
func vmaf(ctx context.Context, bin, model, distorted, reference string, w, h int) (float64, error) {
	graph := fmt.Sprintf("[0:v]scale=%d:%d:flags=bicubic,setpts=N/(FRAME_RATE*TB)[d];[1:v]setpts=N/(FRAME_RATE*TB)[r];[d][r]libvmaf=model_path=%s:n_threads=%d",
		w, h, model, runtime.NumCPU())
	out, err := run(ctx, bin, "-nostdin", "-hide_banner", "-vsync", "passthrough", "-i", distorted,
		"-vsync", "passthrough", "-i", reference, "-lavfi", graph, "-f", "null", "-")
	if err != nil {
		return 0, err
	}
	m := reVMAF.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0, fmt.Errorf("no VMAF score in the output of %s", bin)
	}
	return strconv.ParseFloat(m[len(m)-1][1], 64)
}

// TestVMAFPairsFramesByIndex guards the measurement itself: a lossless copy
// (in another container, with B-frames and so an encoder delay) must score ≥ 99.
func TestVMAFPairsFramesByIndex(t *testing.T) {
	t.Parallel()
	bin, model := vmafTools(t)
	ctx := context.Background()
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.mp4")
	_, err := run(ctx, ffmpegBin(), "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=2",
		"-vf", "format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", ref)
	require.NoError(t, err)
	dist := filepath.Join(dir, "copy.mkv")
	_, err = run(ctx, ffmpegBin(), "-nostdin", "-v", "error", "-i", ref, "-c:v", "libx264", "-preset", "medium", "-qp", "0", "-bf", "3", dist)
	require.NoError(t, err)
	score, err := vmaf(ctx, bin, model, dist, ref, 320, 180)
	require.NoError(t, err)
	require.GreaterOrEqual(t, score, 99.0, "a lossless copy scores %.2f: frames are not paired right", score)

	small := filepath.Join(dir, "small.mp4")
	_, err = run(ctx, ffmpegBin(), "-nostdin", "-v", "error", "-i", ref, "-vf", "scale=160:90", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "35", small)
	require.NoError(t, err)
	low, err := vmaf(ctx, bin, model, small, ref, 320, 180)
	require.NoError(t, err)
	require.Less(t, low, score-10, "a small, coarse encode must score clearly lower")
}

// childCPU is the user+system CPU of this process's waited-for children.
func childCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rendition is one encoded rung with its VMAF.
type rendition struct {
	pertitle.RenditionReport
	VMAF float64
}

type ladderRun struct {
	mode                   pertitle.Mode
	report                 *pertitle.Report
	rends                  []rendition
	wall                   time.Duration // whole Encode call
	analysisCPU, encodeCPU time.Duration
}

func (l ladderRun) points() []pertitle.Point {
	var ps []pertitle.Point
	for _, r := range l.rends {
		b := r.AverageBitrate
		if b <= 0 {
			b = r.Bitrate
		}
		ps = append(ps, pertitle.Point{Width: r.Width, Height: r.Height, Bitrate: b, Quality: r.VMAF, Metric: pertitle.MetricVMAF})
	}
	return ps
}

func (l ladderRun) bytes() int64 {
	var n int64
	for _, r := range l.rends {
		n += r.Bytes
	}
	return n
}

func (l ladderRun) capped(capBitrate int64) rendition {
	top := pertitle.CappedTop(l.reports(), capBitrate)
	for _, r := range l.rends {
		if r.RenditionReport.Playlist == top.Playlist {
			return r
		}
	}
	return rendition{}
}

func (l ladderRun) reports() []pertitle.RenditionReport {
	var rs []pertitle.RenditionReport
	for _, r := range l.rends {
		rs = append(rs, r.RenditionReport)
	}
	return rs
}

// encodeLadder runs the engine on src in one mode and scores every rendition.
func encodeLadder(ctx context.Context, t *testing.T, src, dir string, mode pertitle.Mode, opt pertitle.Options, vbin, model string, w, h int) ladderRun {
	t.Helper()
	opt.Mode = mode
	out := filepath.Join(dir, string(mode))
	before, start := childCPU(), time.Now()
	rep, err := pertitle.Encode(ctx, src, out, opt)
	require.NoError(t, err, "%s ladder of %s", mode, src)
	lr := ladderRun{mode: mode, report: rep, wall: time.Since(start)}
	total := childCPU() - before
	if rep.Analysis != nil {
		lr.analysisCPU = rep.Analysis.CPUTime
	}
	lr.encodeCPU = rep.EncodeCPUTime
	if lr.encodeCPU <= 0 {
		lr.encodeCPU = total - lr.analysisCPU
	}
	for i, r := range rep.Renditions {
		joined := filepath.Join(dir, fmt.Sprintf("%s-%d.mp4", mode, i))
		f, err := os.Create(joined)
		require.NoError(t, err)
		pdir, pl := out, r.Playlist
		if d, file := filepath.Split(filepath.FromSlash(pl)); d != "" {
			pdir, pl = filepath.Join(out, d), file
		}
		err = media.JoinRendition(pdir, pl, f)
		require.NoError(t, errors.Join(err, f.Close()))
		score, err := vmaf(ctx, vbin, model, joined, src, w, h)
		require.NoError(t, err)
		lr.rends = append(lr.rends, rendition{RenditionReport: r, VMAF: score})
		_ = os.Remove(joined)
	}
	return lr
}

// plainEncode runs one ffmpeg command producing the same renditions with the
// same x264 settings as the engine's final encode (decode once, split, scale,
// closed GOPs on segment boundaries), into plain MP4 files without packaging:
// the yardstick of the engine's overhead.
func plainEncode(ctx context.Context, src string, s *media.Source, dir string, rungs []pertitle.Rung, preset string, seg float64) (time.Duration, time.Duration, error) {
	fps := 30.0
	if s.Video != nil && s.Video.FrameRate > 0 {
		fps = s.Video.FrameRate
	}
	gop := strconv.Itoa(int(math.Round(fps * seg)))
	segS := strconv.FormatFloat(seg, 'f', -1, 64)
	var fg strings.Builder
	fmt.Fprintf(&fg, "[0:v:0]split=%d", len(rungs))
	for i := range rungs {
		fmt.Fprintf(&fg, "[s%d]", i)
	}
	for i, r := range rungs {
		fmt.Fprintf(&fg, ";[s%d]scale=w=%d:h=%d:out_range=tv,setsar=1,format=yuv420p[v%d]", i, r.Width, r.Height, i)
	}
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y", "-i", src, "-filter_complex", fg.String()}
	for i, m := range pertitle.MediaRungs(rungs) {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i), "-an",
			"-c:v", "libx264", "-preset", preset, "-sc_threshold", "0", "-g", gop, "-keyint_min", gop, "-flags", "+cgop",
			"-force_key_frames", "expr:gte(t,n_forced*"+segS+")", "-color_range", "tv", "-profile:v", "high")
		maxRate, bufSize := m.MaxRate, m.BufSize
		if m.CRF > 0 {
			args = append(args, "-crf", strconv.FormatFloat(m.CRF, 'f', -1, 64))
		} else {
			args = append(args, "-b:v", strconv.FormatInt(m.Bitrate, 10))
			maxRate, bufSize = int64(float64(m.Bitrate)*1.5), 2*m.Bitrate
		}
		args = append(args, "-maxrate", strconv.FormatInt(maxRate, 10), "-bufsize", strconv.FormatInt(bufSize, 10),
			filepath.Join(dir, fmt.Sprintf("plain-%d.mp4", i)))
	}
	cmd := exec.CommandContext(ctx, ffmpegBin(), args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("plain ffmpeg: %w: %s", err, out)
	}
	return time.Since(start), media.CPUTime(cmd.ProcessState), nil
}

type clipResult struct {
	name                string
	static, fast, exh   ladderRun
	bdFast, bdExh       float64
	bdFastErr, bdExhErr error
	plainWall, plainCPU time.Duration
}

// benchClips lists the clips of ../shared/media (PERTITLE_BENCH_CLIPS=substring
// keeps those whose name contains it), or skips.
func benchClips(t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	mediaDir := filepath.Join(root, "..", "shared", "media")
	clips, _ := filepath.Glob(filepath.Join(mediaDir, "*.mp4"))
	if len(clips) == 0 {
		t.Skipf("ladder benchmark: no clips in %s (the shared media set is absent)", mediaDir)
	}
	if only := os.Getenv("PERTITLE_BENCH_CLIPS"); only != "" {
		var keep []string
		for _, c := range clips {
			for _, o := range strings.Split(only, ",") {
				if o != "" && strings.Contains(filepath.Base(c), o) {
					keep = append(keep, c)
					break
				}
			}
		}
		clips = keep
	}
	sort.Strings(clips)
	return clips
}

// benchPreset is the x264 preset of every final encode of the benchmark (all
// three ladders and the plain ffmpeg command): slow, what a VOD service would
// use, unless PERTITLE_BENCH_PRESET says otherwise. Fast-mode analysis encodes
// use the engine's DefaultAnalysisPreset (veryfast), mapped onto this preset by
// a measured bits ratio and CRF offset at equal quality; exhaustive analysis
// uses this preset on the whole title.
func benchPreset() string {
	if p := os.Getenv("PERTITLE_BENCH_PRESET"); p != "" {
		return p
	}
	return "slow"
}

func TestBenchLadder(t *testing.T) {
	if os.Getenv("PERTITLE_BENCH_LADDER") != "1" {
		t.Skip("ladder benchmark: run with PERTITLE_BENCH_LADDER=1 (make bench-ladder)")
	}
	clips := benchClips(t)
	vbin, model := vmafTools(t)
	ctx := context.Background()
	opt := pertitle.Options{FFmpeg: ffmpegBin(), FFprobe: ffprobeBin(), Preset: benchPreset(), SegmentSeconds: 2}

	var results []clipResult
	for _, clip := range clips {
		name := strings.TrimSuffix(filepath.Base(clip), filepath.Ext(clip))
		dir := t.TempDir()
		src := filepath.Join(dir, "source.mp4")
		require.NoError(t, prepareSource(ctx, clip, src, clipSeconds))
		s, err := media.Probe(ctx, ffprobeBin(), src)
		require.NoError(t, err)
		w, h := s.Video.Width, s.Video.Height

		cr := clipResult{name: name}
		cr.static = encodeLadder(ctx, t, src, dir, pertitle.ModeStatic, opt, vbin, model, w, h)
		cr.fast = encodeLadder(ctx, t, src, dir, pertitle.ModeFast, opt, vbin, model, w, h)
		cr.exh = encodeLadder(ctx, t, src, dir, pertitle.ModeExhaustive, opt, vbin, model, w, h)
		cr.bdFast, cr.bdFastErr = pertitle.BDRate(cr.static.points(), cr.fast.points())
		cr.bdExh, cr.bdExhErr = pertitle.BDRate(cr.static.points(), cr.exh.points())
		plainDir := filepath.Join(dir, "plain")
		require.NoError(t, os.MkdirAll(plainDir, 0o755))
		cr.plainWall, cr.plainCPU, err = plainEncode(ctx, src, s, plainDir, cr.fast.report.Ladder.Rungs, opt.Preset, opt.SegmentSeconds)
		require.NoError(t, err)
		results = append(results, cr)
		t.Logf("%s done", name)
	}
	printTables(results)
}

func pct(v float64, err error) string {
	if err != nil {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", v)
}

func mbps(b int64) string { return fmt.Sprintf("%.2f", float64(b)/1e6) }

func printTables(rs []clipResult) {
	p := func(format string, a ...any) { fmt.Printf(format+"\n", a...) }
	p("## pertitle ladder benchmark (%s, %d cores; first %d s of each clip, VMAF v0.6.1 of every rendition upscaled bicubic to the source)", time.Now().UTC().Format("2006-01-02T15:04Z"), runtime.NumCPU(), clipSeconds)
	p("")
	p("### BD-rate against the static ladder (VMAF vs log bitrate, PCHIP; negative = fewer bits)")
	p("")
	p("| clip | fast | exhaustive | fast's share of exhaustive's saving | static rungs | fast rungs | exhaustive rungs |")
	p("|---|---:|---:|---:|---:|---:|---:|")
	var sumF, sumE float64
	n, worst := 0, math.Inf(-1)
	for _, r := range rs {
		share := "n/a"
		if r.bdFastErr == nil && r.bdExhErr == nil {
			sumF, sumE, n = sumF+r.bdFast, sumE+r.bdExh, n+1
			if r.bdExh < 0 {
				share = fmt.Sprintf("%.0f%%", 100*r.bdFast/r.bdExh)
			}
		}
		if r.bdFastErr == nil {
			worst = math.Max(worst, r.bdFast)
		}
		p("| %s | %s | %s | %s | %d | %d | %d |", r.name, pct(r.bdFast, r.bdFastErr), pct(r.bdExh, r.bdExhErr), share, len(r.static.rends), len(r.fast.rends), len(r.exh.rends))
	}
	if n > 0 {
		share := math.NaN()
		if sumE < 0 {
			share = sumF / sumE
		}
		p("| **average** | %+.1f%% | %+.1f%% | %.0f%% (target ≥ %.0f%%) | | | |", sumF/float64(n), sumE/float64(n), 100*share, 100*targetFastShare)
	}
	p("")
	if math.IsInf(worst, -1) {
		p("Worst clip, fast vs static: n/a (no clip with overlapping quality ranges).")
	} else {
		p("Worst clip, fast vs static: %+.1f%% (target: no clip worse than +%.0f%%).", worst, targetWorstVsStatic)
	}
	p("")
	p("### Cost: analysis CPU against the final encode, ladder bytes, engine vs one plain ffmpeg")
	p("")
	p("| clip | fast analysis CPU / encode CPU | exhaustive analysis CPU / encode CPU | bytes static | bytes fast | bytes exhaustive | fast saved | engine encode wall (fast) | plain ffmpeg wall | ratio |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var aShare, wRatio []float64
	var bS, bF, bE int64
	for _, r := range rs {
		fs := float64(r.fast.analysisCPU) / float64(r.fast.encodeCPU)
		es := float64(r.exh.analysisCPU) / float64(r.exh.encodeCPU)
		aShare = append(aShare, fs)
		wall := r.fast.report.EncodeTime
		ratio := float64(wall) / float64(r.plainWall)
		wRatio = append(wRatio, ratio)
		bS, bF, bE = bS+r.static.bytes(), bF+r.fast.bytes(), bE+r.exh.bytes()
		p("| %s | %.0f%% | %.0f%% | %d | %d | %d | %.0f%% | %.2f s | %.2f s | %.2f |", r.name, 100*fs, 100*es, r.static.bytes(), r.fast.bytes(), r.exh.bytes(),
			100*(1-float64(r.fast.bytes())/float64(r.static.bytes())), wall.Seconds(), r.plainWall.Seconds(), ratio)
	}
	p("| **total / mean** | %.0f%% (target ≤ %.0f%%) | | %d | %d | %d | %.0f%% | | | %.2f (target ≤ %.2f) |", 100*mean(aShare), 100*targetAnalysisShare, bS, bF, bE,
		100*(1-float64(bF)/float64(bS)), mean(wRatio), targetWallRatio)
	p("")
	p("### The 5 Mbit/s viewer: top rung under each ladder (bitrate Mb/s average, size, VMAF)")
	p("")
	p("| clip | static | fast | exhaustive |")
	p("|---|---|---|---|")
	for _, r := range rs {
		cell := func(l ladderRun) string {
			c := l.capped(pertitle.DefaultCapBitrate)
			return fmt.Sprintf("%s %dx%d %.1f", mbps(c.AverageBitrate), c.Width, c.Height, c.VMAF)
		}
		p("| %s | %s | %s | %s |", r.name, cell(r.static), cell(r.fast), cell(r.exh))
	}
	p("")
	p("### Ladders (top first: size, average Mb/s, VMAF)")
	p("")
	for _, r := range rs {
		for _, l := range []ladderRun{r.static, r.fast, r.exh} {
			var cells []string
			for _, x := range l.rends {
				cells = append(cells, fmt.Sprintf("%dx%d %s %.1f", x.Width, x.Height, mbps(x.AverageBitrate), x.VMAF))
			}
			p("- %s %s: %s", r.name, l.mode, strings.Join(cells, " · "))
		}
	}
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
