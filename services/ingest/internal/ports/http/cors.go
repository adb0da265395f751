package http

import (
	"net/http"
	"strings"

	"github.com/pertitle/pertitle/pkg/problem"
)

// DefaultCORSOrigins are the web app's origins under `make run` (the catalog serves it).
const DefaultCORSOrigins = "http://127.0.0.1:8080,http://localhost:8080"

// WithCORS lets the web app, served by the catalog on another origin, upload from
// the browser: preflights from an allowed origin are answered here, before the
// bearer-token middleware (a preflight carries no token), and every response to
// an allowed origin, a 401 included, says so, so the app can read its error.
// Tokens travel in the Authorization header, never in cookies: no credentials mode.
func WithCORS(origins string, next *http.ServeMux) *http.ServeMux {
	allowed := map[string]bool{}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSuffix(strings.TrimSpace(o), "/"); o != "" {
			allowed[o] = true
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !strings.HasPrefix(r.URL.Path, "/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		ok := allowed[origin] || allowed["*"]
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if !ok {
			if preflight {
				problem.Write(w, http.StatusForbidden, problem.OriginNotAllowed, "origin not allowed: add it to PERTITLE_CORS_ORIGINS")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "ETag, Location, X-Request-Id, Retry-After, WWW-Authenticate")
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id, X-Pertitle-Title, X-Pertitle-Filename")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	}))
	return mux
}
