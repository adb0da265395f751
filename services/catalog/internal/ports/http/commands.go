package http

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/problem"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// retriedJSON is the answer to POST /v1/assets/{id}/retry.
type retriedJSON struct {
	ID        string `json:"id"`
	Attempt   int    `json:"attempt"`
	RequestID string `json:"request_id"`
	JobID     string `json:"job_id"`
}

// deleteAsset removes an asset the caller owns (admins: any): 204, and the
// asset is gone from the API at once; its objects are removed from storage
// when AssetDeleted comes back from the bus.
func (h *Handlers) deleteAsset(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Commands == nil {
		h.commandFailed(w, r, app.ErrUnavailable)
		return
	}
	caller, _ := auth.FromContext(r.Context())
	if err := h.cfg.Commands.Delete(r.Context(), caller, r.PathValue("id")); err != nil {
		h.commandFailed(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// retryAsset asks for a new attempt of a failed asset the caller owns: 202,
// and the asset moves to encoding when the attempt starts.
func (h *Handlers) retryAsset(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Commands == nil {
		h.commandFailed(w, r, app.ErrUnavailable)
		return
	}
	caller, _ := auth.FromContext(r.Context())
	got, err := h.cfg.Commands.Retry(r.Context(), caller, r.PathValue("id"))
	if err != nil {
		h.commandFailed(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/assets/"+got.AssetID)
	problem.WriteJSON(w, http.StatusAccepted, retriedJSON{ID: got.AssetID, Attempt: got.Attempt, RequestID: got.RequestID, JobID: got.JobID})
}

func (h *Handlers) commandFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, domain.ErrInvalidID):
		writeError(w, http.StatusBadRequest, problem.InvalidID, "invalid asset id")
	case errors.Is(err, domain.ErrNotFound):
		writeError(w, http.StatusNotFound, problem.NotFound, "asset not found")
	case errors.Is(err, app.ErrNotFailed):
		writeError(w, http.StatusConflict, problem.AssetNotFailed, err.Error())
	case errors.Is(err, app.ErrNotRetryable):
		writeError(w, http.StatusConflict, problem.NotRetryable, err.Error())
	case errors.Is(err, app.ErrUnavailable):
		if r.Context().Err() != nil {
			return
		}
		h.log.Warn("asset command failed", zap.Error(err))
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, problem.Unavailable, app.ErrUnavailable.Error())
	default:
		h.internal(w, r, err)
	}
}
