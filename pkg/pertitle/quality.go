package pertitle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle/vmafmodel"
)

// DefaultQualityEvery scores one frame in two (for VMAF, pairs of frames two
// in five, see qualityGraph). That moves the scores by little against every
// frame (docs/benchmarks.md) and halves the cost of the upscale and the
// metric; decoding still reads every frame.
const DefaultQualityEvery = 2

// analysisEveryMin is the least subsampling of the analysis's SSIM scores:
// one frame in four (see analysisEvery).
const analysisEveryMin = 4

// analysisVMAFEvery is the least subsampling of the analysis's VMAF scores:
// pairs of frames two in eleven (see qualityGraph).
const analysisVMAFEvery = 5

// analysisVMAFPairs is how many pairs of frames per piece the analysis's
// VMAF scores need at most: the spacing of pairs widens on pieces with more
// frames (a 2 s piece at 30 fps has 60), so every piece costs the same to
// score whatever its frame rate. Four pairs is what a 40-frame piece (2 s at
// 20 fps) got with pairs two in eleven, on which the second round measured
// no loss against two in five.
const analysisVMAFPairs = 4

// analysisEvery is the frame subsampling of the analysis scores of a piece of
// frames frames (0: unknown). SSIM: one frame in analysisEveryMin at least;
// grid points are compared with each other on the same frames, and it halves
// the scoring CPU. VMAF: pairs two in eleven at least (analysisVMAFEvery),
// and no more than analysisVMAFPairs pairs per piece. Against pairs two in
// five, two in eleven made the analysis markedly cheaper and left per-title's
// distance to the hull within the noise of where the rungs fall
// (docs/benchmarks.md, "Issue 11, second round"). The period 2·every+1 is
// odd, so the pairs never lock onto x264's mini-GOP of four.
func (o *Options) analysisEvery(m Metric, frames int64) int {
	if m == MetricVMAF {
		e := max(o.QualityEvery, analysisVMAFEvery)
		if frames > 0 {
			e = max(e, int(math.Ceil((float64(frames)/analysisVMAFPairs-1)/2)))
		}
		return e
	}
	return max(o.QualityEvery, analysisEveryMin)
}

// analysisVMAFPixels bounds the window the analysis scores VMAF on: the
// same as the renditions'. A smaller centred window, though cheaper, read
// the small sizes' encodes higher and the large ones' lower than the whole
// picture on a handheld clip, which moves every resolution switch; a
// half-megapixel window stayed close (docs/benchmarks.md, "Scoring VMAF
// cheaply enough to steer by it").
const analysisVMAFPixels = vmafWindowPixels

// vmafPerProcess is how many libvmaf filters one ffmpeg runs at most: one.
// libvmaf 1.x ran three instances side by side on a small test, then
// crashed (SIGSEGV) with four on 720x400 encodes; with two threads each it
// aborted. A process per file costs a decode of the reference each, and
// libvmaf's start (about half a second): the analysis scores all of a
// piece's encodes in one libvmaf instead (measureVMAFJoined).
const vmafPerProcess = 1

// psnrCap stands for an infinite PSNR (identical pictures), so that scores stay
// finite numbers in JSON and in averages.
const psnrCap = 100.0

// QualityOptions configure MeasureQuality.
type QualityOptions struct {
	FFmpeg, FFprobe string
	// VMAFModel is the model file for libvmaf 1.x (e.g. vmaf_v0.6.1.pkl);
	// when empty, libvmaf 2.x uses its built-in vmaf_v0.6.1 and 1.x the
	// model the engine ships (vmafmodel).
	VMAFModel string
	// Every scores one frame in Every, chosen by index on both inputs; 0 takes
	// DefaultQualityEvery, 1 scores every frame.
	Every int
	// NoVMAF uses the SSIM/PSNR fallback even when libvmaf is available.
	NoVMAF bool
	// Unprobed takes the distorted files as limited-range video without
	// probing them (a raw H.264 stream has no duration to probe).
	Unprobed bool
	// VMAFPixels bounds the window of the reference-sized picture that VMAF
	// scores (vmafWindow); 0 scores the whole picture. MeasureQuality's
	// callers that need it cheap pass vmafWindowPixels.
	VMAFPixels int
	// vmafOnly measures VMAF alone when the scorer has it: the analysis
	// steers by VMAF and reads nothing else.
	vmafOnly bool
}

