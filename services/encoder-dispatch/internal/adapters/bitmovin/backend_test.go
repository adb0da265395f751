package bitmovin_test

import (
	"context"
	"encoding/json"
	"github.com/pertitle/pertitle/pkg/jobs"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/bitmovintest"
	"github.com/pertitle/pertitle/pkg/bitmovin"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/webhook"
	backend "github.com/pertitle/pertitle/services/encoder-dispatch/internal/adapters/bitmovin"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

const (
	apiKey    = "sk-dispatch-test-key"
	hookKey   = "whsec-dispatch-test"
	inputID   = "in-role-1"
	outputID  = "out-role-1"
	publicURL = "https://hooks.example.com/webhooks/bitmovin"
)

type reporter struct {
	mu      sync.Mutex
	started []string
}

func (r *reporter) Started(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, id)
	return nil
}

func (r *reporter) Progress(context.Context, media.Progress) {}

func settings() backend.Settings {
	return backend.Settings{InputID: inputID, OutputID: outputID, CloudRegion: "AWS_EU_WEST_1",
		WebhookURL: publicURL, WebhookSecret: hookKey, EncodingMode: bitmovin.EncodingModeThreePass,
		Preset: bitmovin.PresetVODStandard, AutoRepresentations: true, TargetQualityCRF: 23, SegmentSeconds: 4, AudioBitrate: 128000,
		Constraints: pertitle.Constraints{MinBitrate: 250_000, MaxBitrate: 6_000_000, MinStep: 1.5, MaxStep: 1.9, ComplexityFactor: 1.1}}
}

func setup(t *testing.T, opts bitmovintest.Options, s backend.Settings) (*bitmovintest.Server, *bitmovin.Client, *backend.Backend) {
	t.Helper()
	opts.APIKey = apiKey
	srv := bitmovintest.New(opts).Start()
	t.Cleanup(srv.Close)
	srv.AddInput("s3-role-based", inputID)
	srv.AddOutput("s3-role-based", outputID)
	// A request to the in-process fake takes milliseconds, but seconds on a
	// loaded 2-core machine.
	c, err := bitmovin.New(bitmovin.Config{BaseURL: srv.URL(), APIKey: apiKey, Timeout: 15 * time.Second, Backoff: time.Millisecond})
	require.NoError(t, err)
	return srv, c, &backend.Backend{Client: c, Settings: s, Log: zap.NewNop()}
}

func job() app.Job {
	return app.Job{ID: "bitmovin-0123456789abcdef0123", AssetID: "asset-1", Owner: "alice", SourceKey: "sources/asset-1/source.mp4",
		OutputPrefix: "outputs/asset-1/bitmovin-0123456789abcdef0123", CorrelationID: "corr-1",
		Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", Probe: &eventsv1.ProbeSummary{HasAudio: true}}
}

type recordedCall struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query,omitempty"`
	Body   any    `json:"body,omitempty"`
}

func recorded(t *testing.T, calls []bitmovintest.Call) []recordedCall {
	t.Helper()
	out := make([]recordedCall, 0, len(calls))
	for _, c := range calls {
		rc := recordedCall{Method: c.Method, Path: c.Path, Query: c.Query}
		if len(c.Body) > 0 {
			require.NoError(t, json.Unmarshal(c.Body, &rc.Body))
		}
		out = append(out, rc)
	}
	return out
}

// The fixture is written from the API reference (paths, property names, enums);
// the comparison is structural (JSON values, not bytes).
func TestPerTitleEncodingRequests(t *testing.T) {
	t.Parallel()
	srv, _, b := setup(t, bitmovintest.Options{}, settings())
	rep := &reporter{}
	require.NoError(t, b.Run(context.Background(), job(), rep))

	got := recorded(t, srv.Calls())
	if os.Getenv("UPDATE_FIXTURES") != "" {
		raw, _ := json.MarshalIndent(got, "", "  ")
		require.NoError(t, os.WriteFile("testdata/per_title_calls.json", append(raw, '\n'), 0o644))
	}
	raw, err := os.ReadFile("testdata/per_title_calls.json")
	require.NoError(t, err)
	var want []recordedCall
	require.NoError(t, json.Unmarshal(raw, &want))
	require.Equal(t, len(want), len(got), "number of calls")
	for i := range want {
		assert.Equal(t, want[i], got[i], "call %d: %s %s", i, want[i].Method, want[i].Path)
	}
	encs := srv.Encodings()
	require.Len(t, encs, 1)
	assert.Equal(t, []string{encs[0].ID}, rep.started)
	assert.Equal(t, bitmovin.StatusQueued, encs[0].Status)
}

