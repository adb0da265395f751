package pertitle

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
)

// Analysis defaults. The grid is up to 5 heights (never above the source) x 4
// CRFs, staggered (see crfsAt: 3 CRFs per height); CRF 18..36 spans
// "transparent" to "visibly soft" for x264, which is the range a ladder uses,
// and CRF is interpolated linearly in log bitrate between the points (6 CRF ≈
// ×2 bits, so a 6-step grid is the coarsest that keeps that interpolation
// close). The staggered 4-CRF grid does 12 encodes on a 720p title where
// 5 CRFs did 20 (docs/benchmarks.md).
var (
	DefaultHeights = []int{1080, 720, 540, 360, 234}
	DefaultCRFs    = []float64{18, 24, 30, 36}
)

// Engine defaults.
const (
	// DefaultPreset is the final encode's x264 preset: cheap enough to encode
	// a ladder near real time on a small machine. Slower presets spend more
	// CPU for fewer bits (docs/benchmarks.md); callers with CPU to spare set
	// Preset.
	DefaultPreset = "veryfast"
	// DefaultAnalysisPreset is used for analysis encodes when the final preset
	// is slower; for veryfast and faster presets the analysis uses the final
	// preset itself. The engine measures, on one piece, how the final preset
	// relates to it at equal quality (bits ratio and CRF offset) and maps the
	// analysis points onto the final preset. veryfast rather than superfast:
	// superfast has no macroblock tree, whose gain depends on the picture
	// size, so superfast moves the crossovers between sizes; veryfast's
	// relation to slow varies far less across sizes, though not nothing on
	// every title (hence two calibration points). Measurements in
	// docs/benchmarks.md ("What changed in the engine").
	DefaultAnalysisPreset  = "veryfast"
	DefaultAnalysisWorkers = 2
)

// fastPresets are presets cheap enough to analyse with directly.
var fastPresets = map[string]bool{"ultrafast": true, "superfast": true, "veryfast": true}

func (o *Options) setDefaults() {
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	if o.FFprobe == "" {
		o.FFprobe = "ffprobe"
	}
	if o.Scorer == "" {
		o.Scorer = o.FFmpeg
	}
	if o.Mode == "" {
		o.Mode = ModeFast
	}
	if o.Preset == "" {
		o.Preset = DefaultPreset
	}
	if o.AnalysisPreset == "" {
		o.AnalysisPreset = DefaultAnalysisPreset
		if fastPresets[o.Preset] {
			o.AnalysisPreset = o.Preset
		}
	}
	if o.Mode == ModeExhaustive {
		o.AnalysisPreset = o.Preset
	}
	if o.SegmentSeconds <= 0 {
		o.SegmentSeconds = media.DefaultSegmentSeconds
	}
	if len(o.Heights) == 0 {
		o.Heights = DefaultHeights
	}
	if len(o.CRFs) == 0 {
		o.CRFs = DefaultCRFs
	}
	if o.SampleCount <= 0 {
		o.SampleCount = DefaultSampleCount
	}
	if o.SampleSeconds <= 0 {
		o.SampleSeconds = DefaultSampleSeconds
	}
	if o.CapBitrate <= 0 {
		o.CapBitrate = 5_000_000
	}
	if o.AnalysisWorkers <= 0 {
		o.AnalysisWorkers = DefaultAnalysisWorkers
	}
	if o.QualityEvery <= 0 {
		o.QualityEvery = DefaultQualityEvery
	}
}

func (o *Options) validate() error {
	var errs []error
	switch o.Mode {
	case ModeFast, ModeExhaustive, ModeStatic:
	default:
		errs = append(errs, fmt.Errorf("unknown analysis mode %q (fast, exhaustive or static)", o.Mode))
	}
	for _, c := range o.CRFs {
		if c <= 0 || c > 51 {
			errs = append(errs, fmt.Errorf("CRF %g is outside 1..51", c))
		}
	}
	for _, h := range o.Heights {
		if h < 16 {
			errs = append(errs, fmt.Errorf("height %d is too small", h))
		}
	}
	return errors.Join(errs...)
}

// probeSource probes and validates src; unusable sources give errors wrapping
// media.ErrInvalidSource.
func probeSource(ctx context.Context, src string, opt *Options) (*media.Source, error) {
	s, err := media.Probe(ctx, opt.FFprobe, src)
	if err != nil {
		return nil, fmt.Errorf("pertitle: %w", err)
	}
	if err := media.Validate(ctx, opt.FFmpeg, src, s); err != nil {
		return nil, fmt.Errorf("pertitle: %w", err)
	}
	return s, nil
}

