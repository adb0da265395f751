package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/apitest"
	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/services/ingest/internal/adapters/ffprobe"
	"github.com/pertitle/pertitle/services/ingest/internal/adapters/sqlsessions"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
)

const directPartSize = 64 << 10

// directFixture is ingest with S3 storage (the local S3 server) and direct
// upload sessions in a SQLite file or PostgreSQL.
type directFixture struct {
	s3     *storage.S3
	pub    *recordingPublisher
	direct *app.Direct
	h      http.Handler
}

func newDirect(t *testing.T, s3store *storage.S3, dsn string, pub *recordingPublisher) *directFixture {
	db, err := sqlsessions.Open(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	in := &app.Ingestor{Store: s3store, Pub: pub, Prober: ffprobe.Prober{FFprobe: "ffprobe", FFmpeg: "ffmpeg"},
		StagingDir: t.TempDir(), MaxBytes: 64 << 20, Producer: "ingest", Quota: &app.Quota{Sessions: 3, Bytes: 128 << 20}}
	d := &app.Direct{Ingestor: in, Uploads: s3store, Store: db, PartSize: directPartSize, TTL: time.Hour}
	mux := http.NewServeMux()
	for _, rt := range sessionRoutes(in, d, "http://catalog", zap.NewNop()) {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	return &directFixture{s3: s3store, pub: pub, direct: d, h: apitest.Validate(t, apitest.Responses, mux)}
}

func newS3Store(t *testing.T) *storage.S3 {
	endpoint := testenv.S3(t, "in-bucket", "out-bucket")
	st, err := storage.NewS3(context.Background(), storage.S3Config{Endpoint: endpoint, InputBucket: "in-bucket", OutputBucket: "out-bucket"})
	require.NoError(t, err)
	return st
}

func (f *directFixture) call(t *testing.T, user, method, target string, body []byte) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	req = req.WithContext(auth.WithPrincipal(req.Context(), auth.Principal{Subject: user}))
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func (f *directFixture) create(t *testing.T, user string, size int) (string, int) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"filename": "clip.mp4", "size": size, "content_type": "video/mp4", "title": "Clip"})
	code, out := f.call(t, user, http.MethodPost, "/v1/uploads", body)
	require.Equal(t, http.StatusCreated, code, "%v", out)
	assert.Equal(t, true, out["direct"])
	return out["id"].(string), int(out["part_size"].(float64))
}

// putPart asks ingest for part n's URL and PUTs data there as a browser would:
// no credentials, straight to storage.
func (f *directFixture) putPart(t *testing.T, user, id string, n int, data []byte) {
	t.Helper()
	code, u := f.call(t, user, http.MethodGet, fmt.Sprintf("/v1/uploads/%s/parts/%d/url", id, n), nil)
	require.Equal(t, http.StatusOK, code, "%v", u)
	assert.Equal(t, "PUT", u["method"])
	req, err := http.NewRequest(http.MethodPut, u["url"].(string), bytes.NewReader(data))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// nothingKept: no object, no multipart upload in the input bucket.
func (f *directFixture) nothingKept(t *testing.T) {
	t.Helper()
	objs, err := f.s3.List(context.Background(), "sources/")
	require.NoError(t, err)
	assert.Empty(t, objs, "no object may be kept")
	ups, err := f.s3.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("in-bucket")})
	require.NoError(t, err)
	assert.Empty(t, ups.Uploads, "no multipart upload may be left")
}

func chunks(b []byte, size int) [][]byte {
	var out [][]byte
	for off := 0; off < len(b); off += size {
		out = append(out, b[off:min(off+size, len(b))])
	}
	return out
}

