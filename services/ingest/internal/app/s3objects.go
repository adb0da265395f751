package app

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"path"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/idempotency"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/s3event"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/tracing"
)

// UploadsPrefix is where objects dropped into the input bucket become assets:
// uploads/<owner>/<title or filename>. Other keys of the input bucket (sources/
// written by ingest itself, above all) are ignored even if a notification comes.
const UploadsPrefix = "uploads/"

// assetNamespace makes asset ids from object identities (UUID version 5).
var assetNamespace = uuid.MustParse("6f1d2a4e-3c1b-5e0a-9d4f-8a7b6c5d4e3f")

// AssetIDFor is the asset id of an object version: the same notification, however
// often delivered and by whichever replica handled, yields the same asset and the
// same AssetUploaded event id, which consumers collapse.
func AssetIDFor(r s3event.Record) string {
	return uuid.NewSHA1(assetNamespace, []byte(r.Identity())).String()
}

// uploadedEventID is the deterministic id of an asset's AssetUploaded event.
func uploadedEventID(assetID string) string {
	return uuid.NewSHA1(assetNamespace, []byte("asset-uploaded/"+assetID)).String()
}

// ObjectIngestor turns ObjectCreated notifications of the input bucket into assets,
// as an upload through POST /v1/assets would: the object is downloaded to staging,
// probed, and announced with AssetUploaded. The object itself is the source (its
// key is the asset's source key); nothing is copied.
type ObjectIngestor struct {
	In           *Ingestor
	Bucket       string // the input bucket: notifications of others are ignored
	DefaultOwner string
	Log          *zap.Logger
	// Claims makes each object version ingested (downloaded, probed,
	// announced) once, whichever replica its notifications reach: shared by
	// the replicas with PERTITLE_STATE_DB. Nil ingests every delivery (the
	// deterministic event id still collapses them downstream).
	Claims idempotency.Store
	// Lease is the claim's lease, extended while the object is ingested
	// (default one minute); Keep is how long an ingested object's claim is
	// remembered (default 24 h).
	Lease, Keep time.Duration
}

