package svc_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/svc"
)

func get(t *testing.T, h http.Handler, path string) (int, map[string]any, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body, rec.Body.String()
}

func TestPublicReadinessTellsNoDetails(t *testing.T) {
	t.Parallel()
	ops := svc.NewOps("test")
	ops.AddCheck("db", func(context.Context) error { return nil })
	ops.AddCheck("bus", func(context.Context) error {
		return errors.New("dial tcp 10.0.3.7:4100: connection refused")
	})
	public := http.NewServeMux()
	ops.Register(public)

	code, body, raw := get(t, public, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, map[string]any{"status": "not ready"}, body)
	assert.NotContains(t, raw, "10.0.3.7")
	assert.NotContains(t, raw, "bus")
	code, _, _ = get(t, public, "/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, _, _ = get(t, public, "/metrics")
	assert.Equal(t, http.StatusNotFound, code, "metrics are not on the public port")

	code, body, _ = get(t, ops.Handler(), "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, map[string]any{"db": "ok", "bus": "dial tcp 10.0.3.7:4100: connection refused"}, body["checks"])
	code, _, raw = get(t, ops.Handler(), "/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, raw, "go_goroutines")
	code, _, _ = get(t, ops.Handler(), "/healthz")
	assert.Equal(t, http.StatusOK, code)
}

func TestReadinessRequestsShareOneEvaluation(t *testing.T) {
	t.Parallel()
	ops := svc.NewOps("test")
	var calls atomic.Int32
	ops.AddCheck("slow", func(context.Context) error { calls.Add(1); time.Sleep(50 * time.Millisecond); return nil })
	public := http.NewServeMux()
	ops.Register(public)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, _ := get(t, public, "/readyz")
			assert.Equal(t, http.StatusOK, code)
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), calls.Load(), "50 concurrent requests, one call to the dependency")

	// A check added later is part of the next answer at once.
	ops.AddCheck("late", func(context.Context) error { return errors.New("down") })
	code, _, _ := get(t, public, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
}
