package webapp

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var built = fstest.MapFS{
	"dist/index.html":                &fstest.MapFile{Data: []byte("placeholder: run make build")},
	"dist/app/index.html":            &fstest.MapFile{Data: []byte(`<!doctype html><script src="/_app/index-abc123.js"></script>`)},
	"dist/app/favicon.svg":           &fstest.MapFile{Data: []byte("<svg/>")},
	"dist/app/_app/index-abc123.js":  &fstest.MapFile{Data: []byte("console.log(1)")},
	"dist/app/_app/index-abc123.css": &fstest.MapFile{Data: []byte("body{}")},
}

func serve(t *testing.T, fsys fstest.MapFS, method, target string, hdr ...string) *http.Response {
	t.Helper()
	h, err := NewFS(Config{Issuer: "http://127.0.0.1:8084", ClientID: "pertitle-web", IngestURL: "http://127.0.0.1:8081/",
		MediaBaseURL: "https://cdn.example.com/media/"}, fsys)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/assets", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "api") })
	h.Register(mux)
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	return string(b)
}

func TestAppRoutesServeIndexWithoutCaching(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/", "/upload", "/assets/0192abc", "/analytics", "/analytics/0192abc", "/index.html"} {
		r := serve(t, built, "GET", path)
		assert.Equal(t, http.StatusOK, r.StatusCode, path)
		assert.Contains(t, body(t, r), "/_app/index-abc123.js", path)
		assert.Equal(t, "no-cache", r.Header.Get("Cache-Control"), path)
		assert.Equal(t, "text/html; charset=utf-8", r.Header.Get("Content-Type"), path)
		assert.NotEmpty(t, r.Header.Get("ETag"), path)
		csp := r.Header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "connect-src 'self' http://127.0.0.1:8081 http://127.0.0.1:8084 https://cdn.example.com", path)
		assert.Contains(t, csp, "media-src 'self' blob: https://cdn.example.com", path)
	}
}

func TestIndexRevalidatesWithETag(t *testing.T) {
	t.Parallel()
	etag := serve(t, built, "GET", "/").Header.Get("ETag")
	r := serve(t, built, "GET", "/library", "If-None-Match", etag)
	assert.Equal(t, http.StatusNotModified, r.StatusCode)
}

func TestHashedAssetsAreImmutable(t *testing.T) {
	t.Parallel()
	r := serve(t, built, "GET", "/_app/index-abc123.js")
	assert.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, "console.log(1)", body(t, r))
	assert.Equal(t, "public, max-age=31536000, immutable", r.Header.Get("Cache-Control"))
	assert.Contains(t, r.Header.Get("Content-Type"), "javascript")
	assert.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"))

	css := serve(t, built, "GET", "/_app/index-abc123.css")
	assert.Contains(t, css.Header.Get("Content-Type"), "text/css")

	fav := serve(t, built, "GET", "/favicon.svg")
	assert.Equal(t, "public, max-age=3600", fav.Header.Get("Cache-Control"), "unhashed files may change with a release")
}

func TestMissingFilesAre404NotTheApp(t *testing.T) {
	t.Parallel()
	// An old index.html asking for a bundle of a previous release must fail loudly.
	for _, path := range []string{"/_app/index-old.js", "/_app/", "/robots.txt", "/v1/nope", "/media/x/y"} {
		r := serve(t, built, "GET", path)
		assert.Equal(t, http.StatusNotFound, r.StatusCode, path)
		assert.NotContains(t, body(t, r), "_app/index-abc123.js", path)
	}
}

func TestAPIRoutesWin(t *testing.T) {
	t.Parallel()
	r := serve(t, built, "GET", "/v1/assets")
	assert.Equal(t, "api", body(t, r))
}

func TestConfigJSON(t *testing.T) {
	t.Parallel()
	r := serve(t, built, "GET", "/config.json")
	assert.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, "no-store", r.Header.Get("Cache-Control"))
	var c map[string]string
	require.NoError(t, json.NewDecoder(r.Body).Decode(&c))
	assert.Equal(t, map[string]string{"issuer": "http://127.0.0.1:8084", "client_id": "pertitle-web",
		"ingest_url": "http://127.0.0.1:8081", "api_base": ""}, c)
}

func TestPlaceholderBeforeTheFrontEndIsBuilt(t *testing.T) {
	t.Parallel()
	fresh := fstest.MapFS{"dist/index.html": built["dist/index.html"]}
	r := serve(t, fresh, "GET", "/assets/x")
	assert.Equal(t, http.StatusOK, r.StatusCode)
	assert.Contains(t, body(t, r), "make build")
}

// The embedded build compiles in a fresh clone (placeholder only) and after make build.
func TestEmbeddedBuild(t *testing.T) {
	t.Parallel()
	h, err := New(DefaultConfig())
	require.NoError(t, err)
	if !h.Built {
		assert.Contains(t, string(h.index), "make build")
		return
	}
	assert.True(t, strings.Contains(string(h.index), "/_app/"), "the Vite build references its hashed assets under /_app/")
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	assert.NoError(t, DefaultConfig().Validate())
	bad := DefaultConfig()
	bad.Issuer, bad.IngestURL = "127.0.0.1:8084", "ftp://x"
	err := bad.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PERTITLE_OIDC_ISSUER")
	assert.Contains(t, err.Error(), "PERTITLE_INGEST_URL")
}

// TestCSPAllowsTheUploadBucket: with S3 storage the page PUTs parts straight
// to the bucket, so its origin (and no other) joins connect-src.
func TestCSPAllowsTheUploadBucket(t *testing.T) {
	t.Parallel()
	h, err := NewFS(Config{Issuer: "http://127.0.0.1:8084", ClientID: "pertitle-web", IngestURL: "http://127.0.0.1:8081",
		UploadOrigin: "https://in.s3.eu-west-1.amazonaws.com"}, built)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/upload", nil))
	assert.Contains(t, rec.Header().Get("Content-Security-Policy"),
		"connect-src 'self' http://127.0.0.1:8081 http://127.0.0.1:8084 https://in.s3.eu-west-1.amazonaws.com;")
}
