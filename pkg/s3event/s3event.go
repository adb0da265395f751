// Package s3event reads and writes S3 event notifications in the shape S3 sends
// them to SNS, SQS or Lambda (event version 2.x), so that objects created in the
// input bucket can become assets.
package s3event

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrMalformed marks a body that is not an S3 event notification.
var ErrMalformed = errors.New("malformed S3 event notification")

// Record is one object event, with the key decoded.
type Record struct {
	EventVersion string
	EventSource  string
	EventName    string
	EventTime    time.Time
	Bucket       string
	// Key is the object key decoded: S3 sends it URL-encoded with '+' for spaces.
	Key       string
	Size      int64
	ETag      string
	VersionID string
	Sequencer string
}

// ObjectCreated reports whether the record is an ObjectCreated:* event.
func (r Record) ObjectCreated() bool { return strings.HasPrefix(r.EventName, "ObjectCreated:") }

// Identity names the object version the record is about: the version id on a
// versioned bucket, else ETag and sequencer (S3 gives every write its own
// sequencer, and a redelivered notification repeats it).
func (r Record) Identity() string {
	if r.VersionID != "" {
		return fmt.Sprintf("s3://%s/%s?versionId=%s", r.Bucket, r.Key, r.VersionID)
	}
	return fmt.Sprintf("s3://%s/%s?etag=%s&sequencer=%s", r.Bucket, r.Key, r.ETag, r.Sequencer)
}

// Notification is a parsed message body. Test is set for the s3:TestEvent that S3
// sends when notifications are configured; it has no records.
type Notification struct {
	Records []Record
	Test    bool
}

type wireRecord struct {
	EventVersion string `json:"eventVersion"`
	EventSource  string `json:"eventSource"`
	AWSRegion    string `json:"awsRegion,omitempty"`
	EventTime    string `json:"eventTime"`
	EventName    string `json:"eventName"`
	S3           struct {
		S3SchemaVersion string `json:"s3SchemaVersion,omitempty"`
		Bucket          struct {
			Name string `json:"name"`
			ARN  string `json:"arn,omitempty"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      int64  `json:"size"`
			ETag      string `json:"eTag,omitempty"`
			VersionID string `json:"versionId,omitempty"`
			Sequencer string `json:"sequencer,omitempty"`
		} `json:"object"`
	} `json:"s3"`
}

type wire struct {
	Records []wireRecord `json:"Records"`
	// s3:TestEvent
	Event string `json:"Event,omitempty"`
	// SNS envelope, when the subscription does not use raw message delivery.
	Type    string `json:"Type,omitempty"`
	Message string `json:"Message,omitempty"`
}

var minTime, maxTime = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)

// Parse decodes a message body: an S3 notification, or one wrapped in an SNS
// envelope (subscriptions without raw message delivery).
func Parse(body []byte) (Notification, error) {
	var w wire
	if err := json.Unmarshal(body, &w); err != nil {
		return Notification{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if w.Type == "Notification" && w.Message != "" && w.Records == nil {
		return Parse([]byte(w.Message))
	}
	if w.Event == "s3:TestEvent" {
		return Notification{Test: true}, nil
	}
	if w.Records == nil {
		return Notification{}, fmt.Errorf("%w: no Records", ErrMalformed)
	}
	var n Notification
	for i, wr := range w.Records {
		if wr.EventSource != "aws:s3" {
			return Notification{}, fmt.Errorf("%w: record %d: eventSource %q", ErrMalformed, i, wr.EventSource)
		}
		if wr.S3.Bucket.Name == "" || wr.S3.Object.Key == "" {
			return Notification{}, fmt.Errorf("%w: record %d has no bucket or key", ErrMalformed, i)
		}
		key, err := url.QueryUnescape(wr.S3.Object.Key)
		if err != nil {
			return Notification{}, fmt.Errorf("%w: record %d: key %q: %w", ErrMalformed, i, wr.S3.Object.Key, err)
		}
		// S3 keys are UTF-8: any other decoded key is forged, and would make an
		// event (its title) that protobuf refuses to marshal.
		if !utf8.ValidString(key) {
			return Notification{}, fmt.Errorf("%w: record %d: key %q is not UTF-8", ErrMalformed, i, wr.S3.Object.Key)
		}
		if wr.S3.Object.Size < 0 {
			return Notification{}, fmt.Errorf("%w: record %d: negative size %d", ErrMalformed, i, wr.S3.Object.Size)
		}
		r := Record{EventVersion: wr.EventVersion, EventSource: wr.EventSource, EventName: wr.EventName,
			Bucket: wr.S3.Bucket.Name, Key: key, Size: wr.S3.Object.Size, ETag: strings.Trim(wr.S3.Object.ETag, `"`),
			VersionID: wr.S3.Object.VersionID, Sequencer: wr.S3.Object.Sequencer}
		// A time consumers cannot store as Unix nanoseconds is left out: the event
		// then carries the time ingest handled it.
		if t, err := time.Parse(time.RFC3339Nano, wr.EventTime); err == nil && !t.Before(minTime) && !t.After(maxTime) {
			r.EventTime = t
		}
		n.Records = append(n.Records, r)
	}
	return n, nil
}

// EncodeKey encodes a key as S3 does in notifications (form encoding: spaces as '+').
func EncodeKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

// Build writes the notification S3 would send for records (the local bridge,
// tests). Keys are encoded; EventName defaults to ObjectCreated:Put.
func Build(records ...Record) ([]byte, error) {
	var w wire
	for _, r := range records {
		var wr wireRecord
		wr.EventVersion, wr.EventSource, wr.EventName = "2.1", "aws:s3", r.EventName
		if wr.EventName == "" {
			wr.EventName = "ObjectCreated:Put"
		}
		at := r.EventTime
		if at.IsZero() {
			at = time.Now()
		}
		wr.EventTime = at.UTC().Format("2006-01-02T15:04:05.000Z")
		wr.S3.S3SchemaVersion = "1.0"
		wr.S3.Bucket.Name, wr.S3.Bucket.ARN = r.Bucket, "arn:aws:s3:::"+r.Bucket
		wr.S3.Object.Key, wr.S3.Object.Size = EncodeKey(r.Key), r.Size
		wr.S3.Object.ETag, wr.S3.Object.VersionID, wr.S3.Object.Sequencer = r.ETag, r.VersionID, r.Sequencer
		w.Records = append(w.Records, wr)
	}
	return json.Marshal(w)
}
