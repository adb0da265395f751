package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pertitle/pertitle/internal/settings"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/s3event"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/svc"
)

// cmdS3Notify is the local stand-in for S3 event notifications: for each key of
// the input bucket it publishes to the s3-object-created topic the ObjectCreated:Put
// notification S3 would have sent (with the object's size and ETag, and a
// sequencer derived from its modification time, so that notifying the same
// unchanged object twice is a redelivery, not a new upload). On AWS, S3 itself
// publishes these; this command is only needed where the server sends none.
func cmdS3Notify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	env := svc.NewEnv("pertitle s3-notify")
	busCfg := settings.Bus(env)
	s3cfg := settings.S3(env)
	var flags, keys []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
		} else {
			keys = append(keys, strings.TrimPrefix(a, "s3://"+s3cfg.InputBucket+"/"))
		}
	}
	if helpRequested(args) {
		fmt.Fprintln(stdout, "Usage: pertitle s3-notify KEY...\n\nPublishes the S3 ObjectCreated notification of input-bucket objects.")
		fmt.Fprintln(stdout)
	}
	if err := env.Parse(flags, stdout); err != nil {
		if errors.Is(err, svc.ErrHelp) {
			return nil
		}
		return exitError{2, err}
	}
	if len(keys) == 0 {
		return exitError{2, errors.New("usage: pertitle s3-notify KEY... (keys of the input bucket, e.g. uploads/alice/clip.mp4)")}
	}
	if err := errors.Join(settings.CheckBus(busCfg), settings.CheckStorage(storage.Config{Kind: storage.KindS3, S3: s3cfg})); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	store, err := storage.NewS3(ctx, s3cfg)
	if err != nil {
		return err
	}
	log := svc.NewLogger("s3-notify")
	defer log.Sync()
	b, err := bus.New(ctx, busCfg, "s3-notify", log, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	for _, key := range keys {
		if !strings.HasPrefix(key, "uploads/") {
			fmt.Fprintf(stderr, "warning: %s is outside uploads/: ingest will ignore it\n", key)
		}
		obj, err := store.Stat(ctx, key)
		if err != nil {
			return fmt.Errorf("s3://%s/%s: %w", store.InputBucket(), key, err)
		}
		body, err := s3event.Build(s3event.Record{Bucket: store.InputBucket(), Key: key, Size: obj.Size, ETag: obj.ETag,
			VersionID: obj.VersionID, Sequencer: fmt.Sprintf("%016X", obj.ModTime.UnixNano()), EventTime: obj.ModTime})
		if err != nil {
			return err
		}
		if err := b.PublishRaw(ctx, bus.TopicS3ObjectCreated, body); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "notified s3://%s/%s (%d bytes)\n", store.InputBucket(), key, obj.Size)
	}
	return nil
}
