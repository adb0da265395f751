package svc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pertitle/pertitle/pkg/limit"
	"github.com/pertitle/pertitle/pkg/tracing"
)

// Version is stamped at build time (-ldflags "-X github.com/pertitle/pertitle/pkg/svc.Version=...").
var Version = "dev"

// ShutdownTimeout bounds graceful shutdown: stop consuming, finish in-flight work, exit.
const ShutdownTimeout = 25 * time.Second

// Main runs a service's run function with a context cancelled on SIGINT/SIGTERM and
// exits with a non-zero status when it fails. It is the only os.Exit of a service.
func Main(service string, run func(ctx context.Context, log *zap.Logger, args []string) error) {
	log := NewLogger(service).With(zap.String("version", Version))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	flush := setupTracing(ctx, service, log)
	err := run(ctx, log, os.Args[1:])
	flush()
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Asked to stop while still starting: that is a clean stop, not a failure.
		log.Info("stopped during start-up")
		err = nil
	}
	stop()
	_ = log.Sync()
	if errors.Is(err, ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		log.Error("service stopped", zap.Error(err))
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		os.Exit(1)
	}
}

// setupTracing installs the tracer provider (see package tracing), exporting
// over OTLP/HTTP when the standard OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, and returns what flushes the
// spans still buffered.
func setupTracing(ctx context.Context, service string, log *zap.Logger) (flush func()) {
	export := (os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "") &&
		os.Getenv("OTEL_TRACES_EXPORTER") != "none" && os.Getenv("OTEL_SDK_DISABLED") != "true"
	shutdown, err := tracing.Setup(ctx, tracing.Config{Service: service, Version: Version, Export: export})
	if err != nil {
		log.Warn("tracing not set up: spans are not exported", zap.Error(err))
		return func() {}
	}
	if export {
		log.Info("exporting traces over OTLP/HTTP")
		for _, v := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
			if p := os.Getenv(v); p != "" && p != "http/protobuf" {
				log.Warn("only OTLP over HTTP with protobuf is exported: "+v+" is ignored", zap.String(v, p))
			}
		}
	}
	return func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracing.FlushTimeout)
		defer cancel()
		if err := shutdown(fctx); err != nil {
			log.Warn("cannot flush traces", zap.Error(err))
		}
	}
}

// NewLogger returns a JSON logger at the level in PERTITLE_LOG_LEVEL (default info).
func NewLogger(service string) *zap.Logger {
	cfg := zap.NewProductionConfig()
	cfg.EncoderConfig.TimeKey = "ts"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.Sampling = nil
	if lvl, err := zapcore.ParseLevel(os.Getenv("PERTITLE_LOG_LEVEL")); err == nil {
		cfg.Level = zap.NewAtomicLevelAt(lvl)
	}
	log, err := cfg.Build()
	if err != nil {
		return zap.NewNop()
	}
	return log.With(zap.String("service", service))
}

// Timeouts of the servers. A slow client may hold a connection for at most these
// without making progress.
const (
	ReadHeaderTimeout = 10 * time.Second
	IdleTimeout       = 120 * time.Second
	// APIReadTimeout and APIWriteTimeout bound a whole request and a whole
	// response of servers whose requests are all short (NewServer).
	APIReadTimeout  = 30 * time.Second
	APIWriteTimeout = time.Minute
)

// NewServer returns an http.Server for an API whose requests are all short: the
// whole request must arrive within APIReadTimeout and the response be written
// within APIWriteTimeout. Servers of uploads or media use NewStreamingServer.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           tracing.Handler(h),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       APIReadTimeout,
		WriteTimeout:      APIWriteTimeout,
		IdleTimeout:       IdleTimeout,
	}
}

// NewStreamingServer returns an http.Server whose requests may rightly take hours
// (an upload, a film download): no total read or write timeout, but each request
// must keep making progress as p says (limit.Progress), so that a client that
// trickles its body or stops reading the answer is cut off.
func NewStreamingServer(addr string, h http.Handler, p limit.Progress) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           tracing.Handler(p.Wrap(h)),
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
	}
}

// Serve listens and serves until ctx ends, then shuts the server down gracefully.
func Serve(ctx context.Context, log *zap.Logger, srv *http.Server) error {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", srv.Addr, err)
	}
	log.Info("listening", zap.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("http server on %s: %w", srv.Addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("cannot shut down http server on %s: %w", srv.Addr, err)
	}
	return nil
}

// Together runs every part of a process (HTTP server, bus consumer, background
// loops) until ctx ends or one of them stops; then the others are stopped too
// and all are awaited, so they drain in parallel. It returns their errors joined.
func Together(ctx context.Context, parts ...func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(parts))
	for _, run := range parts {
		go func() {
			defer cancel()
			errc <- run(ctx)
		}()
	}
	var errs []error
	for range parts {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}
