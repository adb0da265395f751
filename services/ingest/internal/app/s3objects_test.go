package app_test

import (
	"context"
	"mime"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/idempotency"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/s3event"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/services/ingest/internal/adapters/ffprobe"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
)

const (
	inBucket  = "in"
	outBucket = "out"
)

// recordingBus records what ingest publishes before handing it to the bus.
type recordingBus struct {
	*bus.Bus
	mu  sync.Mutex
	got []*eventsv1.Envelope
}

func (r *recordingBus) Publish(ctx context.Context, env *eventsv1.Envelope) error {
	r.mu.Lock()
	r.got = append(r.got, env)
	r.mu.Unlock()
	return r.Bus.Publish(ctx, env)
}

func (r *recordingBus) published() []*eventsv1.Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*eventsv1.Envelope(nil), r.got...)
}

// s3Fixture is ingest's S3-event consumer on a memory bus over the local S3
// server, with a downstream consumer of asset-uploaded (as the catalog is).
type s3Fixture struct {
	store    *storage.S3
	pub      *recordingBus
	producer *bus.Bus // stands for S3 publishing to the topic
	handled  atomic.Int64
	mu       sync.Mutex
	seen     []*eventsv1.Envelope // what the downstream consumer handled
}

func runBus(t *testing.T, b *bus.Bus) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	<-b.Running()
	t.Cleanup(func() { cancel(); <-done; _ = b.Close() })
}

func newS3Fixture(t *testing.T, endpoint string) *s3Fixture {
	store, err := storage.NewS3(context.Background(), storage.S3Config{Endpoint: endpoint, InputBucket: inBucket, OutputBucket: outBucket})
	require.NoError(t, err)
	cfg := bus.DefaultConfig()
	cfg.Transport, cfg.Memory, cfg.Retries, cfg.RetryInterval = bus.TransportMemory, bus.NewMemoryBroker(), 0, 10*time.Millisecond
	t.Cleanup(func() { _ = cfg.Memory.Close() })
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	f := &s3Fixture{store: store}

	down, err := bus.New(context.Background(), cfg, bus.ServiceCatalog, log, nil)
	require.NoError(t, err)
	down.Subscribe(events.TopicAssetUploaded, func(_ context.Context, env *eventsv1.Envelope) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.seen = append(f.seen, env)
		return nil
	})
	runBus(t, down)

	ib, err := bus.New(context.Background(), cfg, bus.ServiceIngest, log, nil)
	require.NoError(t, err)
	f.pub = &recordingBus{Bus: ib}
	in := &app.Ingestor{Store: store, Pub: f.pub, Prober: ffprobe.Prober{FFprobe: "ffprobe", FFmpeg: "ffmpeg"},
		StagingDir: t.TempDir(), MaxBytes: 1 << 30, Producer: "ingest"}
	objects := &app.ObjectIngestor{In: in, Bucket: inBucket, DefaultOwner: "local", Log: log}
	ib.SubscribeRaw(bus.TopicS3ObjectCreated, func(ctx context.Context, body []byte) error {
		defer f.handled.Add(1)
		return objects.Handle(ctx, body)
	})
	runBus(t, ib)

	f.producer, err = bus.New(context.Background(), cfg, "s3", log, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.producer.Close() })
	return f
}

// put stores a file in the input bucket as a user would, and returns the
// notification S3 would send for it.
func (f *s3Fixture) put(t *testing.T, key, file string, meta map[string]string) []byte {
	fh, err := os.Open(file)
	require.NoError(t, err)
	defer fh.Close()
	st, _ := fh.Stat()
	_, err = f.store.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(inBucket), Key: aws.String(key),
		Body: fh, ContentLength: aws.Int64(st.Size()), Metadata: meta})
	require.NoError(t, err)
	obj, err := f.store.Stat(context.Background(), key)
	require.NoError(t, err)
	body, err := s3event.Build(s3event.Record{Bucket: inBucket, Key: key, Size: obj.Size, ETag: obj.ETag, Sequencer: "0A1B2C"})
	require.NoError(t, err)
	return body
}

func (f *s3Fixture) notify(t *testing.T, body []byte, times int) {
	for i := 0; i < times; i++ {
		require.NoError(t, f.producer.PublishRaw(context.Background(), bus.TopicS3ObjectCreated, body))
	}
	require.Eventually(t, func() bool { return f.handled.Load() >= int64(times) }, 30*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond) // let the downstream consumer catch up
}

func (f *s3Fixture) downstream() []*eventsv1.Envelope {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*eventsv1.Envelope(nil), f.seen...)
}

