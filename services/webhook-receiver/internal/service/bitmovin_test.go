package service

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/bitmovintest"
	"github.com/pertitle/pertitle/pkg/bitmovin"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/webhook"
	bitmovinresolver "github.com/pertitle/pertitle/services/webhook-receiver/internal/adapters/bitmovin"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/adapters/jobstore"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/app"
	httpport "github.com/pertitle/pertitle/services/webhook-receiver/internal/ports/http"
)

const bmKey = "sk-receiver-test-key"

type bitmovinFixture struct {
	fake     *bitmovintest.Server
	client   *bitmovin.Client
	pub      *recordingPublisher
	rcv      *app.Receiver
	store    storage.Storage
	handler  http.Handler
	finished string // encoding id, FINISHED
	errored  string // encoding id, ERROR
}

// startEncoding creates an encoding the way the dispatch backend labels it and
// starts it (a minimal per-title template: one stream, one muxing).
func startEncoding(t *testing.T, c *bitmovin.Client, jobID, assetID string) string {
	t.Helper()
	ctx := context.Background()
	enc, err := c.CreateEncoding(ctx, bitmovin.Encoding{Name: jobID,
		Labels: bitmovin.JobLabels{JobID: jobID, AssetID: assetID, Owner: "alice", LadderMode: "per-title"}.Labels()})
	require.NoError(t, err)
	cfg, err := c.CreateH264Configuration(ctx, bitmovin.H264VideoConfiguration{PresetConfiguration: bitmovin.PresetVODStandard})
	require.NoError(t, err)
	st, err := c.CreateStream(ctx, enc.ID, bitmovin.Stream{CodecConfigID: cfg.ID, Mode: bitmovin.StreamModePerTitleTemplate,
		InputStreams: []bitmovin.StreamInput{{InputID: "in", InputPath: "sources/x.mp4", SelectionMode: bitmovin.SelectionModeAuto}}})
	require.NoError(t, err)
	_, err = c.CreateFmp4Muxing(ctx, enc.ID, bitmovin.Fmp4Muxing{Streams: []bitmovin.MuxingStream{{StreamID: st.ID}},
		Outputs: []bitmovin.EncodingOutput{{OutputID: "out", OutputPath: "outputs/" + assetID + "/" + jobID + "/video/{height}p_{bitrate}"}}})
	require.NoError(t, err)
	require.NoError(t, c.StartEncoding(ctx, enc.ID, bitmovin.StartEncodingRequest{EncodingMode: bitmovin.EncodingModeThreePass}))
	return enc.ID
}

func bitmovinSetup(t *testing.T, maxBytes int64) *bitmovinFixture {
	t.Helper()
	fake := bitmovintest.New(bitmovintest.Options{APIKey: bmKey}).Start()
	t.Cleanup(fake.Close)
	fake.AddInput("s3-role-based", "in")
	fake.AddOutput("s3-role-based", "out")
	fake.MuteWebhooks(true)
	// A second per call was too tight for the race detector on a loaded two-core machine.
	c, err := bitmovin.New(bitmovin.Config{BaseURL: fake.URL(), APIKey: bmKey, Timeout: 10 * time.Second, Backoff: time.Millisecond})
	require.NoError(t, err)
	f := &bitmovinFixture{fake: fake, client: c, pub: &recordingPublisher{}}
	f.finished = startEncoding(t, c, "local-aaaa", "asset-ok")
	require.NoError(t, fake.Finish(f.finished))
	f.errored = startEncoding(t, c, "local-bbbb", "asset-bad")
	require.NoError(t, fake.Fail(f.errored, bitmovin.ErrorDetails{Code: 2001, Text: "input file not found", RetryHint: bitmovin.RetryHintNoRetry}))
	f.store, err = storage.NewFS(t.TempDir())
	require.NoError(t, err)
	f.rcv = app.NewReceiver(f.pub, app.RoutingResolver{Local: jobstore.Resolver{Store: f.store}, Bitmovin: bitmovinresolver.Resolver{Client: c}}, time.Hour)
	f.rcv.Ledger = jobstore.Ledger{Store: f.store}
	f.handler = httpport.Webhook(f.rcv, key, maxBytes, zap.NewNop())
	return f
}

