// Package benchladder measures the per-title engine on real footage
// (`make bench-ladder`): against the best ladder x264 can make for each clip
// (the upper convex hull of an exhaustive resolution × CRF grid, plain CRF,
// no VBV, the same preset) and against a careful static ladder (Apple's
// bitrates, two-pass under a VBV cap). It runs only with
// PERTITLE_BENCH_LADDER=1 and needs ../shared/media (the clips) and the VMAF
// scorer (scripts/vmaf-ffmpeg.sh): every rendition is scored here, the same
// way for every ladder, independently of what the engine measured.
package benchladder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
	"github.com/pertitle/pertitle/pkg/pertitle/vmafmodel"
)

// clipSeconds of each clip are used.
const clipSeconds = 10

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

// vmafTools returns the VMAF-capable ffmpeg and the shipped model.
func vmafTools(t *testing.T) (bin, model string) {
	t.Helper()
	bin = os.Getenv("PERTITLE_VMAF_FFMPEG")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "bin", pertitle.ScorerDir, "ffmpeg")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no VMAF-capable ffmpeg at %s: run scripts/vmaf-ffmpeg.sh (or set PERTITLE_VMAF_FFMPEG)", bin)
	}
	model, err := vmafmodel.Path()
	require.NoError(t, err)
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
// the middle without decoding everything before it.
func prepareSource(ctx context.Context, clip, out string, seconds float64) error {
	_, err := run(ctx, ffmpegBin(), "-nostdin", "-hide_banner", "-v", "error", "-y",
		"-i", clip, "-t", strconv.FormatFloat(seconds, 'f', -1, 64), "-map", "0:v:0", "-an", "-sn", "-dn",
		"-map_metadata", "-1", "-vf", "scale=out_range=tv,format=yuv420p", "-color_range", "tv",
		"-c:v", "libx264", "-preset", "veryfast", "-qp", "0", "-force_key_frames", "expr:gte(t,n_forced*1)", out)
	return err
}

// longTitle concatenates the first seconds (up to per) of every clip, each
// brought to 1280x720 at 25 fps, into one multi-scene lossless source: a
// title on which a few 2 s pieces stand for very different scenes. Made at
// run time from ../shared/media, never stored in the repository.
func longTitle(ctx context.Context, clips []string, out string, per float64) error {
	args := []string{"-nostdin", "-hide_banner", "-v", "error", "-y"}
	var fg strings.Builder
	for i, c := range clips {
		args = append(args, "-t", strconv.FormatFloat(per, 'f', -1, 64), "-i", c)
		fmt.Fprintf(&fg, "[%d:v:0]scale=1280:720:flags=bicubic:out_range=tv,setsar=1,fps=25,format=yuv420p,settb=1/25,setpts=N[v%d];", i, i)
	}
	for i := range clips {
		fmt.Fprintf(&fg, "[v%d]", i)
	}
	fmt.Fprintf(&fg, "concat=n=%d:v=1:a=0[out]", len(clips))
	args = append(args, "-filter_complex", fg.String(), "-map", "[out]", "-color_range", "tv",
		"-c:v", "libx264", "-preset", "veryfast", "-qp", "0", "-force_key_frames", "expr:gte(t,n_forced*1)", out)
	_, err := run(ctx, ffmpegBin(), args...)
	return err
}

var reVMAF = regexp.MustCompile(`VMAF score[:=]\s*([0-9.]+)`)

// vmaf scores distorted against reference (its size w×h) on every frame of
// the whole picture: the rendition is scaled up with bicubic and frames are
// paired by index on both inputs (setpts=N/(FRAME_RATE*TB)), so edit lists
// or encoder delay never shift the pairing.
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
// (in another container, with B-frames and so an encoder delay) must score ≥
// 99, by the full-picture scorer and by the benchmark's sampled one.
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
	sampled, err := scoreAll(ctx, bin, ref, []string{dist})
	require.NoError(t, err)
	require.GreaterOrEqual(t, sampled[0], 98.0)

	small := filepath.Join(dir, "small.mp4")
	_, err = run(ctx, ffmpegBin(), "-nostdin", "-v", "error", "-i", ref, "-vf", "scale=160:90", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "35", small)
	require.NoError(t, err)
	low, err := vmaf(ctx, bin, model, small, ref, 320, 180)
	require.NoError(t, err)
	require.Less(t, low, score-10, "a small, coarse encode must score clearly lower")
}

