// Package service wires ingest: configuration, adapters, HTTP.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
)

// Config is ingest's configuration.
type Config struct {
	Addr         string
	MaxBytes     int64
	StagingDir   string
	FFprobe      string
	FFmpeg       string
	DefaultOwner string
	CatalogURL   string
	Bus          bus.Config
	Storage      storage.Config
}

// FromEnv reads the configuration.
func (c *Config) FromEnv(e *svc.Env) {
	e.String(&c.Addr, "PERTITLE_INGEST_ADDR", ":8081", "listen address")
	e.Int64(&c.MaxBytes, "PERTITLE_INGEST_MAX_BYTES", 10<<30, "largest accepted upload in bytes")
	e.String(&c.StagingDir, "PERTITLE_INGEST_STAGING_DIR", "", "where uploads are staged before validation (default: inside filesystem storage)")
	e.String(&c.FFprobe, "PERTITLE_FFPROBE", "ffprobe", "ffprobe binary")
	e.String(&c.FFmpeg, "PERTITLE_FFMPEG", "ffmpeg", "ffmpeg binary (decodes a stretch to reject corrupt files)")
	e.String(&c.DefaultOwner, "PERTITLE_DEFAULT_OWNER", "local", "owner of uploads that carry no identity")
	e.String(&c.CatalogURL, "PERTITLE_CATALOG_URL", "http://127.0.0.1:8080", "catalog base URL for Location headers")
	c.Bus = bus.DefaultConfig()
	c.Bus.FromEnv(e)
	c.Storage.FromEnv(e)
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var v svc.Validation
	v.Check(svc.ValidAddr(c.Addr), "PERTITLE_INGEST_ADDR=%q is not a listen address", c.Addr)
	v.Check(c.MaxBytes > 0, "PERTITLE_INGEST_MAX_BYTES must be positive")
	_, err := exec.LookPath(c.FFprobe)
	v.Check(err == nil, "PERTITLE_FFPROBE=%q not found (install ffmpeg)", c.FFprobe)
	_, err = exec.LookPath(c.FFmpeg)
	v.Check(err == nil, "PERTITLE_FFMPEG=%q not found (install ffmpeg)", c.FFmpeg)
	return errors.Join(v.Err(), c.Bus.Validate(), c.Storage.Validate())
}

// Run starts the service and blocks until ctx ends.
func Run(ctx context.Context, log *zap.Logger, args []string) error {
	return run(ctx, log, args, os.Stdout)
}

func run(ctx context.Context, log *zap.Logger, args []string, out io.Writer) error {
	env := svc.NewEnv("ingest")
	var cfg Config
	cfg.FromEnv(env)
	if err := env.Parse(args, out); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	log.Info("starting", zap.Any("config", env.Fields()))

	ops := svc.NewOps("ingest")
	store, err := cfg.Storage.Open()
	if err != nil {
		return err
	}
	staging := cfg.StagingDir
	if staging == "" {
		if fs, ok := store.(*storage.FS); ok {
			staging = fs.StagingDir()
		} else {
			staging = filepath.Join(os.TempDir(), "pertitle-ingest")
		}
	}
	b, err := bus.New(ctx, cfg.Bus, bus.ServiceIngest, log, ops.Metrics)
	if err != nil {
		return fmt.Errorf("cannot connect to the bus: %w", err)
	}
	defer b.Close()
	ops.AddCheck("bus", b.Ping)
	ops.AddCheck("storage", store.Ping)

	in := &app.Ingestor{Store: store, Pub: b, Prober: app.FFprobe{FFprobe: cfg.FFprobe, FFmpeg: cfg.FFmpeg},
		StagingDir: staging, MaxBytes: cfg.MaxBytes, Producer: "ingest"}
	mux := http.NewServeMux()
	ops.Register(mux)
	mux.Handle("POST /v1/assets", ops.Metrics.Instrument("/v1/assets", uploadHandler(in, cfg.DefaultOwner, cfg.CatalogURL, log)))
	return svc.Serve(ctx, log, svc.NewServer(cfg.Addr, mux))
}