// Score is the quality of one distorted file against its reference.
type Score struct {
	// Metric is the primary metric (vmaf when the ffmpeg has libvmaf, else
	// ssim) and Value its value; Scores holds every metric measured.
	Metric Metric
	Value  float64
	Scores map[Metric]float64
}

// MeasureQuality scores distorted against reference at the reference's
// display size: the distorted picture is scaled up (bicubic), both are brought
// to limited-range 4:2:0 with square pixels, and frames are paired by index,
// not by timestamp (containers round timestamps differently, and a
// timestamp-paired comparison of a 29.97 fps mkv against an mp4 of the same
// frames shows a VMAF 99 encode as 72). VMAF is used when ffmpeg has libvmaf,
// with SSIM and PSNR beside it; otherwise SSIM (primary) and PSNR.
func MeasureQuality(ctx context.Context, reference, distorted string, opt QualityOptions) (Score, error) {
	scores, _, err := measureMany(ctx, reference, []string{distorted}, opt)
	if err != nil {
		return Score{}, err
	}
	return scores[0], nil
}

// MeasureQualityAll scores every distorted file against one reference, as
// MeasureQuality does, decoding the reference once per few files.
func MeasureQualityAll(ctx context.Context, reference string, distorted []string, opt QualityOptions) ([]Score, time.Duration, error) {
	return measureMany(ctx, reference, distorted, opt)
}

// QualityMetric reports the primary metric MeasureQuality will use with this
// ffmpeg and model (vmaf or ssim), and why VMAF is not used when it is not.
func QualityMetric(ctx context.Context, ffmpeg, vmafModel string) (Metric, string) {
	v := detectVMAF(ctx, ffmpeg, vmafModel)
	if v.filter == "" {
		return MetricSSIM, v.why
	}
	return MetricVMAF, ""
}

// vmafSupport is what detectVMAF found out about an ffmpeg binary.
type vmafSupport struct {
	filter string // libvmaf filter with options, "" when unavailable
	why    string // why VMAF is unavailable
}

var vmafCache sync.Map // ffmpeg+"\x00"+model -> vmafSupport

// detectVMAF finds out whether ffmpeg has libvmaf and which syntax works:
// libvmaf 2.x takes model=version=vmaf_v0.6.1 (built in), 1.x needs
// model_path=. It tries both on two tiny frames, once per binary and model.
func detectVMAF(ctx context.Context, ffmpeg, model string) vmafSupport {
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	key := ffmpeg + "\x00" + model
	if v, ok := vmafCache.Load(key); ok {
		return v.(vmafSupport)
	}
	v := probeVMAF(ctx, ffmpeg, model)
	if ctx.Err() == nil {
		vmafCache.Store(key, v)
	}
	return v
}

func probeVMAF(ctx context.Context, ffmpeg, model string) vmafSupport {
	if !media.HasLibVMAF(ctx, ffmpeg) {
		return vmafSupport{why: "ffmpeg has no libvmaf filter"}
	}
	var candidates []string
	if model != "" {
		if strings.HasSuffix(model, ".json") {
			candidates = append(candidates, "libvmaf=model=path="+escapeFilterArg(model))
		}
		candidates = append(candidates, "libvmaf=model_path="+escapeFilterArg(model))
	}
	candidates = append(candidates, "libvmaf=model=version=vmaf_v0.6.1")
	if model == "" {
		if p, err := vmafmodel.Path(); err == nil {
			candidates = append(candidates, "libvmaf=model_path="+escapeFilterArg(p))
		}
	}
	for _, c := range candidates {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		args := []string{"-nostdin", "-hide_banner", "-v", "error"}
		args = append(args, media.GeneratedInputArgs("testsrc2=size=64x64:rate=5:duration=0.4")...)
		args = append(args, media.GeneratedInputArgs("testsrc2=size=64x64:rate=5:duration=0.4")...)
		args = append(args, "-lavfi", "[0:v][1:v]"+c, "-f", "null", "-")
		_, err := (&media.Cmd{Bin: ffmpeg, Args: args}).Run(ctx)
		cancel()
		if err == nil {
			return vmafSupport{filter: c}
		}
	}
	if model == "" {
		return vmafSupport{why: "libvmaf cannot load the shipped v0.6.1 model"}
	}
	return vmafSupport{why: "libvmaf cannot load model " + model}
}