// scoring is how the benchmark scores: PERTITLE_BENCH_VMAF_EVERY (default 1:
// every frame; n > 1: pairs of consecutive frames, two in 2n+1) and
// PERTITLE_BENCH_VMAF_PIXELS (default 0: the whole picture; else a centred
// window of at most that many pixels at the source's scale). Every ladder
// and every hull point of a run is scored the same way.
func scoring() (every, pixels int) {
	every, pixels = 1, 0
	if v, err := strconv.Atoi(os.Getenv("PERTITLE_BENCH_VMAF_EVERY")); err == nil && v > 0 {
		every = v
	}
	if v, err := strconv.Atoi(os.Getenv("PERTITLE_BENCH_VMAF_PIXELS")); err == nil && v > 0 {
		pixels = v
	}
	return every, pixels
}

func scoringName() string {
	every, pixels := scoring()
	s := "every frame"
	if every > 1 {
		s = fmt.Sprintf("pairs of frames, 2 in %d", 2*every+1)
	}
	if pixels > 0 {
		s += fmt.Sprintf(", a centred window of ≤ %d pixels", pixels)
	} else {
		s += ", the whole picture"
	}
	return s
}

// scoreAll scores distorted files against reference with VMAF v0.6.1 (the
// shipped model), upscaled to the reference, frames paired by index.
func scoreAll(ctx context.Context, bin, reference string, distorted []string) ([]float64, error) {
	every, pixels := scoring()
	sc, _, err := pertitle.MeasureQualityAll(ctx, reference, distorted, pertitle.QualityOptions{
		FFmpeg: bin, FFprobe: ffprobeBin(), Every: every, VMAFPixels: pixels, Unprobed: true})
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(sc))
	for i, s := range sc {
		if s.Metric != pertitle.MetricVMAF {
			return nil, fmt.Errorf("the scorer %s gave %s, not VMAF", bin, s.Metric)
		}
		out[i] = s.Value
	}
	return out, nil
}

// rawReference decodes the source once into raw video: every score of the
// title reads it, and decoding the lossless H.264 source for each of dozens
// of scores cost as much as the scores themselves. YUV4MPEG, since the probe
// accepts no NUT from outside, without the colour-range header (the scorer's
// ffmpeg 4.1 refuses a file that has it; the sources are limited range).
func rawReference(ctx context.Context, src, dir string) (string, error) {
	out := filepath.Join(dir, "reference.y4m")
	_, err := run(ctx, ffmpegBin(), "-nostdin", "-v", "error", "-y", "-i", src, "-map", "0:v:0", "-color_range", "unspecified", out)
	return out, err
}

// annexBBitrate is the video bitstream's bitrate of an encoded file (its
// H.264 in Annex B, as the hull's encodes are measured): containers and
// packaging are left out, so every ladder is compared on the same bits.
func annexBBitrate(ctx context.Context, file string, seconds float64) (int64, error) {
	raw := file + ".h264"
	defer os.Remove(raw)
	if _, err := run(ctx, ffmpegBin(), "-nostdin", "-v", "error", "-y", "-i", file, "-map", "0:v:0", "-c", "copy", "-f", "h264", raw); err != nil {
		return 0, err
	}
	fi, err := os.Stat(raw)
	if err != nil {
		return 0, err
	}
	return int64(float64(fi.Size()) * 8 / seconds), nil
}

// point is one measured encode: size, CRF (0 for average bitrate), video
// bitrate (Annex B), peak (BANDWIDTH, packaged renditions only) and VMAF.
type point struct {
	W, H    int
	CRF     float64
	Bitrate int64
	Peak    int64
	VMAF    float64
}

func toPoints(ps []point) []pertitle.Point {
	out := make([]pertitle.Point, 0, len(ps))
	for _, p := range ps {
		out = append(out, pertitle.Point{Width: p.W, Height: p.H, CRF: p.CRF, Bitrate: p.Bitrate, Quality: p.VMAF, Metric: pertitle.MetricVMAF})
	}
	return out
}

// cache keeps results that do not change when the engine does (the hull, the
// static ladders) under PERTITLE_BENCH_CACHE (default var/bench-cache): the
// exhaustive grid is most of a run's CPU.
type cache struct{ dir string }

func (c cache) load(key string, v any) bool {
	b, err := os.ReadFile(filepath.Join(c.dir, key+".json"))
	return err == nil && json.Unmarshal(b, v) == nil
}

func (c cache) store(key string, v any) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.dir, key+".json.part")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.dir, key+".json"))
}

