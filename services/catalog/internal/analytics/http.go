package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/limit"
	"github.com/pertitle/pertitle/pkg/problem"
	"github.com/pertitle/pertitle/pkg/svc"
)

// Filter selects stored events: one asset, or one owner's assets, or (All) every
// asset. Since, when set, drops older events.
type Filter struct {
	AssetID string
	Owner   string
	All     bool
	Since   time.Time
}

// Store keeps events. The catalog's SQLite and PostgreSQL adapters implement it
// and pass analyticstest.RunStoreContract.
type Store interface {
	// AppendEvents stores a batch of events of assets owned by owners[asset_id], in
	// one transaction.
	AppendEvents(ctx context.Context, owners map[string]string, events []Event) error
	// Report aggregates the events f selects, with a timeline of interval buckets,
	// where they are stored: its memory does not grow with the number of events.
	// It answers what an Aggregator fed the same events answers.
	Report(ctx context.Context, f Filter, interval time.Duration) (Report, error)
}

// OwnerLookup returns the owner of an asset, found=false when there is none.
type OwnerLookup func(ctx context.Context, assetID string) (owner string, found bool, err error)

// TokenVerifier checks beacon tokens handed out with playback URLs.
type TokenVerifier interface {
	VerifyBeaconToken(token, assetID string) error
}

// Handler serves the analytics endpoints.
type Handler struct {
	Store  Store
	Owner  OwnerLookup
	Tokens TokenVerifier // nil: only authenticated callers may send beacons
	// Limiter holds a token bucket per asset and sender, charged one token per
	// event of an authorised batch: the sender is the signed-in user, or, for a
	// beacon token, the client address (Addresses). Never a viewer_id: the
	// sender picks that one and could take a fresh bucket with every event.
	Limiter   *limit.Keyed
	Addresses limit.Addresses
	Log       *zap.Logger
	Now       func() time.Time
}

// Instrumenter wraps a handler with metrics under a route name (svc.Metrics).
type Instrumenter = svc.Instrumenter

// Register mounts the endpoints on mux, instrumented by m (may be nil). The beacon
// endpoint takes a beacon token and must not sit behind the bearer middleware;
// the reads need an authenticated caller.
func (h *Handler) Register(mux svc.Mux, m Instrumenter) {
	route := svc.Instrumented(mux, m)
	route("POST /v1/analytics/events", "/v1/analytics/events", h.postEvents)
	route("OPTIONS /v1/analytics/events", "/v1/analytics/events", h.preflight)
	route("GET /v1/analytics/assets/{id}", "/v1/analytics/assets/{id}", h.assetReport)
	route("GET /v1/analytics/summary", "/v1/analytics/summary", h.summary)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) log() *zap.Logger {
	if h.Log == nil {
		return zap.NewNop()
	}
	return h.Log
}

func beaconCORS(hd http.Header) {
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Access-Control-Expose-Headers", "Retry-After")
}

func (h *Handler) preflight(w http.ResponseWriter, _ *http.Request) {
	hd := w.Header()
	beaconCORS(hd)
	hd.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	hd.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
	hd.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// postEvents takes a batch of beacons: POST /v1/analytics/events?token=<beacon token>.
func (h *Handler) postEvents(w http.ResponseWriter, r *http.Request) {
	beaconCORS(w.Header())
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "text/plain") {
			writeError(w, http.StatusUnsupportedMediaType, problem.UnsupportedType, "", "send a JSON array as application/json or text/plain")
			return
		}
	}
	if r.ContentLength > MaxBatchBytes {
		writeError(w, http.StatusRequestEntityTooLarge, problem.TooLarge, "", fmt.Sprintf("a batch is at most %d bytes", MaxBatchBytes))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBatchBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, problem.InvalidRequest, "", "cannot read body")
		return
	}
	if len(body) > MaxBatchBytes {
		writeError(w, http.StatusRequestEntityTooLarge, problem.TooLarge, "", fmt.Sprintf("a batch is at most %d bytes", MaxBatchBytes))
		return
	}
	events, field, err := decodeBatch(body)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errTooMany) {
			code = http.StatusRequestEntityTooLarge
		}
		writeError(w, code, problem.ForStatus(code), field, err.Error())
		return
	}
	now := h.now()
	for i, e := range events {
		if err := e.Validate(now); err != nil {
			var fe *FieldError
			errors.As(err, &fe)
			f := fmt.Sprintf("events[%d].%s", i, fe.Field)
			writeError(w, http.StatusBadRequest, problem.InvalidRequest, f, f+": "+fe.Msg)
			return
		}
	}
	owners, status, msg := h.authorizeBeacons(r, events)
	if status != 0 {
		writeError(w, status, problem.ForStatus(status), "", msg)
		return
	}
	// Charged only now: a request that is not let in never spends a real viewer's tokens.
	if wait, ok := h.charge(r, owners, events); !ok {
		limit.RetryAfter(w.Header(), wait)
		writeError(w, http.StatusTooManyRequests, problem.RateLimited, "", "too many analytics events for this asset from your address; slow down")
		return
	}
	if err := h.Store.AppendEvents(r.Context(), owners, events); err != nil {
		h.internal(w, r, err)
		return
	}
	problem.WriteJSON(w, http.StatusAccepted, map[string]int{"accepted": len(events)})
}