// Analyze measures bitrate and quality of the title over a grid of
// resolutions x CRFs and returns the points with their upper convex hull.
//
// Fast mode cuts up to SampleCount pieces of SampleSeconds (fewer and shorter
// on titles too short to afford them, see samplePlan; titles no longer than
// twice the pieces are analysed whole). On titles longer than minSceneTitle a
// profile pass (profileTitle) finds the scenes and how hard each segment is
// to encode, and the pieces stand for equal shares of the title, from easy to
// hard (stratifiedSamples); shorter titles get one piece per stretch. It
// extracts them losslessly at display size,
// and encodes each at every height and CRF with AnalysisPreset; when that is
// not the final preset, one calibration encode maps the points onto it (see
// presetMap). Exhaustive mode encodes the whole title on the grid with the
// final preset. At most AnalysisWorkers ffmpeg processes run at once;
// Analysis.CPUTime is their user+system CPU time.
func Analyze(ctx context.Context, src string, opt Options) (*Analysis, error) {
	opt.setDefaults()
	if err := opt.validate(); err != nil {
		return nil, fmt.Errorf("pertitle: %w", err)
	}
	s, err := probeSource(ctx, src, &opt)
	if err != nil {
		return nil, err
	}
	return analyze(ctx, src, s, opt)
}

// piece is a stretch of the title that the grid is encoded from.
type piece struct {
	path   string        // file holding it
	ref    *media.Source // what the quality graph needs to know of it
	start  float64       // position in the title (seconds)
	secs   float64       // duration (seconds)
	frames int64         // frames in it, once known
}

// gridResult is one (piece, size, CRF) encode.
type gridResult struct {
	bits   float64
	secs   float64
	scores Score
}

type analyzer struct {
	opt   Options
	src   *media.Source
	dir   string
	fps   float64
	sizes [][2]int
	// crfs are the CRFs the grid is encoded at with the analysis preset:
	// Options.CRFs, moved down by analysisCRFShift when the final preset differs.
	crfs   []float64
	metric Metric
	mu     sync.Mutex
	cpu    time.Duration
	stages map[string]time.Duration
	done   int
	total  int
	start  time.Time
	report func(Progress)
}

func (a *analyzer) addCPU(stage string, d time.Duration) {
	a.mu.Lock()
	a.cpu += d
	if a.stages == nil {
		a.stages = map[string]time.Duration{}
	}
	a.stages[stage] += d
	a.mu.Unlock()
}

func (a *analyzer) step() {
	a.mu.Lock()
	a.done++
	done, total := a.done, a.total
	a.mu.Unlock()
	if a.report == nil || total == 0 {
		return
	}
	pct := math.Min(100, 100*float64(done)/float64(total))
	var eta time.Duration
	if done > 0 && done < total {
		eta = time.Duration(float64(time.Since(a.start)) * float64(total-done) / float64(done))
	}
	a.report(Progress{Stage: "analysis", Percent: pct, ETA: eta})
}