func TestS3ObjectIngestion(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local S3 server")
	}
	t.Parallel()
	endpoint := testenv.S3(t, inBucket, outBucket)
	clip := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 1, Audio: true})
	text := t.TempDir() + "/notes.txt"
	require.NoError(t, os.WriteFile(text, []byte(strings.Repeat("not a video\n", 300)), 0o644))

	cases := []struct {
		name       string
		key        string
		file       string
		meta       map[string]string
		deliveries int
		want       int // AssetUploaded events seen downstream
		owner      string
		title      string
	}{
		{"owner and title from metadata", "uploads/x/clip.mp4", clip,
			map[string]string{"owner": "alice", "title": mime.QEncoding.Encode("utf-8", "Summer ✓")}, 1, 1, "alice", "Summer ✓"},
		{"owner and title from the key", "uploads/bob/My Holiday ✓.mp4", clip, nil, 1, 1, "bob", "My Holiday ✓"},
		{"file directly under uploads", "uploads/clip.mp4", clip, nil, 1, 1, "local", "clip"},
		{"duplicate notification", "uploads/dave/twice.mp4", clip, nil, 2, 1, "dave", "twice"},
		{"not a video", "uploads/carol/notes.mp4", text, nil, 1, 0, "", ""},
		{"outside uploads/", "sources/abc/source.mp4", clip, nil, 1, 0, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newS3Fixture(t, endpoint)
			body := f.put(t, c.key, c.file, c.meta)
			f.notify(t, body, c.deliveries)
			seen := f.downstream()
			require.Len(t, seen, c.want)
			dead, err := f.pub.DeadLetters(context.Background(), bus.TopicS3ObjectCreated, 10)
			require.NoError(t, err)
			assert.Empty(t, dead, "handled notifications are acknowledged, never dead-lettered")
			assert.EqualValues(t, c.deliveries, f.handled.Load(), "no redelivery loop")
			_, statErr := f.store.Stat(context.Background(), c.key)
			if c.want == 0 {
				assert.Empty(t, f.pub.published(), "nothing is published")
				if strings.HasPrefix(c.key, app.UploadsPrefix) {
					assert.ErrorIs(t, statErr, storage.ErrNotFound, "a refused object is not kept in the bucket")
				} else {
					assert.NoError(t, statErr, "objects outside uploads/ are not ingest's to delete")
				}
				return
			}
			assert.NoError(t, statErr, "the object is the source: it stays")
			for _, p := range f.pub.published() {
				assert.Equal(t, seen[0].GetEventId(), p.GetEventId(), "every delivery publishes the same event id")
				assert.Equal(t, seen[0].GetAssetId(), p.GetAssetId())
			}
			up := seen[0].GetAssetUploaded()
			assert.Equal(t, c.owner, up.GetOwner())
			assert.Equal(t, c.title, up.GetTitle())
			assert.Equal(t, c.key, up.GetSourceKey(), "the object is the source")
			assert.Equal(t, "s3://"+inBucket+"/"+c.key, up.GetSourceUrl())
			assert.EqualValues(t, 320, up.GetProbe().GetWidth())
			assert.True(t, up.GetProbe().GetHasAudio())
		})
	}
}

func TestS3MalformedNotificationDeadLetters(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local S3 server")
	}
	t.Parallel()
	f := newS3Fixture(t, testenv.S3(t, inBucket, outBucket))
	for _, body := range []string{`{"Records":[`, `{"Event":"s3:TestEvent","Bucket":"in"}`} {
		require.NoError(t, f.producer.PublishRaw(context.Background(), bus.TopicS3ObjectCreated, []byte(body)))
	}
	require.Eventually(t, func() bool { return f.handled.Load() == 2 }, 10*time.Second, 10*time.Millisecond)
	var dead [][]byte
	require.Eventually(t, func() bool {
		dead, _ = f.pub.DeadLetters(context.Background(), bus.TopicS3ObjectCreated, 10)
		return len(dead) == 1
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, `{"Records":[`, string(dead[0]), "the malformed body is dead-lettered; the test event is acknowledged")
	assert.Empty(t, f.pub.published())
}

func TestOwnerTitle(t *testing.T) {
	t.Parallel()
	cases := []struct {
		key          string
		meta         map[string]string
		owner, title string
	}{
		{"uploads/alice/Holiday.mp4", nil, "alice", "Holiday"},
		{"uploads/alice/2024/summer/Holiday.final.mov", nil, "alice", "Holiday.final"},
		{"uploads/Holiday.mp4", nil, "local", "Holiday"},
		{"uploads/alice/Holiday.mp4", map[string]string{"owner": "bob", "title": "Other"}, "bob", "Other"},
		{"uploads/alice/Holiday.mp4", map[string]string{"title": "=?utf-8?q?caf=C3=A9?="}, "alice", "café"},
		{"uploads/alice/.mp4", nil, "alice", "Untitled"},
	}
	for _, c := range cases {
		owner, title := app.OwnerTitle(c.key, c.meta, "local")
		assert.Equal(t, c.owner, owner, c.key)
		assert.Equal(t, c.title, title, c.key)
	}
}

func TestAssetIDForIsDeterministic(t *testing.T) {
	t.Parallel()
	r := s3event.Record{Bucket: "in", Key: "uploads/a/b.mp4", ETag: "e", Sequencer: "1"}
	assert.Equal(t, app.AssetIDFor(r), app.AssetIDFor(r))
	other := r
	other.Sequencer = "2"
	assert.NotEqual(t, app.AssetIDFor(r), app.AssetIDFor(other))
}

