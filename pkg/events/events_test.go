package events_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
)

// sqsAllowed reports whether r is in the character set SQS accepts in a message body.
func sqsAllowed(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

func TestRoundTripEveryPayload(t *testing.T) {
	t.Parallel()
	payloads := []struct {
		topic   string
		payload proto.Message
	}{
		{events.TopicAssetUploaded, &eventsv1.AssetUploaded{Owner: "u1", Title: "Ünïcødé \x00 title", SourceKey: "sources/a/source.mp4",
			Probe: &eventsv1.ProbeSummary{Width: 1280, Height: 720, DurationSeconds: 6}}},
		{events.TopicEncodingRequested, &eventsv1.EncodingRequested{Backend: "local", Ladder: []*eventsv1.Rung{{Width: 640, Height: 360, Bitrate: 800_000}}}},
		{events.TopicEncodingStarted, &eventsv1.EncodingStarted{Backend: "local", ExternalJobId: "job-1", Attempt: 1}},
		{events.TopicEncodingProgress, &eventsv1.EncodingProgress{Percent: 42.5}},
		{events.TopicEncodingFinished, &eventsv1.EncodingFinished{HlsManifestKey: "out/a/master.m3u8", Renditions: []*eventsv1.Rung{{Width: 1280, Height: 720, Bitrate: 3_000_000, Codec: "h264", SizeBytes: 1234}}}},
		{events.TopicEncodingFailed, &eventsv1.EncodingFailed{Reason: "boom", Retryable: true}},
	}
	for _, tc := range payloads {
		t.Run(tc.topic, func(t *testing.T) {
			env, err := events.New(events.Meta{AssetID: "asset-1", Producer: "test"}, tc.payload)
			require.NoError(t, err)
			topic, err := events.Topic(env)
			require.NoError(t, err)
			assert.Equal(t, tc.topic, topic)
			assert.NotEmpty(t, env.GetTraceparent())

			body, err := events.Marshal(env)
			require.NoError(t, err)
			require.True(t, utf8.Valid(body))
			for _, r := range string(body) {
				require.True(t, sqsAllowed(r), "rune %U not allowed by SQS", r)
			}
			got, err := events.Unmarshal(body)
			require.NoError(t, err)
			assert.True(t, proto.Equal(env, got))
		})
	}
}

func TestRawProtobufWouldNotBeValidSQS(t *testing.T) {
	t.Parallel()
	// Guards the reason for the base64 body: the raw bytes of a typical event are
	// not a valid SQS body, so a plain string(payload) would be corrupted or refused.
	env, err := events.New(events.Meta{AssetID: "a", Producer: "p"}, &eventsv1.EncodingFinished{
		Renditions: []*eventsv1.Rung{{Bitrate: 3_000_000, SizeBytes: 1 << 40}}})
	require.NoError(t, err)
	raw, err := proto.Marshal(env)
	require.NoError(t, err)
	valid := utf8.Valid(raw)
	if valid {
		for _, r := range string(raw) {
			if !sqsAllowed(r) {
				valid = false
			}
		}
	}
	assert.False(t, valid, "expected raw protobuf to contain characters SQS refuses")
}

func TestUnmarshalRejectsMalformed(t *testing.T) {
	t.Parallel()
	noPayload, _ := proto.Marshal(&eventsv1.Envelope{EventId: "e", AssetId: "a", Producer: "p"})
	good, err := events.New(events.Meta{AssetID: "a", Producer: "p"}, &eventsv1.EncodingFailed{Reason: "x"})
	require.NoError(t, err)
	good.Type = "pertitle.events.v1.AssetUploaded"
	wrongType, _ := proto.Marshal(good)
	cases := map[string][]byte{
		"empty":         nil,
		"not base64":    []byte("{\"hello\": 1}"),
		"not protobuf":  []byte(base64.StdEncoding.EncodeToString([]byte{0xff, 0xff, 0xff, 0xff})),
		"no payload":    []byte(base64.StdEncoding.EncodeToString(noPayload)),
		"type mismatch": []byte(base64.StdEncoding.EncodeToString(wrongType)),
		"plain text":    []byte("hello world"),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := events.Unmarshal(body)
			require.Error(t, err)
			assert.ErrorIs(t, err, events.ErrMalformed)
		})
	}
}

func TestMarshalEnforcesSQSSizeLimit(t *testing.T) {
	t.Parallel()
	env, err := events.New(events.Meta{AssetID: "a", Producer: "p"}, &eventsv1.EncodingFailed{Reason: strings.Repeat("x", events.MaxBodyBytes)})
	require.NoError(t, err)
	_, err = events.Marshal(env)
	require.ErrorContains(t, err, "over the SQS limit")
	require.ErrorIs(t, err, events.ErrTooLarge)
}

func TestNewRejectsMissingFields(t *testing.T) {
	t.Parallel()
	_, err := events.New(events.Meta{Producer: "p"}, &eventsv1.EncodingFailed{})
	require.ErrorIs(t, err, events.ErrMalformed)
	require.ErrorContains(t, err, "asset_id is empty")
	_, err = events.New(events.Meta{AssetID: "a", Producer: "p"}, &eventsv1.Rung{})
	require.ErrorContains(t, err, "not an event payload")
}
