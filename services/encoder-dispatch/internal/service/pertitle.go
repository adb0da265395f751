package service

import (
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
	VMAFModel      string
	WithStatic     bool
	MeasureQuality bool
}

// FromEnv reads the per-title settings.
func (c *PerTitleConfig) FromEnv(e *svc.Env) {
	e.String(&c.LadderMode, "PERTITLE_LADDER_MODE", jobs.LadderPerTitle,
		"ladder planned for uploads: pertitle (analyse the title, then encode the chosen ladder), static (Apple HLS authoring specification) or fixed")
	e.String(&c.Analysis, "PERTITLE_ANALYSIS", string(pertitle.ModeFast), "per-title analysis: fast (samples) or exhaustive (whole title, whole grid)")
	e.String(&c.FFprobe, "PERTITLE_FFPROBE", "ffprobe", "ffprobe binary")
	e.String(&c.VMAFModel, "PERTITLE_VMAF_MODEL", "", "VMAF model file for libvmaf 1.x (libvmaf 2.x has one built in; without libvmaf the engine uses SSIM)")
	e.Bool(&c.WithStatic, "PERTITLE_WITH_STATIC", false, "per-title jobs also encode the static ladder (into <output>/static) and report the savings")
	e.Bool(&c.MeasureQuality, "PERTITLE_MEASURE_QUALITY", true, "per-title jobs score every rendition against the source (scores travel in EncodingFinished)")
}

func (c *PerTitleConfig) check(v *svc.Validation) {
	v.Check(c.LadderMode == jobs.LadderPerTitle || c.LadderMode == jobs.LadderStatic || c.LadderMode == jobs.LadderFixed,
		"PERTITLE_LADDER_MODE=%q: use pertitle, static or fixed", c.LadderMode)
	v.Check(c.Analysis == string(pertitle.ModeFast) || c.Analysis == string(pertitle.ModeExhaustive),
		"PERTITLE_ANALYSIS=%q: use fast or exhaustive", c.Analysis)
}

func (c *PerTitleConfig) backend() local.PerTitleConfig {
	return local.PerTitleConfig{FFprobe: c.FFprobe, VMAFModel: c.VMAFModel, Mode: pertitle.Mode(c.Analysis),
		WithStatic: c.WithStatic, SkipQuality: !c.MeasureQuality}
}
