package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/webhook"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	key := []byte("secret")
	body := []byte(`{"eventId":"e1"}`)
	good := webhook.Sign(key, body)
	cases := []struct {
		name   string
		key    []byte
		body   []byte
		header string
		want   error
	}{
		{"good", key, body, good, nil},
		{"good upper-case hex", key, body, toUpper(good), nil},
		{"missing", key, body, "", webhook.ErrMissingSignature},
		{"wrong key", key, body, webhook.Sign([]byte("other"), body), webhook.ErrBadSignature},
		{"tampered body", key, []byte(`{"eventId":"e2"}`), good, webhook.ErrBadSignature},
		{"not hex", key, body, "zz-not-hex", webhook.ErrBadSignature},
		{"truncated", key, body, good[:64], webhook.ErrBadSignature},
		{"no key configured", nil, body, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(tc.key, tc.body, tc.header)
			if tc.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.want)
			}
		})
	}
}

func toUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 32
		}
	}
	return string(b)
}

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		body     string
		id       string
		finished bool
		err      string
	}{
		{"finished", `{"eventId":"e","resourceId":"enc-1","resourceType":"ENCODING","eventType":"ENCODING_FINISHED"}`, "enc-1", true, ""},
		{"error", `{"eventId":"e","resourceId":"enc-1","eventType":"ENCODING_ERROR"}`, "enc-1", false, ""},
		{"legacy shape", `{"eventId":"e","encoding":{"id":"enc-2","status":"FINISHED"}}`, "enc-2", true, ""},
		{"not json", `hello`, "", false, "not a webhook notification"},
		{"no encoding", `{"eventId":"e","eventType":"ENCODING_FINISHED"}`, "", false, "names no encoding"},
		{"unknown type", `{"eventId":"e","resourceId":"x","eventType":"TRANSFER_ERROR"}`, "", false, "unsupported event type"},
		{"no event id", `{"resourceId":"x","eventType":"ENCODING_FINISHED"}`, "", false, "no eventId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := webhook.Parse([]byte(tc.body))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.id, n.EncodingID())
			fin, _ := n.Finished()
			assert.Equal(t, tc.finished, fin)
		})
	}
}

func TestSenderSignsAndRetries(t *testing.T) {
	t.Parallel()
	key := []byte("k")
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		require.NoError(t, webhook.Verify(key, body, r.Header.Get(webhook.SignatureHeader)))
		var n webhook.Notification
		require.NoError(t, json.Unmarshal(body, &n))
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	s := webhook.Sender{URL: srv.URL, Key: key, Attempts: 5, Backoff: time.Millisecond}
	require.NoError(t, s.Send(context.Background(), webhook.Notification{EventID: "e", ResourceID: "j", EventType: webhook.EventEncodingFinished}))
	assert.EqualValues(t, 3, calls.Load())
}

func TestSenderStopsOnClientError(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
	}))
	defer srv.Close()
	s := webhook.Sender{URL: srv.URL, Key: []byte("k"), Attempts: 5, Backoff: time.Millisecond}
	err := s.Send(context.Background(), webhook.Notification{EventID: "e", ResourceID: "j", EventType: webhook.EventEncodingFinished})
	require.ErrorContains(t, err, "401")
	assert.EqualValues(t, 1, calls.Load())
}