// TestDirectUpload (issue 13): parts go straight to S3 in any order, ingest
// lists them, completes the multipart upload, probes the object read back
// from storage and announces it; a missing part is a 409 the client can fix
// by sending it (resume).
func TestDirectUpload(t *testing.T) {
	t.Parallel()
	testmedia.RequireFFmpeg(t)
	clip, err := os.ReadFile(testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 240, Seconds: 2, FPS: 25}))
	require.NoError(t, err)
	f := newDirect(t, newS3Store(t), filepath.Join(t.TempDir(), "ingest.db"), &recordingPublisher{})
	id, ps := f.create(t, "alice", len(clip))
	parts := chunks(clip, ps)
	require.Greater(t, len(parts), 1, "the clip needs several parts")
	for n := len(parts); n >= 2; n-- {
		f.putPart(t, "alice", id, n, parts[n-1])
	}
	code, body := f.call(t, "alice", http.MethodPost, "/v1/uploads/"+id+"/complete", nil)
	require.Equal(t, http.StatusConflict, code, "part 1 is missing: %v", body)
	assert.Contains(t, body["error"], "missing parts 1")

	code, got := f.call(t, "alice", http.MethodGet, "/v1/uploads/"+id, nil)
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, got["parts"], len(parts)-1)
	assert.EqualValues(t, len(clip)-len(parts[0]), got["received_bytes"])
	code, _ = f.call(t, "bob", http.MethodGet, "/v1/uploads/"+id, nil)
	assert.Equal(t, http.StatusNotFound, code, "another user's session does not exist for them")

	f.putPart(t, "alice", id, 1, parts[0])
	code, asset := f.call(t, "alice", http.MethodPost, "/v1/uploads/"+id+"/complete", nil)
	require.Equal(t, http.StatusAccepted, code, "%v", asset)
	require.Len(t, f.pub.got, 1)
	up := f.pub.got[0].GetAssetUploaded()
	assert.Equal(t, "sources/"+asset["id"].(string)+"/source", up.SourceKey)
	assert.Equal(t, "alice", up.Owner)
	rc, obj, err := f.s3.Open(context.Background(), up.SourceKey)
	require.NoError(t, err)
	stored, _ := io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, clip, stored, "the object is the file, byte for byte")
	assert.EqualValues(t, len(clip), obj.Size)
	code, _ = f.call(t, "alice", http.MethodGet, "/v1/uploads/"+id, nil)
	assert.Equal(t, http.StatusNotFound, code, "a completed session is gone")
}

// TestDirectUploadRefusedLeavesNothing: a file that is not a video, sent
// straight to S3, is refused at completion and its object deleted; nothing is
// published; so is a file whose parts have the wrong sizes once S3 joins them.
func TestDirectUploadRefusedLeavesNothing(t *testing.T) {
	t.Parallel()
	f := newDirect(t, newS3Store(t), filepath.Join(t.TempDir(), "ingest.db"), &recordingPublisher{})
	fake := bytes.Repeat([]byte("#!/bin/sh\necho not a video\n"), 5000)
	id, ps := f.create(t, "alice", len(fake))
	for n, p := range chunks(fake, ps) {
		f.putPart(t, "alice", id, n+1, p)
	}
	code, body := f.call(t, "alice", http.MethodPost, "/v1/uploads/"+id+"/complete", nil)
	assert.Equal(t, http.StatusUnprocessableEntity, code, "%v", body)
	code, _ = f.call(t, "alice", http.MethodGet, "/v1/uploads/"+id, nil)
	assert.Equal(t, http.StatusNotFound, code)
	f.nothingKept(t)
	assert.Empty(t, f.pub.got)
}

// TestDirectUploadHostileRequests: part numbers, sizes and session ids out of
// bounds are 4xx; parts through ingest are refused for a direct upload; a
// part of the wrong length (S3 checks the signed length; the local server
// does not) is caught at completion and can be sent again.
func TestDirectUploadHostileRequests(t *testing.T) {
	t.Parallel()
	f := newDirect(t, newS3Store(t), filepath.Join(t.TempDir(), "ingest.db"), &recordingPublisher{})
	id, _ := f.create(t, "alice", 3*directPartSize)
	for _, tc := range []struct {
		target string
		code   int
	}{
		{"/v1/uploads/" + id + "/parts/0/url", 400},
		{"/v1/uploads/" + id + "/parts/-1/url", 400},
		{"/v1/uploads/" + id + "/parts/abc/url", 400},
		{"/v1/uploads/" + id + "/parts/10001/url", 400},
		{"/v1/uploads/" + id + "/parts/99999999999999999999/url", 400},
		{"/v1/uploads/" + id + "/parts/4/url", 400},
		{"/v1/uploads/0123456789abcdef0123456789abcdef/parts/1/url", 404},
		{"/v1/uploads/0123456789ABCDEF0123456789ABCDEF/parts/1/url", 404},
		{"/v1/uploads/not-a-session-id/parts/1/url", 404},
	} {
		code, body := f.call(t, "alice", http.MethodGet, tc.target, nil)
		assert.Equal(t, tc.code, code, "%s: %v", tc.target, body)
	}
	code, _ := f.call(t, "bob", http.MethodGet, "/v1/uploads/"+id+"/parts/1/url", nil)
	assert.Equal(t, http.StatusNotFound, code)
	code, body := f.call(t, "alice", http.MethodPut, "/v1/uploads/"+id+"/parts/1", make([]byte, directPartSize))
	assert.Equal(t, http.StatusConflict, code, "%v", body)
	for _, bad := range []map[string]any{
		{"filename": "a.mp4", "size": -1}, {"filename": "a.mp4", "size": 1 << 40}, {"filename": "../a.mp4", "size": 10},
		{"filename": "a.txt", "size": 10, "content_type": "text/plain"},
		{"filename": "a.mp4", "size": 10, "title": string(make([]byte, 600))},
	} {
		b, _ := json.Marshal(bad)
		code, body := f.call(t, "alice", http.MethodPost, "/v1/uploads", b)
		assert.True(t, code >= 400 && code < 500, "%v: %d %v", bad, code, body)
	}

	f.putPart(t, "alice", id, 1, make([]byte, directPartSize))
	f.putPart(t, "alice", id, 2, make([]byte, 10)) // short
	f.putPart(t, "alice", id, 3, make([]byte, directPartSize))
	code, body = f.call(t, "alice", http.MethodPost, "/v1/uploads/"+id+"/complete", nil)
	assert.Equal(t, http.StatusBadRequest, code, "%v", body)
	assert.Contains(t, body["error"], "part 2")
	code, _ = f.call(t, "alice", http.MethodGet, "/v1/uploads/"+id, nil)
	assert.Equal(t, http.StatusOK, code, "the session stays open to send the part again")

	code, _ = f.call(t, "alice", http.MethodDelete, "/v1/uploads/"+id, nil)
	assert.Equal(t, http.StatusNoContent, code)
	f.nothingKept(t)
}

