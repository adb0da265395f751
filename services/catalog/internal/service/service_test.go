package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/pertitle/pertitle/internal/apitest"
	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlite"
)

const assetID = "5e0c7a9e-4a0e-4d2c-8f43-3c1f7c2b9d11"

// component wires the catalog over a temporary SQLite file and filesystem storage.
func component(t *testing.T) (*Service, *storage.FS) {
	t.Helper()
	dir := t.TempDir()
	repo, err := sqlite.Open(context.Background(), filepath.Join(dir, "catalog.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = repo.Close() })
	store, err := storage.NewFS(filepath.Join(dir, "storage"))
	require.NoError(t, err)
	cfg := DefaultConfig()
	cfg.MediaBaseURL = "http://cdn.test/media/"
	s, err := New(cfg, Deps{Repo: repo, Storage: store, Auth: testVerifier(t)})
	require.NoError(t, err)
	return s, store
}

func envelope(t *testing.T, id string, payload proto.Message) *eventsv1.Envelope {
	t.Helper()
	env, err := events.New(events.Meta{AssetID: id, Producer: "test"}, payload)
	require.NoError(t, err)
	return env
}

func journey(t *testing.T, id string) []*eventsv1.Envelope {
	return []*eventsv1.Envelope{
		envelope(t, id, &eventsv1.AssetUploaded{Owner: "alice", Title: "Tears of Steel", SourceKey: "sources/" + id + "/src.mov",
			Probe: &eventsv1.ProbeSummary{DurationSeconds: 734, Width: 3840, Height: 1714, SizeBytes: 6 << 30}}),
		envelope(t, id, &eventsv1.EncodingStarted{Owner: "alice", Backend: "local", ExternalJobId: "job-1", Attempt: 1}),
		envelope(t, id, &eventsv1.EncodingProgress{Backend: "local", ExternalJobId: "job-1", Percent: 50, EtaSeconds: 60}),
		envelope(t, id, &eventsv1.EncodingFinished{Backend: "local", ExternalJobId: "job-1",
			HlsManifestKey: "outputs/" + id + "/job-1/master.m3u8", DashManifestKey: "outputs/" + id + "/job-1/manifest.mpd",
			Renditions: []*eventsv1.Rung{{Width: 1280, Height: 534, Bitrate: 2_500_000, AverageBitrate: 2_000_000, Codec: "h264",
				Codecs: "avc1.64001f", FrameRate: 24, SizeBytes: 200 << 20, Quality: []*eventsv1.QualityScore{{Metric: "vmaf", Value: 94}}}}}),
	}
}

// getJSON gets target from h, a handler of the public API, checking the
// exchange against api/openapi.yaml.
func getJSON(t *testing.T, h http.Handler, target string) (int, map[string]any) {
	t.Helper()
	return getUndocumentedJSON(t, apitest.Validate(t, apitest.Requests, h), target)
}

func getUndocumentedJSON(t *testing.T, h http.Handler, target string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Authorization", "Bearer "+testToken(t, "alice")) // the owner in journey
	h.ServeHTTP(rec, req)
	var out map[string]any
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
	}
	return rec.Code, out
}

func TestComponentJourney(t *testing.T) {
	t.Parallel()
	s, store := component(t)
	ctx := context.Background()
	for _, env := range journey(t, assetID) {
		require.NoError(t, s.Messages(nil).Project(ctx, env))
	}
	_, err := store.Put(ctx, "outputs/"+assetID+"/job-1/master.m3u8", strings.NewReader("#EXTM3U\n"))
	require.NoError(t, err)

	code, a := getJSON(t, s.Handler(), "/v1/assets/"+assetID)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ready", a["status"])
	assert.Equal(t, "Tears of Steel", a["title"])
	assert.Equal(t, "http://cdn.test/media/outputs/"+assetID+"/job-1/master.m3u8", a["hls_url"])
	assert.Equal(t, "http://cdn.test/media/outputs/"+assetID+"/job-1/manifest.mpd", a["dash_url"])
	assert.Len(t, a["renditions"], 1)

	code, list := getJSON(t, s.Handler(), "/v1/assets?status=ready&limit=10")
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, list["assets"], 1)

	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/media/outputs/"+assetID+"/job-1/master.m3u8", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "#EXTM3U\n", rec.Body.String())

	code, _ = getJSON(t, s.Handler(), "/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, ready := getJSON(t, s.Handler(), "/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]any{"status": "ready"}, ready, "the public port tells ready or not, nothing more")
	code, ready = getUndocumentedJSON(t, s.Ops().Handler(), "/readyz") // the private ops port
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]any{"db": "ok", "storage": "ok"}, ready["checks"])

	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.NotContains(t, rec.Body.String(), "pertitle_http_requests_total", "metrics are on the ops port only")
	rec = httptest.NewRecorder()
	s.Ops().Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Contains(t, rec.Body.String(), `pertitle_http_requests_total{code="200",route="/v1/assets/{id}"}`)
}

