package s3event_test

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pertitle/pertitle/pkg/s3event"
)

// FuzzParse feeds arbitrary queue bodies to the parser ingest runs on every
// message of the s3-object-created queue.
func FuzzParse(f *testing.F) {
	for _, key := range []string{"uploads/alice/clip.mp4", "uploads/b%C3%B6b/My+Clip%2B1.mov", "uploads/%zz", "uploads/a/%FF.mp4", "%00"} {
		f.Add([]byte(fmt.Sprintf(put, key, "")))
		f.Add([]byte(fmt.Sprintf(put, key, "v1")))
	}
	f.Add([]byte(`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-05-01T10:00:00.000Z","Bucket":"in"}`))
	f.Add([]byte(`{"Type":"Notification","MessageId":"m","Message":` + quote(fmt.Sprintf(put, "uploads/x.mp4", "")) + `}`))
	f.Add([]byte(`{"Type":"Notification","Message":"{\"Type\":\"Notification\",\"Message\":\"{}\"}"}`))
	f.Add([]byte(`{"Records":[]}`))
	f.Add([]byte(`{"Records":null}`))
	f.Add([]byte(`{"Records":[{"eventSource":"aws:s3","eventTime":"9999-12-31T23:59:59Z","s3":{"bucket":{"name":"in"},"object":{"key":"k","size":-1}}}]}`))
	f.Add([]byte(`{"Records":[{"eventSource":"aws:s3","s3":{"bucket":{"name":"in"},"object":{"key":"k","eTag":"\"\"\""}}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := s3event.Parse(body)
		if err != nil {
			if !errors.Is(err, s3event.ErrMalformed) {
				t.Fatalf("refusal does not wrap ErrMalformed (it would be retried): %v", err)
			}
			return
		}
		if n.Test && len(n.Records) > 0 {
			t.Fatalf("a test event carries records: %+v", n)
		}
		for i, r := range n.Records {
			checkRecord(t, i, r)
		}
		if n.Test || len(n.Records) == 0 {
			return
		}
		// Round trip through the encoder that the local bridge and tests use.
		again, err := s3event.Build(n.Records...)
		if err != nil {
			t.Fatalf("cannot build the parsed records again: %v", err)
		}
		back, err := s3event.Parse(again)
		if err != nil {
			t.Fatalf("a built notification is refused: %v\n%s", err, again)
		}
		if len(back.Records) != len(n.Records) {
			t.Fatalf("round trip has %d records, want %d", len(back.Records), len(n.Records))
		}
		for i, r := range n.Records {
			b := back.Records[i]
			if b.Bucket != r.Bucket || b.Key != r.Key || b.Size != r.Size || b.ETag != r.ETag ||
				b.VersionID != r.VersionID || b.Sequencer != r.Sequencer || b.Identity() != r.Identity() {
				t.Fatalf("record %d changed in a round trip:\n%+v\n%+v", i, r, b)
			}
			if r.EventName != "" && b.EventName != r.EventName {
				t.Fatalf("record %d event name %q became %q", i, r.EventName, b.EventName)
			}
			if !r.EventTime.IsZero() && !b.EventTime.Equal(r.EventTime.Truncate(time.Millisecond)) {
				t.Fatalf("record %d time %v became %v", i, r.EventTime, b.EventTime)
			}
		}
	})
}

// checkRecord asserts what ingest relies on from a parsed record.
func checkRecord(t *testing.T, i int, r s3event.Record) {
	t.Helper()
	switch {
	case r.EventSource != "aws:s3":
		t.Fatalf("record %d from %q accepted", i, r.EventSource)
	case r.Bucket == "" || r.Key == "":
		t.Fatalf("record %d without bucket or key accepted: %+v", i, r)
	case !utf8.ValidString(r.Key):
		// S3 keys are UTF-8; the key becomes the title of an event, which protobuf
		// refuses to marshal otherwise.
		t.Fatalf("record %d key %q is not UTF-8", i, r.Key)
	case r.Size < 0:
		t.Fatalf("record %d has a negative size %d", i, r.Size)
	case !r.EventTime.IsZero() && (r.EventTime.Before(time.Unix(0, math.MinInt64)) || r.EventTime.After(time.Unix(0, math.MaxInt64))):
		t.Fatalf("record %d time %v cannot be stored as Unix nanoseconds", i, r.EventTime)
	}
}

// FuzzEncodeKey checks that keys survive S3's notification encoding.
func FuzzEncodeKey(f *testing.F) {
	for _, k := range []string{"uploads/alice/clip.mp4", "uploads/a b/c+d%2F.mp4", "uploads/böb/✓.mov", "a//b", "%", "+", " "} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if key == "" || !utf8.ValidString(key) {
			return
		}
		enc := s3event.EncodeKey(key)
		if dec, err := url.QueryUnescape(enc); err != nil || dec != key {
			t.Fatalf("EncodeKey(%q) = %q decodes to %q, %v", key, enc, dec, err)
		}
		body, err := s3event.Build(s3event.Record{Bucket: "in", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		n, err := s3event.Parse(body)
		if err != nil || len(n.Records) != 1 || n.Records[0].Key != key {
			t.Fatalf("key %q did not survive Build/Parse: %+v, %v", key, n, err)
		}
	})
}
