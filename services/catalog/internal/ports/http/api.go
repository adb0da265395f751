// Package http serves the catalog API (/v1/assets) and the encoded media (/media/).
package http

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/problem"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/pkg/tracing"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// Queries is the read side the API needs.
type Queries interface {
	Get(ctx context.Context, id string) (domain.Asset, error)
	List(ctx context.Context, f app.ListFilter) (app.Page, error)
}

// Commands are the changes the API makes to assets (app.Commands).
type Commands interface {
	Delete(ctx context.Context, who auth.Principal, id string) error
	Retry(ctx context.Context, who auth.Principal, id string) (app.Retried, error)
}

// Media is the part of storage the media endpoint reads.
type Media interface {
	Open(ctx context.Context, key string) (storage.ReadSeekCloser, storage.Object, error)
}

// Instrumenter wraps a handler with metrics under a route name (svc.Metrics).
type Instrumenter = svc.Instrumenter

// Config of the HTTP port.
type Config struct {
	// MediaBaseURL prefixes manifest keys in asset responses, e.g.
	// "http://127.0.0.1:8080/media/" or a CDN. It ends with a slash.
	MediaBaseURL string
	// Signer, when set, signs the manifest URLs handed out and makes /media/ serve
	// signed paths only (README "Protected playback"); it also issues the analytics
	// beacon tokens. Nil serves media by plain path.
	Signer *Signer
	// Authenticate wraps the /v1/assets routes, e.g. with auth.Middleware; /media/
	// is left alone. Nil leaves authentication to whoever puts an auth.Principal in
	// the request context (tests): without one, the API answers 401.
	Authenticate func(http.Handler) http.Handler
	// Commands serve DELETE /v1/assets/{id} and POST /v1/assets/{id}/retry;
	// nil answers them 503 (a catalog without a bus).
	Commands Commands
}

// Handlers serves the catalog's HTTP endpoints.
type Handlers struct {
	cfg     Config
	queries Queries
	media   Media
	log     *zap.Logger
}

// New returns the handlers; log may be nil.
func New(cfg Config, q Queries, media Media, log *zap.Logger) *Handlers {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.MediaBaseURL != "" && !strings.HasSuffix(cfg.MediaBaseURL, "/") {
		cfg.MediaBaseURL += "/"
	}
	return &Handlers{cfg: cfg, queries: q, media: media, log: log}
}

// Register mounts the API and media routes on mux, instrumented by m (may be nil).
func (h *Handlers) Register(mux svc.Mux, m Instrumenter) {
	route := svc.Instrumented(mux, m)
	authed := func(fn http.HandlerFunc) http.HandlerFunc {
		var handler http.Handler = auth.Required(fn)
		if h.cfg.Authenticate != nil {
			handler = h.cfg.Authenticate(handler)
		}
		return handler.ServeHTTP
	}
	route("GET /v1/assets", "/v1/assets", authed(h.listAssets))
	route("GET /v1/assets/{id}", "/v1/assets/{id}", authed(h.getAsset))
	route("DELETE /v1/assets/{id}", "/v1/assets/{id}", authed(h.deleteAsset))
	route("POST /v1/assets/{id}/retry", "/v1/assets/{id}/retry", authed(h.retryAsset))
	route("GET /media/{key...}", "/media", h.serveMedia)
	route("HEAD /media/{key...}", "/media", h.serveMedia)
	route("OPTIONS /media/{key...}", "/media", h.preflight)
}

// Handler returns a mux with just the catalog routes, guarded against path tricks.
func (h *Handlers) Handler(m Instrumenter) http.Handler {
	mux := http.NewServeMux()
	h.Register(mux, m)
	return Guard(mux)
}