func TestCloudConnectRunsOnTheInfrastructure(t *testing.T) {
	t.Parallel()
	s := settings()
	s.InfrastructureID, s.CloudRegion = "infra-42", "AWS_US_EAST_1"
	srv, _, b := setup(t, bitmovintest.Options{}, s)
	require.NoError(t, b.Run(context.Background(), job(), &reporter{}))
	var body map[string]any
	for _, c := range srv.Calls() {
		if c.Method == http.MethodPost && c.Path == "/encoding/encodings" {
			require.NoError(t, json.Unmarshal(c.Body, &body))
		}
	}
	assert.Equal(t, "EXTERNAL", body["cloudRegion"])
	assert.Equal(t, map[string]any{"infrastructureId": "infra-42", "cloudRegion": "AWS_US_EAST_1"}, body["infrastructure"])
}

func TestRedeliveredRequestStartsNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status func(srv *bitmovintest.Server, id string)
	}{
		{"queued", func(*bitmovintest.Server, string) {}},
		{"finished", func(srv *bitmovintest.Server, id string) { require.NoError(t, srv.Finish(id)) }},
		{"errored", func(srv *bitmovintest.Server, id string) {
			require.NoError(t, srv.Fail(id, bitmovin.ErrorDetails{Text: "input missing", RetryHint: bitmovin.RetryHintNoRetry}))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, _, b := setup(t, bitmovintest.Options{}, settings())
			srv.MuteWebhooks(true)
			rep := &reporter{}
			require.NoError(t, b.Run(context.Background(), job(), rep))
			id := srv.Encodings()[0].ID
			tc.status(srv, id)
			before := len(srv.Calls())
			require.NoError(t, b.Run(context.Background(), job(), rep))
			second := srv.Calls()[before:]
			require.Len(t, second, 1, "only the lookup")
			assert.Equal(t, http.MethodGet, second[0].Method)
			assert.Equal(t, "/encoding/encodings", second[0].Path)
			assert.Contains(t, second[0].Query, "name="+job().ID)
			assert.Len(t, srv.Encodings(), 1)
			assert.Equal(t, []string{id, id}, rep.started)
		})
	}
}

func TestInterruptedSetupIsReplaced(t *testing.T) {
	t.Parallel()
	srv, c, b := setup(t, bitmovintest.Options{}, settings())
	// A previous attempt created the encoding and died before starting it.
	old, err := c.CreateEncoding(context.Background(), bitmovin.Encoding{Name: job().ID, Labels: []string{bitmovin.LabelSystem}})
	require.NoError(t, err)
	rep := &reporter{}
	require.NoError(t, b.Run(context.Background(), job(), rep))
	encs := srv.Encodings()
	require.Len(t, encs, 1)
	assert.NotEqual(t, old.ID, encs[0].ID)
	assert.Equal(t, []string{encs[0].ID}, rep.started)
}

func TestRefusedSetupIsPermanent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		fault     bitmovintest.Fault
		permanent bool
	}{
		{"400 on start", bitmovintest.Fault{Method: http.MethodPost, PathPrefix: "/encoding/encodings/", Status: 400}, true},
		{"unknown input", bitmovintest.Fault{PathPrefix: "/encoding/inputs/", Status: 404}, true},
		{"503 everywhere", bitmovintest.Fault{PathPrefix: "/encoding/encodings", Status: 503}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, _, b := setup(t, bitmovintest.Options{}, settings())
			srv.AddFault(tc.fault)
			rep := &reporter{}
			err := b.Run(context.Background(), job(), rep)
			require.Error(t, err)
			assert.Equal(t, tc.permanent, bus.IsPermanent(err), err.Error())
			assert.Empty(t, rep.started)
		})
	}
}

