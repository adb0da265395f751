package service

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/limit"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/catalog/internal/adapters/postgres"
	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlite"
	"github.com/pertitle/pertitle/services/catalog/internal/analytics"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
)

// Processed event ids are kept long enough to catch any redelivery (SQS retention
// is at most 14 days), then pruned so the table does not grow forever.
const (
	processedRetention = 15 * 24 * time.Hour
	pruneEvery         = time.Hour
)

// Run is the catalog process: it reads its configuration from the environment,
// serves HTTP and consumes events until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, log *zap.Logger, args []string) error {
	return run(ctx, log, args, svc.NewEnv(Name), os.Stdout)
}

func run(ctx context.Context, log *zap.Logger, args []string, env *svc.Env, stdout io.Writer) (err error) {
	var cfg Config
	if err := svc.Load(env, &cfg, args, stdout, log); err != nil {
		return err
	}
	if cfg.MediaSigningKey == "" {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("cannot generate a media signing key: %w", err)
		}
		cfg.MediaSigningKey = base64.StdEncoding.EncodeToString(key)
		log.Warn("PERTITLE_MEDIA_SIGNING_KEY is not set: using a random key, so playback URLs die with this process " +
			"and differ between replicas; set one shared secret in production")
	}

	store, err := cfg.storageConfig().Open()
	if err != nil {
		return err
	}
	repo, err := openRepository(ctx, cfg.DB)
	if err != nil {
		return err
	}
	// Closed last: the bus and the HTTP server have stopped using it by then.
	defer func() {
		if cerr := repo.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cannot close database: %w", cerr))
		}
	}()

	ops := svc.NewOps(Name)
	verifier, err := auth.NewVerifier(ctx, cfg.Auth)
	if err != nil {
		return err
	}
	ops.AddCheck("oidc", verifier.Ping)
	b, err := bus.New(ctx, cfg.Bus, Name, log, ops.Metrics)
	if err != nil {
		return fmt.Errorf("cannot start the bus: %w", err)
	}
	defer func() {
		if cerr := b.Close(); cerr != nil {
			log.Warn("cannot close the bus", zap.Error(cerr))
		}
	}()
	s, err := New(cfg, Deps{Repo: repo, Storage: store, Log: log, Ops: ops, Auth: verifier, Pub: b})
	if err != nil {
		return err
	}
	s.Subscribe(b)
	ops.AddCheck("bus", b.Ping)

	// Films are downloaded for as long as they take; beacons and API bodies are small.
	srv := svc.NewStreamingServer(cfg.Addr, s.Handler(), limit.DefaultProgress)
	// Either side failing stops the other; both drain within svc.ShutdownTimeout,
	// in parallel, so the process exits well inside 30 s.
	err = svc.Together(ctx,
		func(ctx context.Context) error {
			if err := b.Run(ctx); err != nil {
				return fmt.Errorf("bus: %w", err)
			}
			return nil
		},
		func(ctx context.Context) error { return svc.Serve(ctx, log, srv) },
		func(ctx context.Context) error { return ops.Serve(ctx, log, cfg.OpsAddr) },
		func(ctx context.Context) error { prune(ctx, repo, cfg.AnalyticsRetention, log); return nil },
	)
	log.Info("stopped")
	return err
}

// repository is what run needs of the database: the projection, the analytics
// store, and the housekeeping prune does.
type repository interface {
	app.Repository
	analytics.Store
	PruneProcessed(ctx context.Context, before time.Time) (int64, error)
	DeleteEventsBefore(ctx context.Context, before time.Time) (int64, error)
	Close() error
}

// openRepository opens PERTITLE_CATALOG_DB: PostgreSQL for a postgres:// URL,
// else a SQLite file.
func openRepository(ctx context.Context, db string) (repository, error) {
	if postgres.IsURL(db) {
		return postgres.Open(ctx, db, postgres.Options{})
	}
	return sqlite.Open(ctx, db, sqlite.Options{})
}

// prune deletes, every pruneEvery, the processed event ids past any redelivery
// and the playback events past their retention. Replicas on one PostgreSQL
// database all prune: the deletes are idempotent.
func prune(ctx context.Context, repo repository, retention time.Duration, log *zap.Logger) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		for _, p := range []struct {
			what  string
			prune func(context.Context, time.Time) (int64, error)
			keep  time.Duration
		}{
			{"processed events", repo.PruneProcessed, processedRetention},
			{"playback events", repo.DeleteEventsBefore, retention},
		} {
			if n, err := p.prune(ctx, time.Now().Add(-p.keep)); err != nil {
				if ctx.Err() == nil {
					log.Warn("cannot prune "+p.what, zap.Error(err))
				}
			} else if n > 0 {
				log.Info("pruned "+p.what, zap.Int64("count", n))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
