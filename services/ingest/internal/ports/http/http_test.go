package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/apitest"
	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/services/ingest/internal/adapters/ffprobe"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
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
	p.got = append(p.got, env)
	return nil
}

type fixture struct {
	store *storage.FS
	pub   *recordingPublisher
	h     http.Handler
	in    *app.Ingestor
}

func newFixture(t *testing.T, maxBytes int64) *fixture {
	st, err := storage.NewFS(t.TempDir())
	require.NoError(t, err)
	pub := &recordingPublisher{}
	in := &app.Ingestor{Store: st, Pub: pub, Prober: ffprobe.Prober{FFprobe: "ffprobe", FFmpeg: "ffmpeg"},
		StagingDir: st.StagingDir(), MaxBytes: maxBytes, Producer: "ingest"}
	return &fixture{store: st, pub: pub, in: in, h: apitest.Validate(t, apitest.Responses, asCaller("u-alice", uploadHandler(in, "http://catalog", zap.NewNop())))}
}

// asCaller runs h as the signed-in user sub, as auth.Middleware would.
func asCaller(sub string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{Subject: sub, Username: "alice"})))
	})
}

// assertNothingKept checks that a rejected upload left no object and no staged file.
func (f *fixture) assertNothingKept(t *testing.T) {
	t.Helper()
	objs, err := f.store.List(context.Background(), "")
	require.NoError(t, err)
	assert.Empty(t, objs, "no object may be kept")
	staged, _ := os.ReadDir(f.store.StagingDir())
	assert.Empty(t, staged, "no staged file may be kept")
	assert.Empty(t, f.pub.got, "nothing may be published")
}

func rawPost(h http.Handler, body io.Reader, query string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/v1/assets"+query, body)
	req.Header.Set("Content-Type", "video/mp4")
	req.Header.Set("X-Pertitle-Owner", "u-mallory") // ignored: the owner is the caller
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func multipartPost(t *testing.T, h http.Handler, fields map[string]string, file string) *httptest.ResponseRecorder {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		require.NoError(t, mw.WriteField(k, v))
	}
	if file != "" {
		fw, err := mw.CreateFormFile("file", "holiday.mp4")
		require.NoError(t, err)
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		_, _ = fw.Write(b)
	}
	require.NoError(t, mw.Close())
	req := httptest.NewRequest(http.MethodPost, "/v1/assets", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestUploadRawBody(t *testing.T) {
	t.Parallel()
	clip := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 1, Audio: true})
	f := newFixture(t, 1<<30)
	fh, err := os.Open(clip)
	require.NoError(t, err)
	defer fh.Close()
	rec := rawPost(f.h, fh, "?title=My%20Clip")
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())

	var resp map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	assert.Equal(t, "uploaded", resp["status"])
	assert.Equal(t, "My Clip", resp["title"])
	id := resp["id"].(string)
	assert.Equal(t, "http://catalog/v1/assets/"+id, rec.Header().Get("Location"))

	require.Len(t, f.pub.got, 1)
	env := f.pub.got[0]
	up := env.GetAssetUploaded()
	require.NotNil(t, up)
	assert.Equal(t, id, env.GetAssetId())
	assert.Equal(t, "u-alice", up.GetOwner(), "the asset belongs to the token's subject, whatever the headers say")
	assert.EqualValues(t, 320, up.GetProbe().GetWidth())
	assert.True(t, up.GetProbe().GetHasAudio())
	info, err := f.store.Stat(context.Background(), up.GetSourceKey())
	require.NoError(t, err)
	st, _ := os.Stat(clip)
	assert.Equal(t, st.Size(), info.Size, "the stored source is the uploaded file")
	staged, _ := os.ReadDir(f.store.StagingDir())
	assert.Empty(t, staged)
}

func TestUploadMultipart(t *testing.T) {
	t.Parallel()
	clip := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 1})
	f := newFixture(t, 1<<30)
	rec := multipartPost(t, f.h, map[string]string{"title": "Holiday"}, clip)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.Len(t, f.pub.got, 1)
	up := f.pub.got[0].GetAssetUploaded()
	assert.Equal(t, "Holiday", up.GetTitle())
	assert.Equal(t, "holiday.mp4", up.GetOriginalFilename())
}

func TestBadUploadsKeepNothing(t *testing.T) {
	t.Parallel()
	clip := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 2})
	truncated := testmedia.Truncate(t, clip, 0.5)
	text := t.TempDir() + "/notes.txt"
	require.NoError(t, os.WriteFile(text, bytes.Repeat([]byte("this is not a video\n"), 100), 0o644))
	clipBytes, _ := os.ReadFile(clip)

	cases := []struct {
		name     string
		maxBytes int64
		send     func(t *testing.T, h http.Handler) *httptest.ResponseRecorder
		code     int
		errText  string
	}{
		{"empty body", 1 << 30, func(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
			return rawPost(h, bytes.NewReader(nil), "")
		}, http.StatusBadRequest, "empty"},
		{"text file", 1 << 30, func(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
			b, _ := os.ReadFile(text)
			return rawPost(h, bytes.NewReader(b), "")
		}, http.StatusUnprocessableEntity, "not a video we can encode"},
		{"truncated mp4", 1 << 30, func(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
			b, _ := os.ReadFile(truncated)
			return rawPost(h, bytes.NewReader(b), "")
		}, http.StatusUnprocessableEntity, "not a video we can encode"},
		{"oversize streamed", 1000, func(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
			// No Content-Length: the limit is enforced while streaming.
			return rawPost(h, io.MultiReader(bytes.NewReader(clipBytes)), "")
		}, http.StatusRequestEntityTooLarge, "larger than the limit"},
		{"oversize declared", 1000, func(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
			return rawPost(h, bytes.NewReader(clipBytes), "")
		}, http.StatusRequestEntityTooLarge, "larger than the limit"},
		{"multipart without file", 1 << 30, func(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
			return multipartPost(t, h, map[string]string{"title": "x"}, "")
		}, http.StatusBadRequest, "no field named file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.maxBytes)
			rec := tc.send(t, f.h)
			assert.Equal(t, tc.code, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), tc.errText)
			assert.NotContains(t, rec.Body.String(), f.store.StagingDir(), "server paths stay private")
			f.assertNothingKept(t)
		})
	}
}

func TestPublishFailureKeepsNothing(t *testing.T) {
	t.Parallel()
	clip := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 1})
	f := newFixture(t, 1<<30)
	f.pub.fail = errors.New("sns down")
	b, _ := os.ReadFile(clip)
	rec := rawPost(f.h, bytes.NewReader(b), "")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Contains(t, rec.Body.String(), "cannot publish")
	f.pub.fail = nil
	f.assertNothingKept(t)
}

// TestEventTooLargeIsNotRetryable: an upload whose event cannot fit in one SQS
// message fails the same way on every retry, so it gets a 413, not a 503.
func TestEventTooLargeIsNotRetryable(t *testing.T) {
	t.Parallel()
	clip := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 1})
	f := newFixture(t, 1<<30)
	f.pub.fail = fmt.Errorf("bus: event e-1: %w: message is 270000 bytes", events.ErrTooLarge)
	b, _ := os.ReadFile(clip)
	rec := rawPost(f.h, bytes.NewReader(b), "?title=long")
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
	assert.Empty(t, rec.Header().Get("Retry-After"))
	f.pub.fail = nil
	f.assertNothingKept(t)
}
