package problem_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/api"
	"github.com/pertitle/pertitle/pkg/problem"
)

func TestWrite(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Length", "3") // a stale length must not survive
	problem.Write(rec, http.StatusNotFound, problem.NotFound, "asset not found")
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	assert.Empty(t, rec.Header().Get("Content-Length"))
	var got map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	assert.Equal(t, map[string]any{"type": problem.Base + "not-found", "title": "Not found", "status": 404.0,
		"detail": "asset not found", "error": "asset not found"}, got)
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	problem.WriteJSON(rec, http.StatusCreated, map[string]int{"n": 1})
	assert.Equal(t, http.StatusCreated, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "{\"n\":1}\n", rec.Body.String())
	assert.Equal(t, strconv.Itoa(rec.Body.Len()), rec.Header().Get("Content-Length"))

	// What cannot be encoded is an internal error, not half a body.
	rec = httptest.NewRecorder()
	problem.WriteJSON(rec, http.StatusOK, map[string]float64{"x": math.NaN()})
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	assert.Contains(t, rec.Body.String(), problem.Internal.URI)
}

func TestEmptyDetailTakesTheTitle(t *testing.T) {
	t.Parallel()
	d := problem.New(problem.Internal, 500, "")
	assert.Equal(t, "Internal error", d.Detail)
	assert.Equal(t, d.Detail, d.Error)
}

func TestForStatus(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]problem.Type{400: problem.InvalidRequest, 401: problem.Unauthorized,
		403: problem.Forbidden, 404: problem.NotFound, 413: problem.TooLarge, 429: problem.RateLimited,
		503: problem.Unavailable, 500: problem.Internal, 418: problem.Internal} {
		assert.Equal(t, want, problem.ForStatus(code), "%d", code)
	}
}

// TestEveryTypeIsDocumented: each type's URI points at a section of
// docs/problems.md, and api/openapi.yaml lists exactly these types.
func TestEveryTypeIsDocumented(t *testing.T) {
	t.Parallel()
	doc := readDoc(t)
	var listed []string
	for _, line := range strings.Split(string(api.Document), "\n") {
		if uri, ok := strings.CutPrefix(strings.TrimSpace(line), "- "+problem.Base); ok {
			listed = append(listed, problem.Base+uri)
		}
	}
	var all []string
	for _, ty := range problem.All() {
		slug := strings.TrimPrefix(ty.URI, problem.Base)
		assert.Contains(t, doc, "\n## "+slug+"\n", "docs/problems.md has no section for %s", slug)
		all = append(all, ty.URI)
	}
	assert.ElementsMatch(t, all, listed, "the Problem type enum of api/openapi.yaml")
}
