package pertitle

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
)

// ProbeSource applies opt's defaults and checks it, then probes and validates
// src: the first steps of Plan, Analyze and Encode (and of pkg/pershot's).
// Unusable sources give errors wrapping media.ErrInvalidSource.
func ProbeSource(ctx context.Context, src string, opt *Options) (*media.Source, error) {
	opt.setDefaults()
	if err := opt.validate(); err != nil {
		return nil, fmt.Errorf("pertitle: %w", err)
	}
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
// Fast mode cuts up to SampleCount pieces of SampleSeconds (fewer
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
	s, err := ProbeSource(ctx, src, &opt)
	if err != nil {
		return nil, err
	}
	return analyze(ctx, src, s, opt)
}

// AnalyzeSource is Analyze of a source that ProbeSource probed with opt (its
// defaults set): pkg/pershot analyses a title as per-title mode does.
func AnalyzeSource(ctx context.Context, src string, s *media.Source, opt Options) (*Analysis, error) {
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
	frames []int64 // bits per picture, in decode order
}

type analyzer struct {
	opt   Options
	src   *media.Source
	dir   string
	fps   float64
	sizes [][2]int
	// crfs are the CRFs the grid is encoded at with the analysis preset:
	// Options.CRFs, moved down by analysisCRFShift when the final preset differs.
	crfs []float64
	// calibrated holds, by grid size, the calibration encodes measured with
	// the grid (calibrationJobs); empty where they were not.
	calibrated []gridResult
	// bitsScale corrects the pooled bitrates for how much harder (or
	// easier) the whole title is than the pieces measured (sampleScale);
	// 1 when the title is analysed whole or without the profile pass.
	bitsScale float64
	metric    Metric
	mu        sync.Mutex
	cpu       time.Duration
	stages    map[string]time.Duration
	done      int
	total     int
	start     time.Time
	report    func(Progress)
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

// scale is bitsScale, 1 when unset.
func (a *analyzer) scale() float64 {
	if a.bitsScale <= 0 {
		return 1
	}
	return a.bitsScale
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

// analyze runs the analysis of a probed source in a temporary directory:
// the metric, the pieces, their extraction, the grid, the calibration onto
// the final preset (calibrate.go), and the points pooled over the pieces.
func analyze(ctx context.Context, src string, s *media.Source, opt Options) (*Analysis, error) {
	start := time.Now()
	dir, err := os.MkdirTemp("", "pertitle-analysis-*")
	if err != nil {
		return nil, fmt.Errorf("pertitle: %w", err)
	}
	defer removeAll(dir)

	a := newAnalyzer(s, opt, dir)
	a.start = start
	res := &Analysis{Mode: opt.Mode}
	a.chooseMetric(ctx, res)
	pieces, whole, err := a.choosePieces(ctx, src, res)
	if err != nil {
		return nil, err
	}
	// Sampled pieces can be analysed elsewhere (Options.Pieces); they are
	// then kept as lossless H.264, a tenth of raw video's size to store.
	remote := opt.Pieces != nil && !whole
	// Steps: the grid's encodes, the extractions, and each calibration size
	// once (calibrateSizes), twice when its encode runs with the grid's.
	a.total = len(pieces)*len(a.sizes) + boolInt(!whole)*len(pieces) + boolInt(calibrating(opt))*min(2, len(a.sizes))*(1+boolInt(!remote))
	if !whole {
		if err := a.extractAll(ctx, src, pieces, remote); err != nil {
			return nil, err
		}
	}
	results, err := a.grid(ctx, pieces, remote)
	if err != nil {
		return nil, err
	}
	maps, err := a.presetMaps(ctx, pieces, results, res)
	if err != nil {
		return nil, err
	}
	res.Points = a.points(results, maps)
	res.Hull = UpperHull(res.Points)
	if c := a.corners(res.Hull, maps); len(c) > 0 {
		if err := a.refine(ctx, pieces, results, c); err != nil {
			return nil, err
		}
		res.Points = a.points(results, maps)
		res.Hull = UpperHull(res.Points)
	}
	res.PieceGrids = a.pieceGrids(results, maps)
	res.CPUTime, res.CPUByStage = a.cpu, a.stages
	res.Elapsed = time.Since(start)
	return res, nil
}

// newAnalyzer is the analysis of s with opt (defaults set) in dir: its grid
// sizes, frame rate (25 when unknown) and analysis CRFs.
func newAnalyzer(s *media.Source, opt Options, dir string) *analyzer {
	dw, dh := s.DisplaySize()
	a := &analyzer{opt: opt, src: s, dir: dir, fps: s.Video.FrameRate, sizes: gridSizes(dw, dh, opt.Heights),
		crfs: analysisCRFs(opt), report: opt.Progress}
	if a.fps <= 0 {
		a.fps = 25
	}
	return a
}

// chooseMetric steers by VMAF when the scorer has it, else by SSIM with a
// loud warning.
func (a *analyzer) chooseMetric(ctx context.Context, res *Analysis) {
	vm := detectVMAF(ctx, a.opt.Scorer, a.opt.VMAFModel)
	res.Metric = MetricVMAF
	if vm.filter == "" {
		res.Metric = MetricSSIM
		res.Warnings = append(res.Warnings, "NOT STEERED BY VMAF: the analysis falls back to SSIM, whose relation to VMAF depends on the content, because "+
			vm.why+" (install the scorer with scripts/vmaf-ffmpeg.sh, or point PERTITLE_VMAF_FFMPEG at an ffmpeg with libvmaf)")
	}
	a.metric = res.Metric
}

// choosePieces decides which stretches of the title the grid is encoded
// from (see Analyze) and records them in res.Samples. whole is true when the
// title is analysed whole, straight from src; the pieces of a sampled title
// are still to be extracted.
func (a *analyzer) choosePieces(ctx context.Context, src string, res *Analysis) (pieces []*piece, whole bool, err error) {
	s, opt := a.src, a.opt
	m := newCostModel(a)
	n, pieceSecs := samplePlan(s.Duration, opt.SampleCount, opt.SampleSeconds, opt.SegmentSeconds, m)
	if opt.Mode == ModeExhaustive || wholeTitle(s.Duration, n, pieceSecs) {
		res.Samples = [][2]float64{{0, s.Duration}}
		return []*piece{{path: src, ref: s, start: 0, secs: s.Duration}}, true, nil
	}
	if n < opt.SampleCount {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d samples of %.3g s instead of %d of %.3g s: a %.0f s title affords no more within the CPU budget",
			n, pieceSecs, opt.SampleCount, opt.SampleSeconds, s.Duration))
	}
	if share := m.share(s.Duration, n, pieceSecs); share > m.budget {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the analysis of this %.0f s title is estimated at %.0f%% of the final encode's CPU at %s, over the %.0f%% budget: one piece on the whole grid is the least it measures",
			s.Duration, 100*share, opt.Preset, 100*m.budget))
	}
	res.Samples = chooseSamples(s.Duration, nil, n, pieceSecs, opt.SegmentSeconds)
	if s.Duration > minSceneTitle {
		cuts, segBits, cpu, err := profileTitle(ctx, opt.FFmpeg, src, a.dir, a.fps, opt.SegmentSeconds)
		a.addCPU("profile", cpu)
		if err != nil {
			return nil, false, err
		}
		res.Profile = &Profile{Cuts: cuts, SegmentBits: segBits, CPU: cpu}
		res.Samples = stratifiedSamples(segBits, opt.SegmentSeconds, s.Duration, cuts, n, pieceSecs)
		a.bitsScale = sampleScale(segBits, opt.SegmentSeconds, res.Samples)
		if math.Abs(a.bitsScale-1) > 0.2 { // smaller corrections are routine, not news
			res.Warnings = append(res.Warnings, fmt.Sprintf("the pieces' bitrates are scaled by %.2f: the profile pass finds the whole title that much dearer than the pieces", a.bitsScale))
		}
	}
	for _, sm := range res.Samples {
		pieces = append(pieces, &piece{start: sm[0], secs: sm[1] - sm[0]})
	}
	return pieces, false, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
