package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/problem"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/webhook"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/adapters/jobstore"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/app"
	httpport "github.com/pertitle/pertitle/services/webhook-receiver/internal/ports/http"
)

type recordingPublisher struct {
	mu   sync.Mutex
	fail error
	got  []*eventsv1.Envelope
}

func (p *recordingPublisher) Publish(_ context.Context, env *eventsv1.Envelope) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	if _, err := events.Marshal(env); err != nil {
		return err // what the bus would refuse, SQS's size limit included
	}
	p.got = append(p.got, env)
	return nil
}

func (p *recordingPublisher) events() []*eventsv1.Envelope {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*eventsv1.Envelope(nil), p.got...)
}

var key = []byte("test-secret")

func setup(t testing.TB) (*recordingPublisher, http.Handler) {
	t.Helper()
	st, err := storage.NewFS(t.TempDir())
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, jobs.Save(ctx, st, &jobs.Result{
		JobID: "job-ok", AssetID: "asset-1", Owner: "alice", Backend: "local", Status: jobs.StatusFinished,
		HLSManifestKey: "outputs/asset-1/job-ok/master.m3u8", DASHManifestKey: "outputs/asset-1/job-ok/manifest.mpd",
		Renditions: []jobs.Rendition{{Width: 640, Height: 360, Bitrate: 900_000, Codec: "h264", Bytes: 12345}},
	}))
	require.NoError(t, jobs.Save(ctx, st, &jobs.Result{
		JobID: "job-bad", AssetID: "asset-2", Owner: "bob", Backend: "local", Status: jobs.StatusError,
		Error: "ffmpeg: invalid data", Retryable: false,
	}))
	pub := &recordingPublisher{}
	rcv := app.NewReceiver(pub, jobstore.Resolver{Store: st}, time.Hour)
	return pub, httpport.Webhook(rcv, key, 4096, zap.NewNop())
}

func notification(id, job, typ string) []byte {
	b, _ := json.Marshal(webhook.Notification{EventID: id, ResourceID: job, ResourceType: "ENCODING", EventType: typ, CreatedAt: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)})
	return b
}

func post(h http.Handler, body []byte, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/bitmovin", bytes.NewReader(body))
	if sig != "" {
		req.Header.Set(webhook.SignatureHeader, sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestWebhookRequests(t *testing.T) {
	t.Parallel()
	okBody := notification("n1", "job-ok", webhook.EventEncodingFinished)
	cases := []struct {
		name      string
		body      []byte
		sig       string
		code      int
		errText   string
		published int
		problem   problem.Type // of an error, answered as RFC 9457 problem details
	}{
		{"finished", okBody, webhook.Sign(key, okBody), http.StatusAccepted, "", 1, problem.Type{}},
		{"missing signature", okBody, "", http.StatusUnauthorized, "missing Bitmovin-Signature", 0, problem.Unauthorized},
		{"wrong signature", okBody, webhook.Sign([]byte("nope"), okBody), http.StatusUnauthorized, "does not match", 0, problem.Unauthorized},
		{"malformed json", []byte("{nope"), webhook.Sign(key, []byte("{nope")), http.StatusBadRequest, "not a webhook notification", 0, problem.InvalidRequest},
		{"oversize", bytes.Repeat([]byte("x"), 5000), webhook.Sign(key, bytes.Repeat([]byte("x"), 5000)), http.StatusRequestEntityTooLarge, "larger than the limit", 0, problem.TooLarge},
		{"unknown encoding", notification("n2", "job-missing", webhook.EventEncodingFinished),
			webhook.Sign(key, notification("n2", "job-missing", webhook.EventEncodingFinished)), http.StatusNotFound, "unknown encoding", 0, problem.NotFound},
		{"claims finished, but the job failed", notification("n3", "job-bad", webhook.EventEncodingFinished),
			webhook.Sign(key, notification("n3", "job-bad", webhook.EventEncodingFinished)), http.StatusAccepted, webhook.EventEncodingError, 1, problem.Type{}},
		{"bad job id", notification("n4", "../etc", webhook.EventEncodingFinished),
			webhook.Sign(key, notification("n4", "../etc", webhook.EventEncodingFinished)), http.StatusUnprocessableEntity, "invalid job id", 0, problem.InvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pub, h := setup(t)
			rec := post(h, tc.body, tc.sig)
			assert.Equal(t, tc.code, rec.Code, rec.Body.String())
			if tc.errText != "" {
				assert.Contains(t, rec.Body.String(), tc.errText)
			}
			if tc.problem.URI != "" {
				assert.Equal(t, problem.ContentType, rec.Header().Get("Content-Type"))
				var d problem.Details
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &d))
				assert.Equal(t, tc.problem.URI, d.Type)
				assert.Equal(t, tc.code, d.Status)
				assert.Contains(t, d.Detail, tc.errText)
			}
			assert.Len(t, pub.events(), tc.published)
		})
	}
}