// receiverStub stands for the webhook-receiver: it verifies the signature and
// records the completion as the real one does.
func receiverStub(t *testing.T, store storage.Storage, got *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf [4096]byte
		n, _ := r.Body.Read(buf[:])
		body := buf[:n]
		if webhook.Verify([]byte(hookKey), body, r.Header.Get(webhook.SignatureHeader)) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		notif, err := webhook.Parse(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got.Add(1)
		_, _ = store.Put(r.Context(), jobs.CompletionKey(notif.EncodingID(), notif.EventType), http.NoBody)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestReconcilerCompletesAStuckEncodingOnce(t *testing.T) {
	t.Parallel()
	srv, c, b := setup(t, bitmovintest.Options{}, settings())
	store, err := storage.NewFS(t.TempDir())
	require.NoError(t, err)
	var delivered atomic.Int32
	rcv := receiverStub(t, store, &delivered)

	srv.MuteWebhooks(true) // Bitmovin gave up on the webhook
	require.NoError(t, b.Run(context.Background(), job(), &reporter{}))
	stuck := srv.Encodings()[0].ID
	require.NoError(t, srv.Finish(stuck))
	// Someone else's encoding in the same account is left alone.
	other, err := c.CreateEncoding(context.Background(), bitmovin.Encoding{Name: "not-ours"})
	require.NoError(t, err)
	_ = other

	now := time.Now()
	r := &backend.Reconciler{Client: c, Store: store, Log: zap.NewNop(), Grace: time.Minute, Lookback: time.Hour,
		Sender: webhook.Sender{URL: rcv.URL, Key: []byte(hookKey), Attempts: 1}, Now: func() time.Time { return now }}
	n, err := r.Tick(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n, "within the grace period the webhook may still come")

	now = now.Add(2 * time.Minute)
	n, err = r.Tick(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.EqualValues(t, 1, delivered.Load())

	n, err = r.Tick(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n, "completed once")
	assert.EqualValues(t, 1, delivered.Load())
}

// TestStaticComparisonEncoding: with WithStatic the job also gets a second,
// two-pass encoding of the static ladder at the source's aspect, under
// <output>/static/, labelled so that nothing completes the job from it; a
// redelivered request starts neither encoding again.
func TestStaticComparisonEncoding(t *testing.T) {
	t.Parallel()
	s := settings()
	s.WithStatic = true
	srv, _, b := setup(t, bitmovintest.Options{}, s)
	j := job()
	j.Probe.Width, j.Probe.Height = 1280, 720
	rep := &reporter{}
	require.NoError(t, b.Run(context.Background(), j, rep))
	encs := srv.Encodings()
	require.Len(t, encs, 2)
	var perTitle, static bitmovin.Encoding
	for _, e := range encs {
		if e.Name == j.ID+backend.StaticSuffix {
			static = e
		} else {
			perTitle = e
		}
	}
	assert.Equal(t, []string{perTitle.ID}, rep.started, "the job is the per-title encoding")
	assert.True(t, static.HasLabel(bitmovin.LabelStatic))
	assert.False(t, static.HasLabel(bitmovin.LabelSystem), "the reconciler and the receiver ignore the comparison")
	start := srv.StartRequest(static.ID)
	require.NotNil(t, start, "the static comparison was started")
	assert.Equal(t, bitmovin.EncodingModeTwoPass, start.EncodingMode)
	assert.Nil(t, start.PerTitle)

	var rungs []map[string]any
	var paths []string
	for _, c := range srv.Calls() {
		var body map[string]any
		if len(c.Body) > 0 {
			require.NoError(t, json.Unmarshal(c.Body, &body))
		}
		if c.Method == http.MethodPost && c.Path == "/encoding/configurations/video/h264" && body["bitrate"] != nil {
			rungs = append(rungs, body)
		}
		if c.Method == http.MethodPost && body["outputs"] != nil && c.Path != "/encoding/encodings" {
			for _, o := range body["outputs"].([]any) {
				paths = append(paths, o.(map[string]any)["outputPath"].(string))
			}
		}
	}
	want := pertitle.AppleLadder(1280, 720)
	require.Len(t, rungs, len(want))
	for i, r := range want {
		assert.EqualValues(t, r.Width, rungs[i]["width"])
		assert.EqualValues(t, r.Height, rungs[i]["height"])
		assert.EqualValues(t, r.Bitrate, rungs[i]["bitrate"])
		assert.EqualValues(t, r.Bitrate*3/2, rungs[i]["maxBitrate"])
		assert.EqualValues(t, 2*r.Bitrate, rungs[i]["bufsize"])
	}
	assert.Contains(t, paths, j.OutputPrefix+"/static")
	assert.Contains(t, paths, j.OutputPrefix+"/static/video/720p_4500000")

	n := len(srv.Calls())
	require.NoError(t, b.Run(context.Background(), j, rep))
	assert.Len(t, srv.Encodings(), 2, "a redelivered request creates nothing")
	for _, c := range srv.Calls()[n:] {
		assert.Equal(t, http.MethodGet, c.Method, "%s %s", c.Method, c.Path)
	}
}

// TestStaticComparisonNeverFailsTheJob: on a redelivered request (the
// per-title encoding already started) a refused comparison is given up and
// the job goes on, while an unavailable API returns a retryable error.
func TestStaticComparisonNeverFailsTheJob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		fails  bool
	}{{"refused", 400, false}, {"unavailable", 503, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, c, first := setup(t, bitmovintest.Options{}, settings())
			j := job()
			j.Probe.Width, j.Probe.Height = 640, 360
			require.NoError(t, first.Run(context.Background(), j, &reporter{}))
			require.Len(t, srv.Encodings(), 1)

			s := settings()
			s.WithStatic = true
			again := &backend.Backend{Client: c, Settings: s, Log: zap.NewNop()}
			srv.AddFault(bitmovintest.Fault{Method: http.MethodPost, PathPrefix: "/encoding/encodings", Status: tc.status})
			rep := &reporter{}
			err := again.Run(context.Background(), j, rep)
			assert.Len(t, rep.started, 1, "the job's encoding is reported either way")
			assert.Len(t, srv.Encodings(), 1, "no comparison encoding")
			if !tc.fails {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.False(t, bus.IsPermanent(err), "a retry may succeed")
		})
	}
}
