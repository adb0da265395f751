// Package service wires encoder-dispatch: it reads the configuration, builds
// the adapters (storage, bus, encoder backend) and the use cases, and registers
// the bus handlers of ports/messages.
package service

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/pkg/webhook"
	bitmovinbackend "github.com/pertitle/pertitle/services/encoder-dispatch/internal/adapters/bitmovin"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/adapters/local"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/ports/messages"
)

// producer names encoder-dispatch on the events it publishes.
const producer = "encoder-dispatch"

// workerName names this process in chunk leases and done markers.
func workerName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
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
		PerTitle: cfg.PerTitle.backend(),
		Chunks:   local.ChunkConfig{Seconds: cfg.ChunkSeconds, Pub: b, Producer: producer}}
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
	d := &app.Dispatcher{Pub: b, Backend: backend, Log: log, Producer: producer, ProgressEvery: cfg.ProgressEvery}
	d.LadderMode, d.Limits, d.Budget = cfg.PerTitle.LadderMode, cfg.Limits, cfg.Budget
	worker := &app.ChunkWorker{State: jobs.ChunkStore{Store: store}, Encoder: localBackend, Worker: workerName(),
		Lease: cfg.Bus.VisibilityTimeout, Log: log.With(zap.String("component", "chunks"))}
	(&messages.Handlers{Dispatcher: d, Chunks: worker, Log: log}).Subscribe(b)

	// No API: its one port is the ops port, readiness details and metrics included.
	parts := []func(context.Context) error{
		b.Run,
		func(ctx context.Context) error { return ops.Serve(ctx, log, cfg.OpsAddr) },
	}
	if reconciler != nil {
		parts = append(parts, func(ctx context.Context) error { _ = reconciler.Run(ctx); return nil })
	}
	return svc.Together(ctx, parts...)
}
