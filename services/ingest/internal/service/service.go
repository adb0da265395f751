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
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/api"
	"github.com/pertitle/pertitle/internal/settings"
	"github.com/pertitle/pertitle/internal/sqldb"
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/limit"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/ingest/internal/adapters/ffprobe"
	"github.com/pertitle/pertitle/services/ingest/internal/adapters/sqlsessions"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
	ingesthttp "github.com/pertitle/pertitle/services/ingest/internal/ports/http"
)

// Config is ingest's configuration.
type Config struct {
	Addr         string
	OpsAddr      string
	MaxBytes     int64
	StagingDir   string
	FFprobe      string
	FFmpeg       string
	DefaultOwner string
	SessionTTL   time.Duration
	PartSize     int64
	CatalogURL   string
	// DB keeps the sessions of direct uploads (S3 storage): a SQLite file, or
	// a postgres:// URL shared by replicas.
	DB          string
	CORSOrigins string
	S3Events    bool // consume S3 ObjectCreated notifications (PERTITLE_STORAGE=s3 only)
	// Abuse limits of the HTTP API, per signed-in user.
	UploadsPerHour int
	UploadsBurst   int
	UserSessions   int
	UserBytes      int64
	// A request body must bring bytes at least every BodyIdle and, after that
	// long, average BodyMinRate bytes per second.
	BodyIdle    time.Duration
	BodyMinRate int64
	Limits      media.Limits
	Auth        auth.Config
	Bus         bus.Config
	Storage     storage.Config
}

