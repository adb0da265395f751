// Package http is the webhook-receiver's HTTP port: it bounds, verifies and
// parses a Bitmovin-style webhook, hands the notification to app.Receiver and
// turns the outcome into a status code that makes the sender retry exactly
// when a retry can help.
package http

import (
	"context"
	"errors"
	"io"
	"net/http"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/problem"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/pkg/tracing"
	"github.com/pertitle/pertitle/pkg/webhook"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/app"
)

// Receiver is the use case behind the webhook (app.Receiver).
type Receiver interface {
	Handle(ctx context.Context, n webhook.Notification) (app.Outcome, error)
}

// Webhook verifies, parses and hands a notification to the receiver. It
// answers 5xx only when a retry can succeed, so the sender retries exactly then.
func Webhook(rcv Receiver, key []byte, maxBytes int64, log *zap.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log := tracing.Logger(r.Context(), log)
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				problem.Write(w, http.StatusRequestEntityTooLarge, problem.TooLarge, "webhook body is larger than the limit")
				return
			}
			problem.Write(w, http.StatusBadRequest, problem.InvalidRequest, "cannot read body: "+err.Error())
			return
		}
		if err := webhook.Verify(key, body, r.Header.Get(webhook.SignatureHeader)); err != nil {
			log.Warn("webhook refused", zap.Error(err), zap.String("remote", r.RemoteAddr))
			problem.Write(w, http.StatusUnauthorized, problem.Unauthorized, err.Error())
			return
		}
		n, err := webhook.Parse(body)
		if err != nil {
			problem.Write(w, http.StatusBadRequest, problem.InvalidRequest, err.Error())
			return
		}
		out, err := rcv.Handle(r.Context(), n)
		switch {
		case errors.Is(err, app.ErrInvalid):
			problem.Write(w, http.StatusUnprocessableEntity, problem.InvalidRequest, err.Error())
			return
		case errors.Is(err, app.ErrUnknownEncoding):
			problem.Write(w, http.StatusNotFound, problem.NotFound, err.Error())
			return
		case errors.Is(err, app.ErrNotFinished):
			// Early, or claiming an outcome that has not happened: nothing is
			// published; the sender delivers again, by then the encoding has ended.
			log.Warn("webhook for an encoding that has not ended", zap.Error(err), zap.String("event_type", n.EventType))
			w.Header().Set("Retry-After", "30")
			problem.Write(w, http.StatusServiceUnavailable, problem.Unavailable, err.Error()+": retry later")
			return
		case errors.Is(err, app.ErrInProgress):
			// Another delivery of the same outcome is being published: if
			// that one fails, this retry must still find the sender willing.
			w.Header().Set("Retry-After", "5")
			problem.Write(w, http.StatusServiceUnavailable, problem.Unavailable, err.Error()+": retry later")
			return
		case err != nil:
			log.Error("webhook not processed", zap.Error(err), zap.String("encoding", n.EncodingID()))
			w.Header().Set("Retry-After", "5")
			problem.Write(w, http.StatusServiceUnavailable, problem.Unavailable, "cannot process webhook now, retry later")
			return
		}
		status := "accepted"
		if out.Duplicate {
			status = "duplicate"
		}
		if out.Overruled {
			log.Warn("webhook claimed another outcome than the encoding's status; the status wins",
				zap.String("encoding", n.EncodingID()), zap.String("claimed", n.EventType), zap.String("resolved", out.EventType))
		}
		log.Info("webhook processed", zap.String("encoding", n.EncodingID()), zap.String("event_type", out.EventType),
			zap.String("event_id", out.EventID), zap.Bool("duplicate", out.Duplicate))
		svc.WriteJSON(w, http.StatusAccepted, map[string]string{"status": status, "event_id": out.EventID, "event_type": out.EventType})
	})
}
