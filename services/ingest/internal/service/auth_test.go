package service

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/apitest"
	"github.com/pertitle/pertitle/internal/authtest"
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/ingest/internal/adapters/ffprobe"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
)

// TestEveryAPIRouteNeedsAToken: the wired mux refuses anonymous and forged calls
// on every API route with 401, and keeps health and metrics open.
func TestEveryAPIRouteNeedsAToken(t *testing.T) {
	t.Parallel()
	iss := authtest.New(t)
	v, err := auth.NewVerifier(context.Background(), auth.Config{Issuer: iss.URL, Audience: authtest.Audience})
	require.NoError(t, err)
	st, err := storage.NewFS(t.TempDir())
	require.NoError(t, err)
	in := &app.Ingestor{Store: st, Pub: nopPublisher{}, Prober: ffprobe.Prober{FFprobe: "ffprobe", FFmpeg: "ffmpeg"},
		StagingDir: st.StagingDir(), MaxBytes: 1 << 20, Producer: "ingest"}
	sessions := &app.Sessions{Ingestor: in, Dir: filepath.Join(t.TempDir(), "sessions"), PartSize: 5 << 20, TTL: time.Hour}
	mux := newMux(svc.NewOps("ingest-test"), v, in, sessions, "http://catalog", zap.NewNop())

	routes := []struct{ method, path string }{
		{"POST", "/v1/assets"},
		{"POST", "/v1/uploads"},
		{"GET", "/v1/uploads/abc"},
		{"DELETE", "/v1/uploads/abc"},
		{"PUT", "/v1/uploads/abc/parts/1"},
		{"POST", "/v1/uploads/abc/complete"},
	}
	expired := iss.Claims("u-alice")
	expired["exp"] = 1
	wrongAud := iss.Claims("u-alice")
	wrongAud["aud"] = "another-api"
	creds := map[string]string{
		"anonymous":      "",
		"garbage":        "Bearer not-a-token",
		"expired":        "Bearer " + iss.Sign(t, expired),
		"wrong audience": "Bearer " + iss.Sign(t, wrongAud),
	}
	for _, rt := range routes {
		for name, authz := range creds {
			t.Run(rt.method+" "+rt.path+" "+name, func(t *testing.T) {
				t.Parallel()
				req := httptest.NewRequest(rt.method, rt.path, strings.NewReader("body"))
				req.Header.Set("X-Pertitle-Owner", "u-alice")
				if authz != "" {
					req.Header.Set("Authorization", authz)
				}
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, req)
				assert.Equal(t, http.StatusUnauthorized, rec.Code, rec.Body.String())
				assert.True(t, strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer"))
				assert.Contains(t, rec.Body.String(), `"error"`)
			})
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		assert.Equal(t, http.StatusOK, rec.Code, path)
	}
	// A valid token gets past authentication (the empty body is then refused).
	req := httptest.NewRequest("POST", "/v1/assets", strings.NewReader(""))
	req.Header.Set("Authorization", "Bearer "+iss.Token(t, "u-alice"))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
}

// nopPublisher drops events: no request here gets as far as publishing one.
type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, *eventsv1.Envelope) error { return nil }

// TestRoutesAreDocumented: every route ingest mounts is in api/openapi.yaml.
func TestRoutesAreDocumented(t *testing.T) {
	t.Parallel()
	st, err := storage.NewFS(t.TempDir())
	require.NoError(t, err)
	in := &app.Ingestor{Store: st, Pub: nopPublisher{}, StagingDir: st.StagingDir(), MaxBytes: 1 << 20, Producer: "ingest"}
	sessions := &app.Sessions{Ingestor: in, Dir: filepath.Join(t.TempDir(), "sessions"), PartSize: 5 << 20, TTL: time.Hour}
	routes := &svc.Routes{Mux: http.NewServeMux()}
	mount(routes, svc.NewOps("ingest-test"), nil, in, sessions, "", zap.NewNop())
	assert.Contains(t, routes.Patterns, "POST /v1/uploads")
	assert.Contains(t, routes.Patterns, "GET /openapi.yaml")
	assert.Empty(t, apitest.Documented(t, routes.Patterns), "routes missing from api/openapi.yaml")
}
