package service

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/bitmovintest"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/webhook"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/adapters/jobstore"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/app"
	httpport "github.com/pertitle/pertitle/services/webhook-receiver/internal/ports/http"
)

// localFixture is a receiver over job records in storage, with the ledger.
type localFixture struct {
	store   storage.Storage
	pub     *recordingPublisher
	handler http.Handler
}

func newLocalFixture(t *testing.T) *localFixture {
	t.Helper()
	st, err := storage.NewFS(t.TempDir())
	require.NoError(t, err)
	f := &localFixture{store: st, pub: &recordingPublisher{}}
	rcv := app.NewReceiver(f.pub, jobstore.Resolver{Store: st}, time.Hour)
	rcv.Ledger = jobstore.Ledger{Store: st}
	f.handler = httpport.Webhook(rcv, key, 1<<20, zap.NewNop())
	return f
}

func (f *localFixture) save(t *testing.T, r *jobs.Result) {
	t.Helper()
	require.NoError(t, jobs.Save(context.Background(), f.store, r))
}

func (f *localFixture) post(id, job, typ string) *httptest.ResponseRecorder {
	body := notification(id, job, typ)
	return post(f.handler, body, webhook.Sign(key, body))
}

func finishedRecord(job, asset string) *jobs.Result {
	return &jobs.Result{JobID: job, AssetID: asset, Owner: "alice", Backend: "local", Status: jobs.StatusFinished,
		HLSManifestKey: "outputs/" + asset + "/" + job + "/master.m3u8", DASHManifestKey: "outputs/" + asset + "/" + job + "/manifest.mpd",
		Renditions: []jobs.Rendition{{Width: 640, Height: 360, Bitrate: 900_000, Codec: "h264"}}}
}

// TestErrorClaimForFinishedJobPublishesFinished (finding 7): the receiver publishes
// what the job record says. An ENCODING_ERROR for a job that finished must not
// fail a good asset.
func TestErrorClaimForFinishedJobPublishesFinished(t *testing.T) {
	t.Parallel()
	f := newLocalFixture(t)
	f.save(t, finishedRecord("local-ok", "asset-1"))

	rec := f.post("n1", "local-ok", webhook.EventEncodingError)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), webhook.EventEncodingFinished)
	evs := f.pub.events()
	require.Len(t, evs, 1)
	require.NotNil(t, evs[0].GetEncodingFinished(), "published %s", evs[0].GetType())
	assert.Nil(t, evs[0].GetEncodingFailed())

	// Neither the same lie again, nor the truth afterwards, publishes anything new.
	for _, n := range []struct{ id, typ string }{{"n1", webhook.EventEncodingError}, {"n2", webhook.EventEncodingError}, {"n3", webhook.EventEncodingFinished}} {
		rec = f.post(n.id, "local-ok", n.typ)
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
		assert.Contains(t, rec.Body.String(), "duplicate")
	}
	evs = f.pub.events()
	require.Len(t, evs, 1)
	for _, e := range evs {
		assert.Nil(t, e.GetEncodingFailed())
	}
}

// TestFinishedClaimForUnfinishedJobIsRetriedLater: a job that has not ended (a
// record still saying RUNNING, or none yet) publishes nothing; with a record the
// sender is told to come back, and its redelivery after the end publishes.
func TestFinishedClaimForUnfinishedJobIsRetriedLater(t *testing.T) {
	t.Parallel()
	f := newLocalFixture(t)
	running := finishedRecord("local-run", "asset-1")
	running.Status = "RUNNING"
	f.save(t, running)

	rec := f.post("n1", "local-run", webhook.EventEncodingFinished)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
	assert.Contains(t, rec.Body.String(), "retry later")
	rec = f.post("n2", "local-run", webhook.EventEncodingError)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "an early error claim is no different")
	rec = f.post("n3", "local-none", webhook.EventEncodingFinished)
	assert.Equal(t, http.StatusNotFound, rec.Code, "no record at all: nobody started it")
	assert.Empty(t, f.pub.events())

	f.save(t, finishedRecord("local-run", "asset-1"))
	rec = f.post("n1", "local-run", webhook.EventEncodingFinished)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	evs := f.pub.events()
	require.Len(t, evs, 1)
	assert.NotNil(t, evs[0].GetEncodingFinished())
}

