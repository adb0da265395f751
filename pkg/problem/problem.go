// Package problem writes API errors as RFC 9457 problem details
// (application/problem+json). Every error the pertitle APIs return has a Type:
// a stable URI that names what went wrong, documented in docs/problems.md,
// so clients branch on it rather than on the human-readable detail.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// ContentType is the media type of a problem details body.
const ContentType = "application/problem+json"

// Base prefixes every Type: the section of docs/problems.md that explains it.
const Base = "https://github.com/pertitle/pertitle/blob/main/docs/problems.md#"

// Type is a problem type: a stable URI and the short title that goes with it.
type Type struct {
	URI   string
	Title string
}

func newType(slug, title string) Type { return Type{URI: Base + slug, Title: title} }

// The problem types of the pertitle APIs. Their URIs never change; new ones
// may be added (docs/problems.md and api/openapi.yaml list them all).
var (
	Unauthorized       = newType("unauthorized", "Sign-in required")
	Forbidden          = newType("forbidden", "Forbidden")
	NotFound           = newType("not-found", "Not found")
	InvalidRequest     = newType("invalid-request", "Invalid request")
	InvalidID          = newType("invalid-id", "Invalid asset id")
	NotAVideo          = newType("not-a-video", "Not a video pertitle can encode")
	TooLarge           = newType("too-large", "Request too large")
	UnsupportedType    = newType("unsupported-media-type", "Unsupported media type")
	LengthRequired     = newType("length-required", "Content-Length required")
	UploadConflict     = newType("upload-conflict", "Upload session not ready for this")
	AssetNotFailed     = newType("asset-not-failed", "Only a failed asset can be retried")
	NotRetryable       = newType("not-retryable", "Asset cannot be retried")
	RateLimited        = newType("rate-limited", "Too many requests")
	QuotaExceeded      = newType("quota-exceeded", "Quota exceeded")
	TooSlow            = newType("too-slow", "Request body too slow")
	Unavailable        = newType("unavailable", "Temporarily unavailable")
	Internal           = newType("internal", "Internal error")
	OriginNotAllowed   = newType("origin-not-allowed", "Origin not allowed")
	InvalidMediaSigned = newType("invalid-media-signature", "Invalid or expired media signature")
)

// Details is one problem details object (RFC 9457 section 3). Error repeats
// Detail for clients written against the API's earlier {"error": "..."} bodies
// (an extension member, which RFC 9457 allows); Field names the offending
// request field when there is one.
type Details struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Field    string `json:"field,omitempty"`
	Error    string `json:"error"`
}

// New returns the problem of type t with status and detail.
func New(t Type, status int, detail string) Details {
	if detail == "" {
		detail = t.Title
	}
	return Details{Type: t.URI, Title: t.Title, Status: status, Detail: detail, Error: detail}
}

// Write answers with the problem of type t.
func Write(w http.ResponseWriter, status int, t Type, detail string) {
	New(t, status, detail).Write(w)
}

// Write answers with d.
func (d Details) Write(w http.ResponseWriter) {
	b, err := json.Marshal(d)
	if err != nil { // cannot happen: every field is a string or an int
		b = []byte(`{"type":"about:blank","status":500}`)
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Del("Content-Length")
	w.WriteHeader(d.Status)
	_, _ = w.Write(append(b, '\n'))
}

// WriteJSON answers an API call with status and v as JSON. What cannot be
// encoded (a NaN, say) is answered as an internal error, not as half a body.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		Write(w, http.StatusInternalServerError, Internal, "cannot encode response")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// ForStatus is the generic type of a status code, for errors that have no
// more specific one.
func ForStatus(status int) Type {
	switch status {
	case http.StatusBadRequest:
		return InvalidRequest
	case http.StatusUnauthorized:
		return Unauthorized
	case http.StatusForbidden:
		return Forbidden
	case http.StatusNotFound:
		return NotFound
	case http.StatusRequestEntityTooLarge:
		return TooLarge
	case http.StatusTooManyRequests:
		return RateLimited
	case http.StatusServiceUnavailable:
		return Unavailable
	}
	return Internal
}

// All lists every problem type.
func All() []Type {
	return []Type{Unauthorized, Forbidden, NotFound, InvalidRequest, InvalidID, NotAVideo, TooLarge,
		UnsupportedType, LengthRequired, UploadConflict, AssetNotFailed, NotRetryable, RateLimited,
		QuotaExceeded, TooSlow, Unavailable, Internal, OriginNotAllowed, InvalidMediaSigned}
}