// sourceKey names a prepared source by its content.
func sourceKey(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// Hull grid: every size a ladder might use (the engine's and the static
// ladder's short sides, and the source's own) × CRF 17..41 in steps of 3.
var (
	hullHeights = []int{1080, 720, 540, 432, 360, 234}
	hullCRFs    = []float64{17, 20, 23, 26, 29, 32, 35, 38, 41}
)

// hullSizes are the grid's picture sizes for a w×h source (landscape or
// portrait; even, the source's aspect, never larger than the source).
func hullSizes(w, h int) [][2]int {
	short, long := h, w
	if w < h {
		short, long = w, h
	}
	seen := map[int]bool{}
	var out [][2]int
	add := func(s int) {
		l := int(float64(s)*float64(long)/float64(short)+1) &^ 1
		s &^= 1
		if s == short&^1 {
			l = long &^ 1
		}
		if seen[s] || s > short {
			return
		}
		seen[s] = true
		if w < h {
			out = append(out, [2]int{s, l})
		} else {
			out = append(out, [2]int{l, s})
		}
	}
	add(short)
	for _, s := range hullHeights {
		add(s)
	}
	return out
}

// exhaustive encodes the whole source at every grid size and CRF with
// preset, plain CRF (no VBV) and the final encode's GOP structure, and scores
// every encode: the points the hull is taken from.
func exhaustive(ctx context.Context, t *testing.T, bin, src, ref string, s *media.Source, preset string, dir string) []point {
	t.Helper()
	sizes := hullSizes(s.Video.Width, s.Video.Height)
	var pts []point
	for si, sz := range sizes {
		var names []string
		args := []string{"-nostdin", "-hide_banner", "-v", "error", "-y", "-i", src, "-filter_complex",
			fmt.Sprintf("[0:v:0]scale=%d:%d:flags=bicubic,setsar=1,format=yuv420p,split=%d%s", sz[0], sz[1], len(hullCRFs), outLabels(len(hullCRFs)))}
		for ci, crf := range hullCRFs {
			n := filepath.Join(dir, fmt.Sprintf("hull-%d-%d.h264", si, ci))
			names = append(names, n)
			args = append(args, "-map", fmt.Sprintf("[o%d]", ci), "-c:v", "libx264", "-preset", preset,
				"-crf", strconv.FormatFloat(crf, 'f', -1, 64), "-profile:v", "high")
			args = append(args, media.X264GOPArgs(s.Video.FrameRate, 2)...)
			args = append(args, "-f", "h264", n)
		}
		_, err := run(ctx, ffmpegBin(), args...)
		require.NoError(t, err)
		scores, err := scoreAll(ctx, bin, ref, names)
		require.NoError(t, err)
		for ci, n := range names {
			fi, err := os.Stat(n)
			require.NoError(t, err)
			pts = append(pts, point{W: sz[0], H: sz[1], CRF: hullCRFs[ci], Bitrate: int64(float64(fi.Size()) * 8 / s.Duration), VMAF: scores[ci]})
			_ = os.Remove(n)
		}
	}
	return pts
}

func outLabels(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[o%d]", i)
	}
	return b.String()
}

// measureLadder joins every rendition of an encoded ladder, measures its
// bitstream bitrate and scores it.
func measureLadder(ctx context.Context, t *testing.T, bin, ref string, seconds float64, outDir string, rs []media.Rendition) []point {
	t.Helper()
	var files []string
	for i, r := range rs {
		joined := filepath.Join(outDir, fmt.Sprintf("joined-%d.mp4", i))
		f, err := os.Create(joined)
		require.NoError(t, err)
		pdir, pl := outDir, r.Playlist
		if d, file := filepath.Split(filepath.FromSlash(pl)); d != "" {
			pdir, pl = filepath.Join(outDir, d), file
		}
		err = media.JoinRendition(pdir, pl, f)
		require.NoError(t, errors.Join(err, f.Close()))
		files = append(files, joined)
	}
	scores, err := scoreAll(ctx, bin, ref, files)
	require.NoError(t, err)
	var pts []point
	for i, r := range rs {
		b, err := annexBBitrate(ctx, files[i], seconds)
		require.NoError(t, err)
		pts = append(pts, point{W: r.Width, H: r.Height, Bitrate: b, Peak: r.Bitrate, VMAF: scores[i]})
		_ = os.Remove(files[i])
	}
	return pts
}