func analyze(ctx context.Context, src string, s *media.Source, opt Options) (*Analysis, error) {
	start := time.Now()
	dir, err := os.MkdirTemp("", "pertitle-analysis-*")
	if err != nil {
		return nil, fmt.Errorf("pertitle: %w", err)
	}
	defer removeAll(dir)

	dw, dh := s.DisplaySize()
	a := &analyzer{opt: opt, src: s, dir: dir, fps: s.Video.FrameRate, sizes: gridSizes(dw, dh, opt.Heights),
		start: start, report: opt.Progress}
	if a.fps <= 0 {
		a.fps = 25
	}
	res := &Analysis{Mode: opt.Mode}
	vm := detectVMAF(ctx, opt.Scorer, opt.VMAFModel)
	res.Metric = MetricVMAF
	if vm.filter == "" {
		res.Metric = MetricSSIM
		res.Warnings = append(res.Warnings, "NOT STEERED BY VMAF: the analysis falls back to SSIM, whose relation to VMAF depends on the content, because "+
			vm.why+" (install the scorer with scripts/vmaf-ffmpeg.sh, or point PERTITLE_VMAF_FFMPEG at an ffmpeg with libvmaf)")
	}
	a.metric = res.Metric

	// Which stretches to analyse.
	var pieces []*piece
	n, pieceSecs := samplePlan(s.Duration, opt.SampleCount, opt.SampleSeconds)
	whole := opt.Mode == ModeExhaustive || wholeTitle(s.Duration, n, pieceSecs)
	if whole {
		pieces = []*piece{{path: src, ref: s, start: 0, secs: s.Duration}}
		res.Samples = [][2]float64{{0, s.Duration}}
	} else {
		if n < opt.SampleCount {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%d samples of %.3g s instead of %d of %.3g s: a %.0f s title affords no more within the CPU budget",
				n, pieceSecs, opt.SampleCount, opt.SampleSeconds, s.Duration))
		}
		res.Samples = chooseSamples(s.Duration, nil, n, pieceSecs)
		if s.Duration > minSceneTitle {
			cuts, segBits, cpu, err := profileTitle(ctx, opt.FFmpeg, src, dir, a.fps, opt.SegmentSeconds)
			a.addCPU("profile", cpu)
			if err != nil {
				return nil, err
			}
			res.Samples = stratifiedSamples(segBits, opt.SegmentSeconds, s.Duration, cuts, n, pieceSecs)
		}
		for _, sm := range res.Samples {
			pieces = append(pieces, &piece{start: sm[0], secs: sm[1] - sm[0]})
		}
	}
	calibrate := opt.AnalysisPreset != opt.Preset
	a.crfs = append([]float64(nil), opt.CRFs...)
	if calibrate {
		for i := range a.crfs {
			a.crfs[i] = math.Max(1, a.crfs[i]-analysisCRFShift)
		}
	}
	// Sampled pieces can be analysed elsewhere (Options.Pieces); they are
	// then kept as lossless H.264, a tenth of raw video's size to store.
	remote := opt.Pieces != nil && !whole
	a.total = len(pieces)*len(a.sizes) + boolInt(!whole)*len(pieces) + boolInt(calibrate)*min(2, len(a.sizes))
	if !whole {
		if err := runPool(ctx, opt.AnalysisWorkers, len(pieces), func(ctx context.Context, i int) error {
			err := a.extract(ctx, src, i, pieces[i], remote)
			a.step()
			return err
		}); err != nil {
			return nil, err
		}
	}

	// The grid: one ffmpeg per (piece, size) encodes every CRF, then one more
	// scores them all against the piece.
	results := make([][][]gridResult, len(pieces)) // [piece][size][crf]
	for i := range results {
		results[i] = make([][]gridResult, len(a.sizes))
	}
	if remote {
		if results, err = a.remoteGrid(ctx, pieces); err != nil {
			return nil, err
		}
	} else {
		jobs := len(pieces) * len(a.sizes)
		err = runPool(ctx, opt.AnalysisWorkers, jobs, func(ctx context.Context, j int) error {
			pi, si := j/len(a.sizes), j%len(a.sizes)
			r, err := a.encodeAndScore(ctx, pieces[pi], pi, si, opt.AnalysisPreset, a.crfs, a.crfsAt(si), "")
			results[pi][si] = r
			a.step()
			return err
		})
		if err != nil {
			return nil, err
		}
	}

	maps := make([]presetMap, len(a.sizes))
	for i := range maps {
		maps[i] = presetMap{ratio: 1}
	}
	if calibrate {
		mid := len(pieces) / 2
		if maps, err = a.calibrateSizes(ctx, pieces[mid], mid, results[mid]); err != nil {
			return nil, err
		}
		top, bottom := maps[0], maps[len(maps)-1]
		res.Warnings = append(res.Warnings, fmt.Sprintf("analysis preset %s, final preset %s: at equal quality the final preset spends %.3f× the bits at CRF %+.1f at %dx%d and %.3f× at CRF %+.1f at %dx%d (measured; sizes between interpolated); points are given in the final preset's terms",
			opt.AnalysisPreset, opt.Preset, top.ratio, top.offset, a.sizes[0][0], a.sizes[0][1],
			bottom.ratio, bottom.offset, a.sizes[len(a.sizes)-1][0], a.sizes[len(a.sizes)-1][1]))
	}

	for si, sz := range a.sizes {
		for ci, crf := range a.crfs {
			var bits, secs float64
			sums := map[Metric]float64{}
			for pi := range pieces {
				g := results[pi][si][ci]
				bits += g.bits
				secs += g.secs
				for m, v := range g.scores.Scores {
					sums[m] += v * g.secs
				}
			}
			if secs <= 0 {
				continue
			}
			pm := maps[si]
			p := Point{Width: sz[0], Height: sz[1], CRF: math.Round(clampF(crf+pm.offset, 0, 51)*100) / 100, Metric: res.Metric, Scores: map[Metric]float64{},
				Bitrate: int64(math.Round(bits / secs * pm.ratio))}
			for m, v := range sums {
				p.Scores[m] = v / secs
			}
			p.Quality = p.Scores[res.Metric]
			res.Points = append(res.Points, p)
		}
	}
	res.Hull = UpperHull(res.Points)
	res.CPUTime, res.CPUByStage = a.cpu, a.stages
	res.Elapsed = time.Since(start)
	return res, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// gridSizes turns heights (the short side: height for landscape, width for
