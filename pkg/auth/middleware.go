package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/pertitle/pertitle/pkg/problem"
)

// TokenVerifier checks a bearer token; *Verifier is one.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (Principal, error)
}

// Source finds a token in a request other than in its Authorization header.
type Source func(r *http.Request) string

// AccessTokenParam is the query parameter and cookie name that FromQuery and
// FromCookie read.
const AccessTokenParam = "access_token"

// FromQuery reads the token from the access_token query parameter, for endpoints
// that a browser loads without script (media elements, beacons) and so cannot
// send headers. Tokens in URLs end up in logs and histories: use it only where a
// header is impossible, with short-lived tokens. Middleware removes the
// parameter before the handler and its instrumentation see the URL.
func FromQuery(r *http.Request) string { return r.URL.Query().Get(AccessTokenParam) }

// FromCookie reads the token from the access_token cookie. A site that sets it
// must make it Secure, HttpOnly and SameSite=Strict or Lax: a cookie is sent by
// the browser on its own, so state-changing endpoints must not accept it.
func FromCookie(r *http.Request) string {
	if c, err := r.Cookie(AccessTokenParam); err == nil {
		return c.Value
	}
	return ""
}

// Middleware lets through only requests that carry a valid token, with the
// caller's Principal in the request context. The token is read from the
// Authorization header ("Bearer <token>"), then from the extra sources given,
// in order. Missing or invalid tokens get 401 with `WWW-Authenticate: Bearer`
// and a problem details body (RFC 9457); a provider that cannot be reached gets 503.
// Apply it per route: health and metrics stay open.
func Middleware(v TokenVerifier, next http.Handler, also ...Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, fromQuery := bearer(r), false
		for _, src := range also {
			if raw != "" {
				break
			}
			raw = src(r)
			fromQuery = raw != "" && raw == FromQuery(r)
		}
		if raw == "" {
			unauthorized(w, "", "sign in: this endpoint needs a bearer token")
			return
		}
		p, err := v.Verify(r.Context(), raw)
		switch {
		case errors.Is(err, ErrUnavailable):
			w.Header().Set("Retry-After", "5")
			problem.Write(w, http.StatusServiceUnavailable, problem.Unavailable, "cannot check the token now: identity provider unavailable")
			return
		case err != nil:
			unauthorized(w, "invalid_token", "invalid or expired token: sign in again")
			return
		}
		if fromQuery {
			r = r.Clone(r.Context())
			q := r.URL.Query()
			q.Del(AccessTokenParam)
			r.URL.RawQuery = q.Encode()
			r.RequestURI = r.URL.RequestURI()
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// Optional puts the caller's Principal in the context when the request carries a
// valid bearer token, and otherwise lets it through anonymous: for endpoints that
// also accept another credential (analytics beacons with a beacon token). The
// handler decides; an anonymous read must still answer 401.
func Optional(v TokenVerifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if raw := bearer(r); raw != "" {
			if p, err := v.Verify(r.Context(), raw); err == nil {
				r = r.WithContext(WithPrincipal(r.Context(), p))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Required answers 401 to requests without a Principal (with a subject) in their
// context. Handlers behind Middleware always have one; it guards against a route
// mounted without it.
func Required(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := FromContext(r.Context()); !ok || p.Subject == "" {
			unauthorized(w, "", "sign in: this endpoint needs a bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// unauthorized answers 401 as RFC 6750 says: no error code when no token came.
func unauthorized(w http.ResponseWriter, code, msg string) {
	challenge := `Bearer realm="pertitle"`
	if code != "" {
		challenge += `, error="` + code + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("Cache-Control", "no-store")
	problem.Write(w, http.StatusUnauthorized, problem.Unauthorized, msg)
}