// staticLadder encodes the static ladder with media.Encode, one- or two-pass.
func staticLadder(ctx context.Context, t *testing.T, bin, src, ref string, s *media.Source, preset, dir string, twoPass bool) []point {
	t.Helper()
	dw, dh := s.DisplaySize()
	out := filepath.Join(dir, fmt.Sprintf("static-%s-%v", preset, twoPass))
	o, err := media.Encode(ctx, media.EncodeRequest{FFmpeg: ffmpegBin(), SourcePath: src, Source: s, OutDir: out,
		Ladder: pertitle.MediaRungs(pertitle.AppleLadder(dw, dh), 0), SegmentSeconds: 2, Preset: preset, TwoPass: twoPass})
	require.NoError(t, err)
	defer os.RemoveAll(out)
	return measureLadder(ctx, t, bin, ref, s.Duration, out, o.Renditions)
}

// perTitleRun is one engine run (fast mode) at one preset.
type perTitleRun struct {
	points                 []point
	analysisCPU, encodeCPU time.Duration
	stages                 map[string]time.Duration // analysis CPU by stage
	report                 *pertitle.Report
}

// perTitle runs the engine; with score it also measures every rendition.
func perTitle(ctx context.Context, t *testing.T, bin, src, ref string, s *media.Source, preset, dir string, score bool) perTitleRun {
	t.Helper()
	out := filepath.Join(dir, "pertitle-"+preset)
	// PERTITLE_BENCH_ANALYSIS_EVERY tries another frame sampling of the
	// analysis's scores (Options.QualityEvery; the engine's default when unset).
	every, _ := strconv.Atoi(os.Getenv("PERTITLE_BENCH_ANALYSIS_EVERY"))
	rep, err := pertitle.Encode(ctx, src, out, pertitle.Options{FFmpeg: ffmpegBin(), FFprobe: ffprobeBin(), Scorer: bin,
		Preset: preset, SegmentSeconds: 2, Mode: pertitle.ModeFast, QualityEvery: every})
	require.NoError(t, err)
	defer os.RemoveAll(out)
	pr := perTitleRun{encodeCPU: rep.EncodeCPUTime, report: rep}
	if score {
		rs := make([]media.Rendition, len(rep.Renditions))
		for i, r := range rep.Renditions {
			rs[i] = media.Rendition{Width: r.Width, Height: r.Height, Bitrate: r.Bitrate, Playlist: r.Playlist}
		}
		pr.points = measureLadder(ctx, t, bin, ref, s.Duration, out, rs)
		for i := range pr.points {
			pr.points[i].CRF = rep.Renditions[i].CRF
		}
	}
	if rep.Analysis != nil {
		pr.analysisCPU, pr.stages = rep.Analysis.CPUTime, rep.Analysis.CPUByStage
	}
	return pr
}

// benchClip is one title of the benchmark.
type benchClip struct {
	name, set string
	prepare   func(ctx context.Context, out string) error
}

