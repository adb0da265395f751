package http

import (
	"errors"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pertitle/pertitle/pkg/problem"
	"github.com/pertitle/pertitle/pkg/storage"
)

// MediaPrefix is the only part of storage served: encoded outputs. Sources are private.
const MediaPrefix = "outputs/"

// Cache lifetimes: manifests change while an encode replaces them (and must not be
// stale for long); segments and init files never change under the same key.
const (
	cacheManifest = "public, max-age=2"
	cacheSegment  = "public, max-age=31536000, immutable"
	cacheOther    = "public, max-age=60"
)

type mediaType struct {
	contentType string
	cache       string
}

var mediaTypes = map[string]mediaType{
	".m3u8": {"application/vnd.apple.mpegurl", cacheManifest},
	".mpd":  {"application/dash+xml", cacheManifest},
	".m4s":  {"video/iso.segment", cacheSegment},
	".mp4":  {"video/mp4", cacheSegment},
	".m4a":  {"audio/mp4", cacheSegment},
	".m4v":  {"video/mp4", cacheSegment},
	".cmfv": {"video/mp4", cacheSegment},
	".cmfa": {"audio/mp4", cacheSegment},
	".ts":   {"video/mp2t", cacheSegment},
	".vtt":  {"text/vtt; charset=utf-8", cacheOther},
	".jpg":  {"image/jpeg", cacheOther},
	".png":  {"image/png", cacheOther},
	".svg":  {"image/svg+xml", cacheOther},
	".json": {"application/json", cacheOther},
}

func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges, ETag")
}

// preflight answers CORS preflight requests: players on other origins fetch
// segments with Range headers.
func (h *Handlers) preflight(w http.ResponseWriter, _ *http.Request) {
	hd := w.Header()
	setCORS(hd)
	hd.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	hd.Set("Access-Control-Allow-Headers", "Range")
	hd.Set("Access-Control-Max-Age", "86400")
	hd.Set("Allow", "GET, HEAD, OPTIONS")
	w.WriteHeader(http.StatusNoContent)
}

// serveMedia serves /media/s/{exp}/{sig}/{key...} (signed) and /media/{key...}
// (plain), which only works when media signing is off (tests, or a CDN that
// enforces its own signatures). One route: ServeMux refuses a second pattern that
// overlaps this one for HEAD.
func (h *Handlers) serveMedia(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.PathValue("key"), signedPrefix); ok {
		h.serveSignedMedia(w, r, rest)
		return
	}
	if h.cfg.Signer != nil {
		setCORS(w.Header())
		w.Header().Set("Cache-Control", "no-store")
		writeError(w, http.StatusForbidden, problem.InvalidMediaSigned, ErrUnsigned.Error())
		return
	}
	h.serveKey(w, r, r.PathValue("key"), time.Time{})
}

// serveSignedMedia serves {exp}/{sig}/{key...} after checking the signature.
func (h *Handlers) serveSignedMedia(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.SplitN(rest, "/", 3)
	if h.cfg.Signer == nil || len(parts) != 3 {
		setCORS(w.Header())
		writeError(w, http.StatusNotFound, problem.NotFound, "not found")
		return
	}
	key := parts[2]
	exp, err := h.cfg.Signer.Verify(parts[0], parts[1], key)
	if err != nil {
		setCORS(w.Header())
		w.Header().Set("Cache-Control", "no-store")
		writeError(w, http.StatusForbidden, problem.InvalidMediaSigned, err.Error())
		return
	}
	h.serveKey(w, r, key, exp)
}

// serveKey serves an output object with ranges and conditional requests. A signed
// response is never fresh in a cache past the signature's expiry, so a CDN cannot
// keep serving an expired URL; its content stays immutable until then, since the
// path changes with the signature.
func (h *Handlers) serveKey(w http.ResponseWriter, r *http.Request, rawKey string, expiry time.Time) {
	hd := w.Header()
	setCORS(hd)
	key, err := storage.CleanKey(rawKey)
	if err != nil || !strings.HasPrefix(key, MediaPrefix) || len(key) == len(MediaPrefix) {
		writeError(w, http.StatusNotFound, problem.NotFound, "not found")
		return
	}
	f, obj, err := h.media.Open(r.Context(), key)
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrInvalidKey):
		writeError(w, http.StatusNotFound, problem.NotFound, "not found")
		return
	case err != nil:
		h.internal(w, r, err)
		return
	}
	defer f.Close()
	mt, ok := mediaTypes[strings.ToLower(path.Ext(key))]
	if !ok {
		mt = mediaType{"application/octet-stream", cacheOther}
	}
	hd.Set("Content-Type", mt.contentType)
	hd.Set("Cache-Control", mt.cache)
	if mt.contentType == "image/svg+xml" {
		// Media shares the app's origin: an SVG opened directly must not run script.
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	}
	if !expiry.IsZero() {
		hd.Set("Cache-Control", signedCacheControl(mt.cache, time.Until(expiry)))
	}
	hd.Set("ETag", etag(obj))
	hd.Set("X-Content-Type-Options", "nosniff")
	// ServeContent handles Range, If-Range, If-None-Match, If-Modified-Since and HEAD.
	http.ServeContent(w, r, "", obj.ModTime, f)
}

// signedCacheControl caps the max-age of a cache policy at the time left.
func signedCacheControl(policy string, left time.Duration) string {
	secs := int64(left / time.Second)
	parts := strings.Split(policy, ", ")
	for i, p := range parts {
		if v, ok := strings.CutPrefix(p, "max-age="); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > secs {
				parts[i] = "max-age=" + strconv.FormatInt(max(secs, 0), 10)
			}
		}
	}
	return strings.Join(parts, ", ")
}

// etag derives a strong validator from size and modification time: objects are
// written whole (storage.Put replaces atomically), so both change with content.
func etag(o storage.Object) string {
	return `"` + strconv.FormatInt(o.ModTime.UnixNano(), 36) + "-" + strconv.FormatInt(o.Size, 36) + `"`
}
