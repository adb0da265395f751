// Package http is ingest's HTTP port: it turns upload requests into use cases of app
// (Ingestor, Sessions) and their errors into status codes.
package http

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/limit"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/problem"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
)

// uploadHandler accepts POST /v1/assets with the video as the raw body or as the
// multipart field "file" (optional field "title"). Bytes are streamed to disk.
// The asset belongs to the caller (auth.Principal.Subject); a request without one
// is refused, so mounting it without auth.Middleware fails closed.
func uploadHandler(in *app.Ingestor, catalogURL string, log *zap.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, ok := auth.FromContext(r.Context())
		if !ok || caller.Subject == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pertitle"`)
			problem.Write(w, http.StatusUnauthorized, problem.Unauthorized, "sign in to upload")
			return
		}
		if r.ContentLength > in.MaxBytes {
			problem.Write(w, http.StatusRequestEntityTooLarge, problem.TooLarge, app.ErrTooLarge.Error())
			return
		}
		if err := in.Admit(caller.Subject); err != nil {
			fail(w, log, err)
			return
		}
		// The body counts in the caller's bytes in flight until it is stored or refused.
		hold, err := in.Quota.Hold(caller.Subject, max(r.ContentLength, 0))
		if err != nil {
			fail(w, log, err)
			return
		}
		defer hold.Release()
		r.Body = struct {
			io.Reader
			io.Closer
		}{hold.Reader(r.Body), r.Body}
		corr := r.Header.Get("X-Request-Id")
		if corr == "" {
			corr = uuid.NewString()
		}
		w.Header().Set("X-Request-Id", corr)
		owner := caller.Subject
		meta := app.Meta{Owner: owner, CorrelationID: corr}
		var staged *app.Staged
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt == "multipart/form-data" {
			staged, err = stageMultipart(r, in, &meta)
		} else {
			meta.Title = firstNonEmpty(r.URL.Query().Get("title"), r.Header.Get("X-Pertitle-Title"))
			meta.Filename = firstNonEmpty(r.URL.Query().Get("filename"), r.Header.Get("X-Pertitle-Filename"))
			meta.ContentType = r.Header.Get("Content-Type")
			staged, err = in.Stage(r.Context(), r.Body)
		}
		if err != nil {
			fail(w, log, err)
			return
		}
		asset, err := in.Commit(r.Context(), staged, meta)
		if err != nil {
			fail(w, log, err)
			return
		}
		log.Info("asset uploaded", zap.String("asset_id", asset.ID), zap.Int64("bytes", asset.Bytes),
			zap.String("correlation_id", corr), zap.String("owner", owner))
		if catalogURL != "" {
			w.Header().Set("Location", strings.TrimSuffix(catalogURL, "/")+"/v1/assets/"+asset.ID)
		}
		problem.WriteJSON(w, http.StatusAccepted, asset)
	})
}

func stageMultipart(r *http.Request, in *app.Ingestor, meta *app.Meta) (*app.Staged, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("malformed multipart body: " + err.Error())
	}
	var staged *app.Staged
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if staged != nil {
				staged.Discard()
			}
			return nil, badRequest("malformed multipart body: " + err.Error())
		}
		switch part.FormName() {
		case "title":
			b, _ := io.ReadAll(io.LimitReader(part, 1024))
			meta.Title = strings.TrimSpace(string(b))
		case "file":
			if staged != nil {
				staged.Discard()
				return nil, badRequest("send one file per upload")
			}
			meta.Filename = part.FileName()
			meta.ContentType = part.Header.Get("Content-Type")
			staged, err = in.Stage(r.Context(), part)
			if err != nil {
				return nil, err
			}
		default:
			_, _ = io.Copy(io.Discard, io.LimitReader(part, 1<<20))
		}
	}
	if staged == nil {
		return nil, badRequest("multipart upload has no field named file")
	}
	return staged, nil
}

// quotaRetry is the Retry-After of an upload refused by the caller's quota.
const quotaRetry = time.Minute

type badRequest string

func (b badRequest) Error() string { return string(b) }

func fail(w http.ResponseWriter, log *zap.Logger, err error) {
	var br badRequest
	var inv *media.InvalidSourceError
	var rl *app.RateLimitedError
	switch {
	case errors.As(err, &rl):
		limit.TooMany(w, rl.Wait, err.Error())
	case errors.Is(err, app.ErrQuota):
		// Space frees up as the caller's uploads finish: a guess, not a promise.
		limit.RetryAfter(w.Header(), quotaRetry)
		problem.Write(w, http.StatusTooManyRequests, problem.QuotaExceeded, err.Error())
	case errors.Is(err, limit.ErrTooSlow):
		problem.Write(w, http.StatusRequestTimeout, problem.TooSlow, err.Error())
	case errors.As(err, &br):
		problem.Write(w, http.StatusBadRequest, problem.InvalidRequest, err.Error())
	case errors.Is(err, app.ErrEmpty), errors.Is(err, app.ErrInvalidUpload):
		problem.Write(w, http.StatusBadRequest, problem.InvalidRequest, err.Error())
	case errors.Is(err, app.ErrTooLarge):
		problem.Write(w, http.StatusRequestEntityTooLarge, problem.TooLarge, err.Error())
	case errors.As(err, &inv):
		problem.Write(w, http.StatusUnprocessableEntity, problem.NotAVideo, "not a video we can encode: "+inv.Reason)
	case errors.Is(err, events.ErrTooLarge):
		// The client's title or file name made the event too large: no retry helps.
		problem.Write(w, http.StatusRequestEntityTooLarge, problem.TooLarge, "the upload's title and file name are too long to announce")
	case errors.Is(err, app.ErrUnavailable):
		log.Error("upload failed", zap.Error(err))
		w.Header().Set("Retry-After", "5")
		problem.Write(w, http.StatusServiceUnavailable, problem.Unavailable, err.Error())
	default:
		// The client went away or the body broke mid-stream.
		log.Warn("upload aborted", zap.Error(err))
		problem.Write(w, http.StatusBadRequest, problem.InvalidRequest, err.Error())
	}
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