// TestResultTooLargeToPublishFailsTheEncoding: a result that cannot fit in one SQS
// message is never published, whatever the retries: the sender gets no 503, and
// the asset ends failed with the reason instead of waiting forever.
func TestResultTooLargeToPublishFailsTheEncoding(t *testing.T) {
	t.Parallel()
	f := newLocalFixture(t)
	huge := finishedRecord("local-huge", "asset-1")
	for i := range 5_000 {
		huge.Renditions = append(huge.Renditions, jobs.Rendition{Width: 640, Height: 360, Bitrate: int64(i), Codec: "h264",
			Playlist: fmt.Sprintf("outputs/asset-1/local-huge/%05d/playlist.m3u8", i)})
	}
	f.save(t, huge)
	rec := f.post("n1", "local-huge", webhook.EventEncodingFinished)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	evs := f.pub.events()
	require.Len(t, evs, 1)
	failed := evs[0].GetEncodingFailed()
	require.NotNil(t, failed)
	assert.Contains(t, failed.GetReason(), "too large to publish")
	assert.False(t, failed.GetRetryable())

	// A failure reason of any length is cut to fit.
	long := finishedRecord("local-long", "asset-2")
	long.Status, long.Error = jobs.StatusError, strings.Repeat("ffmpeg said: é ", 50_000)
	f.save(t, long)
	rec = f.post("n2", "local-long", webhook.EventEncodingError)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	evs = f.pub.events()
	require.Len(t, evs, 2)
	reason := evs[1].GetEncodingFailed().GetReason()
	assert.LessOrEqual(t, len(reason), 4100)
	assert.True(t, strings.HasPrefix(reason, "ffmpeg said: é"))
}

// Bitmovin backend: the same rules, with the status read from Bitmovin's API.

func TestBitmovinErrorClaimForFinishedEncodingPublishesFinished(t *testing.T) {
	t.Parallel()
	f := bitmovinSetup(t, 1<<20)
	body := notification("bm-1", f.finished, webhook.EventEncodingError)
	rec := post(f.handler, body, webhook.Sign(key, body))
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	evs := f.pub.events()
	require.Len(t, evs, 1)
	fin := evs[0].GetEncodingFinished()
	require.NotNil(t, fin, "published %s", evs[0].GetType())
	assert.Len(t, fin.GetRenditions(), len(bitmovintest.DefaultRenditions), "the renditions Bitmovin reports")
	again := notification("bm-2", f.finished, webhook.EventEncodingFinished)
	rec = post(f.handler, again, webhook.Sign(key, again))
	assert.Contains(t, rec.Body.String(), "duplicate")
	assert.Len(t, f.pub.events(), 1)
}

func TestBitmovinFinishedClaimForRunningEncodingIsRetriedLater(t *testing.T) {
	t.Parallel()
	f := bitmovinSetup(t, 1<<20)
	running := startEncoding(t, f.client, "local-cccc", "asset-later") // started, never finished by the fake
	body := notification("bm-1", running, webhook.EventEncodingFinished)
	rec := post(f.handler, body, webhook.Sign(key, body))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
	assert.Empty(t, f.pub.events())

	require.NoError(t, f.fake.Finish(running))
	rec = post(f.handler, body, webhook.Sign(key, body))
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	evs := f.pub.events()
	require.Len(t, evs, 1)
	assert.Equal(t, "asset-later", evs[0].GetAssetId())
	assert.IsType(t, &eventsv1.Envelope_EncodingFinished{}, evs[0].GetPayload())
}
