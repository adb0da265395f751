package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/s3event"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/services/ingest/internal/adapters/ffprobe"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
	"github.com/pertitle/pertitle/services/ingest/internal/app/apptest"
)

// FuzzOwnerTitle checks that whatever an object's key and metadata say, ingest
// derives an owner and a title that an AssetUploaded event can carry.
func FuzzOwnerTitle(f *testing.F) {
	f.Add("uploads/alice/Holiday.mp4", "", "")
	f.Add("uploads/Holiday.mp4", "", "")
	f.Add("uploads/alice/.mp4", "bob", "Other")
	f.Add("uploads/alice/x.mp4", "", "=?utf-8?q?caf=C3=A9?=")
	f.Add("uploads/alice/x.mp4", "=?utf-8?b?/w==?=", "=?utf-8?q?=FF?=")
	f.Add("uploads//x", " ", "=?iso-8859-1?q?=E9t=E9?=")
	f.Fuzz(func(t *testing.T, key, owner, title string) {
		if !utf8.ValidString(key) {
			return // s3event.Parse refuses such keys
		}
		meta := map[string]string{}
		if owner != "" {
			meta["owner"] = owner
		}
		if title != "" {
			meta["title"] = title
		}
		o, ti := app.OwnerTitle(key, meta, "local")
		if o == "" || ti == "" {
			t.Fatalf("empty owner %q or title %q", o, ti)
		}
		env, err := events.New(events.Meta{AssetID: "a", Producer: "ingest"}, &eventsv1.AssetUploaded{Owner: o, Title: ti, SourceKey: key})
		if err == nil {
			_, err = events.Marshal(env)
		}
		if err != nil {
			t.Fatalf("owner %q, title %q cannot be published: %v", o, ti, err)
		}
	})
}

// FuzzObjectIngestorHandle feeds arbitrary queue bodies to the S3-event consumer
// over a store holding a real clip, a text file and an empty file under uploads/.
// A body either changes nothing, or publishes valid events for objects of the
// input bucket under uploads/; its error is nil or permanent (nothing here is
// transient), and handling it twice publishes the same event ids.
func FuzzObjectIngestorHandle(f *testing.F) {
	clip := testmedia.Clip(f, testmedia.Spec{Width: 64, Height: 36, Seconds: 0.5, FPS: 10})
	store, err := storage.NewFS(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	objects := map[string]string{"uploads/alice/clip.mp4": clip, "uploads/alice/notes.txt": "", "uploads/empty.mp4": ""}
	for key, src := range objects {
		var data []byte
		if src != "" {
			if data, err = os.ReadFile(src); err != nil {
				f.Fatal(err)
			}
		} else if strings.HasSuffix(key, ".txt") {
			data = []byte(strings.Repeat("not a video\n", 50))
		}
		p, _ := store.LocalPath(key)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	for key := range objects {
		body, err := s3event.Build(s3event.Record{Bucket: "in", Key: key, Sequencer: "0A"})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Add([]byte(fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","eventTime":"9999-01-01T00:00:00Z",`+
		`"s3":{"bucket":{"name":"in"},"object":{"key":%q,"eTag":"x"}}}]}`, "uploads/alice/clip.mp4")))
	f.Add([]byte(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"in"},"object":{"key":"uploads/../sources/x"}}}]}`))
	f.Add([]byte(`{"Event":"s3:TestEvent"}`))

	pub := &apptest.WirePublisher{}
	in := &app.Ingestor{Store: store, Pub: pub, StagingDir: f.TempDir(), MaxBytes: 10 << 20, Producer: "ingest",
		Prober: &apptest.CachingProber{Real: ffprobe.Prober{FFprobe: "ffprobe", FFmpeg: "ffmpeg"}}}
	oi := &app.ObjectIngestor{In: in, Bucket: "in", DefaultOwner: "local", Log: zap.NewNop()}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body []byte) {
		pub.Take()
		err := oi.Handle(ctx, body)
		if err != nil && !bus.IsPermanent(err) {
			t.Fatalf("a transient error for a body that will never change: %v", err)
		}
		first := pub.Take()
		for _, env := range first {
			up := env.GetAssetUploaded()
			if up == nil || !strings.HasPrefix(up.GetSourceKey(), app.UploadsPrefix) || objects[up.GetSourceKey()] == "" {
				t.Fatalf("published for something that is not a stored video: %v", env)
			}
			if up.GetOwner() == "" || up.GetTitle() == "" || up.GetProbe().GetWidth() <= 0 {
				t.Fatalf("published an incomplete event: %v", env)
			}
		}
		if again := oi.Handle(ctx, body); (again == nil) != (err == nil) {
			t.Fatalf("a redelivery ended with %v, the first delivery with %v", again, err)
		}
		second := pub.Take()
		if len(second) != len(first) {
			t.Fatalf("a redelivery published %d events, the first delivery %d", len(second), len(first))
		}
		for i := range first {
			if first[i].GetEventId() != second[i].GetEventId() || first[i].GetAssetId() != second[i].GetAssetId() {
				t.Fatalf("a redelivery published other ids: %v / %v", first[i], second[i])
			}
		}
		if staged, _ := os.ReadDir(in.StagingDir); len(staged) > 0 {
			t.Fatalf("staging keeps %d files", len(staged))
		}
	})
}