// escapeFilterArg escapes a value for a filter option inside -lavfi.
func escapeFilterArg(s string) string {
	r := strings.NewReplacer(`\`, `\\\\`, `'`, `\\\'`, `:`, `\\:`, `,`, `\,`, `;`, `\;`, `[`, `\[`, `]`, `\]`)
	return r.Replace(s)
}

var (
	reSSIM = regexp.MustCompile(`\[ssim@q(\d+) @ [^\]]*\] SSIM .*All:([0-9.]+|inf)`)
	rePSNR = regexp.MustCompile(`\[psnr@q(\d+) @ [^\]]*\] PSNR .*average:([0-9.]+|inf)`)
)

// measureMany scores every distorted file against one reference in a single
// ffmpeg process (the reference is decoded once). It returns the CPU time of
// the process.
func measureMany(ctx context.Context, reference string, distorted []string, opt QualityOptions) ([]Score, time.Duration, error) {
	if len(distorted) == 0 {
		return nil, 0, errors.New("pertitle: quality: nothing to measure")
	}
	ref, err := media.Probe(ctx, opt.FFprobe, reference)
	if err != nil {
		return nil, 0, fmt.Errorf("pertitle: quality: reference: %w", err)
	}
	dists := make([]*media.Source, len(distorted))
	for i, d := range distorted {
		if opt.Unprobed {
			continue
		}
		if dists[i], err = media.Probe(ctx, opt.FFprobe, d); err != nil {
			return nil, 0, fmt.Errorf("pertitle: quality: %s: %w", filepath.Base(d), err)
		}
	}
	return measureSources(ctx, reference, ref, distorted, dists, opt)
}

// measureSources is measureMany with the inputs already probed; a nil entry
// of dists stands for a limited-range file.
func measureSources(ctx context.Context, reference string, ref *media.Source, distorted []string, dists []*media.Source, opt QualityOptions) ([]Score, time.Duration, error) {
	if opt.FFmpeg == "" {
		opt.FFmpeg = "ffmpeg"
	}
	every := opt.Every
	if every <= 0 {
		every = DefaultQualityEvery
	}
	vmaf := vmafSupport{why: "disabled"}
	if !opt.NoVMAF {
		vmaf = detectVMAF(ctx, opt.FFmpeg, opt.VMAFModel)
	}
	if vmaf.filter != "" && len(distorted) > vmafPerProcess {
		var (
			all []Score
			cpu time.Duration
		)
		for i := 0; i < len(distorted); i += vmafPerProcess {
			j := min(i+vmafPerProcess, len(distorted))
			sc, c, err := measureSources(ctx, reference, ref, distorted[i:j], dists[i:j], opt)
			cpu += c
			if err != nil {
				return nil, cpu, err
			}
			all = append(all, sc...)
		}
		return all, cpu, nil
	}
	w, h := ref.DisplaySize()
	logDir, err := os.MkdirTemp("", "pertitle-vmaf-*")
	if err != nil {
		return nil, 0, fmt.Errorf("pertitle: quality: %w", err)
	}
	defer removeAll(logDir)
	metrics := []string{"ssim", "psnr"}
	if vmaf.filter != "" {
		metrics = append(metrics, "vmaf")
		if opt.vmafOnly {
			metrics = metrics[2:]
		}
	}
	graph := qualityGraph(w, h, ref, dists, every, metrics, vmaf.filter, logDir, vmafWindow(w, h, opt.VMAFPixels))

	args := scorerArgs("info", reference, distorted, graph)
	var stderr bytes.Buffer
	res, runErr := (&media.Cmd{Bin: opt.FFmpeg, Args: args, Stderr: &stderr}).Run(ctx)
	cpu := res.CPU
	if ctx.Err() != nil {
		return nil, cpu, fmt.Errorf("pertitle: quality: %w", ctx.Err())
	}
	if runErr != nil {
		return nil, cpu, fmt.Errorf("pertitle: quality: %w", runErr)
	}
	scores := make([]Score, len(distorted))
	if metrics[0] == "ssim" {
		if scores, err = parseQualityLog(stderr.String(), len(distorted), vmaf.filter != ""); err != nil {
			return nil, cpu, err
		}
	}
	if vmaf.filter != "" {
		for i := range scores {
			v, err := readVMAFLog(vmafLogPath(logDir, i))
			if err != nil {
				return nil, cpu, fmt.Errorf("pertitle: quality: %w", err)
			}
			if scores[i].Scores == nil {
				scores[i].Scores = map[Metric]float64{}
			}
			scores[i].Metric, scores[i].Scores[MetricVMAF], scores[i].Value = MetricVMAF, v, v
		}
	}
	return scores, cpu, nil
}

// qualityGraph builds the filter graph: input 0 is the reference, inputs
// 1..n the distorted files, each measured by metrics (ssim, psnr, vmaf). Both sides get the same index-based timestamps
// (settb + setpts=N) and the same frame selection, so that the metric filters
// pair frame k of one with frame k of the other.
//
// Without VMAF, one frame in every is kept before the upscale (the cheap
// path). VMAF's motion feature compares a frame with its neighbours (the
// smaller of the two differences), so it gets pairs of consecutive frames,
// two in every 2·every+1: each kept frame has its true neighbour on one side.
// The odd period keeps the selection from locking onto x264's mini-GOP of
// four (with one frame in four, or libvmaf's n_subsample=4, VMAF read high
// on veryfast encodes, which put P pictures on every sample).
// With crop set, VMAF looks at a centred window of the upscaled picture, at
// the source's scale (see vmafWindow).
//
// VMAF writes a JSON log per distorted input into logDir (libvmaf 1.x logs
// its score without the filter's instance name, so the log lines cannot tell
// the inputs apart).
func qualityGraph(w, h int, ref *media.Source, dists []*media.Source, every int, metrics []string, vmafFilter, logDir string, crop [2]int) string {
	n := len(dists)
	norm := func(in string, src *media.Source) string {
		return in + normChain(w, h, src, every, vmafFilter != "", crop)
	}
	var g strings.Builder
	g.WriteString(norm("[0:v:0]", ref))
	fmt.Fprintf(&g, ",split=%d", n*len(metrics))
	for i := range n {
		for _, m := range metrics {
			fmt.Fprintf(&g, "[r%d%s]", i, m)
		}
	}
	for i, d := range dists {
		fmt.Fprintf(&g, ";%s,split=%d", norm(fmt.Sprintf("[%d:v:0]", i+1), d), len(metrics))
		for _, m := range metrics {
			fmt.Fprintf(&g, "[d%d%s]", i, m)
		}
		for _, m := range metrics {
			switch m {
			case "ssim", "psnr":
				fmt.Fprintf(&g, ";[d%d%s][r%d%s]%s@q%d=shortest=1", i, m, i, m, m, i)
			case "vmaf":
				// libvmaf: first input distorted, second reference.
				f := strings.Replace(vmafFilter, "libvmaf=", fmt.Sprintf("libvmaf@q%d=", i), 1)
				fmt.Fprintf(&g, ";[d%d%s][r%d%s]%s:n_threads=1:shortest=1:log_fmt=json:log_path=%s",
					i, m, i, m, f, escapeFilterArg(vmafLogPath(logDir, i)))
			}
		}
	}
	return g.String()
}

// normChain is the chain every scored input goes through (see qualityGraph):
// index timestamps, the frame selection (before any scaling, so unselected
// frames cost only their decode), the upscale to w×h limited-range 4:2:0
// and, for VMAF, the centred window crop. src nil stands for limited range.
func normChain(w, h int, src *media.Source, every int, vmaf bool, crop [2]int) string {
	sel := ""
	switch {
	case every > 1 && !vmaf:
		sel = fmt.Sprintf(",select='not(mod(n\\,%d))'", every)
	case every > 1:
		sel = fmt.Sprintf(",select='lt(mod(n\\,%d)\\,2)'", 2*every+1)
	}
	window := ""
	if vmaf && crop[0] > 0 && crop[1] > 0 && (crop[0] < w || crop[1] < h) {
		window = fmt.Sprintf(",crop=%d:%d", crop[0], crop[1])
	}
	rng := "tv"
	if src != nil && src.Video != nil && src.Video.ColorRange == "pc" {
		rng = "pc"
	}
	return fmt.Sprintf("settb=1/25,setpts=N%s,scale=w=%d:h=%d:flags=bicubic:in_range=%s:out_range=tv,format=yuv420p,setsar=1%s",
		sel, w, h, rng, window)
}

// vmafWindowPixels bounds the picture libvmaf 1.x scores. VMAF's features
// are means over the picture, so a centred window at the source's scale
// estimates them without changing the viewing geometry the model was
// trained for (scoring a downscaled picture would, and reads higher). And
// libvmaf 1.x in the shipped scorer costs far more per pixel past half a
// megapixel (both measured in docs/benchmarks.md, "Scoring VMAF cheaply
// enough to steer by it").
const vmafWindowPixels = 960 * 540

// vmafWindow is the centred window of a w×h picture that VMAF scores: the
// whole picture up to maxPixels, otherwise the full width (a band keeps
// the left-right extent of the action) as tall as the budget allows, but
// at least a third of the height (then narrower, same aspect).
func vmafWindow(w, h, maxPixels int) [2]int {
	if maxPixels <= 0 || w*h <= maxPixels {
		return [2]int{w, h}
	}
	ch := evenDown(maxPixels / w)
	if ch >= h/3 {
		return [2]int{w, ch}
	}
	f := math.Sqrt(float64(maxPixels) / float64(w*h))
	return [2]int{evenDown(int(float64(w) * f)), evenDown(int(float64(h) * f))}
}

func vmafLogPath(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("vmaf%d.json", i)) }