// Handle is the bus RawHandler of the s3-object-created topic. A body that is not
// a notification is dead-lettered; a bad object (not a video, too large, gone) is
// logged and acknowledged; storage or bus trouble is retried.
func (o *ObjectIngestor) Handle(ctx context.Context, body []byte) error {
	n, err := s3event.Parse(body)
	if err != nil {
		return bus.Permanent(err)
	}
	if n.Test {
		o.Log.Info("s3 test event ignored", tracing.IDs(ctx))
		return nil
	}
	var errs []error
	for _, r := range n.Records {
		if err := o.ingest(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	// A retry repeats the records that succeeded too: harmless, they publish the
	// same event ids again.
	return errors.Join(errs...)
}

func (o *ObjectIngestor) ingest(ctx context.Context, r s3event.Record) error {
	log := tracing.Logger(ctx, o.Log).With(zap.String("bucket", r.Bucket), zap.String("key", r.Key), zap.String("event", r.EventName))
	switch {
	case !r.ObjectCreated():
		log.Debug("s3 event ignored: not ObjectCreated")
		return nil
	case r.Bucket != o.Bucket:
		log.Warn("s3 event ignored: not the input bucket", zap.String("input_bucket", o.Bucket))
		return nil
	case !strings.HasPrefix(r.Key, UploadsPrefix):
		log.Debug("s3 event ignored: key outside " + UploadsPrefix)
		return nil
	}
	if _, err := storage.CleanKey(r.Key); err != nil {
		log.Warn("s3 object rejected: key cannot be a storage key", zap.Error(err))
		return nil
	}
	obj, err := o.In.Store.Stat(ctx, r.Key)
	if errors.Is(err, storage.ErrNotFound) {
		log.Info("s3 object gone before ingestion: ignored")
		return nil
	}
	if err != nil {
		return err
	}
	if r.ETag != "" && obj.ETag != "" && r.ETag != obj.ETag {
		// Overwritten since: the newer write has its own notification.
		log.Info("s3 object changed since the notification: ignored", zap.String("etag", obj.ETag))
		return nil
	}
	if obj.Size > o.In.MaxBytes {
		return o.refuse(ctx, log, r.Key, fmt.Sprintf("larger than the limit of %d bytes", o.In.MaxBytes))
	}
	id := AssetIDFor(r)
	log = log.With(zap.String("asset_id", id))
	if o.Claims == nil {
		return o.download(ctx, log, r, obj, id)
	}
	return o.once(ctx, log, id, func(ctx context.Context) error { return o.download(ctx, log, r, obj, id) })
}

// once runs ingest of the object version id under its claim: a copy of the
// notification handled elsewhere right now comes back later (or is dropped,
// once that one is done); a failed or dead holder's work is taken over.
func (o *ObjectIngestor) once(ctx context.Context, log *zap.Logger, id string, ingest func(context.Context) error) error {
	lease, keep := o.Lease, o.Keep
	if lease <= 0 {
		lease = time.Minute
	}
	if keep <= 0 {
		keep = 24 * time.Hour
	}
	c, err := o.Claims.Claim(ctx, "ingest/s3/"+id, lease)
	if err != nil {
		return err
	}
	if !c.Won {
		if c.State == idempotency.Done {
			log.Info("s3 object already ingested: notification dropped")
			return nil
		}
		return bus.Later(c.Wait+time.Second, fmt.Errorf("s3 object %s is being ingested elsewhere", id))
	}
	wctx, lose := context.WithCancelCause(ctx)
	defer lose(nil)
	stop := idempotency.Hold(wctx, o.Claims, c, lease, lose)
	err = ingest(wctx)
	stop()
	bg := context.WithoutCancel(ctx)
	if err != nil {
		if ferr := o.Claims.Fail(bg, c); ferr != nil {
			log.Warn("cannot give up the object's claim: a retry waits for its lease", zap.Error(ferr))
		}
		return err
	}
	if derr := o.Claims.Done(bg, c, keep); derr != nil {
		log.Warn("cannot record the object as ingested", zap.Error(derr))
	}
	return nil
}

// download stages, probes and announces the object (or refuses it).
func (o *ObjectIngestor) download(ctx context.Context, log *zap.Logger, r s3event.Record, obj storage.Object, id string) error {
	rc, _, err := o.In.Store.Open(ctx, r.Key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	staged, err := o.In.Stage(ctx, rc)
	_ = rc.Close()
	switch {
	case errors.Is(err, ErrEmpty), errors.Is(err, ErrTooLarge):
		return o.refuse(ctx, log, r.Key, err.Error())
	case err != nil:
		return fmt.Errorf("cannot download %s: %w", r.Key, err)
	}
	defer staged.Discard()
	src, err := o.In.Prober.Probe(ctx, staged.Path)
	var inv *media.InvalidSourceError
	if errors.As(err, &inv) {
		return o.refuse(ctx, log, r.Key, "not a video we can encode: "+inv.Reason)
	}
	if err != nil {
		return err
	}

	owner, title := OwnerTitle(r.Key, obj.Metadata, o.DefaultOwner)
	env, err := events.New(events.Meta{AssetID: id, Producer: o.In.Producer, CorrelationID: id},
		&eventsv1.AssetUploaded{
			Owner: owner, Title: title, SourceKey: r.Key, SourceUrl: o.In.Store.URL(r.Key),
			OriginalFilename: path.Base(r.Key), ContentType: obj.ContentType, Probe: probeSummary(src, staged.Size),
		})
	if err != nil {
		return bus.Permanent(err)
	}
	env.EventId = uploadedEventID(id)
	if !r.EventTime.IsZero() {
		env.OccurredAt = timestamppb.New(r.EventTime)
	}
	if err := o.In.Pub.Publish(ctx, env); err != nil {
		return err
	}
	log.Info("asset uploaded from s3", zap.String("owner", owner), zap.String("title", title), zap.Int64("bytes", staged.Size))
	return nil
}

// refuse deletes an object that cannot become an asset, as a refused HTTP
// upload keeps nothing: a hostile file must not stay in the bucket to be
// picked up by whatever reads it next. Nothing is published.
func (o *ObjectIngestor) refuse(ctx context.Context, log *zap.Logger, key, reason string) error {
	log.Warn("s3 object refused and deleted", zap.String("reason", reason))
	if err := o.In.Store.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("cannot delete refused object %s: %w", key, err)
	}
	return nil
}

// deadLetterNamespace derives the failure announced for a notification that
// was given up on from its asset, so sweeping it again collapses.
var deadLetterNamespace = uuid.MustParse("c1a7e0d4-6b8f-4e52-9f3a-7d2e5b8c1a60")

// OnDeadLetter makes a notification that could not be ingested (storage or
// the bus failing on every delivery) visible to the uploader: an
// EncodingFailed for the asset the object would have become, with the reason.
func (o *ObjectIngestor) OnDeadLetter(ctx context.Context, dl bus.DeadLetter) error {
	n, err := s3event.Parse(dl.Body)
	if err != nil {
		o.Log.Error("dead letter is not an S3 notification: nothing to announce", tracing.IDs(ctx), zap.Error(err))
		return nil
	}
	for _, r := range n.Records {
		if !r.ObjectCreated() || r.Bucket != o.Bucket || !strings.HasPrefix(r.Key, UploadsPrefix) {
			continue
		}
		id := AssetIDFor(r)
		owner, _ := OwnerTitle(r.Key, nil, o.DefaultOwner)
		env, err := events.New(events.Meta{AssetID: id, Producer: o.In.Producer, CorrelationID: id}, &eventsv1.EncodingFailed{
			Owner: owner, Code: "UPLOAD_FAILED", Reason: fmt.Sprintf("could not ingest %s: %s", r.Key, dl.Why())})
		if err != nil {
			return err
		}
		env.EventId = uuid.NewSHA1(deadLetterNamespace, []byte(id)).String()
		if !r.EventTime.IsZero() {
			env.OccurredAt = timestamppb.New(r.EventTime)
		}
		if err := o.In.Pub.Publish(ctx, env); err != nil {
			return err
		}
	}
	return nil
}

// OwnerTitle reads owner and title from the object's metadata (x-amz-meta-owner,
// x-amz-meta-title; RFC 2047 encoded words are decoded, since S3 metadata is
// ASCII), else from the key: uploads/<owner>/<title or filename>. A key directly
// under uploads/ has the default owner; the title is the filename without its
// extension.
func OwnerTitle(key string, meta map[string]string, defaultOwner string) (owner, title string) {
	rest := strings.TrimPrefix(key, UploadsPrefix)
	file := path.Base(rest)
	if i := strings.IndexByte(rest, '/'); i > 0 {
		owner = rest[:i]
	}
	title = strings.TrimSuffix(file, path.Ext(file))
	if v := decodeMeta(meta["owner"]); v != "" {
		owner = v
	}
	if v := decodeMeta(meta["title"]); v != "" {
		title = v
	}
	if owner == "" {
		owner = defaultOwner
	}
	if title == "" {
		title = "Untitled"
	}
	return owner, title
}

// decodeMeta decodes a metadata value into valid UTF-8: an encoded word can name
// UTF-8 and carry any bytes, and an event's strings must be UTF-8.
func decodeMeta(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "=?") {
		if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
			v = d
		}
	}
	return strings.TrimSpace(strings.ToValidUTF8(v, "\uFFFD"))
}
