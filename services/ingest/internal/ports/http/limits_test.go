package http

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/limit"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
)

// assertRetryAfter checks a 429 that says when to come back.
func assertRetryAfter(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, rec.Code, rec.Body.String())
	s, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", rec.Header().Get("Retry-After"))
	assert.Positive(t, s)
}

// TestUploadRatePerUser (issue 10, finding 8): uploads and upload sessions share
// one bucket per user; past it 429 with Retry-After, while another user uploads.
func TestUploadRatePerUser(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t, 1<<30)
	f.in.Uploads = limit.NewKeyed(1.0/3600, 2, 0)
	upload := asCaller("u-alice", uploadHandler(f.in, "", zap.NewNop()))
	rec := rawPost(upload, strings.NewReader("not a video"), "")
	assert.Equal(t, http.StatusUnprocessableEntity, rec.Code, "a refused upload still spends its token")
	f.open(t, "u-alice", 10<<20)
	assertRetryAfter(t, rawPost(upload, strings.NewReader("not a video"), ""))
	rec = f.call(t, "u-alice", http.MethodPost, "/v1/uploads", []byte(`{"filename":"a.mp4","size":100,"content_type":"video/mp4"}`))
	assertRetryAfter(t, rec)
	f.open(t, "u-bob", 10<<20) // another user has their own bucket
}

// TestSessionQuotas: open sessions and declared bytes per user are bounded; what
// is given back (abort, expiry) can be used again, and others are unaffected.
func TestSessionQuotas(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t, 1<<30)
	f.in.Quota = &app.Quota{Sessions: 2, Bytes: 100 << 20}
	first := f.open(t, "u-alice", 10<<20)
	f.open(t, "u-alice", 10<<20)
	body := []byte(`{"filename":"a.mp4","size":1000,"content_type":"video/mp4"}`)
	rec := f.call(t, "u-alice", http.MethodPost, "/v1/uploads", body)
	assertRetryAfter(t, rec)
	assert.Contains(t, rec.Body.String(), "2 upload sessions open")
	require.Equal(t, http.StatusNoContent, f.call(t, "u-alice", http.MethodDelete, "/v1/uploads/"+first.ID, nil).Code)
	rec = f.call(t, "u-alice", http.MethodPost, "/v1/uploads", []byte(`{"filename":"a.mp4","size":95000000,"content_type":"video/mp4"}`))
	assertRetryAfter(t, rec)
	assert.Contains(t, rec.Body.String(), "bytes of uploads in flight")
	f.open(t, "u-alice", 1000) // freed by the abort
	f.open(t, "u-bob", 100<<20)

	f.clock.Advance(2 * time.Hour)
	_, err := f.sessions.Expire(context.Background())
	require.NoError(t, err)
	sessions, bytes := f.in.Quota.InFlight("u-alice")
	assert.Zero(t, sessions, "expired sessions give their quota back")
	assert.Zero(t, bytes)
}

// TestSingleUploadBytesInFlight: a single upload counts in the caller's bytes in
// flight, by Content-Length at once or as a chunked body arrives, and gives them back.
func TestSingleUploadBytesInFlight(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1<<30)
	f.in.Quota = &app.Quota{Bytes: 1000}
	h := asCaller("u-alice", uploadHandler(f.in, "", zap.NewNop()))
	assertRetryAfter(t, rawPost(h, bytes.NewReader(make([]byte, 2000)), ""))

	req := httptest.NewRequest(http.MethodPost, "/v1/assets", io.MultiReader(strings.NewReader("\x00\x00\x00\x18ftypisom"), bytes.NewReader(make([]byte, 5000))))
	req.ContentLength = -1 // chunked: counted as it arrives
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assertRetryAfter(t, rec)
	_, inFlight := f.in.Quota.InFlight("u-alice")
	assert.Zero(t, inFlight, "given back")
	f.assertNothingKept(t)
}

// TestSlowBodyCutOff: a body that trickles in is cut off with 408 by the server's
// progress deadlines, and nothing of it is kept.
func TestSlowBodyCutOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1<<30)
	p := limit.Progress{ReadIdle: 2 * time.Second, MinRate: 1000, Grace: 300 * time.Millisecond, WriteIdle: time.Second}
	srv := svc.NewStreamingServer("", f.h, p)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /v1/assets HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\nContent-Length: 100000\r\n\r\n\x00\x00\x00\x18ftypisom")
	require.NoError(t, err)
	done := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(conn, 4096))
		done <- string(b)
	}()
	start := time.Now()
	var got string
	for got == "" {
		select {
		case got = <-done:
		case <-time.After(100 * time.Millisecond):
			_, _ = conn.Write([]byte{0})
		}
		require.Less(t, time.Since(start), 5*time.Second, "a trickling body was not cut off")
	}
	assert.True(t, strings.HasPrefix(got, "HTTP/1.1 408"), "%q", got)
	f.assertNothingKept(t)
}

// TestStagingSweptAndSessionsRecovered: after a crash, staged uploads older than
// the session TTL are removed, and a restarted ingest counts live sessions in
// their owners' quota again, lets a session caught completing be completed, and
// removes half-written parts.
func TestStagingSweptAndSessionsRecovered(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t, 1<<30)
	sess := f.open(t, "u-alice", 10<<20)

	old := filepath.Join(f.in.StagingDir, "upload-123")
	fresh := filepath.Join(f.in.StagingDir, "upload-456")
	for _, p := range []string{old, fresh} {
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o600))
	}
	now := f.clock.Now()
	require.NoError(t, os.Chtimes(old, now.Add(-2*time.Hour), now.Add(-2*time.Hour)))
	require.NoError(t, os.Chtimes(fresh, now, now))
	dir := filepath.Join(f.sessions.Dir, sess.ID)
	b, err := os.ReadFile(filepath.Join(dir, "session.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "session.json"), bytes.Replace(b, []byte(`"uploading"`), []byte(`"completing"`), 1), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".part-999"), []byte("half"), 0o600))

	// A new process on the same directories.
	in := *f.in
	in.Quota = &app.Quota{Sessions: 1}
	restarted := &app.Sessions{Ingestor: &in, Dir: f.sessions.Dir, PartSize: testPartSize, TTL: time.Hour, Now: f.clock.Now}
	require.NoError(t, restarted.Recover(context.Background()))
	n, _ := in.Quota.InFlight("u-alice")
	assert.Equal(t, 1, n, "the live session counts again")
	_, err = restarted.Create(context.Background(), "u-alice", app.NewUpload{Filename: "b.mp4", Size: 100, ContentType: "video/mp4"})
	require.ErrorIs(t, err, app.ErrQuota)
	p, err := restarted.Get(context.Background(), "u-alice", sess.ID)
	require.NoError(t, err)
	assert.Equal(t, app.SessionUploading, p.Status, "completable again")
	assert.NoFileExists(t, filepath.Join(dir, ".part-999"))

	removed, err := restarted.Expire(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, removed)
	assert.NoFileExists(t, old, "a staged file older than the TTL is an orphan")
	assert.FileExists(t, fresh, "a recent one may be a live upload")
}