// portrait, as media.FixedLadder does) into even picture sizes of the
// source's display aspect, never above the source. The source's own size is
// added when it lies between grid steps, so a 480p title can keep 480p.
func gridSizes(dw, dh int, heights []int) [][2]int {
	portrait := dh > dw
	short, long := dh, dw
	if portrait {
		short, long = dw, dh
	}
	var shorts []int
	top := 0
	for _, h := range heights {
		top = max(top, h)
		if h <= short {
			shorts = append(shorts, h)
		}
	}
	if short <= top && !contains(shorts, short) && (len(shorts) == 0 || short > maxInt(shorts)) {
		shorts = append(shorts, short)
	}
	if len(shorts) == 0 {
		shorts = []int{short}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(shorts)))
	var out [][2]int
	for _, sh := range shorts {
		s, l := evenDim(float64(sh)), evenDim(float64(sh)*float64(long)/float64(short))
		if sh == short {
			s, l = evenDim(float64(short)-0.5), evenDim(float64(long)-0.5)
		}
		if portrait {
			out = append(out, [2]int{s, l})
		} else {
			out = append(out, [2]int{l, s})
		}
	}
	return out
}

func evenDim(x float64) int {
	n := int(math.Round(x/2)) * 2
	if n < 2 {
		n = 2
	}
	return n
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func maxInt(xs []int) int {
	m := xs[0]
	for _, v := range xs[1:] {
		m = max(m, v)
	}
	return m
}

// normalizeFilter brings a source to display size, limited range, 4:2:0.
func normalizeFilter(s *media.Source, w, h int) string {
	rng := "tv"
	if s.Video != nil && s.Video.ColorRange == "pc" {
		rng = "pc"
	}
	return fmt.Sprintf("scale=w=%d:h=%d:flags=bicubic:in_range=%s:out_range=tv,setsar=1,format=yuv420p", w, h, rng)
}

// maxRawPieceBytes bounds a piece kept as raw video: 2 s of 1080p30 4:2:0
// is 187 MB. Larger pieces are kept as lossless H.264 instead.
const maxRawPieceBytes = 256 << 20

// rawBytes is the size of secs seconds of w×h 4:2:0 8-bit video at fps.
func rawBytes(w, h int, fps, secs float64) float64 {
	return float64(w*h) * 1.5 * fps * secs
}

// extract cuts piece i out of the source losslessly, normalised to display
// size, limited range and 4:2:0: the grid encodes read it and the quality
// filters compare against it, so the source is decoded (and sought) once per
// piece, not once per grid point. The piece is raw video when it is small
// enough (reading it back costs nothing, whereas every grid size and every
// scoring run would decode a lossless H.264 piece again: on a 2 s 720p piece
// that decoding cost more than a third of the analysis), else (or when
// compact: the piece is for another process) x264 -qp 0.
func (a *analyzer) extract(ctx context.Context, src string, i int, p *piece, compact bool) error {
	dw, dh := a.src.DisplaySize()
	dw, dh = dw&^1, dh&^1
	codec := []string{"-c:v", "rawvideo"}
	p.path = filepath.Join(a.dir, fmt.Sprintf("piece%d.nut", i))
	if compact || rawBytes(dw, dh, a.fps, p.secs) > maxRawPieceBytes {
		codec = []string{"-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-threads", "1"}
		p.path = filepath.Join(a.dir, fmt.Sprintf("piece%d.mkv", i))
	}
	args := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y"},
		media.InputArgs(src, media.SourceFormats, "-ss", strconv.FormatFloat(p.start, 'f', 3, 64))...)
	args = append(args, "-t", strconv.FormatFloat(p.secs, 'f', 3, 64),
		"-map", "0:v:0", "-an", "-sn", "-dn", "-vf", normalizeFilter(a.src, dw, dh))
	args = append(append(args, codec...), "-progress", "pipe:1", p.path)
	frames, cpu, err := runFFmpeg(ctx, a.opt.FFmpeg, args)
	a.addCPU("extract", cpu)
	if err != nil {
		return fmt.Errorf("pertitle: cannot extract sample %d: %w", i, err)
	}
	p.frames = frames
	if p.frames <= 0 {
		return fmt.Errorf("pertitle: sample %d at %.1fs has no frames", i, p.start)
	}
	p.secs = float64(p.frames) / a.fps
	p.ref = &media.Source{Duration: p.secs, Video: &media.VideoStream{Width: dw, Height: dh, FrameRate: a.fps, ColorRange: "tv"}}
	return nil
}