// TestDirectSessionsAcrossReplicas (issue 13): with PostgreSQL, any ingest
// replica serves any request of a session; the per-user session limit counts
// every replica's sessions; an expired session is cleaned up by any janitor.
func TestDirectSessionsAcrossReplicas(t *testing.T) {
	t.Parallel()
	st, dsn, pub := newS3Store(t), testenv.Postgres(t), &recordingPublisher{}
	a, b := newDirect(t, st, dsn, pub), newDirect(t, st, dsn, pub)
	id, _ := a.create(t, "alice", 2*directPartSize)
	b.putPart(t, "alice", id, 1, make([]byte, directPartSize))
	code, got := a.call(t, "alice", http.MethodGet, "/v1/uploads/"+id, nil)
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, got["parts"], 1, "a part URL from B lands in the upload A opened")

	b.create(t, "alice", 10)
	a.create(t, "alice", 10)
	body, _ := json.Marshal(map[string]any{"filename": "clip.mp4", "size": 10})
	code, _ = b.call(t, "alice", http.MethodPost, "/v1/uploads", body)
	assert.Equal(t, http.StatusTooManyRequests, code, "three sessions open across replicas: the limit")

	b.direct.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	n, err := b.direct.Expire(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	code, _ = a.call(t, "alice", http.MethodGet, "/v1/uploads/"+id, nil)
	assert.Equal(t, http.StatusNotFound, code)
	a.nothingKept(t)
	_, err = a.direct.Store.Get(context.Background(), id)
	assert.True(t, errors.Is(err, app.ErrSessionNotFound))
}

// TestDirectCompleteAgainAfterTheBusFailed: the bus down at completion is a
// 503 that keeps the session and the joined object; completing again
// announces it, under the same event id whichever attempt reaches the bus.
func TestDirectCompleteAgainAfterTheBusFailed(t *testing.T) {
	t.Parallel()
	testmedia.RequireFFmpeg(t)
	clip, err := os.ReadFile(testmedia.Clip(t, testmedia.Spec{Width: 160, Height: 120, Seconds: 1, FPS: 25}))
	require.NoError(t, err)
	pub := &recordingPublisher{fail: errors.New("bus down")}
	f := newDirect(t, newS3Store(t), filepath.Join(t.TempDir(), "ingest.db"), pub)
	id, ps := f.create(t, "alice", len(clip))
	for n, p := range chunks(clip, ps) {
		f.putPart(t, "alice", id, n+1, p)
	}
	code, body := f.call(t, "alice", http.MethodPost, "/v1/uploads/"+id+"/complete", nil)
	require.Equal(t, http.StatusServiceUnavailable, code, "%v", body)
	code, got := f.call(t, "alice", http.MethodGet, "/v1/uploads/"+id, nil)
	require.Equal(t, http.StatusOK, code, "the session stays")
	assert.EqualValues(t, len(clip), got["received_bytes"])

	pub.mu.Lock()
	pub.fail = nil
	pub.mu.Unlock()
	code, asset := f.call(t, "alice", http.MethodPost, "/v1/uploads/"+id+"/complete", nil)
	require.Equal(t, http.StatusAccepted, code, "%v", asset)
	require.Len(t, pub.got, 1)
	objs, err := f.s3.List(context.Background(), "sources/")
	require.NoError(t, err)
	require.Len(t, objs, 1, "one object, joined once")
}