// readVMAFLog returns the mean per-frame VMAF of a libvmaf JSON log (1.x and
// 2.x both list frames[].metrics.vmaf).
func readVMAFLog(path string) (float64, error) {
	frames, err := readVMAFFrames(path)
	if err != nil {
		return 0, err
	}
	if len(frames) == 0 {
		return 0, fmt.Errorf("libvmaf log %s has no frames", filepath.Base(path))
	}
	var sum float64
	for _, v := range frames {
		sum += v
	}
	return sum / float64(len(frames)), nil
}

func parseQualityLog(log string, n int, vmaf bool) ([]Score, error) {
	scores := make([]Score, n)
	for i := range scores {
		scores[i].Scores = map[Metric]float64{}
	}
	set := func(re *regexp.Regexp, m Metric) {
		for _, sm := range re.FindAllStringSubmatch(log, -1) {
			i, _ := strconv.Atoi(sm[1])
			if i < 0 || i >= n {
				continue
			}
			v := math.Inf(1)
			if sm[2] != "inf" {
				v, _ = strconv.ParseFloat(sm[2], 64)
			}
			if m == MetricPSNR && v > psnrCap {
				v = psnrCap
			}
			scores[i].Scores[m] = v
		}
	}
	set(reSSIM, MetricSSIM)
	set(rePSNR, MetricPSNR)
	for i := range scores {
		s := &scores[i]
		v, ok := s.Scores[MetricSSIM]
		if !ok {
			return nil, fmt.Errorf("pertitle: quality: ffmpeg reported no SSIM for input %d: %s", i+1, tail(log, 800))
		}
		if math.IsInf(v, 1) {
			v = 1
			s.Scores[MetricSSIM] = v
		}
		s.Metric, s.Value = MetricSSIM, v
		if vmaf {
			s.Metric = MetricVMAF
		}
	}
	return scores, nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// scorerArgs are the arguments of one scorer run: the reference and every
// distorted file (each read as a work file: the formats the engine writes),
// the quality graph over them, nothing written; ffmpeg logs at level.
func scorerArgs(level, reference string, distorted []string, graph string) []string {
	args := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", level}, media.InputArgs(reference, media.WorkFormats)...)
	for _, d := range distorted {
		args = append(args, media.InputArgs(d, media.WorkFormats)...)
	}
	return append(args, "-filter_complex", graph, "-an", "-sn", "-dn", "-f", "null", "-")
}
