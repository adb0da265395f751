// Package service wires the webhook-receiver: it reads the configuration,
// builds the adapters (storage, bus, Bitmovin API) and the receiver, and
// serves the HTTP port. It consumes no topic: its input is the webhook.
package service

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bitmovin"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/svc"
	bitmovinresolver "github.com/pertitle/pertitle/services/webhook-receiver/internal/adapters/bitmovin"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/adapters/jobstore"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/app"
	httpport "github.com/pertitle/pertitle/services/webhook-receiver/internal/ports/http"
)

// Run starts the service and blocks until ctx ends.
func Run(ctx context.Context, log *zap.Logger, args []string) error {
	return run(ctx, log, args, os.Stdout)
}

func run(ctx context.Context, log *zap.Logger, args []string, out io.Writer) error {
	var cfg Config
	if err := svc.Load(svc.NewEnv("webhook-receiver"), &cfg, args, out, log); err != nil {
		return err
	}

	ops := svc.NewOps("webhook-receiver")
	store, err := cfg.Storage.Open()
	if err != nil {
		return err
	}
	b, err := bus.New(ctx, cfg.Bus, bus.ServiceWebhookReceiver, log, ops.Metrics)
	if err != nil {
		return fmt.Errorf("cannot connect to the bus: %w", err)
	}
	defer b.Close()
	ops.AddCheck("bus", b.Ping)
	ops.AddCheck("storage", store.Ping)

	resolver := app.RoutingResolver{Local: jobstore.Resolver{Store: store}}
	if cfg.BitmovinAPIKey != "" {
		client, err := bitmovin.New(bitmovin.Config{BaseURL: cfg.BitmovinAPIURL, APIKey: cfg.BitmovinAPIKey,
			TenantOrgID: cfg.BitmovinTenantOrgID, Timeout: cfg.ResolveTimeout / 2, Retries: 1, Backoff: 200 * time.Millisecond,
			MaxBackoff: time.Second, Log: log.Named("bitmovin")})
		if err != nil {
			return err
		}
		resolver.Bitmovin = bitmovinresolver.Resolver{Client: client}
	}
	rcv := app.NewReceiver(b, resolver, cfg.DedupTTL)
	rcv.ResolveTimeout = cfg.ResolveTimeout
	rcv.Ledger = jobstore.Ledger{Store: store}
	rcv.Claims = b.Claims() // shared by the replicas when PERTITLE_STATE_DB is set
	rcv.Log = log
	mux := http.NewServeMux()
	ops.Register(mux)
	mux.Handle("POST /webhooks/bitmovin", ops.Metrics.Instrument("/webhooks/bitmovin",
		httpport.Webhook(rcv, []byte(cfg.Secret), cfg.MaxBytes, log)))
	srv := svc.NewServer(cfg.Addr, mux)
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	return svc.Together(ctx,
		func(ctx context.Context) error { return svc.Serve(ctx, log, srv) },
		func(ctx context.Context) error { return ops.Serve(ctx, log, cfg.OpsAddr) })
}
