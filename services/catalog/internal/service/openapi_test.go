package service

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/api"
	"github.com/pertitle/pertitle/internal/apitest"
)

// TestRoutesAreDocumented: every route the catalog mounts is in api/openapi.yaml.
func TestRoutesAreDocumented(t *testing.T) {
	t.Parallel()
	s, _, _ := commandsFixture(t)
	require.NotEmpty(t, s.routes)
	assert.Contains(t, s.routes, "DELETE /v1/assets/{id}")
	assert.Empty(t, apitest.Documented(t, s.routes), "routes missing from api/openapi.yaml")
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	s, _, _ := commandsFixture(t)
	rec := httptest.NewRecorder()
	apitest.Validate(t, apitest.Requests, s.Handler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/yaml", rec.Header().Get("Content-Type"))
	body, _ := io.ReadAll(rec.Body)
	assert.Equal(t, api.Document, body)
}