// TestDirectJanitorKeepsAnAnnouncedSource: a session left behind after its
// object was announced (forgetting it failed) expires without taking the
// asset's source with it; a session being completed cannot be aborted.
func TestDirectJanitorKeepsAnAnnouncedSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newDirect(t, newS3Store(t), filepath.Join(t.TempDir(), "ingest.db"), &recordingPublisher{})
	id, _ := f.create(t, "alice", 3)
	f.putPart(t, "alice", id, 1, []byte("abc"))
	s, err := f.direct.Store.Get(ctx, id)
	require.NoError(t, err)
	parts, err := f.s3.Parts(ctx, s.Key, s.UploadID)
	require.NoError(t, err)
	require.NoError(t, f.s3.CompleteUpload(ctx, s.Key, s.UploadID, parts))
	ok, err := f.direct.Store.Claim(ctx, id, time.Now(), time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	code, _ := f.call(t, "alice", http.MethodDelete, "/v1/uploads/"+id, nil)
	assert.Equal(t, http.StatusConflict, code, "a session being completed is not aborted under it")

	require.NoError(t, f.direct.Store.Announcing(ctx, id))
	f.direct.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	n, err := f.direct.Expire(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = f.direct.Store.Get(ctx, id)
	assert.ErrorIs(t, err, app.ErrSessionNotFound, "the session is forgotten")
	_, err = f.s3.Stat(ctx, s.Key)
	assert.NoError(t, err, "the announced source stays")
}

// slowProber holds the completion in its probe until the context ends or
// release is closed.
type slowProber struct {
	app.Prober
	entered chan struct{}
	release chan struct{}
}

func (p slowProber) Probe(ctx context.Context, path string) (*media.Source, error) {
	close(p.entered)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.release:
		return p.Prober.Probe(ctx, path)
	}
}

// TestDirectCompletionRenewsItsLease: a completion renews its short lease
// while it works, so nobody takes the session from a live replica; once its
// lease is taken over (as after a pause longer than the lease), it stops and
// leaves the session to the new holder instead of releasing or deleting it.
func TestDirectCompletionRenewsItsLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newDirect(t, newS3Store(t), filepath.Join(t.TempDir(), "ingest.db"), &recordingPublisher{})
	f.direct.Lease = 300 * time.Millisecond
	clip := testmedia.Clip(t, testmedia.Spec{Width: 160, Height: 90, Seconds: 1})
	data, err := os.ReadFile(clip)
	require.NoError(t, err)
	id, _ := f.create(t, "alice", len(data))
	f.putPart(t, "alice", id, 1, data)
	p := slowProber{Prober: f.direct.Ingestor.Prober, entered: make(chan struct{}), release: make(chan struct{})}
	f.direct.Ingestor.Prober = p

	done := make(chan error, 1)
	go func() {
		_, err := f.direct.Complete(ctx, "alice", id, "corr")
		done <- err
	}()
	<-p.entered
	time.Sleep(time.Second) // three lease lengths: renewed all along
	ok, err := f.direct.Store.Claim(ctx, id, time.Now(), time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.False(t, ok, "a renewed lease is not taken over")

	// Another replica takes the session as if the lease had run out.
	ok, err = f.direct.Store.Claim(ctx, id, time.Now().Add(time.Hour), time.Now().Add(2*time.Hour))
	require.NoError(t, err)
	require.True(t, ok)
	select {
	case err := <-done:
		require.ErrorIs(t, err, app.ErrUnavailable)
		assert.Contains(t, err.Error(), "lost its lease")
	case <-time.After(10 * time.Second):
		t.Fatal("the completion went on without its lease")
	}
	s, err := f.direct.Store.Get(ctx, id)
	require.NoError(t, err, "the session stays with its new holder")
	assert.Equal(t, app.SessionCompleting, s.Status)
	f.pub.mu.Lock()
	defer f.pub.mu.Unlock()
	assert.Empty(t, f.pub.got, "nothing announced")
}
