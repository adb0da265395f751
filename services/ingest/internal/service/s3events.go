package service

import (
	"context"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
)

// serveWithS3Events serves HTTP and consumes S3 event notifications of the input
// bucket together; either stopping stops the other, and both drain in parallel.
func serveWithS3Events(ctx context.Context, log *zap.Logger, cfg Config, b *bus.Bus, in *app.Ingestor, bucket string, mux *http.ServeMux) error {
	objects := &app.ObjectIngestor{In: in, Bucket: bucket, DefaultOwner: cfg.DefaultOwner, Log: log.With(zap.String("component", "s3-events"))}
	b.SubscribeRaw(bus.TopicS3ObjectCreated, objects.Handle)
	b.OnDeadLetter(objects.OnDeadLetter)
	log.Info("ingesting objects created under "+app.UploadsPrefix+" in the input bucket", zap.String("bucket", bucket))
	return svc.Together(ctx,
		func(ctx context.Context) error {
			if err := b.Run(ctx); err != nil {
				return fmt.Errorf("bus: %w", err)
			}
			return nil
		},
		func(ctx context.Context) error { return svc.Serve(ctx, log, svc.NewServer(cfg.Addr, mux)) },
	)
}
