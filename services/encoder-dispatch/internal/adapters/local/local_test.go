package local_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/webhook"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/adapters/local"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/ports/messages"
)

type recorder struct {
	mu  sync.Mutex
	got []*eventsv1.Envelope
}

func (r *recorder) Publish(_ context.Context, env *eventsv1.Envelope) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, env)
	return nil
}

func (r *recorder) ofType(topic string) []*eventsv1.Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*eventsv1.Envelope
	for _, e := range r.got {
		if t, _ := events.Topic(e); t == topic {
			out = append(out, e)
		}
	}
	return out
}

type hooks struct {
	mu  sync.Mutex
	got []webhook.Notification
}

func (h *hooks) all() []webhook.Notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]webhook.Notification(nil), h.got...)
}

var key = []byte("dispatch-test")

// dispatch is a dispatcher with the bus handlers that feed it.
type dispatch struct {
	*app.Dispatcher
	*messages.Handlers
}

func setup(t *testing.T) (dispatch, *recorder, *hooks, storage.Storage) {
	t.Helper()
	st, err := storage.NewFS(t.TempDir())
	require.NoError(t, err)
	hk := &hooks{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if webhook.Verify(key, body, r.Header.Get(webhook.SignatureHeader)) != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		n, err := webhook.Parse(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		hk.mu.Lock()
		hk.got = append(hk.got, n)
		hk.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	rec := &recorder{}
	be := &local.Backend{Store: st, WorkDir: t.TempDir(), FFmpeg: "ffmpeg", Preset: "ultrafast", SegmentSeconds: 1,
		Webhook: webhook.Sender{URL: srv.URL, Key: key, Attempts: 2, Backoff: 10 * time.Millisecond}, Log: zap.NewNop()}
	d := &app.Dispatcher{Pub: rec, Backend: be, Log: zap.NewNop(), Producer: "encoder-dispatch", ProgressEvery: time.Millisecond}
	return dispatch{d, &messages.Handlers{Dispatcher: d}}, rec, hk, st
}

// uploaded stores src as an asset's source and returns its AssetUploaded event.
func uploaded(t *testing.T, st storage.Storage, src string, w, h int) *eventsv1.Envelope {
	t.Helper()
	f, err := os.Open(src)
	require.NoError(t, err)
	defer f.Close()
	key := jobs.SourceKey("asset-1", ".mp4")
	_, err = st.Put(context.Background(), key, f)
	require.NoError(t, err)
	env, err := events.New(events.Meta{AssetID: "asset-1", Producer: "ingest", CorrelationID: "corr-1"}, &eventsv1.AssetUploaded{
		Owner: "alice", Title: "t", SourceKey: key,
		Probe: &eventsv1.ProbeSummary{Width: int32(w), Height: int32(h), DurationSeconds: 2, FrameRate: 25, PixelFormat: "yuv420p", VideoCodec: "h264"},
	})
	require.NoError(t, err)
	return env
}

func TestEncodeFinishesThroughWebhook(t *testing.T) {
	t.Parallel()
	d, rec, hk, st := setup(t)
	ctx := context.Background()
	clip := testmedia.Clip(t, testmedia.Spec{Width: 640, Height: 360, Seconds: 2})
	up := uploaded(t, st, clip, 640, 360)

	require.NoError(t, d.OnAssetUploaded(ctx, up))
	reqs := rec.ofType(events.TopicEncodingRequested)
	require.Len(t, reqs, 1)
	req := reqs[0]
	assert.Equal(t, "corr-1", req.GetCorrelationId(), "correlation id follows the asset")
	assert.NotEmpty(t, req.GetEncodingRequested().GetLadder())

	// A redelivered upload plans the same request (same event id), so consumers collapse it.
	require.NoError(t, d.OnAssetUploaded(ctx, up))
	assert.Equal(t, req.GetEventId(), rec.ofType(events.TopicEncodingRequested)[1].GetEventId())

	require.NoError(t, d.OnEncodingRequested(ctx, req))
	started := rec.ofType(events.TopicEncodingStarted)
	require.Len(t, started, 1)
	jobID := started[0].GetEncodingStarted().GetExternalJobId()
	assert.NotEmpty(t, rec.ofType(events.TopicEncodingProgress), "progress is reported")

	require.Len(t, hk.all(), 1)
	n := hk.all()[0]
	assert.Equal(t, jobID, n.EncodingID())
	assert.Equal(t, webhook.EventEncodingFinished, n.EventType)

	res, err := jobs.Load(ctx, st, jobID)
	require.NoError(t, err)
	assert.Equal(t, jobs.StatusFinished, res.Status)
	assert.Equal(t, "asset-1", res.AssetID)
	assert.Equal(t, "corr-1", res.CorrelationID)
	require.Len(t, res.Renditions, len(req.GetEncodingRequested().GetLadder()))
	for _, key := range []string{res.HLSManifestKey, res.DASHManifestKey, res.Renditions[0].Playlist} {
		_, err := st.Stat(ctx, key)
		assert.NoError(t, err, key)
	}
	b, _ := json.Marshal(res)
	assert.Contains(t, string(b), "avc1.")

	// Redelivery after completion resends the webhook and does not encode again.
	require.NoError(t, d.OnEncodingRequested(ctx, req))
	assert.Len(t, rec.ofType(events.TopicEncodingStarted), 1, "no second encode")
	assert.Len(t, hk.all(), 2)
}

func TestBrokenSourceFailsThroughWebhook(t *testing.T) {
	t.Parallel()
	d, rec, hk, st := setup(t)
	ctx := context.Background()
	junk := t.TempDir() + "/junk.mp4"
	require.NoError(t, os.WriteFile(junk, []byte("definitely not a video"), 0o644))
	up := uploaded(t, st, junk, 640, 360)
	require.NoError(t, d.OnAssetUploaded(ctx, up))
	require.NoError(t, d.OnEncodingRequested(ctx, rec.ofType(events.TopicEncodingRequested)[0]))

	require.Len(t, hk.all(), 1)
	assert.Equal(t, webhook.EventEncodingError, hk.all()[0].EventType)
	res, err := jobs.Load(ctx, st, hk.all()[0].EncodingID())
	require.NoError(t, err)
	assert.Equal(t, jobs.StatusError, res.Status)
	assert.NotEmpty(t, res.Error)
	objs, _ := st.List(ctx, "outputs/")
	assert.Empty(t, objs, "a failed job publishes no outputs")
}

func TestInterruptedEncodeIsHandedBack(t *testing.T) {
	t.Parallel()
	d, rec, hk, st := setup(t)
	clip := testmedia.Clip(t, testmedia.Spec{Width: 640, Height: 360, Seconds: 6, Source: "mandelbrot"})
	up := uploaded(t, st, clip, 640, 360)
	require.NoError(t, d.OnAssetUploaded(context.Background(), up))
	ctx, cancel := context.WithCancel(context.Background())
	d.Backend.(*local.Backend).Preset = "veryslow"
	go func() {
		for len(rec.ofType(events.TopicEncodingStarted)) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	err := d.OnEncodingRequested(ctx, rec.ofType(events.TopicEncodingRequested)[0])
	require.Error(t, err, "an interrupted encode returns an error so the bus redelivers it")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, hk.all(), "no webhook for an interrupted job")
	jobs, _ := st.List(context.Background(), "jobs/")
	assert.Empty(t, jobs, "no result is recorded for an interrupted job")
}

func TestPlanRejectsUnusableEvents(t *testing.T) {
	t.Parallel()
	d, rec, _, _ := setup(t)
	env, err := events.New(events.Meta{AssetID: "a", Producer: "p"}, &eventsv1.AssetUploaded{Owner: "alice", SourceKey: "k", Probe: &eventsv1.ProbeSummary{}})
	require.NoError(t, err)
	err = d.OnAssetUploaded(context.Background(), env)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no video size")
	assert.True(t, bus.IsPermanent(err), "an unusable event goes to the dead-letter queue, not round and round")

	// The asset does not wait forever: its failure is announced, once per event.
	require.Error(t, d.OnAssetUploaded(context.Background(), env))
	failed := rec.ofType(events.TopicEncodingFailed)
	require.Len(t, failed, 2)
	assert.Equal(t, failed[0].GetEventId(), failed[1].GetEventId(), "a redelivery announces the same failure")
	f := failed[0].GetEncodingFailed()
	assert.Equal(t, "alice", f.GetOwner())
	assert.False(t, f.GetRetryable())
	assert.Contains(t, f.GetReason(), "no video size")
}

// TestPerTitleJob: with ladder mode pertitle the backend analyses the clip,
// encodes the ladder it chose, scores it and stores the reports beside the
// manifests; progress goes through the analysis and encoding stages.
func TestPerTitleJob(t *testing.T) {
	t.Parallel()
	d, rec, hk, st := setup(t)
	d.LadderMode = jobs.LadderPerTitle
	ctx := context.Background()
	clip := testmedia.Clip(t, testmedia.Spec{Width: 640, Height: 360, Seconds: 2, Audio: true})
	up := uploaded(t, st, clip, 640, 360)

	require.NoError(t, d.OnAssetUploaded(ctx, up))
	req := rec.ofType(events.TopicEncodingRequested)[0]
	assert.Equal(t, jobs.LadderPerTitle, req.GetEncodingRequested().GetLadderMode())
	require.NoError(t, d.OnEncodingRequested(ctx, req))

	require.Len(t, hk.all(), 1)
	require.Equal(t, webhook.EventEncodingFinished, hk.all()[0].EventType)
	res, err := jobs.Load(ctx, st, hk.all()[0].EncodingID())
	require.NoError(t, err)
	require.Equal(t, jobs.StatusFinished, res.Status, res.Error)
	assert.Equal(t, jobs.LadderPerTitle, res.LadderMode)
	require.NotEmpty(t, res.Renditions)
	for _, r := range res.Renditions {
		assert.Contains(t, r.Scores, "ssim")
		assert.Contains(t, r.Codecs, "avc1.")
		assert.Positive(t, r.FrameRate)
		_, err := st.Stat(ctx, r.Playlist)
		assert.NoError(t, err, r.Playlist)
	}
	rungs := jobs.Rungs(res.Renditions)
	require.NotEmpty(t, rungs[0].GetQuality(), "EncodingFinished carries the scores")
	prefix := req.GetEncodingRequested().GetOutputPrefix()
	for _, name := range []string{"report.json", "report.svg", "master.m3u8", "manifest.mpd"} {
		_, err := st.Stat(ctx, prefix+"/"+name)
		assert.NoError(t, err, name)
	}
	stages := map[string]bool{}
	for _, e := range rec.ofType(events.TopicEncodingProgress) {
		stages[e.GetEncodingProgress().GetStage()] = true
	}
	assert.True(t, stages["analysis"], "analysis progress: %v", stages)
	assert.True(t, stages["encoding"], "encoding progress: %v", stages)
}

func TestStaticLadderMode(t *testing.T) {
	t.Parallel()
	d, rec, _, st := setup(t)
	d.LadderMode = jobs.LadderStatic
	up := uploaded(t, st, testmedia.Clip(t, testmedia.Spec{Width: 640, Height: 360, Seconds: 1}), 640, 360)
	require.NoError(t, d.OnAssetUploaded(context.Background(), up))
	req := rec.ofType(events.TopicEncodingRequested)[0].GetEncodingRequested()
	assert.Equal(t, jobs.LadderStatic, req.GetLadderMode())
	require.NotEmpty(t, req.GetLadder())
	assert.Equal(t, int32(640), req.GetLadder()[0].GetWidth(), "the static ladder stops at the source size")
}