// encodeArgs encodes input at size si and every CRF of the grid (one output
// each, raw H.264 so that the file size is the video's size) with the final
// encode's GOP structure.
func (a *analyzer) encodeArgs(in *piece, si int, preset string, crfs []float64, names []string) []string {
	w, h := a.sizes[si][0], a.sizes[si][1]
	var g strings.Builder
	fmt.Fprintf(&g, "[0:v:0]%s,split=%d", normalizeFilter(in.ref, w, h), len(crfs))
	for i := range crfs {
		fmt.Fprintf(&g, "[o%d]", i)
	}
	args := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y"}, media.InputArgs(in.path, media.WorkFormats)...)
	args = append(args, "-filter_complex", g.String())
	for i, crf := range crfs {
		args = append(args, "-map", fmt.Sprintf("[o%d]", i), "-an", "-sn", "-dn",
			"-c:v", "libx264", "-preset", preset, "-crf", strconv.FormatFloat(crf, 'f', -1, 64),
			"-profile:v", "high", "-threads", "1")
		args = append(args, media.X264GOPArgs(a.fps, a.opt.SegmentSeconds)...)
		args = append(args, "-f", "h264", names[i])
	}
	return append(args, "-progress", "pipe:1")
}

// crfsAt returns the indices into Options.CRFs encoded at grid size si. With
// four CRFs or more and more than one size the grid is staggered: the largest
// size skips the highest CRF and the smaller sizes skip the lowest. The hull
// takes the largest size at high bitrates and the smaller ones at low
// bitrates, so those corners never reach it (a small picture at the lowest
// CRF costs more bits than the large one at the same quality, and the reverse
// at the highest), and a quarter of the analysis encodes is saved.
func (a *analyzer) crfsAt(si int) []int {
	n := len(a.opt.CRFs)
	idx := make([]int, 0, n)
	for ci := range n {
		if n >= 4 && len(a.sizes) > 1 && ((si == 0 && ci == n-1) || (si > 0 && ci == 0)) {
			continue
		}
		idx = append(idx, ci)
	}
	return idx
}