// clipsIn lists the .mp4 files of dir whose name contains one of
// PERTITLE_BENCH_CLIPS's comma-separated substrings (all when unset).
func clipsIn(dir string) []string {
	clips, _ := filepath.Glob(filepath.Join(dir, "*.mp4"))
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

// benchClips lists the clips of ../shared/media (PERTITLE_BENCH_CLIPS=substring
// keeps those whose name contains it), or fails.
func benchClips(t *testing.T) []string {
	t.Helper()
	mediaDir := sharedMedia(t)
	clips := clipsIn(mediaDir)
	if len(clips) == 0 && os.Getenv("PERTITLE_BENCH_CLIPS") == "" {
		t.Fatalf("ladder benchmark: no clips in %s (the shared media set is absent)", mediaDir)
	}
	return clips
}

// sharedMedia is the tuning set's directory: PERTITLE_BENCH_MEDIA, default
// ../shared/media beside the repository.
func sharedMedia(t *testing.T) string {
	if d := os.Getenv("PERTITLE_BENCH_MEDIA"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(t), "..", "shared", "media")
}

// titles are the benchmark's titles: the tuning set (../shared/media, first
// clipSeconds of each), the long multi-scene title made from all of them
// ("long" in PERTITLE_BENCH_CLIPS, or no filter), and the holdout set
// (PERTITLE_BENCH_HOLDOUT, a directory of clips the engine was never tuned on).
func titles(t *testing.T) []benchClip {
	t.Helper()
	var out []benchClip
	for _, c := range benchClips(t) {
		c := c
		out = append(out, benchClip{name: strings.TrimSuffix(filepath.Base(c), ".mp4"), set: "tuning",
			prepare: func(ctx context.Context, dst string) error { return prepareSource(ctx, c, dst, clipSeconds) }})
	}
	only := os.Getenv("PERTITLE_BENCH_CLIPS")
	if only == "" || strings.Contains(only, "long") {
		all, _ := filepath.Glob(filepath.Join(sharedMedia(t), "*.mp4"))
		sort.Strings(all)
		if len(all) > 0 {
			out = append(out, benchClip{name: "long_multiscene_1280x720", set: "tuning (long)",
				prepare: func(ctx context.Context, dst string) error { return longTitle(ctx, all, dst, 10) }})
		}
	}
	if dir := os.Getenv("PERTITLE_BENCH_HOLDOUT"); dir != "" {
		for _, c := range clipsIn(dir) {
			c := c
			out = append(out, benchClip{name: strings.TrimSuffix(filepath.Base(c), ".mp4"), set: "holdout",
				prepare: func(ctx context.Context, dst string) error { return prepareSource(ctx, c, dst, clipSeconds) }})
		}
	}
	return out
}

// benchPresets are the final presets measured (PERTITLE_BENCH_PRESETS,
// comma-separated; default veryfast, the product's default, and slow, the
// usual VOD choice). The first one is compared with the hull and static;
// every one gives the analysis's share of the final encode's CPU.
func benchPresets() []string {
	if p := os.Getenv("PERTITLE_BENCH_PRESETS"); p != "" {
		return strings.Split(p, ",")
	}
	return []string{"veryfast", "slow"}
}

// staticVersion names how the static ladders are encoded; change it when
// media's encode changes so that cached static results are made again.
const staticVersion = "static-v1"

// titleResult is what the benchmark measured on one title.
type titleResult struct {
	clip             benchClip
	seconds          float64
	hull             []pertitle.Point // the upper hull of the grid (first preset)
	static1, static2 []point          // one- and two-pass static (first preset)
	runs             map[string]perTitleRun
}

func TestBenchLadder(t *testing.T) {
	if os.Getenv("PERTITLE_BENCH_LADDER") != "1" {
		t.Skip("ladder benchmark: run with PERTITLE_BENCH_LADDER=1 (make bench-ladder)")
	}
	bin, _ := vmafTools(t)
	ctx := context.Background()
	c := cache{dir: os.Getenv("PERTITLE_BENCH_CACHE")}
	if c.dir == "" {
		c.dir = filepath.Join(repoRoot(t), "var", "bench-cache")
	}
	presets := benchPresets()
	every, pixels := scoring()
	var results []titleResult
	for _, bc := range titles(t) {
		dir := t.TempDir()
		src := filepath.Join(dir, "source.mp4")
		require.NoError(t, bc.prepare(ctx, src), bc.name)
		s, err := media.Probe(ctx, ffprobeBin(), src)
		require.NoError(t, err)
		key, err := sourceKey(src)
		require.NoError(t, err)
		first := presets[0]
		ref, err := rawReference(ctx, src, dir)
		require.NoError(t, err)
		scoreKey := fmt.Sprintf("e%d-p%d", every, pixels)
		tr := titleResult{clip: bc, seconds: s.Duration, runs: map[string]perTitleRun{}}

		var grid []point
		hk := fmt.Sprintf("hull-%s-%s-%s", key, first, scoreKey)
		if !c.load(hk, &grid) {
			grid = exhaustive(ctx, t, bin, src, ref, s, first, dir)
			require.NoError(t, c.store(hk, grid))
		}
		tr.hull = pertitle.UpperHull(toPoints(grid))
		sk := fmt.Sprintf("%s-%s-%s-%s", staticVersion, key, first, scoreKey)
		var statics [2][]point
		if !c.load(sk, &statics) {
			statics[0] = staticLadder(ctx, t, bin, src, ref, s, first, dir, false)
			statics[1] = staticLadder(ctx, t, bin, src, ref, s, first, dir, true)
			require.NoError(t, c.store(sk, statics))
		}
		tr.static1, tr.static2 = statics[0], statics[1]
		for i, p := range presets {
			tr.runs[p] = perTitle(ctx, t, bin, src, ref, s, p, dir, i == 0)
		}
		results = append(results, tr)
		t.Logf("%s done", bc.name)
		printTitle(tr, presets)
	}
	printTables(results, presets)
}
