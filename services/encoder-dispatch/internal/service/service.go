// Package service wires encoder-dispatch: configuration, backend, bus handlers.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/pkg/webhook"
	bitmovinbackend "github.com/pertitle/pertitle/services/encoder-dispatch/internal/adapters/bitmovin"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/adapters/local"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// Config is encoder-dispatch's configuration.
type Config struct {
	Addr           string
	Backend        string
	WebhookURL     string
	WebhookSecret  string
	FFmpeg         string
	WorkDir        string
	Preset         string
	SegmentSeconds int
	ProgressEvery  time.Duration
	PerTitle       PerTitleConfig
	Bus            bus.Config
	Storage        storage.Config
	Bitmovin       BitmovinConfig
}

// FromEnv reads the configuration.
func (c *Config) FromEnv(e *svc.Env) {
	e.String(&c.Addr, "PERTITLE_DISPATCH_ADDR", ":8083", "health and metrics listen address")
	e.String(&c.Backend, "PERTITLE_ENCODER_BACKEND", "local", "encoder backend: local (ffmpeg on this machine)")
	e.String(&c.WebhookURL, "PERTITLE_WEBHOOK_URL", "http://127.0.0.1:8082/webhooks/bitmovin", "where the local backend posts completion webhooks")
	e.Secret(&c.WebhookSecret, "PERTITLE_BITMOVIN_WEBHOOK_SECRET", "local-dev-secret", "HMAC-SHA512 key used to sign completion webhooks")
	e.String(&c.FFmpeg, "PERTITLE_FFMPEG", "ffmpeg", "ffmpeg binary")
	e.String(&c.WorkDir, "PERTITLE_WORK_DIR", "var/work", "scratch directory for encodes")
	e.String(&c.Preset, "PERTITLE_X264_PRESET", "veryfast", "x264 preset of the local backend")
	e.Int(&c.SegmentSeconds, "PERTITLE_SEGMENT_SECONDS", 2, "segment duration (keyframes align on it)")
	e.Duration(&c.ProgressEvery, "PERTITLE_PROGRESS_EVERY", 2*time.Second, "least interval between progress events")
	c.PerTitle.FromEnv(e)
	c.Bus = bus.DefaultConfig()
	c.Bus.FromEnv(e)
	c.Storage.FromEnv(e)
	c.Bitmovin.FromEnv(e)
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var v svc.Validation
	v.Check(svc.ValidAddr(c.Addr), "PERTITLE_DISPATCH_ADDR=%q is not a listen address", c.Addr)
	v.Check(c.Backend == "local" || c.Backend == "bitmovin", "PERTITLE_ENCODER_BACKEND=%q is not a backend (local, bitmovin)", c.Backend)
	v.Check(c.WebhookURL != "", "PERTITLE_WEBHOOK_URL must be set")
	v.Check(c.SegmentSeconds >= 1 && c.SegmentSeconds <= 10, "PERTITLE_SEGMENT_SECONDS must be between 1 and 10")
	v.Check(c.ProgressEvery > 0, "PERTITLE_PROGRESS_EVERY must be positive")
	c.PerTitle.check(&v)
	if c.Backend == "local" {
		_, err := exec.LookPath(c.FFmpeg)
		v.Check(err == nil, "PERTITLE_FFMPEG=%q not found (install ffmpeg)", c.FFmpeg)
	}
	var bm error
	if c.Backend == "bitmovin" {
		bm = c.Bitmovin.Validate()
	}
	return errors.Join(v.Err(), c.Bus.Validate(), c.Storage.Validate(), bm)
}

// Run starts the service and blocks until ctx ends.
func Run(ctx context.Context, log *zap.Logger, args []string) error {
	return run(ctx, log, args, os.Stdout)
}

func run(ctx context.Context, log *zap.Logger, args []string, out io.Writer) error {
	var cfg Config
	if err := svc.Load(svc.NewEnv("encoder-dispatch"), &cfg, args, out, log); err != nil {
		return err
	}

	ops := svc.NewOps("encoder-dispatch")
	store, err := cfg.Storage.Open()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return fmt.Errorf("cannot create work dir: %w", err)
	}
	b, err := bus.New(ctx, cfg.Bus, bus.ServiceEncoderDispatch, log, ops.Metrics)
	if err != nil {
		return fmt.Errorf("cannot connect to the bus: %w", err)
	}
	defer b.Close()
	ops.AddCheck("bus", b.Ping)
	ops.AddCheck("storage", store.Ping)

	localBackend := &local.Backend{Store: store, WorkDir: cfg.WorkDir, FFmpeg: cfg.FFmpeg, Preset: cfg.Preset,
		SegmentSeconds: float64(cfg.SegmentSeconds), Log: log,
		Webhook:  webhook.Sender{URL: cfg.WebhookURL, Key: []byte(cfg.WebhookSecret), Attempts: 6, Backoff: time.Second},
		PerTitle: cfg.PerTitle.backend()}
	if err := localBackend.CleanWorkDir(); err != nil {
		return err
	}
	if cfg.Backend == "local" {
		cfg.PerTitle.warnWithoutVMAF(ctx, log, cfg.FFmpeg)
	}
	var backend app.Backend = localBackend
	var reconciler *bitmovinbackend.Reconciler
	if cfg.Backend == "bitmovin" {
		backend, reconciler, err = newBitmovin(cfg, store, log)
		if err != nil {
			return err
		}
	}
	d := &app.Dispatcher{Pub: b, Backend: backend, Log: log, Producer: "encoder-dispatch", ProgressEvery: cfg.ProgressEvery}
	d.LadderMode = cfg.PerTitle.LadderMode
	b.Subscribe(events.TopicAssetUploaded, d.OnAssetUploaded)
	b.Subscribe(events.TopicEncodingRequested, d.OnEncodingRequested)

	mux := http.NewServeMux()
	ops.Register(mux)
	srv := svc.NewServer(cfg.Addr, mux)

	parts := []func(context.Context) error{
		b.Run,
		func(ctx context.Context) error { return svc.Serve(ctx, log, srv) },
	}
	if reconciler != nil {
		parts = append(parts, func(ctx context.Context) error { _ = reconciler.Run(ctx); return nil })
	}
	return svc.Together(ctx, parts...)
}
