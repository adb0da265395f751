package http

import (
	"errors"
	"net/http"
	"path"
	"strconv"
	"strings"

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

// serveMedia serves an output object with ranges and conditional requests.
func (h *Handlers) serveMedia(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	setCORS(hd)
	key, err := storage.CleanKey(r.PathValue("key"))
	if err != nil || !strings.HasPrefix(key, MediaPrefix) || len(key) == len(MediaPrefix) {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	f, obj, err := h.media.Open(r.Context(), key)
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrInvalidKey):
		writeError(w, http.StatusNotFound, "not found")
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
	hd.Set("ETag", etag(obj))
	hd.Set("X-Content-Type-Options", "nosniff")
	// ServeContent handles Range, If-Range, If-None-Match, If-Modified-Since and HEAD.
	http.ServeContent(w, r, "", obj.ModTime, f)
}

// etag derives a strong validator from size and modification time: objects are
// written whole (storage.Put replaces atomically), so both change with content.
func etag(o storage.Object) string {
	return `"` + strconv.FormatInt(o.ModTime.UnixNano(), 36) + "-" + strconv.FormatInt(o.Size, 36) + `"`
}
