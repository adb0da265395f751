package http

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	inner := http.NewServeMux()
	inner.HandleFunc("PUT /v1/uploads/{id}/parts/{n}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("ETag", `"abc"`)
	})
	inner.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	h := WithCORS(DefaultCORSOrigins, inner)
	do := func(method, path, origin string, hdr ...string) *http.Response {
		req := httptest.NewRequest(method, path, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result()
	}

	// A preflight from the app is answered without a token.
	r := do("OPTIONS", "/v1/uploads/x/parts/1", "http://127.0.0.1:8080",
		"Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "authorization,content-type")
	assert.Equal(t, http.StatusNoContent, r.StatusCode)
	assert.Equal(t, "http://127.0.0.1:8080", r.Header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, r.Header.Get("Access-Control-Allow-Methods"), "PUT")
	assert.Contains(t, r.Header.Get("Access-Control-Allow-Headers"), "Authorization")

	// The real request, even refused, carries the headers so that the app reads the error.
	r = do("PUT", "/v1/uploads/x/parts/1", "http://localhost:8080")
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode)
	assert.Equal(t, "http://localhost:8080", r.Header.Get("Access-Control-Allow-Origin"))
	r = do("PUT", "/v1/uploads/x/parts/1", "http://localhost:8080", "Authorization", "Bearer t")
	assert.Equal(t, http.StatusOK, r.StatusCode)
	assert.Contains(t, r.Header.Get("Access-Control-Expose-Headers"), "ETag")

	// Other origins get nothing that lets a browser read the answer.
	r = do("OPTIONS", "/v1/uploads", "http://evil.example", "Access-Control-Request-Method", "POST")
	assert.Equal(t, http.StatusForbidden, r.StatusCode)
	assert.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
	r = do("PUT", "/v1/uploads/x/parts/1", "http://evil.example", "Authorization", "Bearer t")
	assert.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))

	// Health checks and requests without an Origin pass through untouched.
	assert.Equal(t, http.StatusOK, do("GET", "/healthz", "http://127.0.0.1:8080").StatusCode)
	assert.Empty(t, do("GET", "/healthz", "http://127.0.0.1:8080").Header.Get("Access-Control-Allow-Origin"))
}