func TestComponentInvalidEventIsPermanent(t *testing.T) {
	t.Parallel()
	s, _ := component(t)
	env := envelope(t, "not/an/id", &eventsv1.AssetUploaded{Owner: "alice"})
	err := s.Messages(nil).Project(context.Background(), env)
	assert.True(t, bus.IsPermanent(err), "%v", err)

	// A database failure is not permanent: a retry may succeed.
	dir := t.TempDir()
	repo, err := sqlite.Open(context.Background(), filepath.Join(dir, "c.db"), sqlite.Options{})
	require.NoError(t, err)
	store, err := storage.NewFS(dir)
	require.NoError(t, err)
	s2, err := New(DefaultConfig(), Deps{Repo: repo, Storage: store})
	require.NoError(t, err)
	require.NoError(t, repo.Close())
	err = s2.Messages(nil).Project(context.Background(), journey(t, assetID)[0])
	require.Error(t, err)
	assert.False(t, bus.IsPermanent(err))
}

func TestNewRequiresAdapters(t *testing.T) {
	t.Parallel()
	_, err := New(DefaultConfig(), Deps{})
	assert.Error(t, err)
}

// TestComponentOverMemoryBus runs the real bus wiring in process: events published by
// another service reach the projection, duplicates have one effect, and an invalid
// event goes to the dead-letter queue without retries.
func TestComponentOverMemoryBus(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, _ := component(t)

	broker := bus.NewMemoryBroker()
	t.Cleanup(func() { _ = broker.Close() })
	cfg := bus.DefaultConfig()
	cfg.Transport = bus.TransportMemory
	cfg.Memory = broker
	cfg.RetryInterval = 5 * time.Millisecond
	consumer, err := bus.New(ctx, cfg, Name, zap.NewNop(), nil)
	require.NoError(t, err)
	s.Subscribe(consumer)
	done := make(chan error, 1)
	go func() { done <- consumer.Run(ctx) }()
	select {
	case <-consumer.Running():
	case err := <-done:
		t.Fatalf("bus stopped: %v", err)
	}
	producer, err := bus.New(ctx, cfg, bus.ServiceIngest, zap.NewNop(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = producer.Close() })

	envs := journey(t, assetID)
	// Out of order, and the finish twice.
	for _, i := range []int{3, 1, 0, 3, 2} {
		require.NoError(t, producer.Publish(ctx, envs[i]))
	}
	require.NoError(t, producer.Publish(ctx, envelope(t, "bad/id", &eventsv1.AssetUploaded{Owner: "x"})))

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, a := getJSON(t, s.Handler(), "/v1/assets/"+assetID)
		assert.Equal(c, http.StatusOK, code)
		assert.Equal(c, "ready", a["status"])
		assert.Equal(c, "Tears of Steel", a["title"])
	}, 5*time.Second, 10*time.Millisecond)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		dead, err := consumer.DeadLetters(ctx, events.TopicAssetUploaded, 10)
		assert.NoError(c, err)
		assert.Len(c, dead, 1)
	}, 5*time.Second, 10*time.Millisecond)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("bus did not stop")
	}
	require.NoError(t, consumer.Close())
}