// encodeAndScore encodes piece p at grid size si and the CRFs table[idx]
// with preset in one ffmpeg, then scores every output
// against the piece in one more. CPU time is booked to stage ("calibrate") or,
// when stage is empty, to "encode" and "score". The result is indexed like
// table; CRFs not in idx stay zero.
func (a *analyzer) encodeAndScore(ctx context.Context, p *piece, pi, si int, preset string, table []float64, idx []int, stage string) ([]gridResult, error) {
	encStage, scoreStage := "encode", "score"
	if stage != "" {
		encStage, scoreStage = stage, stage
	}
	names := make([]string, len(idx))
	crfs := make([]float64, len(idx))
	for k, ci := range idx {
		names[k] = filepath.Join(a.dir, fmt.Sprintf("p%d_s%d_c%d_%s.h264", pi, si, ci, preset))
		crfs[k] = table[ci]
	}
	defer func() {
		for _, n := range names {
			_ = os.Remove(n)
		}
	}()
	frames, cpu, err := runFFmpeg(ctx, a.opt.FFmpeg, a.encodeArgs(p, si, preset, crfs, names))
	a.addCPU(encStage, cpu)
	if err != nil {
		return nil, fmt.Errorf("pertitle: analysis encode at %dx%d: %w", a.sizes[si][0], a.sizes[si][1], err)
	}
	if frames <= 0 {
		frames = p.frames
	}
	secs := p.secs
	if frames > 0 {
		secs = float64(frames) / a.fps
	}
	dists := make([]*media.Source, len(names))
	scores, cpu, err := measureSources(ctx, p.path, p.ref, names, dists, QualityOptions{
		FFmpeg: a.opt.Scorer, FFprobe: a.opt.FFprobe, VMAFModel: a.opt.VMAFModel, Every: a.opt.analysisEvery(a.metric),
		VMAFPixels: analysisVMAFPixels})
	a.addCPU(scoreStage, cpu)
	if err != nil {
		return nil, err
	}
	res := make([]gridResult, len(a.crfs))
	gop := media.GOPFrames(a.fps, a.opt.SegmentSeconds)
	for k, n := range names {
		bits, gsecs, err := steadyBits(n, frames, gop, a.fps)
		if err != nil {
			return nil, fmt.Errorf("pertitle: analysis encode: %w", err)
		}
		if gsecs <= 0 {
			gsecs = secs
		}
		res[idx[k]] = gridResult{bits: bits, secs: gsecs, scores: scores[k]}
	}
	return res, nil
}

// steadyBits returns the bits of an analysis encode (raw H.264, Annex B) and
// the seconds they stand for. When the encode holds fewer frames than one GOP
// of the final encode (a piece shorter than a segment), its one IDR picture
// weighs more than it will in the final stream, where it starts gop frames:
// the bits are then those of one whole GOP, the IDR access unit plus the
// other pictures' bits scaled from frames-1 to gop-1, over gop frames. On
// still content, where an IDR costs as much as a second of P pictures, a
// 1 s piece would otherwise read close to twice the bitrate. Otherwise the
// file's bits over frames (secs 0: the caller's duration).
func steadyBits(path string, frames int64, gop int, fps float64) (bits, secs float64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	total := float64(len(b)) * 8
	if frames <= 1 || frames >= int64(gop) || fps <= 0 {
		return total, 0, nil
	}
	var idr, rest float64
	nals := 0
	forEachNAL(b, func(typ byte, size int) {
		nals++
		switch typ {
		case 5, 7, 8: // IDR slice, SPS, PPS
			idr += float64(size) * 8
		case 6, 9: // SEI (x264 writes its settings once), access unit delimiter
		default:
			rest += float64(size) * 8
		}
	})
	if nals == 0 || idr == 0 {
		return total, 0, nil
	}
	return idr + rest*float64(gop-1)/float64(frames-1), float64(gop) / fps, nil
}

// forEachNAL calls fn with the type and size (header included, start code
// excluded) of every NAL unit of an Annex B stream.
func forEachNAL(b []byte, fn func(typ byte, size int)) {
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			continue
		}
		if start >= 0 {
			end := i
			if end > start && b[end-1] == 0 { // 4-byte start code
				end--
			}
			fn(b[start]&0x1f, end-start)
		}
		start = i + 3
		i += 2
	}
	if start >= 0 && start < len(b) {
		fn(b[start]&0x1f, len(b)-start)
	}
}

// analysisCRFShift moves the analysis grid down when the final preset is
// slower than the analysis preset: a slower preset reaches a given quality at
// a higher CRF than veryfast (docs/benchmarks.md gives the offsets measured
// from fast to veryslow). Shifted, the
// grid mapped onto the final preset spans about the CRFs asked for, so the
// top of the hull is not cut short and its bottom not pushed past them.
const analysisCRFShift = 2.0

// presetMap carries measurements made with the analysis preset over to the
// final preset: at equal quality, the final preset spends ratio times the
// bits at offset more CRF. x264's presets differ in both bits and quality at
// one CRF (slow at a given CRF spends more bits than veryfast for a better
// picture), so matching the two at equal CRF gets both wrong; matched at
// equal quality the relation is close to constant across sizes on most
// titles (docs/benchmarks.md).
type presetMap struct {
	ratio, offset float64
}