func TestS3NotificationGivenUpOnIsAnnouncedAsAFailedUpload(t *testing.T) {
	t.Parallel()
	cfg := bus.DefaultConfig()
	cfg.Transport, cfg.Memory = bus.TransportMemory, bus.NewMemoryBroker()
	t.Cleanup(func() { _ = cfg.Memory.Close() })
	b, err := bus.New(context.Background(), cfg, bus.ServiceIngest, zap.NewNop(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	pub := &recordingBus{Bus: b}
	objects := &app.ObjectIngestor{In: &app.Ingestor{Pub: pub, Producer: "ingest"}, Bucket: inBucket, DefaultOwner: "local", Log: zap.NewNop()}
	rec := s3event.Record{Bucket: inBucket, Key: "uploads/erin/holiday.mp4", Size: 1 << 20, ETag: "abc", Sequencer: "01"}
	body, err := s3event.Build(rec, s3event.Record{Bucket: inBucket, Key: "elsewhere/x.mp4", Sequencer: "02"})
	require.NoError(t, err)
	dl := bus.DeadLetter{Topic: bus.TopicS3ObjectCreated, Body: body, MaxReceives: 5}
	require.NoError(t, objects.OnDeadLetter(context.Background(), dl))
	require.NoError(t, objects.OnDeadLetter(context.Background(), dl))
	got := pub.published()
	require.Len(t, got, 2, "one announcement per sweep, only for the upload under uploads/")
	f := got[0].GetEncodingFailed()
	require.NotNil(t, f)
	assert.Equal(t, "erin", f.GetOwner())
	assert.Equal(t, "UPLOAD_FAILED", f.GetCode())
	assert.Contains(t, f.GetReason(), "could not ingest uploads/erin/holiday.mp4: not handled after 5 deliveries")
	assert.Equal(t, app.AssetIDFor(rec), got[0].GetAssetId())
	assert.Equal(t, got[0].GetEventId(), got[1].GetEventId())

	require.NoError(t, objects.OnDeadLetter(context.Background(), bus.DeadLetter{Body: []byte("junk")}))
	assert.Len(t, pub.published(), 2)
}

// slowProber counts probes and holds each long enough for replicas to overlap.
type slowProber struct {
	app.Prober
	n atomic.Int64
}

func (p *slowProber) Probe(ctx context.Context, path string) (*media.Source, error) {
	p.n.Add(1)
	time.Sleep(500 * time.Millisecond)
	return p.Prober.Probe(ctx, path)
}

// countingPub counts what the replicas publish.
type countingPub struct{ n atomic.Int64 }

func (p *countingPub) Publish(context.Context, *eventsv1.Envelope) error { p.n.Add(1); return nil }

// TestS3NotificationToTwoReplicasIngestedOnce: one notification delivered to
// two ingest replicas at once (SNS's at-least-once, a visibility timeout
// shorter than a download) downloads and probes the object once: the second
// copy is handed back for later, and dropped once the first is done.
func TestS3NotificationToTwoReplicasIngestedOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local S3 server")
	}
	t.Parallel()
	endpoint := testenv.S3(t, inBucket, outBucket)
	store, err := storage.NewS3(context.Background(), storage.S3Config{Endpoint: endpoint, InputBucket: inBucket, OutputBucket: outBucket})
	require.NoError(t, err)
	f := &s3Fixture{store: store}
	body := f.put(t, "uploads/erin/clip.mp4", testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 1}), nil)

	url := testenv.Postgres(t)
	prober := &slowProber{Prober: ffprobe.Prober{FFprobe: "ffprobe", FFmpeg: "ffmpeg"}}
	pub := &countingPub{}
	var replicas []*app.ObjectIngestor
	for range 2 {
		claims, err := idempotency.Open(context.Background(), url)
		require.NoError(t, err)
		t.Cleanup(func() { _ = claims.Close() })
		in := &app.Ingestor{Store: store, Pub: pub, Prober: prober, StagingDir: t.TempDir(), MaxBytes: 1 << 30, Producer: "ingest"}
		replicas = append(replicas, &app.ObjectIngestor{In: in, Bucket: inBucket, DefaultOwner: "local", Log: zap.NewNop(),
			Claims: claims, Lease: 10 * time.Second})
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, r := range replicas {
		wg.Go(func() { errs[i] = r.Handle(context.Background(), body) })
	}
	wg.Wait()
	var later int
	for _, err := range errs {
		if err != nil {
			d, ok := bus.LaterOf(err)
			require.True(t, ok, "a copy in progress elsewhere is handed back for later: %v", err)
			assert.Greater(t, d, time.Second)
			later++
		}
	}
	assert.Equal(t, 1, later)
	// The handed-back copy, when it comes back, is dropped.
	for _, r := range replicas {
		require.NoError(t, r.Handle(context.Background(), body))
	}
	assert.Equal(t, int64(1), prober.n.Load(), "downloaded and probed once")
	assert.Equal(t, int64(1), pub.n.Load(), "announced once")
}