func TestConfig(t *testing.T) {
	t.Parallel()
	var cfg Config
	cfg.FromEnv(svc.NewEnvFrom(Name, nil))
	require.NoError(t, cfg.Validate())
	assert.Equal(t, ":8080", cfg.Addr)
	assert.Equal(t, "var/catalog.db", cfg.DB)
	assert.Equal(t, "http://127.0.0.1:8080/media/", cfg.MediaBaseURL)
	assert.Equal(t, "fs", cfg.Storage)
	assert.Equal(t, "var/storage", cfg.StorageDir)

	tests := map[string]string{
		"PERTITLE_CATALOG_ADDR":        "nope",
		"PERTITLE_CATALOG_DB":          "var/x?.db",
		"PERTITLE_ANALYTICS_RETENTION": "30m",
		"PERTITLE_MEDIA_BASE_URL":      "ftp://x/",
		"PERTITLE_STORAGE":             "gcs", // fs and s3 are supported
		"PERTITLE_BUS_TRANSPORT":       "carrier-pigeon",
	}
	for name, value := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var cfg Config
			cfg.FromEnv(svc.NewEnvFrom(Name, map[string]string{name: value}))
			assert.Error(t, cfg.Validate())
		})
	}
	assert.Equal(t, 90*24*time.Hour, cfg.AnalyticsRetention)
	for db, valid := range map[string]bool{
		"postgres://catalog:secret@db.internal:5432/catalog?sslmode=require": true,
		"postgresql://db.internal/catalog":                                   true,
		"postgres://db.internal/catalog?sslmode=sometimes":                   false,
		"/data/catalog.db": true,
	} {
		var cfg Config
		cfg.FromEnv(svc.NewEnvFrom(Name, map[string]string{"PERTITLE_CATALOG_DB": db}))
		err := cfg.Validate()
		assert.Equal(t, valid, err == nil, "%s: %v", db, err)
		if err != nil {
			assert.NotContains(t, err.Error(), "secret")
		}
	}
	for _, ok := range []string{"https://cdn.example/v/", "/media/", "http://127.0.0.1:8080/media"} {
		assert.True(t, validBaseURL(ok), ok)
	}
	for _, bad := range []string{"", "media/", "//cdn/", "http:///x", "https://cdn/?q=1"} {
		assert.False(t, validBaseURL(bad), bad)
	}
}

func TestRunHelpAndInvalidConfig(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), zap.NewNop(), []string{"--help"}, svc.NewEnvFrom(Name, nil), &out)
	assert.ErrorIs(t, err, svc.ErrHelp)
	for _, v := range []string{"PERTITLE_CATALOG_ADDR", "PERTITLE_CATALOG_DB", "PERTITLE_MEDIA_BASE_URL", "PERTITLE_STORAGE_DIR", "PERTITLE_BUS_TRANSPORT"} {
		assert.Contains(t, out.String(), v)
	}

	err = run(context.Background(), zap.NewNop(), nil, svc.NewEnvFrom(Name, map[string]string{"PERTITLE_CATALOG_ADDR": "x"}), &out)
	assert.ErrorContains(t, err, "PERTITLE_CATALOG_ADDR")
}

// TestRunRefusesPlaceholderSigningKey: the value deploy/k8s used to ship, and keys
// too short to resist guessing, stop the catalog unless PERTITLE_DEV_MODE is on.
func TestRunRefusesPlaceholderSigningKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"CHANGE-ME-at-least-16-bytes", "local-dev-secret", "0123456789"} {
		err := run(context.Background(), zap.NewNop(), nil, svc.NewEnvFrom(Name, map[string]string{
			"PERTITLE_MEDIA_SIGNING_KEY": key, "PERTITLE_BUS_TRANSPORT": bus.TransportMemory}), &bytes.Buffer{})
		require.ErrorContains(t, err, "PERTITLE_MEDIA_SIGNING_KEY", key)
		assert.NotContains(t, err.Error(), key, "the secret is not echoed")
	}
}

func TestRunStartsAndStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "catalog.db")
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	opsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	env := svc.NewEnvFrom(Name, map[string]string{
		"PERTITLE_CATALOG_ADDR":     addr,
		"PERTITLE_CATALOG_OPS_ADDR": opsAddr,
		"PERTITLE_CATALOG_DB":       db,
		"PERTITLE_STORAGE_DIR":      filepath.Join(dir, "storage"),
		"PERTITLE_BUS_TRANSPORT":    bus.TransportMemory,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, zap.NewNop(), nil, env, &bytes.Buffer{}) }()
	require.Eventually(t, func() bool { _, err := os.Stat(db); return err == nil }, 5*time.Second, 5*time.Millisecond,
		"the database and its directory are created")
	// Stop it once it serves: a stop during start-up is another matter.
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond, "the catalog serves")
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + opsAddr + "/metrics")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond, "metrics are served on the ops address")
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.NotContains(t, string(body), "go_goroutines", "and not on the public one (there the web app answers)")
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
		assert.Less(t, time.Since(start), 5*time.Second)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30 s")
	}
}
