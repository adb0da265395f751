// Package events defines how pertitle's typed events are named, built and put
// on the wire. The schemas live in proto/ and are generated into eventsv1.
package events

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pertitle/pertitle/pkg/events/eventsv1"
)

// Topic names, one SNS topic per event type so that subscribers choose what they receive.
const (
	TopicAssetUploaded     = "asset-uploaded"
	TopicEncodingRequested = "encoding-requested"
	TopicEncodingStarted   = "encoding-started"
	TopicEncodingProgress  = "encoding-progress"
	TopicEncodingFinished  = "encoding-finished"
	TopicEncodingFailed    = "encoding-failed"
	// TopicChunkRequested carries the chunks of chunked encodes to any
	// encoder worker.
	TopicChunkRequested = "chunk-requested"
	// TopicAssetDeleted announces deleted assets.
	TopicAssetDeleted = "asset-deleted"
)

// AllTopics lists every topic the system publishes to.
var AllTopics = []string{
	TopicAssetUploaded, TopicEncodingRequested, TopicEncodingStarted,
	TopicEncodingProgress, TopicEncodingFinished, TopicEncodingFailed, TopicChunkRequested, TopicAssetDeleted,
}

// MaxBodyBytes is SQS's message size limit (256 KiB), enforced here because the
// emulator accepts larger bodies and production would not.
const MaxBodyBytes = 256 * 1024

// ErrMalformed marks a body that can never be decoded; retrying it is pointless.
var ErrMalformed = errors.New("malformed event")

// ErrTooLarge marks an event that does not fit in one SQS message. Publishing it
// again cannot succeed: a request that caused it gets a 4xx, a handler that
// produced it dead-letters its message.
var ErrTooLarge = errors.New("event too large for the bus")

// Meta is what a producer knows about an event besides its payload.
type Meta struct {
	AssetID       string
	Producer      string
	CorrelationID string
	Traceparent   string
}

// New wraps a payload in an envelope with a fresh id and time. The payload must be
// one of the eventsv1 event messages.
func New(m Meta, payload proto.Message) (*eventsv1.Envelope, error) {
	env := &eventsv1.Envelope{
		EventId:       uuid.NewString(),
		AssetId:       m.AssetID,
		OccurredAt:    timestamppb.New(time.Now().UTC()),
		Producer:      m.Producer,
		CorrelationId: m.CorrelationID,
		Traceparent:   m.Traceparent,
		Type:          string(payload.ProtoReflect().Descriptor().FullName()),
	}
	if env.Traceparent == "" {
		env.Traceparent = NewTraceparent()
	}
	switch p := payload.(type) {
	case *eventsv1.AssetUploaded:
		env.Payload = &eventsv1.Envelope_AssetUploaded{AssetUploaded: p}
	case *eventsv1.EncodingRequested:
		env.Payload = &eventsv1.Envelope_EncodingRequested{EncodingRequested: p}
	case *eventsv1.EncodingStarted:
		env.Payload = &eventsv1.Envelope_EncodingStarted{EncodingStarted: p}
	case *eventsv1.EncodingProgress:
		env.Payload = &eventsv1.Envelope_EncodingProgress{EncodingProgress: p}
	case *eventsv1.EncodingFinished:
		env.Payload = &eventsv1.Envelope_EncodingFinished{EncodingFinished: p}
	case *eventsv1.EncodingFailed:
		env.Payload = &eventsv1.Envelope_EncodingFailed{EncodingFailed: p}
	case *eventsv1.ChunkRequested:
		env.Payload = &eventsv1.Envelope_ChunkRequested{ChunkRequested: p}
	case *eventsv1.AssetDeleted:
		env.Payload = &eventsv1.Envelope_AssetDeleted{AssetDeleted: p}
	default:
		return nil, fmt.Errorf("events: %T is not an event payload", payload)
	}
	if err := Validate(env); err != nil {
		return nil, err
	}
	return env, nil
}

// Topic returns the topic an envelope is published to.
func Topic(env *eventsv1.Envelope) (string, error) {
	switch env.GetPayload().(type) {
	case *eventsv1.Envelope_AssetUploaded:
		return TopicAssetUploaded, nil
	case *eventsv1.Envelope_EncodingRequested:
		return TopicEncodingRequested, nil
	case *eventsv1.Envelope_EncodingStarted:
		return TopicEncodingStarted, nil
	case *eventsv1.Envelope_EncodingProgress:
		return TopicEncodingProgress, nil
	case *eventsv1.Envelope_EncodingFinished:
		return TopicEncodingFinished, nil
	case *eventsv1.Envelope_EncodingFailed:
		return TopicEncodingFailed, nil
	case *eventsv1.Envelope_ChunkRequested:
		return TopicChunkRequested, nil
	case *eventsv1.Envelope_AssetDeleted:
		return TopicAssetDeleted, nil
	}
	return "", fmt.Errorf("%w: envelope %q has no payload", ErrMalformed, env.GetEventId())
}