// authorizeBeacons lets a batch in when, for every asset it names, the caller is
// authenticated and may read it, or the beacon token was issued for it.
func (h *Handler) authorizeBeacons(r *http.Request, events []Event) (map[string]string, int, string) {
	p, authed := auth.FromContext(r.Context())
	token := r.URL.Query().Get("token")
	owners := map[string]string{}
	for _, e := range events {
		if _, done := owners[e.AssetID]; done {
			continue
		}
		owner, found, err := h.Owner(r.Context(), e.AssetID)
		if err != nil {
			return nil, http.StatusServiceUnavailable, "cannot check the asset right now"
		}
		allowed := found && authed && p.CanAccess(owner)
		if !allowed && found && token != "" && h.Tokens != nil {
			allowed = h.Tokens.VerifyBeaconToken(token, e.AssetID) == nil
		}
		if !allowed {
			if !authed && token == "" {
				return nil, http.StatusUnauthorized, "send the beacon_token of GET /v1/assets/{id} as ?token="
			}
			return nil, http.StatusForbidden, "no access to asset " + e.AssetID + " (the token is expired or for another asset)"
		}
		owners[e.AssetID] = owner
	}
	return owners, 0, ""
}

// charge takes one token per event from the bucket of each (asset, sender) of an
// authorised batch; when one bucket falls short it says how long to wait. A batch
// of several assets may spend tokens of the first before the second refuses it:
// the player sends one asset per batch, so only a hand-made batch loses them.
func (h *Handler) charge(r *http.Request, owners map[string]string, events []Event) (time.Duration, bool) {
	if h.Limiter == nil {
		return 0, true
	}
	p, authed := auth.FromContext(r.Context())
	perAsset := map[string]int{}
	for _, e := range events {
		perAsset[e.AssetID]++
	}
	for asset, n := range perAsset {
		key := "addr " + h.Addresses.Client(r) + " " + asset
		if authed && p.CanAccess(owners[asset]) {
			key = "user " + p.Subject + " " + asset
		}
		if ok, wait := h.Limiter.AllowN(key, n); !ok {
			return wait, false
		}
	}
	return 0, true
}

var errTooMany = fmt.Errorf("a batch is at most %d events", MaxBatchEvents)

// decodeBatch parses a JSON array of events, naming the field of a type error.
func decodeBatch(body []byte) ([]Event, string, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, "", fmt.Errorf("body must be a JSON array of events: %w", err)
	}
	switch {
	case len(raw) == 0:
		return nil, "", errors.New("the batch is empty")
	case len(raw) > MaxBatchEvents:
		return nil, "", errTooMany
	}
	events := make([]Event, len(raw))
	for i, m := range raw {
		dec := json.NewDecoder(bytes.NewReader(m))
		if err := dec.Decode(&events[i]); err != nil {
			field := fmt.Sprintf("events[%d]", i)
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				field += "." + te.Field
				return nil, field, fmt.Errorf("%s: must be a %s", field, te.Type)
			}
			return nil, field, fmt.Errorf("%s: must be an object: %w", field, err)
		}
	}
	return events, "", nil
}

// assetReport answers GET /v1/analytics/assets/{id}[?interval=1h][&since=RFC3339].
func (h *Handler) assetReport(w http.ResponseWriter, r *http.Request) {
	p, ok := caller(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	owner, found, err := h.Owner(r.Context(), id)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if !found || !p.CanAccess(owner) {
		writeError(w, http.StatusNotFound, problem.NotFound, "", "asset not found")
		return
	}
	h.report(w, r, Filter{AssetID: id}, false)
}

// summary answers GET /v1/analytics/summary: the caller's assets (an admin's: all).
func (h *Handler) summary(w http.ResponseWriter, r *http.Request) {
	p, ok := caller(w, r)
	if !ok {
		return
	}
	h.report(w, r, Filter{Owner: p.Subject, All: p.Admin()}, true)
}

func (h *Handler) report(w http.ResponseWriter, r *http.Request, f Filter, summary bool) {
	q := r.URL.Query()
	interval := time.Hour
	if s := q.Get("interval"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Minute || d > 31*24*time.Hour {
			writeError(w, http.StatusBadRequest, problem.InvalidRequest, "interval", "interval must be a duration between 1m and 744h")
			return
		}
		interval = d
	}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			writeError(w, http.StatusBadRequest, problem.InvalidRequest, "since", "since must be an RFC 3339 time")
			return
		}
		f.Since = t
	}
	rep, err := h.Store.Report(r.Context(), f, interval)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if !summary {
		rep.Assets = 0
	}
	w.Header().Set("Cache-Control", "no-store")
	problem.WriteJSON(w, http.StatusOK, rep)
}

func caller(w http.ResponseWriter, r *http.Request) (auth.Principal, bool) {
	p, ok := auth.FromContext(r.Context())
	if !ok || p.Subject == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pertitle"`)
		writeError(w, http.StatusUnauthorized, problem.Unauthorized, "", "sign in to see analytics")
		return auth.Principal{}, false
	}
	return p, true
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	h.log().Error("analytics request failed", zap.String("path", r.URL.Path), zap.Error(err))
	writeError(w, http.StatusInternalServerError, problem.Internal, "", "internal error")
}

func writeError(w http.ResponseWriter, code int, t problem.Type, field, msg string) {
	p := problem.New(t, code, msg)
	p.Field = field
	p.Write(w)
}
