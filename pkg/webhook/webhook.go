// Package webhook speaks Bitmovin's encoding webhook contract: a JSON notification
// POSTed to a URL, signed with HMAC-SHA512 over the raw body in the
// Bitmovin-Signature header. The local ffmpeg backend sends the same notifications,
// so both backends complete through one path.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pertitle/pertitle/pkg/tracing"
)

// SignatureHeader carries the hex HMAC-SHA512 of the raw body.
const SignatureHeader = "Bitmovin-Signature"

// Event types the receiver acts on.
const (
	EventEncodingFinished = "ENCODING_FINISHED"
	EventEncodingError    = "ENCODING_ERROR"
)

// Notification is the webhook body. Bitmovin's notification fields are used where
// they exist; Encoding is the older body shape, accepted too.
type Notification struct {
	EventID      string    `json:"eventId"`
	CreatedAt    time.Time `json:"createdAt"`
	OrgID        string    `json:"orgId,omitempty"`
	UserID       string    `json:"userId,omitempty"`
	ResourceID   string    `json:"resourceId"`
	ResourceType string    `json:"resourceType"`
	EventType    string    `json:"eventType"`
	Encoding     *struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"encoding,omitempty"`
}

// EncodingID is the encoding the notification is about.
func (n Notification) EncodingID() string {
	if n.ResourceID != "" {
		return n.ResourceID
	}
	if n.Encoding != nil {
		return n.Encoding.ID
	}
	return ""
}

// Finished reports whether the encoding succeeded (false means it failed).
func (n Notification) Finished() (bool, error) {
	switch {
	case n.EventType == EventEncodingFinished:
		return true, nil
	case n.EventType == EventEncodingError:
		return false, nil
	case n.Encoding != nil && n.Encoding.Status == "FINISHED":
		return true, nil
	case n.Encoding != nil && n.Encoding.Status == "ERROR":
		return false, nil
	}
	return false, fmt.Errorf("unsupported event type %q", n.EventType)
}

// Parse decodes and checks a notification body: one JSON object and nothing
// after it, so that no other reader of the body sees a different notification.
func Parse(body []byte) (Notification, error) {
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return n, fmt.Errorf("body is not a webhook notification: %w", err)
	}
	if n.EncodingID() == "" {
		return n, errors.New("notification names no encoding (resourceId)")
	}
	if _, err := n.Finished(); err != nil {
		return n, err
	}
	if n.EventID == "" {
		return n, errors.New("notification has no eventId")
	}
	return n, nil
}

// Sign returns the signature header value of body under key.
func Sign(key, body []byte) string {
	m := hmac.New(sha512.New, key)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors returned by Verify.
var (
	ErrMissingSignature = errors.New("missing " + SignatureHeader + " header")
	ErrBadSignature     = errors.New("signature does not match the body")
)

// Verify checks header against body in constant time. An empty key disables
// verification (only for a receiver deliberately configured without a secret).
func Verify(key, body []byte, header string) error {
	if len(key) == 0 {
		return nil
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrMissingSignature
	}
	got, err := hex.DecodeString(strings.ToLower(header))
	if err != nil {
		return ErrBadSignature
	}
	m := hmac.New(sha512.New, key)
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}

// Sender posts signed notifications, retrying a bounded number of times on network
// errors and 5xx/429 answers, as Bitmovin does.
type Sender struct {
	URL      string
	Key      []byte
	Client   *http.Client
	Attempts int
	Backoff  time.Duration
}

// Send posts n and returns once a 2xx answer arrived or the attempts ran out.
func (s Sender) Send(ctx context.Context, n Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("cannot encode notification: %w", err)
	}
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	// Inside a trace the receiver's spans continue it (traceparent header).
	client = tracing.Client(client)
	attempts := max(s.Attempts, 1)
	backoff := s.Backoff
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	var last error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("webhook %s not delivered: %w (last error: %w)", n.EventID, ctx.Err(), last)
			case <-time.After(backoff << (i - 1)):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("cannot build webhook request: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(SignatureHeader, Sign(s.Key, body))
		resp, err := client.Do(req)
		if err != nil {
			last = err
			continue
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_ = resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return nil
		}
		last = fmt.Errorf("webhook answered %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
		if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
			return last // the receiver refused it; repeating will not help
		}
	}
	return fmt.Errorf("webhook %s not delivered after %d attempts: %w", n.EventID, attempts, last)
}
