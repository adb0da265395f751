package svc

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/videometrics"
)

// Check reports whether one dependency is usable.
type Check func(ctx context.Context) error

// Ops serves liveness, readiness and metrics for one service. The public port gets
// only /healthz and a /readyz that says ready or not (Register); the details of each
// check and /metrics are for the ops port (Handler), which operators keep private.
type Ops struct {
	Registry *prometheus.Registry
	Metrics  *Metrics

	mu     sync.RWMutex
	checks map[string]Check

	// evalMu makes concurrent readiness requests share one evaluation, so that
	// hammering /readyz on the public port does not multiply calls to dependencies.
	evalMu    sync.Mutex
	last      readiness
	lastAt    time.Time
	cacheFor  time.Duration
	checkTime time.Duration
}

type readiness struct {
	ready  bool
	checks map[string]string
}

// NewOps creates the health and metrics endpoints for service.
func NewOps(service string) *Ops {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(videometrics.Video.Collectors()...)
	return &Ops{Registry: reg, Metrics: NewMetrics(reg, service), checks: map[string]Check{},
		cacheFor: time.Second, checkTime: 2 * time.Second}
}

// AddCheck registers a readiness check for a real dependency.
func (o *Ops) AddCheck(name string, c Check) {
	o.mu.Lock()
	o.checks[name] = c
	o.mu.Unlock()
	o.evalMu.Lock()
	o.lastAt = time.Time{} // the cached answer did not include it
	o.evalMu.Unlock()
}

// Register mounts the public health endpoints on mux: /healthz, and /readyz
// answering {"status": "ready"} (200) or {"status": "not ready"} (503) without
// saying which dependency failed or why.
func (o *Ops) Register(mux Mux) {
	mux.Handle("GET /healthz", http.HandlerFunc(healthz))
	mux.Handle("GET /readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.evaluate(r.Context()).ready {
			WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
			return
		}
		WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
	}))
}

// Mux is where routes are mounted: an *http.ServeMux, or a wrapper that also
// records them (the services' route tests compare them with api/openapi.yaml).
type Mux interface {
	Handle(pattern string, handler http.Handler)
}

// Instrumenter wraps a handler with metrics under a route name, as *Metrics does.
type Instrumenter interface {
	Instrument(route string, h http.Handler) http.Handler
}

// Instrumented returns a function that mounts a handler on mux at pattern,
// instrumented by m under the route name (m nil: as it is).
func Instrumented(mux Mux, m Instrumenter) func(pattern, name string, fn http.HandlerFunc) {
	return func(pattern, name string, fn http.HandlerFunc) {
		var handler http.Handler = fn
		if m != nil {
			handler = m.Instrument(name, handler)
		}
		mux.Handle(pattern, handler)
	}
}

// Handler serves the ops port: /healthz, /readyz with every check's result
// (error strings included) and /metrics. Never mount it on a public listener.
func (o *Ops) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		res := o.evaluate(r.Context())
		code := http.StatusOK
		if !res.ready {
			code = http.StatusServiceUnavailable
		}
		WriteJSON(w, code, map[string]any{"ready": res.ready, "checks": res.checks})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
	return mux
}

// Serve serves Handler on addr until ctx ends (a part for Together).
func (o *Ops) Serve(ctx context.Context, log *zap.Logger, addr string) error {
	h := o.Handler()
	srv := NewServer(addr, h)
	srv.Handler = h // probes and scrapes are not traced
	return Serve(ctx, log.With(zap.String("listener", "ops")), srv)
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// evaluate runs every check, or returns the result of one that ended less than
// cacheFor ago. Callers arriving during an evaluation wait for it and share it.
func (o *Ops) evaluate(ctx context.Context) readiness {
	o.evalMu.Lock()
	defer o.evalMu.Unlock()
	if !o.lastAt.IsZero() && time.Since(o.lastAt) < o.cacheFor {
		return o.last
	}
	o.mu.RLock()
	checks := make(map[string]Check, len(o.checks))
	for n, c := range o.checks {
		checks[n] = c
	}
	o.mu.RUnlock()
	// Detached from the caller: the shared result must not fail because the one
	// client that triggered it went away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.checkTime)
	defer cancel()
	res := readiness{ready: true, checks: make(map[string]string, len(checks))}
	names := make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := checks[n](ctx); err != nil {
			res.checks[n] = err.Error()
			res.ready = false
		} else {
			res.checks[n] = "ok"
		}
	}
	o.last, o.lastAt = res, time.Now()
	return res
}

// WriteJSON answers with status code and v as JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers with status code and {"error": msg}.
func WriteError(w http.ResponseWriter, code int, msg string) {
	WriteJSON(w, code, map[string]string{"error": msg})
}

// Routes is a Mux that remembers the patterns mounted on it.
type Routes struct {
	Mux
	Patterns []string
}

// Handle mounts handler on the underlying Mux and records pattern.
func (r *Routes) Handle(pattern string, handler http.Handler) {
	r.Patterns = append(r.Patterns, pattern)
	r.Mux.Handle(pattern, handler)
}