// Guard answers 404 for media paths with dot segments or empty segments before the
// mux sees them: ServeMux would otherwise redirect /media/../catalog.db to a cleaned
// path, turning a traversal attempt into a hint.
func Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; strings.HasPrefix(p, "/media/") || p == "/media" {
			rest := strings.TrimPrefix(p, "/media/")
			if _, err := storage.CleanKey(rest); err != nil || strings.Contains(rest, "//") {
				setCORS(w.Header())
				writeError(w, http.StatusNotFound, problem.NotFound, "not found")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Response shapes.

type assetJSON struct {
	ID              string          `json:"id"`
	Title           string          `json:"title"`
	Owner           string          `json:"owner"`
	Status          domain.Status   `json:"status"`
	Error           string          `json:"error,omitempty"`
	Retryable       bool            `json:"retryable"`
	Progress        *progressJSON   `json:"progress,omitempty"`
	HLSURL          string          `json:"hls_url,omitempty"`
	DASHURL         string          `json:"dash_url,omitempty"`
	Renditions      []renditionJSON `json:"renditions"`
	DurationSeconds float64         `json:"duration_seconds"`
	Width           int             `json:"width"`
	Height          int             `json:"height"`
	SourceBytes     int64           `json:"source_bytes"`
	// LadderMode is how the ready encoding chose its ladder ("pertitle",
	// "pershot", "static", "fixed").
	LadderMode string     `json:"ladder_mode,omitempty"`
	Backend    string     `json:"backend,omitempty"`
	JobID      string     `json:"job_id,omitempty"`
	Attempt    int        `json:"attempt,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ReadyAt    *time.Time `json:"ready_at,omitempty"`
	// ReadyTransitions counts how often the asset became ready: 1 after one
	// encoding, however often its events were delivered.
	ReadyTransitions int `json:"ready_transitions"`
	// BeaconToken authorises player analytics beacons for this asset until
	// BeaconExpiresAt (README "Player analytics"); present with playback URLs.
	BeaconToken     string     `json:"beacon_token,omitempty"`
	BeaconExpiresAt *time.Time `json:"beacon_expires_at,omitempty"`
}

type progressJSON struct {
	Percent    float64 `json:"percent"`
	ETASeconds float64 `json:"eta_seconds"`
	// A chunked encode's chunks done and all, and the workers on them.
	ChunksDone int `json:"chunks_done,omitempty"`
	Chunks     int `json:"chunks,omitempty"`
	Workers    int `json:"workers,omitempty"`
}

type renditionJSON struct {
	Width          int           `json:"width"`
	Height         int           `json:"height"`
	Bitrate        int64         `json:"bitrate"`
	AverageBitrate int64         `json:"average_bitrate"`
	Codec          string        `json:"codec"`
	Codecs         string        `json:"codecs"`
	FrameRate      float64       `json:"frame_rate"`
	Bytes          int64         `json:"bytes"`
	Quality        []qualityJSON `json:"quality"`
}

type qualityJSON struct {
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
}

type listJSON struct {
	Assets     []assetJSON `json:"assets"`
	NextCursor string      `json:"next_cursor"`
}

func (h *Handlers) toJSON(a domain.Asset) assetJSON {
	out := assetJSON{
		ID: a.ID, Title: a.Title, Owner: a.Owner, Status: a.Status, Error: a.Error, Retryable: a.Retryable,
		HLSURL: h.manifestURL(a.HLSURL, a.HLSKey), DASHURL: h.manifestURL(a.DASHURL, a.DASHKey),
		Renditions:      make([]renditionJSON, len(a.Renditions)),
		DurationSeconds: a.DurationSeconds, Width: a.Width, Height: a.Height, SourceBytes: a.SourceBytes,
		LadderMode: a.LadderMode, Backend: a.Backend, JobID: a.JobID, Attempt: a.Attempt, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
		ReadyTransitions: a.ReadyTransitions,
	}
	if s := h.cfg.Signer; s != nil && (out.HLSURL != "" || out.DASHURL != "") {
		tok, exp := s.BeaconToken(a.ID)
		out.BeaconToken, out.BeaconExpiresAt = tok, &exp
	}
	if a.Status == domain.StatusEncoding {
		out.Progress = &progressJSON{Percent: a.ProgressPercent, ETASeconds: a.ProgressETA,
			ChunksDone: a.ProgressChunksDone, Chunks: a.ProgressChunks, Workers: a.ProgressWorkers}
	}
	if !a.ReadyAt.IsZero() {
		t := a.ReadyAt
		out.ReadyAt = &t
	}
	for i, r := range a.Renditions {
		q := make([]qualityJSON, len(r.Quality))
		for j, s := range r.Quality {
			q[j] = qualityJSON(s)
		}
		out.Renditions[i] = renditionJSON{Width: r.Width, Height: r.Height, Bitrate: r.Bitrate,
			AverageBitrate: r.AverageBitrate, Codec: r.Codec, Codecs: r.Codecs, FrameRate: r.FrameRate,
			Bytes: r.Bytes, Quality: q}
	}
	return out
}

// manifestURL prefers the absolute URL an encoder gave; otherwise the storage key
// under the media base URL.
func (h *Handlers) manifestURL(abs, key string) string {
	if abs != "" {
		return abs
	}
	if key == "" {
		return ""
	}
	key = strings.TrimPrefix(key, "/")
	if h.cfg.Signer != nil {
		return h.cfg.MediaBaseURL + h.cfg.Signer.SignKey(key)
	}
	return h.cfg.MediaBaseURL + key
}

// getAsset answers another user's asset exactly as a missing one (404), so that
// ids cannot be probed for existence; admins see every asset.
func (h *Handlers) getAsset(w http.ResponseWriter, r *http.Request) {
	caller, _ := auth.FromContext(r.Context())
	a, err := h.queries.Get(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, domain.ErrInvalidID):
		writeError(w, http.StatusBadRequest, problem.InvalidID, "invalid asset id")
		return
	case errors.Is(err, domain.ErrNotFound) || (err == nil && !caller.CanAccess(a.Owner)):
		w.Header().Set("Cache-Control", "no-store")
		writeError(w, http.StatusNotFound, problem.NotFound, "asset not found")
		return
	case err != nil:
		h.internal(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	problem.WriteJSON(w, http.StatusOK, h.toJSON(a))
}

// listAssets lists the caller's assets; admins list everyone's, or one owner's
// with ?owner=.
func (h *Handlers) listAssets(w http.ResponseWriter, r *http.Request) {
	caller, _ := auth.FromContext(r.Context())
	q := r.URL.Query()
	f := app.ListFilter{Owner: q.Get("owner"), Cursor: q.Get("cursor")}
	if !caller.Admin() {
		f.Owner = caller.Subject
	}
	if s := q.Get("status"); s != "" {
		st, err := domain.ParseStatus(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, problem.InvalidRequest, err.Error())
			return
		}
		f.Status = st
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, problem.InvalidRequest, "limit must be a positive integer")
			return
		}
		f.Limit = n
	}
	p, err := h.queries.List(r.Context(), f)
	switch {
	case errors.Is(err, app.ErrInvalidCursor):
		writeError(w, http.StatusBadRequest, problem.InvalidRequest, "invalid cursor")
		return
	case errors.Is(err, domain.ErrInvalidStatus):
		writeError(w, http.StatusBadRequest, problem.InvalidRequest, err.Error())
		return
	case err != nil:
		h.internal(w, r, err)
		return
	}
	out := listJSON{Assets: make([]assetJSON, len(p.Assets)), NextCursor: p.NextCursor}
	for i, a := range p.Assets {
		out.Assets[i] = h.toJSON(a)
	}
	w.Header().Set("Cache-Control", "no-store")
	problem.WriteJSON(w, http.StatusOK, out)
}

func (h *Handlers) internal(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client left
	}
	h.log.Error("request failed", tracing.IDs(r.Context()), zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	writeError(w, http.StatusInternalServerError, problem.Internal, "internal error")
}

func writeError(w http.ResponseWriter, code int, t problem.Type, msg string) {
	problem.Write(w, code, t, msg)
}
