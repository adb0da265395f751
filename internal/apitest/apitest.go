// Package apitest checks the services against api/openapi.yaml: the routes a
// service mounts must all be documented, and Validate wraps a handler so that
// every response it sends (and, with Requests, every request it is sent) is
// validated against the document. kin-openapi validates OpenAPI 3.1 documents
// with its JSON Schema 2020-12 validator.
package apitest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/pertitle/pertitle/api"
)

var (
	loadOnce sync.Once
	doc      *openapi3.T
	router   routers.Router
	loadErr  error
)

// Doc is api/openapi.yaml, loaded and validated (as OpenAPI 3.1) once.
func Doc(t testing.TB) *openapi3.T {
	t.Helper()
	loadOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, loadErr = loader.LoadFromData(api.Document)
		if loadErr != nil {
			return
		}
		if loadErr = doc.Validate(loader.Context); loadErr != nil {
			return
		}
		// Match requests whatever their host: tests run on httptest addresses.
		doc.Servers = nil
		router, loadErr = legacy.NewRouter(doc)
	})
	if loadErr != nil {
		t.Fatalf("api/openapi.yaml: %v", loadErr)
	}
	return doc
}

var wildcard = regexp.MustCompile(`\{([A-Za-z0-9_]+)\.\.\.\}`)

// Documented reports which of the mux patterns (as http.ServeMux takes them,
// "GET /v1/assets/{id}") the document lacks: a {name...} wildcard is the
// document's {name}, and "GET /" the web app's catch-all.
func Documented(t testing.TB, patterns []string) (missing []string) {
	t.Helper()
	d := Doc(t)
	for _, p := range patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			missing = append(missing, p+" (no method: every route must name one)")
			continue
		}
		path = wildcard.ReplaceAllString(path, "{$1}")
		item := d.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	return missing
}

// Mode says what Validate checks.
type Mode int

// Modes.
const (
	// Responses validates every response: its status must be documented for
	// the operation, and its headers and body must match. For tests that send
	// hostile requests on purpose.
	Responses Mode = iota
	// Requests also validates every request.
	Requests
)

// Validate wraps h: every exchange is checked against the document, and a
// mismatch fails t. Requests on paths the document does not have fail too.
func Validate(t testing.TB, mode Mode, h http.Handler) http.Handler {
	t.Helper()
	Doc(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, params, err := router.FindRoute(r)
		if err != nil {
			t.Errorf("openapi: %s %s is not documented: %v", r.Method, r.URL.Path, err)
			h.ServeHTTP(w, r)
			return
		}
		opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
		in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts}
		if mode == Requests {
			var body []byte
			if r.Body != nil {
				body, _ = io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				t.Errorf("openapi: request %s %s: %v", r.Method, r.URL.Path, err)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		res := rec.Result()
		body := rec.Body.Bytes()
		if r.Method == http.MethodHead {
			opts.ExcludeResponseBody = true
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header, Options: opts}
		out.SetBodyBytes(body)
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("openapi: response %d to %s %s: %v\nbody: %.500s", res.StatusCode, r.Method, r.URL.Path, err, body)
		}
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(body)
	})
}