// calibrateSizes calibrates at the largest and the smallest grid size (in
// parallel) and gives every size a map interpolated between the two in log
// pixels: how much the final preset gains over the analysis preset depends on
// the picture size on some titles (clip 03 in docs/benchmarks.md), and one
// point would make the other end of the grid look too cheap or too dear
// against it.
func (a *analyzer) calibrateSizes(ctx context.Context, p *piece, pi int, measured [][]gridResult) ([]presetMap, error) {
	ends := []int{0, len(a.sizes) - 1}
	if ends[1] == 0 {
		ends = ends[:1]
	}
	got := make([]presetMap, len(ends))
	if err := runPool(ctx, a.opt.AnalysisWorkers, len(ends), func(ctx context.Context, i int) error {
		m, err := a.calibrate(ctx, p, pi, ends[i], measured)
		got[i] = m
		a.step()
		return err
	}); err != nil {
		return nil, err
	}
	px := func(si int) float64 { return math.Log(float64(a.sizes[si][0] * a.sizes[si][1])) }
	hi, lo := got[0], got[len(got)-1]
	pxHi, pxLo := px(0), px(len(a.sizes)-1)
	maps := make([]presetMap, len(a.sizes))
	for si := range a.sizes {
		t := 0.0
		if pxHi > pxLo {
			t = clampF((px(si)-pxLo)/(pxHi-pxLo), 0, 1)
		}
		maps[si] = presetMap{
			ratio:  math.Exp(math.Log(lo.ratio) + t*(math.Log(hi.ratio)-math.Log(lo.ratio))),
			offset: lo.offset + t*(hi.offset-lo.offset),
		}
	}
	return maps, nil
}

// calibrate encodes piece p at grid size si and its middle CRF with
// the final preset, scores it, and finds on the analysis preset's curve of the
// same piece and size (CRF against quality and log bits, linear between grid
// CRFs) the point of equal quality. ratio is bounded to [0.4, 1.6], offset to
// [-8, 8+analysisCRFShift].
func (a *analyzer) calibrate(ctx context.Context, p *piece, pi, si int, measured [][]gridResult) (presetMap, error) {
	idx := a.crfsAt(si)
	ci := idx[len(idx)/2]
	got, err := a.encodeAndScore(ctx, p, pi, si, a.opt.Preset, a.opt.CRFs, []int{ci}, "calibrate")
	if err != nil {
		return presetMap{}, fmt.Errorf("pertitle: preset calibration: %w", err)
	}
	final := got[ci]
	var crfs, quality, logBits []float64
	for _, k := range idx {
		g := measured[si][k]
		if g.bits <= 0 || g.secs <= 0 {
			continue
		}
		crfs = append(crfs, a.crfs[k])
		quality = append(quality, g.scores.Value)
		logBits = append(logBits, math.Log(g.bits))
	}
	if final.bits <= 0 || len(crfs) < 2 {
		return presetMap{ratio: 1}, nil
	}
	crf, bits := equalQuality(crfs, quality, logBits, final.scores.Value)
	return presetMap{
		ratio:  clampF(final.bits/math.Exp(bits), 0.4, 1.6),
		offset: clampF(a.opt.CRFs[ci]-crf, -8, 8+analysisCRFShift),
	}, nil
}

// equalQuality finds where quality (falling as CRF rises, crfs ascending)
// reaches q: the CRF and log bits there, linear between neighbouring grid
// points and extrapolated from the end segments by at most one grid step.
func equalQuality(crfs, quality, logBits []float64, q float64) (crf, logB float64) {
	n := len(crfs)
	i := 0
	for i < n-2 && quality[i+1] > q {
		i++
	}
	dq := quality[i+1] - quality[i]
	t := 0.5
	if dq != 0 {
		t = clampF((q-quality[i])/dq, -1, 2)
	}
	return crfs[i] + t*(crfs[i+1]-crfs[i]), logBits[i] + t*(logBits[i+1]-logBits[i])
}

// runFFmpeg runs ffmpeg and returns the frames it reported on its -progress
// stream and its CPU time.
func runFFmpeg(ctx context.Context, ffmpeg string, args []string) (int64, time.Duration, error) {
	res, err := (&media.Cmd{Bin: ffmpeg, Args: args}).Run(ctx)
	if ctx.Err() != nil {
		return 0, res.CPU, ctx.Err()
	}
	return max(res.Frames, 0), res.CPU, err
}

// runPool runs fn(0..n-1) on at most workers goroutines and returns the first
// error; the others see a cancelled context.
func runPool(ctx context.Context, workers, n int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
