package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/authtest"
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/problem"
)

type unavailable struct{}

func (unavailable) Verify(context.Context, string) (auth.Principal, error) {
	return auth.Principal{}, auth.ErrUnavailable
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	iss := authtest.New(t)
	v := newVerifier(t, iss, authtest.Audience, nil)
	good := iss.Token(t, "u-alice")
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		require.True(t, ok)
		_ = json.NewEncoder(w).Encode(map[string]string{"sub": p.Subject, "uri": r.RequestURI, "query": r.URL.RawQuery})
	})
	headerOnly := auth.Middleware(v, echo)
	media := auth.Middleware(v, echo, auth.FromQuery, auth.FromCookie)

	tests := []struct {
		name      string
		h         http.Handler
		target    string
		hdr       map[string]string
		cookie    string
		code      int
		challenge string
		uri       string
	}{
		{"no token", headerOnly, "/v1/assets", nil, "", 401, `Bearer realm="pertitle"`, ""},
		{"bearer", headerOnly, "/v1/assets", map[string]string{"Authorization": "Bearer " + good}, "", 200, "", "/v1/assets"},
		{"scheme is case-insensitive", headerOnly, "/v1/assets", map[string]string{"Authorization": "bearer " + good}, "", 200, "", "/v1/assets"},
		{"basic is not bearer", headerOnly, "/v1/assets", map[string]string{"Authorization": "Basic YTpi"}, "", 401, `Bearer realm="pertitle"`, ""},
		{"garbage", headerOnly, "/v1/assets", map[string]string{"Authorization": "Bearer abc.def.ghi"}, "", 401, `Bearer realm="pertitle", error="invalid_token"`, ""},
		{"query ignored unless opted in", headerOnly, "/v1/assets?access_token=" + good, nil, "", 401, `Bearer realm="pertitle"`, ""},
		{"cookie ignored unless opted in", headerOnly, "/v1/assets", nil, good, 401, `Bearer realm="pertitle"`, ""},
		{"query when opted in, then removed", media, "/media/x.m3u8?a=1&access_token=" + good, nil, "", 200, "", "/media/x.m3u8?a=1"},
		{"cookie when opted in", media, "/media/x.m3u8", nil, good, 200, "", "/media/x.m3u8"},
		{"bad query token", media, "/media/x.m3u8?access_token=nope", nil, "", 401, `Bearer realm="pertitle", error="invalid_token"`, ""},
		{"provider down", auth.Middleware(unavailable{}, echo), "/v1/assets", map[string]string{"Authorization": "Bearer " + good}, "", 503, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, tc.target, nil)
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: auth.AccessTokenParam, Value: tc.cookie})
			}
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			require.Equal(t, tc.code, rec.Code, rec.Body.String())
			assert.Equal(t, tc.challenge, rec.Header().Get("WWW-Authenticate"))
			if tc.code != 200 {
				var p map[string]any
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
				assert.Equal(t, float64(tc.code), p["status"])
				assert.NotEmpty(t, p["detail"])
				assert.Equal(t, problem.ForStatus(tc.code).URI, p["type"])
				return
			}
			var body map[string]string
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			assert.Equal(t, "u-alice", body["sub"])
			assert.Equal(t, tc.uri, body["uri"])
			assert.NotContains(t, body["query"], "access_token")
		})
	}
}

func TestRequired(t *testing.T) {
	t.Parallel()
	h := auth.Required(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, 401, rec.Code)
	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	h.ServeHTTP(rec, req.WithContext(auth.WithPrincipal(req.Context(), auth.Principal{Groups: []string{"admin"}})))
	assert.Equal(t, 401, rec.Code, "a principal without subject is nobody")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req.WithContext(auth.WithPrincipal(req.Context(), auth.Principal{Subject: "s"})))
	assert.Equal(t, 204, rec.Code)
}

func TestOptional(t *testing.T) {
	t.Parallel()
	iss := authtest.New(t)
	v := newVerifier(t, iss, authtest.Audience, nil)
	h := auth.Optional(v, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.FromContext(r.Context())
		_, _ = w.Write([]byte(p.Subject))
	}))
	for _, tc := range []struct{ authz, want string }{
		{"", ""},
		{"Bearer " + iss.Token(t, "u-bob"), "u-bob"},
		{"Bearer nope", ""},
	} {
		req := httptest.NewRequest(http.MethodPost, "/v1/analytics/events", nil)
		if tc.authz != "" {
			req.Header.Set("Authorization", tc.authz)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, 200, rec.Code)
		assert.Equal(t, tc.want, rec.Body.String())
	}
}

func TestPrincipalAccess(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p     auth.Principal
		owner string
		ok    bool
	}{
		{auth.Principal{Subject: "a"}, "a", true},
		{auth.Principal{Subject: "a"}, "b", false},
		{auth.Principal{}, "", false},
		{auth.Principal{Subject: "a", Groups: []string{auth.AdminGroup}}, "b", true},
	} {
		assert.Equal(t, tc.ok, tc.p.CanAccess(tc.owner), "%+v on %q", tc.p, tc.owner)
	}
}
