package service

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
)

// consumeS3Events returns the process part that turns S3 event notifications of the
// input bucket into uploads, to run together with the HTTP servers.
func consumeS3Events(log *zap.Logger, cfg Config, b *bus.Bus, in *app.Ingestor, bucket string) func(context.Context) error {
	objects := &app.ObjectIngestor{In: in, Bucket: bucket, DefaultOwner: cfg.DefaultOwner, Log: log.With(zap.String("component", "s3-events")),
		Claims: b.Claims(), Lease: cfg.Bus.VisibilityTimeout, Keep: cfg.Bus.DedupTTL}
	b.SubscribeRaw(bus.TopicS3ObjectCreated, objects.Handle)
	b.OnDeadLetter(objects.OnDeadLetter)
	log.Info("ingesting objects created under "+app.UploadsPrefix+" in the input bucket", zap.String("bucket", bucket))
	return func(ctx context.Context) error {
		if err := b.Run(ctx); err != nil {
			return fmt.Errorf("bus: %w", err)
		}
		return nil
	}
}