// FromEnv reads the configuration.
func (c *Config) FromEnv(e *svc.Env) {
	e.String(&c.Addr, "PERTITLE_INGEST_ADDR", ":8081", "listen address of the API (public), /healthz and /readyz (ready or not)")
	e.String(&c.OpsAddr, "PERTITLE_INGEST_OPS_ADDR", "127.0.0.1:9081", "listen address of /readyz with details and /metrics (keep it private)")
	e.Int64(&c.MaxBytes, "PERTITLE_INGEST_MAX_BYTES", 10<<30, "largest accepted upload in bytes")
	e.Int(&c.UploadsPerHour, "PERTITLE_INGEST_UPLOADS_PER_HOUR", 60, "uploads and upload sessions one user may start per hour, sustained (429 past it)")
	e.Int(&c.UploadsBurst, "PERTITLE_INGEST_UPLOADS_BURST", 10, "uploads and upload sessions one user may start at once")
	e.Int(&c.UserSessions, "PERTITLE_INGEST_USER_SESSIONS", 10, "open resumable upload sessions per user (429 past it)")
	e.Int64(&c.UserBytes, "PERTITLE_INGEST_USER_BYTES", 20<<30, "bytes in flight per user: declared sizes of open sessions plus uploads being received (429 past it; at least PERTITLE_INGEST_MAX_BYTES)")
	e.Duration(&c.BodyIdle, "PERTITLE_INGEST_BODY_IDLE_TIMEOUT", 30*time.Second, "longest wait for the next bytes of a request body (408 past it)")
	e.Int64(&c.BodyMinRate, "PERTITLE_INGEST_BODY_MIN_RATE", 4096, "least average rate of a request body in bytes per second, after the idle timeout (a trickling body is cut off with 408)")
	e.String(&c.StagingDir, "PERTITLE_INGEST_STAGING_DIR", "", "where uploads are staged before validation (default: inside filesystem storage)")
	e.String(&c.FFprobe, "PERTITLE_FFPROBE", "ffprobe", "ffprobe binary")
	e.String(&c.FFmpeg, "PERTITLE_FFMPEG", "ffmpeg", "ffmpeg binary (decodes a stretch to reject corrupt files)")
	e.String(&c.DefaultOwner, "PERTITLE_DEFAULT_OWNER", "local", "owner of S3-event uploads whose object names none (HTTP uploads always belong to the signed-in caller)")
	e.Duration(&c.SessionTTL, "PERTITLE_UPLOAD_SESSION_TTL", 24*time.Hour, "resumable upload sessions expire this long after their last part")
	e.Int64(&c.PartSize, "PERTITLE_UPLOAD_PART_SIZE", app.DefaultPartSize, "part size of resumable uploads in bytes (at least 5 MiB, as S3 multipart needs)")
	e.String(&c.DB, "PERTITLE_INGEST_DB", "var/ingest.db", "with PERTITLE_STORAGE=s3: sessions of resumable uploads whose parts go straight to S3; SQLite file, or a postgres:// URL shared by replicas")
	e.String(&c.CatalogURL, "PERTITLE_CATALOG_URL", "http://127.0.0.1:8080", "catalog base URL for Location headers")
	e.String(&c.CORSOrigins, "PERTITLE_CORS_ORIGINS", ingesthttp.DefaultCORSOrigins, "origins of the web app allowed to upload from a browser (comma-separated; * for any)")
	c.Limits = settings.SourceLimits(e)
	c.Auth = settings.OIDC(e)
	c.Bus = settings.Bus(e)
	c.Storage = settings.Storage(e)
	e.Bool(&c.S3Events, "PERTITLE_S3_EVENTS", true, "with PERTITLE_STORAGE=s3: turn objects created under uploads/ in the input bucket into assets (S3 event notifications on the s3-object-created topic)")
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var v svc.Validation
	v.Check(svc.ValidAddr(c.Addr), "PERTITLE_INGEST_ADDR=%q is not a listen address", c.Addr)
	v.Check(svc.ValidAddr(c.OpsAddr), "PERTITLE_INGEST_OPS_ADDR=%q is not a listen address", c.OpsAddr)
	v.Check(c.MaxBytes > 0, "PERTITLE_INGEST_MAX_BYTES must be positive")
	v.Check(c.UploadsPerHour >= 1, "PERTITLE_INGEST_UPLOADS_PER_HOUR must be at least 1")
	v.Check(c.UploadsBurst >= 1, "PERTITLE_INGEST_UPLOADS_BURST must be at least 1")
	v.Check(c.UserSessions >= 1, "PERTITLE_INGEST_USER_SESSIONS must be at least 1")
	v.Check(c.UserBytes >= c.MaxBytes, "PERTITLE_INGEST_USER_BYTES must be at least PERTITLE_INGEST_MAX_BYTES")
	v.Check(c.BodyIdle >= time.Second, "PERTITLE_INGEST_BODY_IDLE_TIMEOUT must be at least 1s")
	v.Check(c.BodyMinRate >= 0, "PERTITLE_INGEST_BODY_MIN_RATE must not be negative")
	v.Check(c.SessionTTL >= time.Minute, "PERTITLE_UPLOAD_SESSION_TTL must be at least 1m")
	v.Check(c.PartSize >= 5<<20 && c.PartSize <= 5<<30, "PERTITLE_UPLOAD_PART_SIZE must be between 5 MiB and 5 GiB")
	if err := sqldb.Check(c.DB); err != nil {
		v.Check(false, "PERTITLE_INGEST_DB: %v", err)
	}
	_, err := exec.LookPath(c.FFprobe)
	v.Check(err == nil, "PERTITLE_FFPROBE=%q not found (install ffmpeg)", c.FFprobe)
	_, err = exec.LookPath(c.FFmpeg)
	v.Check(err == nil, "PERTITLE_FFMPEG=%q not found (install ffmpeg)", c.FFmpeg)
	return errors.Join(v.Err(), c.Limits.Validate(), settings.CheckOIDC(c.Auth), settings.CheckBus(c.Bus), settings.CheckStorage(c.Storage))
}

// Run starts the service and blocks until ctx ends.
func Run(ctx context.Context, log *zap.Logger, args []string) error {
	return run(ctx, log, args, os.Stdout)
}

