package http

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/problem"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
)

// Route is one endpoint: its mux pattern, its metrics name and its handler. The
// wiring registers them, adding whatever middleware (authentication) it applies.
type Route struct {
	Pattern, Name string
	Handler       http.Handler
}

// Routes are every API endpoint of ingest: uploads in one request and resumable
// uploads. Each needs an authenticated caller (auth.FromContext) and refuses
// the request without one.
func Routes(in *app.Ingestor, s UploadSessions, catalogURL string, log *zap.Logger) []Route {
	return append([]Route{{"POST /v1/assets", "/v1/assets", uploadHandler(in, catalogURL, log)}},
		sessionRoutes(in, s, catalogURL, log)...)
}

// UploadSessions are resumable uploads: app.Sessions (parts through ingest)
// or app.Direct (parts straight to storage).
type UploadSessions interface {
	Create(ctx context.Context, owner string, u app.NewUpload) (*app.Session, error)
	Get(ctx context.Context, owner, id string) (*app.Progress, error)
	PutPart(ctx context.Context, owner, id string, n int, length int64, r io.Reader) (app.Part, error)
	PartURL(ctx context.Context, owner, id string, n int) (*app.PartURL, error)
	Complete(ctx context.Context, owner, id, correlationID string) (*app.Asset, error)
	Abort(ctx context.Context, owner, id string) error
}

// sessionRoutes are the endpoints of resumable uploads (README "Resumable uploads").
// Every one needs an authenticated caller (auth.FromContext).
func sessionRoutes(in *app.Ingestor, s UploadSessions, catalogURL string, log *zap.Logger) []Route {
	_, direct := s.(*app.Direct)
	h := &sessionHandlers{in: in, s: s, direct: direct, catalogURL: catalogURL, log: log}
	return []Route{
		{"POST /v1/uploads", "/v1/uploads", h.withCaller(h.create)},
		{"GET /v1/uploads/{id}", "/v1/uploads/{id}", h.withCaller(h.get)},
		{"DELETE /v1/uploads/{id}", "/v1/uploads/{id}", h.withCaller(h.abort)},
		{"PUT /v1/uploads/{id}/parts/{n}", "/v1/uploads/{id}/parts/{n}", h.withCaller(h.putPart)},
		{"GET /v1/uploads/{id}/parts/{n}/url", "/v1/uploads/{id}/parts/{n}/url", h.withCaller(h.partURL)},
		{"POST /v1/uploads/{id}/complete", "/v1/uploads/{id}/complete", h.withCaller(h.complete)},
	}
}

type sessionHandlers struct {
	in         *app.Ingestor
	s          UploadSessions
	direct     bool // parts go to storage, not through ingest
	catalogURL string
	log        *zap.Logger
}

type callerHandler func(w http.ResponseWriter, r *http.Request, owner string)

func (h *sessionHandlers) withCaller(fn callerHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok || p.Subject == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pertitle"`)
			problem.Write(w, http.StatusUnauthorized, problem.Unauthorized, "sign in to upload")
			return
		}
		fn(w, r, p.Subject)
	})
}

