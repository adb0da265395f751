package http_test

import (
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

	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/problem"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
	cataloghttp "github.com/pertitle/pertitle/services/catalog/internal/ports/http"
)

type fakeQueries struct {
	assets map[string]domain.Asset
	order  []string // newest first
	last   app.ListFilter
}

func (f *fakeQueries) Get(_ context.Context, id string) (domain.Asset, error) {
	if !domain.ValidID(id) {
		return domain.Asset{}, domain.ErrInvalidID
	}
	a, ok := f.assets[id]
	if !ok {
		return domain.Asset{}, domain.ErrNotFound
	}
	return a, nil
}

func (f *fakeQueries) List(_ context.Context, lf app.ListFilter) (app.Page, error) {
	f.last = lf
	if lf.Cursor == "bad" {
		return app.Page{}, app.ErrInvalidCursor
	}
	var p app.Page
	for _, id := range f.order {
		if a := f.assets[id]; lf.Status == "" || a.Status == lf.Status {
			p.Assets = append(p.Assets, a)
		}
	}
	if lf.Limit > 0 && len(p.Assets) > lf.Limit {
		p.Assets = p.Assets[:lf.Limit]
		p.NextCursor = "next"
	}
	return p, nil
}

var t0 = time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)

func fixture() *fakeQueries {
	ready := domain.Asset{ID: "a-ready", Title: "Ready one", Owner: "alice", Status: domain.StatusReady,
		HLSKey: "outputs/a-ready/j1/master.m3u8", DASHURL: "https://cdn.example/a-ready/manifest.mpd",
		DASHKey:         "outputs/a-ready/j1/manifest.mpd",
		DurationSeconds: 60, Width: 1920, Height: 1080, SourceBytes: 1000, Backend: "local", JobID: "j1", Attempt: 1,
		CreatedAt: t0, UpdatedAt: t0.Add(time.Minute), ReadyAt: t0.Add(time.Minute), ReadyTransitions: 1,
		Renditions: []domain.Rendition{{Width: 640, Height: 360, Bitrate: 900000, AverageBitrate: 700000, Codec: "h264",
			Codecs: "avc1.64001e", FrameRate: 30, Bytes: 5000, Quality: []domain.Quality{{Metric: "vmaf", Value: 92.5}}}}}
	enc := domain.Asset{ID: "a-enc", Title: "Encoding", Owner: "bob", Status: domain.StatusEncoding,
		ProgressPercent: 42, ProgressETA: 17, CreatedAt: t0.Add(time.Hour), UpdatedAt: t0.Add(time.Hour)}
	failed := domain.Asset{ID: "a-failed", Status: domain.StatusFailed, Error: "ffmpeg exited 1", Retryable: true,
		CreatedAt: t0.Add(2 * time.Hour), UpdatedAt: t0.Add(2 * time.Hour)}
	return &fakeQueries{
		assets: map[string]domain.Asset{ready.ID: ready, enc.ID: enc, failed.ID: failed},
		order:  []string{failed.ID, enc.ID, ready.ID},
	}
}

func newServer(t *testing.T) (http.Handler, *fakeQueries, *storage.FS) {
	t.Helper()
	fs, err := storage.NewFS(filepath.Join(t.TempDir(), "storage"))
	require.NoError(t, err)
	q := fixture()
	h := cataloghttp.New(cataloghttp.Config{MediaBaseURL: "http://media.test/media"}, q, fs, nil)
	return as(admin, h.Handler(nil)), q, fs
}

var (
	admin = auth.Principal{Subject: "root", Groups: []string{auth.AdminGroup}}
	alice = auth.Principal{Subject: "alice"}
	bob   = auth.Principal{Subject: "bob"}
)

