package http

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/zap"
)

func TestUploadHandlerFailsClosedWithoutMiddleware(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1<<20)
	h := uploadHandler(f.in, "http://catalog", zap.NewNop())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/assets", strings.NewReader("x")))
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	f.assertNothingKept(t)
}
