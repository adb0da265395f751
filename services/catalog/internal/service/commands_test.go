package service

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pertitle/pertitle/internal/apitest"
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/problem"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlite"
)

// busRecorder keeps what the catalog publishes, as the bus would carry it.
type busRecorder struct {
	mu  sync.Mutex
	got []*eventsv1.Envelope
}

func (b *busRecorder) Publish(_ context.Context, env *eventsv1.Envelope) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, proto.Clone(env).(*eventsv1.Envelope))
	return nil
}

func (b *busRecorder) take() []*eventsv1.Envelope {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.got
	b.got = nil
	return out
}

func commandsFixture(t *testing.T) (*Service, *storage.FS, *busRecorder) {
	t.Helper()
	dir := t.TempDir()
	repo, err := sqlite.Open(context.Background(), filepath.Join(dir, "catalog.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = repo.Close() })
	store, err := storage.NewFS(filepath.Join(dir, "storage"))
	require.NoError(t, err)
	pub := &busRecorder{}
	s, err := New(DefaultConfig(), Deps{Repo: repo, Storage: store, Auth: testVerifier(t), Pub: pub})
	require.NoError(t, err)
	return s, store, pub
}

func call(t *testing.T, s *Service, method, target, user string, groups ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.Header.Set("Authorization", "Bearer "+testToken(t, user, groups...))
	rec := httptest.NewRecorder()
	apitest.Validate(t, apitest.Requests, s.Handler()).ServeHTTP(rec, req)
	return rec
}

func assertProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, want problem.Type) {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	assert.Equal(t, problem.ContentType, rec.Header().Get("Content-Type"))
	var p problem.Details
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	assert.Equal(t, want.URI, p.Type)
	assert.Equal(t, status, p.Status)
}

// failedAsset projects an asset of alice's whose first attempt failed.
func failedAsset(t *testing.T, s *Service, id string) *eventsv1.Envelope {
	t.Helper()
	ctx := context.Background()
	req := envelope(t, id, &eventsv1.EncodingRequested{Owner: "alice", SourceKey: jobs.SourceKey(id, ".mov"), Backend: "local",
		LadderMode: "fixed", Ladder: []*eventsv1.Rung{{Width: 640, Height: 360, Bitrate: 800_000}},
		OutputPrefix: jobs.OutputPrefix(id, "local-1"), Probe: &eventsv1.ProbeSummary{Width: 640, Height: 360}})
	for _, env := range []*eventsv1.Envelope{
		journey(t, id)[0], req,
		envelope(t, id, &eventsv1.EncodingStarted{Owner: "alice", Backend: "local", ExternalJobId: "local-1", Attempt: 1}),
		envelope(t, id, &eventsv1.EncodingFailed{Owner: "alice", Backend: "local", ExternalJobId: "local-1", Reason: "ffmpeg died", Retryable: true}),
	} {
		require.NoError(t, s.Messages(nil).Project(ctx, env))
	}
	return req
}

func TestRetryFailedAsset(t *testing.T) {
	t.Parallel()
	s, _, pub := commandsFixture(t)
	first := failedAsset(t, s, "a1")

	assertProblem(t, call(t, s, "POST", "/v1/assets/a1/retry", "bob"), http.StatusNotFound, problem.NotFound)
	assert.Empty(t, pub.take(), "another user's retry publishes nothing")

	rec := call(t, s, "POST", "/v1/assets/a1/retry", "alice")
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	var got retried
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	out := pub.take()
	require.Len(t, out, 1)
	req := out[0].GetEncodingRequested()
	require.NotNil(t, req)
	assert.Equal(t, int32(2), req.GetAttempt())
	assert.Equal(t, 2, got.Attempt)
	assert.NotEqual(t, first.GetEventId(), out[0].GetEventId())
	assert.Equal(t, got.RequestID, out[0].GetEventId())
	assert.Equal(t, jobs.NewID("local", got.RequestID), got.JobID, "the job the dispatcher will run")
	assert.Equal(t, jobs.OutputPrefix("a1", got.JobID), req.GetOutputPrefix(), "a new attempt writes elsewhere")
	assert.Equal(t, first.GetEncodingRequested().GetLadder()[0].GetBitrate(), req.GetLadder()[0].GetBitrate())
	assert.Equal(t, first.GetEncodingRequested().GetSourceKey(), req.GetSourceKey())

	// A second click on the same failure asks for the same attempt (one event id).
	rec = call(t, s, "POST", "/v1/assets/a1/retry", "root", auth.AdminGroup)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	again := pub.take()
	require.Len(t, again, 1)
	assert.Equal(t, out[0].GetEventId(), again[0].GetEventId())

	// The attempt starts and finishes: the asset is ready, and no longer retryable.
	ctx := context.Background()
	require.NoError(t, s.Messages(nil).Project(ctx, out[0]))
	later := func(env *eventsv1.Envelope) *eventsv1.Envelope {
		env.OccurredAt = timestamppb.New(time.Now().Add(time.Minute))
		return env
	}
	require.NoError(t, s.Messages(nil).Project(ctx, later(envelope(t, "a1", &eventsv1.EncodingStarted{Owner: "alice", Backend: "local", ExternalJobId: got.JobID, Attempt: 2}))))
	require.NoError(t, s.Messages(nil).Project(ctx, later(envelope(t, "a1", &eventsv1.EncodingFinished{Owner: "alice", Backend: "local", ExternalJobId: got.JobID,
		HlsManifestKey: req.GetOutputPrefix() + "/master.m3u8"}))))
	code, body := getJSON(t, s.Handler(), "/v1/assets/a1")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ready", body["status"])
	assertProblem(t, call(t, s, "POST", "/v1/assets/a1/retry", "alice"), http.StatusConflict, problem.AssetNotFailed)
}

func TestRetryRefusals(t *testing.T) {
	t.Parallel()
	s, _, pub := commandsFixture(t)
	ctx := context.Background()
	// Failed before any request: its source was refused.
	require.NoError(t, s.Messages(nil).Project(ctx, journey(t, "refused")[0]))
	require.NoError(t, s.Messages(nil).Project(ctx, envelope(t, "refused", &eventsv1.EncodingFailed{Owner: "alice", Reason: "no video", Code: "REFUSED"})))
	assertProblem(t, call(t, s, "POST", "/v1/assets/refused/retry", "alice"), http.StatusConflict, problem.NotRetryable)
	assertProblem(t, call(t, s, "POST", "/v1/assets/nope/retry", "alice"), http.StatusNotFound, problem.NotFound)
	assertProblem(t, call(t, s, "POST", "/v1/assets/.bad/retry", "alice"), http.StatusBadRequest, problem.InvalidID)
	rec := httptest.NewRecorder()
	apitest.Validate(t, apitest.Requests, s.Handler()).ServeHTTP(rec, httptest.NewRequest("POST", "/v1/assets/refused/retry", nil))
	assertProblem(t, rec, http.StatusUnauthorized, problem.Unauthorized)
	assert.Empty(t, pub.take())
}

func put(t *testing.T, st storage.Storage, key string) {
	t.Helper()
	_, err := st.Put(context.Background(), key, bytes.NewReader([]byte("x")))
	require.NoError(t, err)
}

func exists(st storage.Storage, key string) bool {
	_, err := st.Stat(context.Background(), key)
	return err == nil
}

// TestDeleteIsExactlyOnceSafe: DELETE tombstones the asset and announces it;
// the announcement, delivered any number of times, removes the asset's
// objects; a late EncodingFinished neither resurrects the asset nor leaves the
// outputs it wrote after the deletion.
func TestDeleteIsExactlyOnceSafe(t *testing.T) {
	t.Parallel()
	s, st, pub := commandsFixture(t)
	ctx := context.Background()
	failedAsset(t, s, "a1")
	failedAsset(t, s, "a2")
	put(t, st, "sources/a1/source.mov")
	put(t, st, "outputs/a1/local-1/master.m3u8")
	put(t, st, "sources/a2/source.mov")

	assertProblem(t, call(t, s, "DELETE", "/v1/assets/a1", "bob"), http.StatusNotFound, problem.NotFound)
	assert.Empty(t, pub.take())
	rec := call(t, s, "DELETE", "/v1/assets/a1", "alice")
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	assertProblem(t, call(t, s, "GET", "/v1/assets/a1", "alice"), http.StatusNotFound, problem.NotFound)
	assertProblem(t, call(t, s, "DELETE", "/v1/assets/a1", "alice"), http.StatusNotFound, problem.NotFound)
	assertProblem(t, call(t, s, "POST", "/v1/assets/a1/retry", "alice"), http.StatusNotFound, problem.NotFound)
	out := pub.take()
	require.Len(t, out, 1)
	del := out[0]
	require.NotNil(t, del.GetAssetDeleted())
	assert.Equal(t, "alice", del.GetAssetDeleted().GetOwner())

	// The bus brings the announcement back, twice.
	for range 2 {
		require.NoError(t, s.Messages(nil).Project(ctx, del))
	}
	assert.False(t, exists(st, "sources/a1/source.mov"))
	assert.False(t, exists(st, "outputs/a1/local-1/master.m3u8"))
	assert.True(t, exists(st, "sources/a2/source.mov"), "another asset's objects stay")

	// An encode still running when the asset was deleted writes its outputs and finishes.
	put(t, st, "outputs/a1/local-2/master.m3u8")
	late := envelope(t, "a1", &eventsv1.EncodingFinished{Owner: "alice", Backend: "local", ExternalJobId: "local-2",
		HlsManifestKey: "outputs/a1/local-2/master.m3u8"})
	late.OccurredAt = timestamppb.New(time.Now().Add(time.Hour))
	for range 2 {
		require.NoError(t, s.Messages(nil).Project(ctx, late))
		require.NoError(t, s.Messages(nil).Project(ctx, journey(t, "a1")[0]))
	}
	assertProblem(t, call(t, s, "GET", "/v1/assets/a1", "alice"), http.StatusNotFound, problem.NotFound)
	assert.False(t, exists(st, "outputs/a1/local-2/master.m3u8"), "outputs written after the deletion are removed")
	code, body := getJSON(t, s.Handler(), "/v1/assets")
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, body["assets"], 1)

	// An admin deletes anyone's asset.
	rec = call(t, s, "DELETE", "/v1/assets/a2", "root", auth.AdminGroup)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	out = pub.take()
	require.Len(t, out, 1)
	assert.Equal(t, "root", out[0].GetAssetDeleted().GetDeletedBy())
}

// TestDeleteWithoutBus: a catalog without a publisher refuses to delete (503)
// rather than delete without announcing it.
func TestDeleteWithoutBus(t *testing.T) {
	t.Parallel()
	s, _ := component(t)
	failedAsset(t, s, "a1")
	rec := call(t, s, "DELETE", "/v1/assets/a1", "alice")
	assertProblem(t, rec, http.StatusServiceUnavailable, problem.Unavailable)
	assert.Equal(t, "5", rec.Header().Get("Retry-After"))
	code, _ := getJSON(t, s.Handler(), "/v1/assets/a1")
	assert.Equal(t, http.StatusOK, code)
}

type retried struct {
	ID        string `json:"id"`
	Attempt   int    `json:"attempt"`
	RequestID string `json:"request_id"`
	JobID     string `json:"job_id"`
}
