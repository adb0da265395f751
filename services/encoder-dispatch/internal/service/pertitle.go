package service

import (
	"context"
	"math"
	"os/exec"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/pertitle"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/adapters/local"
)

// PerTitleConfig holds the ladder planning and per-title engine settings.
type PerTitleConfig struct {
	LadderMode     string
	Analysis       string
	FFprobe        string
	Scorer         string
	VMAFModel      string
	WithStatic     bool
	MeasureQuality bool
	AnalysisBudget float64
}

// FromEnv reads the per-title settings.
func (c *PerTitleConfig) FromEnv(e *svc.Env) {
	e.String(&c.LadderMode, "PERTITLE_LADDER_MODE", jobs.LadderPerTitle,
		"ladder planned for uploads: pertitle (analyse the title, then encode the chosen ladder), pershot (as pertitle, then each rung's CRF chosen per shot and the title encoded shot by shot), static (Apple HLS authoring specification) or fixed")
	e.String(&c.Analysis, "PERTITLE_ANALYSIS", string(pertitle.ModeFast), "per-title analysis: fast (samples) or exhaustive (whole title, whole grid)")
	e.Float64(&c.AnalysisBudget, "PERTITLE_ANALYSIS_BUDGET", 0,
		"share of the final encode's CPU the fast analysis may spend, as estimated before it runs (0: 0.25, or 0.15 at slow and slower presets)")
	e.String(&c.FFprobe, "PERTITLE_FFPROBE", "ffprobe", "ffprobe binary")
	e.String(&c.Scorer, "PERTITLE_VMAF_FFMPEG", "",
		"ffmpeg with libvmaf that scores quality, so the per-title analysis steers by VMAF (empty: vmaf-ffmpeg/ffmpeg beside this binary or under ./bin, as make installs it, else PERTITLE_FFMPEG; without libvmaf the engine falls back to SSIM and warns)")
	e.String(&c.VMAFModel, "PERTITLE_VMAF_MODEL", "", "VMAF model file for libvmaf 1.x (empty: the v0.6.1 model the engine ships; libvmaf 2.x has one built in)")
	e.Bool(&c.WithStatic, "PERTITLE_WITH_STATIC", false, "per-title jobs also encode the static ladder (into <output>/static) and report the savings")
	e.Bool(&c.MeasureQuality, "PERTITLE_MEASURE_QUALITY", true, "per-title jobs score every rendition against the source (scores travel in EncodingFinished)")
}

func (c *PerTitleConfig) check(v *svc.Validation) {
	v.Check(jobs.ValidLadderMode(c.LadderMode), "PERTITLE_LADDER_MODE=%q: use pertitle, pershot, static or fixed", c.LadderMode)
	v.Check(c.Analysis == string(pertitle.ModeFast) || c.Analysis == string(pertitle.ModeExhaustive),
		"PERTITLE_ANALYSIS=%q: use fast or exhaustive", c.Analysis)
	v.Check(c.AnalysisBudget >= 0 && !math.IsInf(c.AnalysisBudget, 1),
		"PERTITLE_ANALYSIS_BUDGET=%g: a share of the final encode's CPU, 0 or more (0: the preset's default)", c.AnalysisBudget)
	if c.Scorer != "" {
		_, err := exec.LookPath(c.Scorer)
		v.Check(err == nil, "PERTITLE_VMAF_FFMPEG=%q not found (scripts/vmaf-ffmpeg.sh installs one)", c.Scorer)
	}
}

func (c *PerTitleConfig) backend() local.PerTitleConfig {
	return local.PerTitleConfig{FFprobe: c.FFprobe, Scorer: c.scorer(), VMAFModel: c.VMAFModel, Mode: pertitle.Mode(c.Analysis),
		WithStatic: c.WithStatic, SkipQuality: !c.MeasureQuality, AnalysisBudget: c.AnalysisBudget}
}

// scorer resolves PERTITLE_VMAF_FFMPEG: as set, else the scorer make
// installs, else "" (the engine then scores with PERTITLE_FFMPEG).
func (c *PerTitleConfig) scorer() string {
	if c.Scorer != "" {
		return c.Scorer
	}
	return pertitle.FindScorer()
}

// warnWithoutVMAF says loudly, once at start, when per-title (or per-shot)
// jobs will be steered by SSIM because the scorer has no libvmaf.
func (c *PerTitleConfig) warnWithoutVMAF(ctx context.Context, log *zap.Logger, ffmpeg string) {
	if !jobs.Analysed(c.LadderMode) {
		return
	}
	scorer := c.scorer()
	if scorer == "" {
		scorer = ffmpeg
	}
	if m, why := pertitle.QualityMetric(ctx, scorer, c.VMAFModel); m != pertitle.MetricVMAF {
		log.Warn("PER-TITLE IS NOT STEERED BY VMAF: the analysis falls back to SSIM; install the scorer (scripts/vmaf-ffmpeg.sh) or set PERTITLE_VMAF_FFMPEG",
			zap.String("scorer", scorer), zap.String("why", why))
	}
}