// Validate checks the envelope invariants every consumer relies on.
func Validate(env *eventsv1.Envelope) error {
	var errs []error
	if env.GetEventId() == "" {
		errs = append(errs, errors.New("event_id is empty"))
	}
	if env.GetAssetId() == "" {
		errs = append(errs, errors.New("asset_id is empty"))
	}
	if err := validTime(env.GetOccurredAt()); err != nil {
		errs = append(errs, err)
	}
	if env.GetProducer() == "" {
		errs = append(errs, errors.New("producer is empty"))
	}
	if _, err := Topic(env); err != nil {
		errs = append(errs, errors.New("payload is missing"))
	} else if want := payloadType(env); env.GetType() != want {
		errs = append(errs, fmt.Errorf("type %q does not match payload %q", env.GetType(), want))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrMalformed, errors.Join(errs...))
	}
	return nil
}

// Owner is the owner the event's payload names ("" for progress, which
// carries none).
func Owner(env *eventsv1.Envelope) string {
	type owned interface{ GetOwner() string }
	for _, p := range []owned{env.GetAssetUploaded(), env.GetEncodingRequested(), env.GetEncodingStarted(),
		env.GetEncodingFinished(), env.GetEncodingFailed(), env.GetAssetDeleted()} {
		if o := p.GetOwner(); o != "" {
			return o
		}
	}
	return ""
}

// Name is the event's type without its package ("EncodingFinished").
func Name(env *eventsv1.Envelope) string {
	t := env.GetType()
	return t[strings.LastIndexByte(t, '.')+1:]
}

// ExternalJobID is the encoder job the event's payload names ("" for uploads
// and requests, which come before any job).
func ExternalJobID(env *eventsv1.Envelope) string {
	type job interface{ GetExternalJobId() string }
	for _, p := range []job{env.GetEncodingStarted(), env.GetEncodingProgress(), env.GetEncodingFinished(), env.GetEncodingFailed()} {
		if id := p.GetExternalJobId(); id != "" {
			return id
		}
	}
	return ""
}

// Consumers store times as Unix nanoseconds (the catalog's SQLite adapter), which
// hold 1678 to 2262; a time outside would be stored as a different one.
var minTime, maxTime = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)

func validTime(ts *timestamppb.Timestamp) error {
	if ts == nil {
		return errors.New("occurred_at is missing")
	}
	if err := ts.CheckValid(); err != nil {
		return fmt.Errorf("occurred_at is invalid: %w", err)
	}
	if t := ts.AsTime(); t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("occurred_at %s is outside %d to %d", t.Format(time.RFC3339), minTime.Year(), maxTime.Year())
	}
	return nil
}

func payloadType(env *eventsv1.Envelope) string {
	field := env.ProtoReflect().WhichOneof(env.ProtoReflect().Descriptor().Oneofs().ByName("payload"))
	if field == nil {
		return ""
	}
	return string(field.Message().FullName())
}

// Marshal encodes an envelope as an SQS-safe body: standard base64 of the protobuf
// bytes. Raw protobuf is binary and SQS accepts only #x9, #xA, #xD and #x20 to
// #xD7FF, #xE000 to #xFFFD, #x10000 to #x10FFFF; base64 keeps bodies in ASCII.
func Marshal(env *eventsv1.Envelope) ([]byte, error) {
	if err := Validate(env); err != nil {
		return nil, err
	}
	raw, err := proto.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("cannot marshal event %s: %w", env.GetEventId(), err)
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(len(raw)))
	base64.StdEncoding.Encode(out, raw)
	if len(out) > MaxBodyBytes {
		return nil, fmt.Errorf("%w: event %s is %d bytes encoded, over the SQS limit of %d", ErrTooLarge, env.GetEventId(), len(out), MaxBodyBytes)
	}
	return out, nil
}

// Unmarshal decodes and validates a body written by Marshal. Every failure wraps
// ErrMalformed: such a message will never succeed and belongs in a dead-letter queue.
func Unmarshal(body []byte) (*eventsv1.Envelope, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("%w: body of %d bytes is over the limit of %d", ErrMalformed, len(body), MaxBodyBytes)
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	n, err := base64.StdEncoding.Decode(raw, body)
	if err != nil {
		return nil, fmt.Errorf("%w: body is not base64: %w", ErrMalformed, err)
	}
	env := &eventsv1.Envelope{}
	if err := proto.Unmarshal(raw[:n], env); err != nil {
		return nil, fmt.Errorf("%w: body is not a pertitle envelope: %w", ErrMalformed, err)
	}
	if err := Validate(env); err != nil {
		return nil, err
	}
	return env, nil
}

// NewTraceparent returns a fresh W3C traceparent with a random trace and span id.
func NewTraceparent() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}