func run(ctx context.Context, log *zap.Logger, args []string, out io.Writer) error {
	var cfg Config
	if err := svc.Load(svc.NewEnv("ingest"), &cfg, args, out, log); err != nil {
		return err
	}

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

	in := &app.Ingestor{Store: store, Pub: b, Prober: ffprobe.Prober{FFprobe: cfg.FFprobe, FFmpeg: cfg.FFmpeg, Limits: cfg.Limits},
		StagingDir: staging, MaxBytes: cfg.MaxBytes, Producer: "ingest",
		Uploads: limit.NewKeyed(float64(cfg.UploadsPerHour)/3600, cfg.UploadsBurst, 0),
		Quota:   &app.Quota{Sessions: cfg.UserSessions, Bytes: cfg.UserBytes}}
	verifier, err := auth.NewVerifier(ctx, cfg.Auth)
	if err != nil {
		return err
	}
	ops.AddCheck("oidc", verifier.Ping)
	sessions, closeSessions, err := openSessions(ctx, cfg, in, store, staging, log)
	if err != nil {
		return err
	}
	defer closeSessions()
	if sessions.ping != nil {
		ops.AddCheck("sessions", sessions.ping)
	}
	mux := newMux(ops, verifier, in, sessions.api, cfg.CatalogURL, log)
	mux = ingesthttp.WithCORS(cfg.CORSOrigins, mux) // the web app uploads from the catalog's origin
	go sessions.janitor(ctx, time.Minute, func(n int, err error) {
		log.Info("expired upload sessions and orphaned staged files", zap.Int("removed", n), zap.Error(err))
	})
	// Either part stopping stops the others; all drain in parallel.
	parts := []func(context.Context) error{
		func(ctx context.Context) error {
			// Uploads take as long as they take, if they keep coming.
			p := limit.Progress{ReadIdle: cfg.BodyIdle, MinRate: cfg.BodyMinRate, Grace: cfg.BodyIdle, WriteIdle: time.Minute}
			return svc.Serve(ctx, log, svc.NewStreamingServer(cfg.Addr, mux, p))
		},
		func(ctx context.Context) error { return ops.Serve(ctx, log, cfg.OpsAddr) },
	}
	if s3, ok := store.(*storage.S3); ok && cfg.S3Events {
		parts = append(parts, consumeS3Events(log, cfg, b, in, s3.InputBucket()))
	}
	return svc.Together(ctx, parts...)
}

// newMux mounts the public health endpoints (open) and every API route behind the bearer
// token middleware: uploads belong to the token's subject.
func newMux(ops *svc.Ops, v auth.TokenVerifier, in *app.Ingestor, sessions ingesthttp.UploadSessions, catalogURL string, log *zap.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	mount(mux, ops, v, in, sessions, catalogURL, log)
	return mux
}

// mount mounts every route of the public listener on mux.
func mount(mux svc.Mux, ops *svc.Ops, v auth.TokenVerifier, in *app.Ingestor, sessions ingesthttp.UploadSessions, catalogURL string, log *zap.Logger) {
	ops.Register(mux)
	mux.Handle("GET "+api.Path, api.Handler())
	for _, rt := range ingesthttp.Routes(in, sessions, catalogURL, log) {
		mux.Handle(rt.Pattern, ops.Metrics.Instrument(rt.Name, auth.Middleware(v, rt.Handler)))
	}
}

// sessionsWiring is the resumable upload API of this process and its upkeep.
type sessionsWiring struct {
	api     ingesthttp.UploadSessions
	ping    func(context.Context) error // nil: nothing to check
	janitor func(ctx context.Context, every time.Duration, report func(int, error))
}

// openSessions chooses how resumable uploads travel: straight to S3 through
// presigned part URLs, sessions in PERTITLE_INGEST_DB (any replica serves any
// request), when storage is S3; through ingest, sessions on the staging disk,
// otherwise.
func openSessions(ctx context.Context, cfg Config, in *app.Ingestor, store storage.Storage, staging string, log *zap.Logger) (sessionsWiring, func(), error) {
	if up, ok := store.(storage.DirectUploader); ok {
		db, err := sqlsessions.Open(ctx, cfg.DB)
		if err != nil {
			return sessionsWiring{}, nil, err
		}
		d := &app.Direct{Ingestor: in, Uploads: up, Store: db, PartSize: cfg.PartSize, TTL: cfg.SessionTTL}
		return sessionsWiring{api: d, ping: db.Ping, janitor: d.RunJanitor}, func() { _ = db.Close() }, nil
	}
	s := &app.Sessions{Ingestor: in, Dir: filepath.Join(staging, "sessions"), PartSize: cfg.PartSize, TTL: cfg.SessionTTL}
	if err := s.Recover(ctx); err != nil {
		log.Warn("cannot fully recover upload sessions", zap.Error(err))
	}
	return sessionsWiring{api: s, janitor: s.RunJanitor}, func() {}, nil
}