// as serves h to p, as auth.Middleware would after checking p's token.
func as(p auth.Principal, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

func do(h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestGetAsset(t *testing.T) {
	t.Parallel()
	h, _, _ := newServer(t)

	rec := do(h, http.MethodGet, "/v1/assets/a-ready")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.JSONEq(t, `{
		"id": "a-ready", "title": "Ready one", "owner": "alice", "status": "ready", "retryable": false,
		"hls_url": "http://media.test/media/outputs/a-ready/j1/master.m3u8",
		"dash_url": "https://cdn.example/a-ready/manifest.mpd",
		"renditions": [{"width": 640, "height": 360, "bitrate": 900000, "average_bitrate": 700000, "codec": "h264",
			"codecs": "avc1.64001e", "frame_rate": 30, "bytes": 5000, "quality": [{"metric": "vmaf", "value": 92.5}]}],
		"duration_seconds": 60, "width": 1920, "height": 1080, "source_bytes": 1000,
		"backend": "local", "job_id": "j1", "attempt": 1,
		"created_at": "2025-05-06T07:08:09Z", "updated_at": "2025-05-06T07:09:09Z", "ready_at": "2025-05-06T07:09:09Z", "ready_transitions": 1
	}`, rec.Body.String())

	rec = do(h, http.MethodGet, "/v1/assets/a-enc")
	require.Equal(t, http.StatusOK, rec.Code)
	var enc map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &enc))
	assert.Equal(t, map[string]any{"percent": 42.0, "eta_seconds": 17.0}, enc["progress"])
	assert.Equal(t, []any{}, enc["renditions"])
	assert.NotContains(t, enc, "ready_at")
	assert.NotContains(t, enc, "hls_url")

	rec = do(h, http.MethodGet, "/v1/assets/a-failed")
	require.Equal(t, http.StatusOK, rec.Code)
	var failed map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &failed))
	assert.Equal(t, "failed", failed["status"])
	assert.Equal(t, "ffmpeg exited 1", failed["error"])
	assert.Equal(t, true, failed["retryable"])
	assert.NotContains(t, failed, "progress")
}

func TestGetAssetErrors(t *testing.T) {
	t.Parallel()
	h, _, _ := newServer(t)
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/v1/assets/unknown", http.StatusNotFound, `{"type":"` + problem.NotFound.URI + `","title":"Not found","status":404,"detail":"asset not found","error":"asset not found"}`},
		{"/v1/assets/bad%20id", http.StatusBadRequest, `{"type":"` + problem.InvalidID.URI + `","title":"Invalid asset id","status":400,"detail":"invalid asset id","error":"invalid asset id"}`},
		{"/v1/assets/" + strings.Repeat("x", 200), http.StatusBadRequest, `{"type":"` + problem.InvalidID.URI + `","title":"Invalid asset id","status":400,"detail":"invalid asset id","error":"invalid asset id"}`},
	} {
		t.Run(tc.path[:min(len(tc.path), 30)], func(t *testing.T) {
			t.Parallel()
			rec := do(h, http.MethodGet, tc.path)
			assert.Equal(t, tc.code, rec.Code)
			assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			assert.JSONEq(t, tc.body, rec.Body.String())
		})
	}
}