func TestFinishedEventCarriesRenditions(t *testing.T) {
	t.Parallel()
	pub, h := setup(t)
	body := notification("n1", "job-ok", webhook.EventEncodingFinished)
	require.Equal(t, http.StatusAccepted, post(h, body, webhook.Sign(key, body)).Code)
	evs := pub.events()
	require.Len(t, evs, 1)
	fin := evs[0].GetEncodingFinished()
	require.NotNil(t, fin)
	assert.Equal(t, "asset-1", evs[0].GetAssetId())
	assert.Equal(t, "outputs/asset-1/job-ok/master.m3u8", fin.GetHlsManifestKey())
	require.Len(t, fin.GetRenditions(), 1)
	assert.EqualValues(t, 360, fin.GetRenditions()[0].GetHeight())
	assert.EqualValues(t, 12345, fin.GetRenditions()[0].GetSizeBytes())
}

func TestErrorWebhookPublishesFailed(t *testing.T) {
	t.Parallel()
	pub, h := setup(t)
	body := notification("n9", "job-bad", webhook.EventEncodingError)
	require.Equal(t, http.StatusAccepted, post(h, body, webhook.Sign(key, body)).Code)
	evs := pub.events()
	require.Len(t, evs, 1)
	failed := evs[0].GetEncodingFailed()
	require.NotNil(t, failed)
	assert.Equal(t, "ffmpeg: invalid data", failed.GetReason())
	assert.False(t, failed.GetRetryable())
}

func TestReplayedWebhookPublishesOnce(t *testing.T) {
	t.Parallel()
	pub, h := setup(t)
	body := notification("n1", "job-ok", webhook.EventEncodingFinished)
	sig := webhook.Sign(key, body)
	first := post(h, body, sig)
	second := post(h, body, sig)
	require.Equal(t, http.StatusAccepted, first.Code)
	require.Equal(t, http.StatusAccepted, second.Code)
	assert.Contains(t, second.Body.String(), "duplicate")
	assert.Len(t, pub.events(), 1)

	// A different notification id for the same job and outcome (Bitmovin's
	// retry with a new id) is the same outcome: claimed already, not published.
	other := notification("n1-bis", "job-ok", webhook.EventEncodingFinished)
	rec := post(h, other, webhook.Sign(key, other))
	require.Equal(t, http.StatusAccepted, rec.Code)
	assert.Contains(t, rec.Body.String(), "duplicate")
	assert.Len(t, pub.events(), 1)
}

func TestBusFailureAsksForRetry(t *testing.T) {
	t.Parallel()
	pub, h := setup(t)
	pub.fail = errors.New("sns unavailable")
	body := notification("n1", "job-ok", webhook.EventEncodingFinished)
	rec := post(h, body, webhook.Sign(key, body))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "5", rec.Header().Get("Retry-After"))
	assert.True(t, strings.Contains(rec.Body.String(), "retry"))

	pub.mu.Lock()
	pub.fail = nil
	pub.mu.Unlock()
	rec = post(h, body, webhook.Sign(key, body))
	assert.Equal(t, http.StatusAccepted, rec.Code, "the retried webhook must not be taken for a duplicate")
	assert.Len(t, pub.events(), 1)
}