func TestBitmovinWebhookRequests(t *testing.T) {
	t.Parallel()
	// Encoding ids of the fake are deterministic: the first encoding of every fixture.
	finished := bitmovinSetup(t, 4096).finished
	good := notification("bm-1", finished, webhook.EventEncodingFinished)
	cases := []struct {
		name      string
		body      []byte
		sig       string
		code      int
		published int
	}{
		{"good", good, webhook.Sign(key, good), http.StatusAccepted, 1},
		{"missing signature", good, "", http.StatusUnauthorized, 0},
		{"wrong signature", good, webhook.Sign([]byte(bmKey), good), http.StatusUnauthorized, 0},
		{"tampered body", bytes.Replace(good, []byte("bm-1"), []byte("bm-2"), 1), webhook.Sign(key, good), http.StatusUnauthorized, 0},
		{"oversize", append(good, bytes.Repeat([]byte(" "), 5000)...), webhook.Sign(key, append(good, bytes.Repeat([]byte(" "), 5000)...)), http.StatusRequestEntityTooLarge, 0},
		{"not our encoding", notification("bm-3", "ffffffff-0000-4000-8000-000000000999", webhook.EventEncodingFinished),
			webhook.Sign(key, notification("bm-3", "ffffffff-0000-4000-8000-000000000999", webhook.EventEncodingFinished)), http.StatusNotFound, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := bitmovinSetup(t, 4096)
			rec := post(f.handler, tc.body, tc.sig)
			assert.Equal(t, tc.code, rec.Code, rec.Body.String())
			assert.Len(t, f.pub.events(), tc.published)
		})
	}
}

func TestBitmovinFinishedCarriesRenditionsAndManifests(t *testing.T) {
	t.Parallel()
	f := bitmovinSetup(t, 1<<20)
	body := notification("bm-1", f.finished, webhook.EventEncodingFinished)
	require.Equal(t, http.StatusAccepted, post(f.handler, body, webhook.Sign(key, body)).Code)
	evs := f.pub.events()
	require.Len(t, evs, 1)
	fin := evs[0].GetEncodingFinished()
	require.NotNil(t, fin)
	assert.Equal(t, "asset-ok", evs[0].GetAssetId())
	assert.Equal(t, "bitmovin", fin.GetBackend())
	assert.Equal(t, f.finished, fin.GetExternalJobId())
	assert.Equal(t, "outputs/asset-ok/local-aaaa/master.m3u8", fin.GetHlsManifestKey())
	assert.Equal(t, "outputs/asset-ok/local-aaaa/manifest.mpd", fin.GetDashManifestKey())
	require.Len(t, fin.GetRenditions(), len(bitmovintest.DefaultRenditions))
	for i, r := range bitmovintest.DefaultRenditions {
		got := fin.GetRenditions()[i]
		assert.EqualValues(t, r.Height, got.GetHeight())
		assert.EqualValues(t, r.Width, got.GetWidth())
		assert.EqualValues(t, r.Bitrate, got.GetAverageBitrate())
		assert.Equal(t, "h264", got.GetCodec())
	}
}

func TestBitmovinErrorCarriesRetryHint(t *testing.T) {
	t.Parallel()
	f := bitmovinSetup(t, 1<<20)
	body := notification("bm-9", f.errored, webhook.EventEncodingError)
	require.Equal(t, http.StatusAccepted, post(f.handler, body, webhook.Sign(key, body)).Code)
	evs := f.pub.events()
	require.Len(t, evs, 1)
	failed := evs[0].GetEncodingFailed()
	require.NotNil(t, failed)
	assert.Equal(t, "asset-bad", evs[0].GetAssetId())
	assert.Equal(t, "input file not found", failed.GetReason())
	assert.False(t, failed.GetRetryable())
	assert.Equal(t, "bitmovin-2001", failed.GetCode())
}

func TestBitmovinReplayAfterRestartPublishesOnce(t *testing.T) {
	t.Parallel()
	f := bitmovinSetup(t, 1<<20)
	body := notification("bm-1", f.finished, webhook.EventEncodingFinished)
	require.Equal(t, http.StatusAccepted, post(f.handler, body, webhook.Sign(key, body)).Code)
	// A new process: the in-memory set is gone, the ledger in storage is not.
	rcv := app.NewReceiver(f.pub, bitmovinresolver.Resolver{Client: f.client}, time.Hour)
	rcv.Ledger = jobstore.Ledger{Store: f.store}
	h := httpport.Webhook(rcv, key, 1<<20, zap.NewNop())
	again := notification("bm-1-retry", f.finished, webhook.EventEncodingFinished)
	rec := post(h, again, webhook.Sign(key, again))
	assert.Equal(t, http.StatusAccepted, rec.Code)
	assert.Contains(t, rec.Body.String(), "duplicate")
	assert.Len(t, f.pub.events(), 1)
	_, err := f.store.Stat(context.Background(), jobs.CompletionKey(f.finished, webhook.EventEncodingFinished))
	assert.NoError(t, err, "the reconciler reads this record")
}

func TestSlowBitmovinAPIAsksForRetry(t *testing.T) {
	t.Parallel()
	f := bitmovinSetup(t, 1<<20)
	f.rcv.ResolveTimeout = 100 * time.Millisecond
	f.fake.AddFault(bitmovintest.Fault{PathPrefix: "/encoding/encodings/", Delay: 2 * time.Second})
	body := notification("bm-1", f.finished, webhook.EventEncodingFinished)
	start := time.Now()
	rec := post(f.handler, body, webhook.Sign(key, body))
	assert.Less(t, time.Since(start), time.Second, "answered well within Bitmovin's 10 s")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Empty(t, f.pub.events())
}
