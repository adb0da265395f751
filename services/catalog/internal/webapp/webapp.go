// Package webapp serves pertitle's single-page web app from the catalog binary:
// the Vite build of web/ embedded with go:embed, the SPA's routes, and the small
// /config.json the app reads at start-up to find the OIDC issuer and ingest.
//
// `npm run build` (make build) writes into dist/app/. A fresh clone has only the
// committed placeholder dist/index.html, which says to run make build, so the
// module compiles and its tests pass before any front-end tooling is installed.
package webapp

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/pertitle/pertitle/pkg/svc"
)

//go:embed all:dist
var embedded embed.FS

// AssetsDir is where Vite puts content-hashed files (vite.config.ts: assetsDir).
// They never change under a name, so they are cached for a year.
const AssetsDir = "_app"

// Config is what the browser needs to know about the deployment.
type Config struct {
	// Issuer is the OIDC issuer URL; the app discovers its endpoints at run time.
	// The catalog's wiring sets it from PERTITLE_OIDC_ISSUER, the issuer whose
	// tokens the API accepts. Empty means sign-in is off.
	Issuer string
	// ClientID is the public OIDC client of the web app (authorization code + PKCE).
	ClientID string
	// IngestURL is ingest's public base URL, where the browser uploads.
	IngestURL string
	// APIBase is the catalog's public base URL; empty means the page's own origin.
	APIBase string
	// MediaBaseURL is where manifests and segments come from (for the CSP).
	MediaBaseURL string
	// UploadOrigin is where the app PUTs the parts of direct uploads (the
	// presigned URLs' origin, with S3 storage; for the CSP).
	UploadOrigin string
}

// DefaultConfig is what `make run` uses.
func DefaultConfig() Config {
	return Config{ClientID: "pertitle-web", IngestURL: "http://127.0.0.1:8081"}
}

// FromEnv reads the web app's settings.
func (c *Config) FromEnv(e *svc.Env) {
	d := DefaultConfig()
	e.String(&c.ClientID, "PERTITLE_OIDC_WEB_CLIENT_ID", d.ClientID, "public OIDC client id of the web app")
	e.String(&c.IngestURL, "PERTITLE_INGEST_URL", d.IngestURL, "ingest's public URL, where the web app uploads")
	e.String(&c.APIBase, "PERTITLE_WEB_API_BASE", d.APIBase, "catalog's public URL for the web app (empty: same origin)")
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	for name, v := range map[string]string{"PERTITLE_OIDC_ISSUER": c.Issuer, "PERTITLE_INGEST_URL": c.IngestURL, "PERTITLE_WEB_API_BASE": c.APIBase} {
		if v == "" && name != "PERTITLE_INGEST_URL" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q must be an http(s) URL", name, v))
		}
	}
	if c.Issuer != "" && c.ClientID == "" {
		errs = append(errs, errors.New("PERTITLE_OIDC_WEB_CLIENT_ID is empty"))
	}
	return errors.Join(errs...)
}

// Handler serves the app.
type Handler struct {
	files   fs.FS
	index   []byte
	etag    string
	config  []byte
	csp     string
	Built   bool // false when only the placeholder is embedded
	started time.Time
}

// New returns the handler over the embedded build.
func New(cfg Config) (*Handler, error) {
	return NewFS(cfg, embedded)
}

// NewFS serves files from fsys, which holds dist/ (tests pass their own).
func NewFS(cfg Config, fsys fs.FS) (*Handler, error) {
	h := &Handler{started: time.Now()}
	if sub, err := fs.Sub(fsys, "dist/app"); err == nil {
		if _, err := fs.Stat(sub, "index.html"); err == nil {
			h.files, h.Built = sub, true
		}
	}
	if h.files == nil {
		sub, err := fs.Sub(fsys, "dist")
		if err != nil {
			return nil, err
		}
		h.files = sub
	}
	index, err := fs.ReadFile(h.files, "index.html")
	if err != nil {
		return nil, fmt.Errorf("webapp: no index.html in the embedded build: %w", err)
	}
	sum := sha256.Sum256(index)
	h.index, h.etag = index, `"`+hex.EncodeToString(sum[:8])+`"`
	h.config, err = json.Marshal(map[string]string{
		"issuer": strings.TrimSuffix(cfg.Issuer, "/"), "client_id": cfg.ClientID,
		"ingest_url": strings.TrimSuffix(cfg.IngestURL, "/"), "api_base": strings.TrimSuffix(cfg.APIBase, "/"),
	})
	if err != nil {
		return nil, err
	}
	h.csp = contentSecurityPolicy(cfg)
	return h, nil
}

// contentSecurityPolicy allows the app to talk only to what config.json names:
// its own origin, ingest, the issuer and the media origin (signed URLs or a CDN),
// and the bucket direct uploads go to.
func contentSecurityPolicy(cfg Config) string {
	connect := []string{"'self'"}
	media := []string{"'self'", "blob:"}
	for _, u := range []string{cfg.IngestURL, cfg.Issuer, cfg.APIBase, cfg.MediaBaseURL, cfg.UploadOrigin} {
		if o := origin(u); o != "" && !contains(connect, o) {
			connect = append(connect, o)
		}
	}
	if o := origin(cfg.MediaBaseURL); o != "" {
		media = append(media, o)
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data: blob: " + strings.Join(media[2:], " "),
		"media-src " + strings.Join(media, " "),
		"connect-src " + strings.Join(connect, " "),
		"worker-src 'self' blob:",
		"frame-ancestors 'none'",
		"form-action 'self' " + origin(cfg.Issuer),
		"base-uri 'self'",
	}, "; ")
}

func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// Register mounts the app on mux. The API and media routes are more specific
// patterns, so they keep winning; everything else that is a GET is the app.
func (h *Handler) Register(mux svc.Mux) {
	mux.Handle("GET /config.json", http.HandlerFunc(h.serveConfig))
	mux.Handle("GET /", h)
}

// ServeHTTP serves a file of the build, or index.html for an app route.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	// API and media paths that reach here matched no route: answer like the API.
	for _, prefix := range []string{"v1/", "media/", "webhooks/"} {
		if strings.HasPrefix(p+"/", prefix) {
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
	}
	if p != "" && p != "index.html" {
		if f, err := h.files.Open(p); err == nil {
			st, err := f.Stat()
			if err == nil && !st.IsDir() {
				defer f.Close()
				if strings.HasPrefix(p, AssetsDir+"/") {
					hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
				} else {
					// Unhashed files (favicon) may change with a release.
					hdr.Set("Cache-Control", "public, max-age=3600")
				}
				http.ServeContent(w, r, p, h.started, f.(io.ReadSeeker))
				return
			}
			f.Close()
		}
		// A missing hashed file or anything that looks like a file is a 404, not
		// the app: a stale index.html asking for an old bundle must fail loudly.
		if p == AssetsDir || strings.HasPrefix(p, AssetsDir+"/") || path.Ext(p) != "" {
			http.NotFound(w, r)
			return
		}
	}
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Content-Security-Policy", h.csp)
	hdr.Set("ETag", h.etag)
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(h.index))
}

func (h *Handler) serveConfig(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(h.config)
}
