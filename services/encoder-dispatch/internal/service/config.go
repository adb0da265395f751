package service

import (
	"errors"
	"os/exec"
	"time"

	"github.com/pertitle/pertitle/internal/settings"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// Config is encoder-dispatch's configuration.
type Config struct {
	OpsAddr        string
	Backend        string
	WebhookURL     string
	WebhookSecret  string
	FFmpeg         string
	WorkDir        string
	Preset         string
	SegmentSeconds int
	ProgressEvery  time.Duration
	ChunkSeconds   float64
	DrainSeconds   int
	PerTitle       PerTitleConfig
	Limits         media.Limits
	Budget         app.Budget
	Bus            bus.Config
	Storage        storage.Config
	Bitmovin       BitmovinConfig
}

// FromEnv reads the configuration.
func (c *Config) FromEnv(e *svc.Env) {
	e.String(&c.OpsAddr, "PERTITLE_DISPATCH_OPS_ADDR", "127.0.0.1:9083", "listen address of /healthz, /readyz with details and /metrics, its only port (keep it private)")
	e.String(&c.Backend, "PERTITLE_ENCODER_BACKEND", "local", "encoder backend: local (ffmpeg on this machine)")
	e.String(&c.WebhookURL, "PERTITLE_WEBHOOK_URL", "http://127.0.0.1:8082/webhooks/bitmovin", "where the local backend posts completion webhooks")
	e.SigningKey(&c.WebhookSecret, "PERTITLE_BITMOVIN_WEBHOOK_SECRET", "", "HMAC-SHA512 key used to sign completion webhooks (required, at least 16 bytes)")
	e.String(&c.FFmpeg, "PERTITLE_FFMPEG", "ffmpeg", "ffmpeg binary")
	e.String(&c.WorkDir, "PERTITLE_WORK_DIR", "var/work", "scratch directory for encodes")
	e.String(&c.Preset, "PERTITLE_X264_PRESET", "veryfast", "x264 preset of the local backend")
	e.Int(&c.SegmentSeconds, "PERTITLE_SEGMENT_SECONDS", 2, "segment duration (keyframes align on it)")
	e.Duration(&c.ProgressEvery, "PERTITLE_PROGRESS_EVERY", 2*time.Second, "least interval between progress events")
	e.Float64(&c.ChunkSeconds, "PERTITLE_CHUNK_SECONDS", 30,
		"length of the chunks a title is split into across every encoder-dispatch process (on segment boundaries); titles shorter than two chunks are encoded whole; 0 never splits")
	e.Int(&c.DrainSeconds, "PERTITLE_DRAIN_SECONDS", 25,
		"on SIGTERM, how long a chunk or job in hand may still finish; past it, it is handed back to the queue at once (spot: 100 with a 120 s notice)")
	c.PerTitle.FromEnv(e)
	c.Limits = settings.SourceLimits(e)
	db := app.DefaultBudget()
	e.Duration(&c.Budget.Base, "PERTITLE_ENCODE_DEADLINE_BASE", db.Base, "every job's deadline starts at this much, whatever its size")
	e.Float64(&c.Budget.MinPixelRate, "PERTITLE_ENCODE_MIN_PIXEL_RATE", db.MinPixelRate,
		"slowest encoding accepted, in pixels per second over all rungs: the deadline adds duration × fps × Σ rung pixels ÷ this (×3 for per-title jobs)")
	e.Duration(&c.Budget.Max, "PERTITLE_ENCODE_MAX_DEADLINE", db.Max, "longest deadline of a job (keep it under SQS's 12 h in-flight cap)")
	c.Bus = settings.Bus(e)
	c.Bus.Drain = time.Duration(c.DrainSeconds) * time.Second
	c.Storage = settings.Storage(e)
	c.Bitmovin.FromEnv(e)
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var v svc.Validation
	v.Check(svc.ValidAddr(c.OpsAddr), "PERTITLE_DISPATCH_OPS_ADDR=%q is not a listen address", c.OpsAddr)
	v.Check(c.WebhookSecret != "", "PERTITLE_BITMOVIN_WEBHOOK_SECRET must be set: the receiver refuses unsigned webhooks")
	v.Check(c.Backend == "local" || c.Backend == "bitmovin", "PERTITLE_ENCODER_BACKEND=%q is not a backend (local, bitmovin)", c.Backend)
	v.Check(c.WebhookURL != "", "PERTITLE_WEBHOOK_URL must be set")
	v.Check(c.SegmentSeconds >= 1 && c.SegmentSeconds <= 10, "PERTITLE_SEGMENT_SECONDS must be between 1 and 10")
	v.Check(c.ProgressEvery > 0, "PERTITLE_PROGRESS_EVERY must be positive")
	v.Check(c.ChunkSeconds == 0 || c.ChunkSeconds >= 2*float64(c.SegmentSeconds), "PERTITLE_CHUNK_SECONDS must be 0 or at least two segments")
	v.Check(c.DrainSeconds >= 1 && c.DrainSeconds <= 3600, "PERTITLE_DRAIN_SECONDS must be between 1 and 3600")
	c.PerTitle.check(&v)
	v.Check(c.Budget.Base >= time.Second, "PERTITLE_ENCODE_DEADLINE_BASE must be at least 1s")
	v.Check(c.Budget.MinPixelRate > 0, "PERTITLE_ENCODE_MIN_PIXEL_RATE must be positive")
	v.Check(c.Budget.Max >= c.Budget.Base && c.Budget.Max <= 12*time.Hour, "PERTITLE_ENCODE_MAX_DEADLINE must be between the base deadline and 12h")
	if c.Backend == "local" {
		_, err := exec.LookPath(c.FFmpeg)
		v.Check(err == nil, "PERTITLE_FFMPEG=%q not found (install ffmpeg)", c.FFmpeg)
	}
	var bm error
	if c.Backend == "bitmovin" {
		bm = c.Bitmovin.Validate()
	}
	return errors.Join(v.Err(), c.Limits.Validate(), settings.CheckBus(c.Bus), settings.CheckStorage(c.Storage), bm)
}
