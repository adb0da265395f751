package events_test

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
)

// seedEnvelopes are one valid envelope of every payload type, plus edge cases a
// consumer must refuse or survive.
func seedEnvelopes(tb testing.TB) [][]byte {
	tb.Helper()
	payloads := []proto.Message{
		&eventsv1.AssetUploaded{Owner: "u1", Title: "Ünïcødé", SourceKey: "sources/a/source.mp4",
			Probe: &eventsv1.ProbeSummary{Width: 1280, Height: 720, DurationSeconds: 6, FrameRate: 25}},
		&eventsv1.EncodingRequested{Backend: "local", Ladder: []*eventsv1.Rung{{Width: 640, Height: 360, Bitrate: 800_000}}},
		&eventsv1.EncodingStarted{Backend: "local", ExternalJobId: "job-1", Attempt: 1},
		&eventsv1.EncodingProgress{Percent: 42.5, EtaSeconds: 3},
		&eventsv1.EncodingFinished{HlsManifestKey: "outputs/a/j/master.m3u8", Renditions: []*eventsv1.Rung{
			{Width: 1280, Height: 720, Bitrate: 3_000_000, Codec: "h264", SizeBytes: 1234,
				Quality: []*eventsv1.QualityScore{{Metric: "vmaf", Value: 93.1}}}}},
		&eventsv1.EncodingFailed{Reason: "boom", Retryable: true, Code: "ffmpeg"},
	}
	var out [][]byte
	for _, p := range payloads {
		env, err := events.New(events.Meta{AssetID: "asset-1", Producer: "fuzz", CorrelationID: "c"}, p)
		if err != nil {
			tb.Fatal(err)
		}
		raw, err := proto.Marshal(env)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, raw)
	}
	// Edge cases: no payload, a type that lies about the payload, a time past what
	// a consumer can store, and an empty message.
	bad := []*eventsv1.Envelope{
		{EventId: "e", AssetId: "a", Producer: "p", OccurredAt: timestamppb.Now(), Type: "pertitle.events.v1.AssetUploaded"},
		{EventId: "e", AssetId: "a", Producer: "p", OccurredAt: timestamppb.Now(), Type: "pertitle.events.v1.EncodingFailed",
			Payload: &eventsv1.Envelope_AssetUploaded{AssetUploaded: &eventsv1.AssetUploaded{}}},
		{EventId: "e", AssetId: "a", Producer: "p", OccurredAt: &timestamppb.Timestamp{Seconds: 1 << 40},
			Type: "pertitle.events.v1.EncodingProgress", Payload: &eventsv1.Envelope_EncodingProgress{EncodingProgress: &eventsv1.EncodingProgress{}}},
		{},
	}
	for _, env := range bad {
		raw, err := proto.Marshal(env)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}

// checkEnvelope asserts what every consumer relies on from an accepted body.
func checkEnvelope(t *testing.T, body []byte) {
	env, err := events.Unmarshal(body)
	if err != nil {
		if !errors.Is(err, events.ErrMalformed) {
			t.Fatalf("refusal does not wrap ErrMalformed (it would be retried): %v", err)
		}
		return
	}
	if len(body) > events.MaxBodyBytes {
		t.Fatalf("accepted a %d-byte body, over the %d-byte limit", len(body), events.MaxBodyBytes)
	}
	if env.GetEventId() == "" || env.GetAssetId() == "" || env.GetProducer() == "" || env.GetType() == "" {
		t.Fatalf("accepted an envelope without id, asset, producer or type: %v", env)
	}
	if _, err := events.Topic(env); err != nil {
		t.Fatalf("accepted an envelope without a topic: %v", err)
	}
	at := env.GetOccurredAt()
	if err := at.CheckValid(); err != nil {
		t.Fatalf("accepted an invalid occurred_at: %v", err)
	}
	if got := time.Unix(0, at.AsTime().UnixNano()); !got.Equal(at.AsTime()) {
		t.Fatalf("accepted occurred_at %v, which Unix nanoseconds (the catalog's storage) cannot hold", at.AsTime())
	}
	again, err := events.Marshal(env)
	if err != nil {
		t.Fatalf("an accepted envelope cannot be published again: %v", err)
	}
	back, err := events.Unmarshal(again)
	if err != nil {
		t.Fatalf("a re-encoded envelope is refused: %v", err)
	}
	if !proto.Equal(env, back) {
		t.Fatalf("round trip changed the envelope:\n%v\n%v", env, back)
	}
}

// FuzzUnmarshal feeds arbitrary SQS bodies to the decoder every consumer runs.
func FuzzUnmarshal(f *testing.F) {
	for _, raw := range seedEnvelopes(f) {
		f.Add([]byte(base64.StdEncoding.EncodeToString(raw)))
	}
	f.Add([]byte(""))
	f.Add([]byte("not base64!"))
	f.Add([]byte("AAAA\nAAAA"))
	f.Add([]byte("===="))
	f.Fuzz(checkEnvelope)
}

// FuzzUnmarshalProto mutates the protobuf bytes under a valid base64 body, where
// FuzzUnmarshal mostly exercises the base64 layer.
func FuzzUnmarshalProto(f *testing.F) {
	for _, raw := range seedEnvelopes(f) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkEnvelope(t, []byte(base64.StdEncoding.EncodeToString(raw)))
	})
}