// createdJSON is the answer to POST /v1/uploads.
type createdJSON struct {
	ID         string    `json:"id"`
	PartSize   int64     `json:"part_size"`
	PartsTotal int       `json:"parts_total"`
	Size       int64     `json:"size"`
	Status     string    `json:"status"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Direct: PUT each part to the URL of GET /v1/uploads/{id}/parts/{n}/url.
	Direct bool `json:"direct"`
}

// progressJSON is the answer to GET /v1/uploads/{id}.
type progressJSON struct {
	ID            string     `json:"id"`
	Filename      string     `json:"filename"`
	Title         string     `json:"title"`
	ContentType   string     `json:"content_type"`
	Size          int64      `json:"size"`
	PartSize      int64      `json:"part_size"`
	PartsTotal    int        `json:"parts_total"`
	Parts         []app.Part `json:"parts"`
	ReceivedBytes int64      `json:"received_bytes"`
	Status        string     `json:"status"`
	CreatedAt     time.Time  `json:"created_at"`
	ExpiresAt     time.Time  `json:"expires_at"`
	Direct        bool       `json:"direct"`
}

func (h *sessionHandlers) create(w http.ResponseWriter, r *http.Request, owner string) {
	var u app.NewUpload
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	err := dec.Decode(&u)
	if err == nil {
		// One object and nothing after it: a second one would be silently ignored.
		if _, next := dec.Token(); !errors.Is(next, io.EOF) {
			err = errors.New("data after the object")
		}
	}
	if err != nil {
		problem.Write(w, http.StatusBadRequest, problem.InvalidRequest, "body must be JSON {filename, size, content_type, title}: "+err.Error())
		return
	}
	if err := h.in.Admit(owner); err != nil {
		h.fail(w, err)
		return
	}
	sess, err := h.s.Create(r.Context(), owner, u)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.log.Info("upload session opened", zap.String("session_id", sess.ID), zap.String("owner", owner),
		zap.Int64("size", sess.Size), zap.Int("parts", sess.PartsTotal))
	w.Header().Set("Location", "/v1/uploads/"+sess.ID)
	problem.WriteJSON(w, http.StatusCreated, createdJSON{ID: sess.ID, PartSize: sess.PartSize, PartsTotal: sess.PartsTotal,
		Size: sess.Size, Status: sess.Status, ExpiresAt: sess.ExpiresAt, Direct: h.direct})
}

func (h *sessionHandlers) get(w http.ResponseWriter, r *http.Request, owner string) {
	p, err := h.s.Get(r.Context(), owner, r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	problem.WriteJSON(w, http.StatusOK, progressJSON{ID: p.ID, Filename: p.Filename, Title: p.Title, ContentType: p.ContentType,
		Size: p.Size, PartSize: p.PartSize, PartsTotal: p.PartsTotal, Parts: p.Parts, ReceivedBytes: p.ReceivedBytes,
		Status: p.Status, CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt, Direct: h.direct})
}

// partNumber is the {n} of a part's path: 1 to app.MaxParts, plain digits.
func partNumber(w http.ResponseWriter, r *http.Request) (int, bool) {
	v := r.PathValue("n")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > app.MaxParts || len(v) > 5 {
		problem.Write(w, http.StatusBadRequest, problem.InvalidRequest, "part number must be a positive integer, at most "+strconv.Itoa(app.MaxParts))
		return 0, false
	}
	return n, true
}

// partURL hands out where to PUT part n of a direct upload.
func (h *sessionHandlers) partURL(w http.ResponseWriter, r *http.Request, owner string) {
	n, ok := partNumber(w, r)
	if !ok {
		return
	}
	u, err := h.s.PartURL(r.Context(), owner, r.PathValue("id"), n)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	problem.WriteJSON(w, http.StatusOK, u)
}

func (h *sessionHandlers) putPart(w http.ResponseWriter, r *http.Request, owner string) {
	n, ok := partNumber(w, r)
	if !ok {
		return
	}
	p, err := h.s.PutPart(r.Context(), owner, r.PathValue("id"), n, r.ContentLength, r.Body)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("ETag", `"`+p.ETag+`"`)
	problem.WriteJSON(w, http.StatusOK, p)
}

func (h *sessionHandlers) complete(w http.ResponseWriter, r *http.Request, owner string) {
	corr := r.Header.Get("X-Request-Id")
	if corr == "" {
		corr = uuid.NewString()
	}
	w.Header().Set("X-Request-Id", corr)
	id := r.PathValue("id")
	asset, err := h.s.Complete(r.Context(), owner, id, corr)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.log.Info("asset uploaded", zap.String("asset_id", asset.ID), zap.String("session_id", id),
		zap.Int64("bytes", asset.Bytes), zap.String("correlation_id", corr), zap.String("owner", owner))
	if h.catalogURL != "" {
		w.Header().Set("Location", strings.TrimSuffix(h.catalogURL, "/")+"/v1/assets/"+asset.ID)
	}
	problem.WriteJSON(w, http.StatusAccepted, asset)
}

func (h *sessionHandlers) abort(w http.ResponseWriter, r *http.Request, owner string) {
	if err := h.s.Abort(r.Context(), owner, r.PathValue("id")); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *sessionHandlers) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, app.ErrSessionNotFound):
		problem.Write(w, http.StatusNotFound, problem.NotFound, err.Error())
	case errors.Is(err, app.ErrInvalidUpload):
		problem.Write(w, http.StatusBadRequest, problem.InvalidRequest, err.Error())
	case errors.Is(err, app.ErrUnsupportedType):
		problem.Write(w, http.StatusUnsupportedMediaType, problem.UnsupportedType, err.Error())
	case errors.Is(err, app.ErrPartTooLarge):
		problem.Write(w, http.StatusRequestEntityTooLarge, problem.TooLarge, err.Error())
	case errors.Is(err, app.ErrLengthRequired):
		problem.Write(w, http.StatusLengthRequired, problem.LengthRequired, err.Error())
	case errors.Is(err, app.ErrIncomplete), errors.Is(err, app.ErrSessionBusy),
		errors.Is(err, app.ErrDirectPart), errors.Is(err, app.ErrNotDirect):
		problem.Write(w, http.StatusConflict, problem.UploadConflict, err.Error())
	default:
		fail(w, h.log, err)
	}
}