func TestListAssets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query      string
		code       int
		ids        []string
		nextCursor string
		limit      int
	}{
		{"", http.StatusOK, []string{"a-failed", "a-enc", "a-ready"}, "", 0},
		{"?status=ready", http.StatusOK, []string{"a-ready"}, "", 0},
		{"?limit=2", http.StatusOK, []string{"a-failed", "a-enc"}, "next", 2},
		{"?limit=500", http.StatusOK, []string{"a-failed", "a-enc", "a-ready"}, "", 500},
		{"?status=done", http.StatusBadRequest, nil, "", 0},
		{"?limit=0", http.StatusBadRequest, nil, "", 0},
		{"?limit=x", http.StatusBadRequest, nil, "", 0},
		{"?cursor=bad", http.StatusBadRequest, nil, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			h, q, _ := newServer(t)
			rec := do(h, http.MethodGet, "/v1/assets"+tc.query)
			require.Equal(t, tc.code, rec.Code, rec.Body.String())
			if tc.code != http.StatusOK {
				assert.Contains(t, rec.Body.String(), `"error"`)
				return
			}
			var out struct {
				Assets []struct {
					ID     string `json:"id"`
					Status string `json:"status"`
				} `json:"assets"`
				NextCursor *string `json:"next_cursor"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
			ids := []string{}
			for _, a := range out.Assets {
				ids = append(ids, a.ID)
			}
			assert.Equal(t, tc.ids, ids)
			require.NotNil(t, out.NextCursor, "next_cursor is always present")
			assert.Equal(t, tc.nextCursor, *out.NextCursor)
			assert.Equal(t, tc.limit, q.last.Limit, "the port passes the limit; app clamps it")
		})
	}
}

func TestListEmptyIsArray(t *testing.T) {
	t.Parallel()
	h := as(alice, cataloghttp.New(cataloghttp.Config{}, &fakeQueries{}, nil, nil).Handler(nil))
	rec := do(h, http.MethodGet, "/v1/assets")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"assets":[],"next_cursor":""}`, rec.Body.String())
}

func put(t *testing.T, fs *storage.FS, key, body string) {
	t.Helper()
	_, err := fs.Put(context.Background(), key, strings.NewReader(body))
	require.NoError(t, err)
}

func TestMedia(t *testing.T) {
	t.Parallel()
	h, _, fs := newServer(t)
	put(t, fs, "outputs/a1/j1/master.m3u8", "#EXTM3U\n")
	put(t, fs, "outputs/a1/j1/manifest.mpd", "<MPD/>")
	put(t, fs, "outputs/a1/j1/720p/seg_001.m4s", "0123456789abcdef")
	put(t, fs, "outputs/a1/j1/720p/init.mp4", "init-bytes")
	put(t, fs, "outputs/a1/j1/notes.bin", "x")
	put(t, fs, "outputs/a1/j1/report.svg", "<svg/>")
	put(t, fs, "sources/a1/source.mp4", "secret source")
	// A file beside the storage root that traversal would reach.
	require.NoError(t, os.WriteFile(filepath.Join(fs.Root(), "..", "catalog.db"), []byte("db"), 0o644))

	t.Run("content types and cache headers", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ key, ctype, cache, body string }{
			{"outputs/a1/j1/master.m3u8", "application/vnd.apple.mpegurl", "public, max-age=2", "#EXTM3U\n"},
			{"outputs/a1/j1/manifest.mpd", "application/dash+xml", "public, max-age=2", "<MPD/>"},
			{"outputs/a1/j1/720p/seg_001.m4s", "video/iso.segment", "public, max-age=31536000, immutable", "0123456789abcdef"},
			{"outputs/a1/j1/720p/init.mp4", "video/mp4", "public, max-age=31536000, immutable", "init-bytes"},
			{"outputs/a1/j1/notes.bin", "application/octet-stream", "public, max-age=60", "x"},
			{"outputs/a1/j1/report.svg", "image/svg+xml", "public, max-age=60", "<svg/>"},
		} {
			rec := do(h, http.MethodGet, "/media/"+tc.key)
			require.Equal(t, http.StatusOK, rec.Code, tc.key)
			assert.Equal(t, tc.ctype, rec.Header().Get("Content-Type"), tc.key)
			assert.Equal(t, tc.cache, rec.Header().Get("Cache-Control"), tc.key)
			assert.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"), tc.key)
			assert.Contains(t, rec.Header().Get("Access-Control-Expose-Headers"), "Content-Range")
			assert.Contains(t, rec.Header().Get("Access-Control-Expose-Headers"), "Content-Length")
			assert.NotEmpty(t, rec.Header().Get("Last-Modified"))
			assert.NotEmpty(t, rec.Header().Get("ETag"))
			assert.Equal(t, "bytes", rec.Header().Get("Accept-Ranges"))
			assert.Equal(t, fmt.Sprint(len(tc.body)), rec.Header().Get("Content-Length"))
			assert.Equal(t, tc.body, rec.Body.String())
			if tc.ctype == "image/svg+xml" {
				assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "default-src 'none'", "an SVG served beside the app runs no script")
			}
		}
	})

	t.Run("range", func(t *testing.T) {
		t.Parallel()
		rec := do(h, http.MethodGet, "/media/outputs/a1/j1/720p/seg_001.m4s", "Range", "bytes=4-7")
		require.Equal(t, http.StatusPartialContent, rec.Code)
		assert.Equal(t, "bytes 4-7/16", rec.Header().Get("Content-Range"))
		assert.Equal(t, "4567", rec.Body.String())
		assert.Equal(t, "video/iso.segment", rec.Header().Get("Content-Type"))

		rec = do(h, http.MethodGet, "/media/outputs/a1/j1/720p/seg_001.m4s", "Range", "bytes=100-")
		assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, rec.Code)
	})

	t.Run("head", func(t *testing.T) {
		t.Parallel()
		rec := do(h, http.MethodHead, "/media/outputs/a1/j1/master.m3u8")
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "8", rec.Header().Get("Content-Length"))
		assert.Equal(t, "application/vnd.apple.mpegurl", rec.Header().Get("Content-Type"))
		assert.Empty(t, rec.Body.String())
	})

	t.Run("conditional", func(t *testing.T) {
		t.Parallel()
		first := do(h, http.MethodGet, "/media/outputs/a1/j1/720p/init.mp4")
		require.Equal(t, http.StatusOK, first.Code)
		rec := do(h, http.MethodGet, "/media/outputs/a1/j1/720p/init.mp4", "If-None-Match", first.Header().Get("ETag"))
		assert.Equal(t, http.StatusNotModified, rec.Code)
		rec = do(h, http.MethodGet, "/media/outputs/a1/j1/720p/init.mp4", "If-Modified-Since", first.Header().Get("Last-Modified"))
		assert.Equal(t, http.StatusNotModified, rec.Code)
	})

	t.Run("preflight", func(t *testing.T) {
		t.Parallel()
		rec := do(h, http.MethodOptions, "/media/outputs/a1/j1/720p/seg_001.m4s",
			"Origin", "https://player.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "range")
		require.Equal(t, http.StatusNoContent, rec.Code)
		assert.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))
		assert.Contains(t, rec.Header().Get("Access-Control-Allow-Methods"), "GET")
		assert.Contains(t, rec.Header().Get("Access-Control-Allow-Methods"), "HEAD")
		assert.Equal(t, "Range", rec.Header().Get("Access-Control-Allow-Headers"))
	})

	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		for _, target := range []string{
			"/media/../catalog.db",
			"/media/outputs/../../catalog.db",
			"/media/outputs/%2e%2e/%2e%2e/catalog.db",
			"/media/outputs/..%2f..%2fcatalog.db",
			"/media/sources/a1/source.mp4",
			"/media/outputs/a1/../../sources/a1/source.mp4",
			"/media/./outputs/a1/j1/master.m3u8",
			"/media//etc/passwd",
			"/media/outputs/a1\\j1/master.m3u8",
			"/media/outputs/",
			"/media/",
			"/media/outputs/a1/j1/missing.m4s",
			"/media/outputs/a1/j1", // a directory
		} {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				// httptest.NewRequest parses the request line as a server does: no cleaning.
				rec := do(h, method, target)
				assert.Equal(t, http.StatusNotFound, rec.Code, "%s %s", method, target)
				if method == http.MethodGet {
					assert.NotContains(t, rec.Body.String(), "secret")
					assert.NotContains(t, rec.Body.String(), "db")
				}
			}
		}
	})
}

func TestMediaOverRealServer(t *testing.T) {
	t.Parallel()
	h, _, fs := newServer(t)
	put(t, fs, "outputs/a1/j1/master.m3u8", "#EXTM3U\n")
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	res, err := http.Get(srv.URL + "/media/outputs/a1/j1/master.m3u8")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "#EXTM3U\n", string(body))

	// A raw request line with dot segments, as a hostile client sends it.
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/media/outputs/../../catalog.db", nil)
	require.NoError(t, err)
	req.URL.Opaque = "/media/outputs/../../catalog.db"
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
}
