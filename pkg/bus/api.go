// Package bus carries pertitle events between services: SNS topics fanned out to
// SQS queues in production (transport "aws", also against the goaws emulator), or
// watermill's Go channels in one process (transport "memory").
package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
)

// Handler handles one event. Returning nil acknowledges it. Returning an error
// retries it (in process with backoff, then by redelivery) until the queue's
// max receive count moves it to the dead-letter queue. Returning Permanent(err)
// (or an error wrapping events.ErrMalformed or events.ErrTooLarge) sends it to the
// dead-letter queue at once.
type Handler func(ctx context.Context, env *eventsv1.Envelope) error

// Transports.
const (
	TransportAWS    = "aws"
	TransportMemory = "memory"
)

// Subscription is one consuming service's queue on one topic.
type Subscription struct {
	Service string
	Topic   string
}

// Topology is every topic and every queue subscribed to one, as provisioned,
// and who publishes to which topic.
type Topology struct {
	Topics        []string
	Subscriptions []Subscription
	// Publishes are the topics each service publishes to (sweepers included:
	// every consumer that sweeps its DLQs publishes EncodingFailed). A bus's
	// readiness checks these topics.
	Publishes map[string][]string
}

// Service names used in queue names.
const (
	ServiceIngest          = "ingest"
	ServiceEncoderDispatch = "encoder-dispatch"
	ServiceWebhookReceiver = "webhook-receiver"
	ServiceCatalog         = "catalog"
)

// DefaultTopology is pertitle's topology: who consumes what.
func DefaultTopology() Topology {
	return Topology{
		Topics: append(append([]string(nil), events.AllTopics...), TopicS3ObjectCreated),
		Subscriptions: []Subscription{
			{ServiceEncoderDispatch, events.TopicAssetUploaded},
			{ServiceEncoderDispatch, events.TopicEncodingRequested},
			{ServiceEncoderDispatch, events.TopicChunkRequested}, // the chunks of chunked encodes, for any worker
			{ServiceCatalog, events.TopicAssetUploaded},
			{ServiceCatalog, events.TopicEncodingStarted},
			{ServiceCatalog, events.TopicEncodingProgress},
			{ServiceCatalog, events.TopicEncodingFinished},
			{ServiceCatalog, events.TopicEncodingFailed},
			{ServiceCatalog, events.TopicEncodingRequested}, // the latest request of each asset, which a retry repeats
			{ServiceCatalog, events.TopicAssetDeleted},      // storage is cleaned up until it succeeds
			{ServiceIngest, TopicS3ObjectCreated},           // S3 event notifications of the input bucket (raw)
		},
		Publishes: map[string][]string{
			ServiceIngest: {events.TopicAssetUploaded, events.TopicEncodingFailed},
			ServiceEncoderDispatch: {events.TopicEncodingRequested, events.TopicEncodingStarted, events.TopicEncodingProgress,
				events.TopicEncodingFailed, events.TopicChunkRequested},
			ServiceWebhookReceiver: {events.TopicEncodingFinished, events.TopicEncodingFailed},
			// The catalog announces deleted assets and asks for re-encodes.
			ServiceCatalog: {events.TopicEncodingFailed, events.TopicAssetDeleted, events.TopicEncodingRequested},
		},
	}
}

// TopicName is the SNS topic name of topic under prefix.
func TopicName(prefix, topic string) string { return prefix + topic }

// QueueName is the SQS queue of service on topic under prefix.
func QueueName(prefix, service, topic string) string { return prefix + service + "--" + topic }

// DLQName is the dead-letter queue of a queue.
func DLQName(queue string) string { return queue + "-dlq" }

// permanentError marks a failure that redelivery cannot fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return "permanent: " + p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent wraps err so that the message goes to the dead-letter queue without retries.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err should skip retries: Permanent errors, malformed
// events, and events too large to publish, which no retry makes smaller.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p) || errors.Is(err, events.ErrMalformed) || errors.Is(err, events.ErrTooLarge)
}

type laterError struct {
	after time.Duration
	err   error
}

func (l laterError) Error() string { return fmt.Sprintf("later (%s): %s", l.after, l.err) }
func (l laterError) Unwrap() error { return l.err }

// Later wraps err so that the message comes back after d instead of being
// retried now: the work it asks for is in another consumer's hands until then.
// It skips the in-process retries; each return still counts as a receive.
func Later(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return laterError{after: d, err: err}
}

// LaterOf reports how long a Later error asks to wait.
func LaterOf(err error) (time.Duration, bool) {
	var l laterError
	if errors.As(err, &l) {
		return l.after, true
	}
	return 0, false
}

// ErrNotProvisioned is returned when a topic or queue is missing: run `pertitle provision`.
var ErrNotProvisioned = errors.New("bus resource not provisioned (run `pertitle provision`)")

func notProvisioned(kind, name string, err error) error {
	return fmt.Errorf("%w: %s %s: %w", ErrNotProvisioned, kind, name, err)
}

// DefaultConfig holds the defaults documented in the README.
func DefaultConfig() Config {
	return Config{
		Transport:         TransportAWS,
		Prefix:            "pertitle-",
		Endpoint:          "http://127.0.0.1:4100",
		Region:            "us-east-1",
		AccountID:         "000000000000",
		MaxReceives:       5,
		VisibilityTimeout: 60 * time.Second,
		WaitTime:          20 * time.Second,
		Retries:           3,
		RetryInterval:     200 * time.Millisecond,
		DedupTTL:          24 * time.Hour,
	}
}
