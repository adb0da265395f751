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
)

// Check reports whether one dependency is usable.
type Check func(ctx context.Context) error

// Ops serves liveness, readiness and metrics for one service.
type Ops struct {
	Registry *prometheus.Registry
	Metrics  *Metrics

	mu     sync.RWMutex
	checks map[string]Check
}

// NewOps creates the health and metrics endpoints for service.
func NewOps(service string) *Ops {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Ops{Registry: reg, Metrics: NewMetrics(reg, service), checks: map[string]Check{}}
}

// AddCheck registers a readiness check for a real dependency.
func (o *Ops) AddCheck(name string, c Check) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.checks[name] = c
}

// Register mounts /healthz, /readyz and /metrics on mux.
func (o *Ops) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", o.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
}

func (o *Ops) ready(w http.ResponseWriter, r *http.Request) {
	o.mu.RLock()
	names := make([]string, 0, len(o.checks))
	for n := range o.checks {
		names = append(names, n)
	}
	o.mu.RUnlock()
	sort.Strings(names)
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	result := map[string]string{}
	code := http.StatusOK
	for _, n := range names {
		o.mu.RLock()
		c := o.checks[n]
		o.mu.RUnlock()
		if err := c(ctx); err != nil {
			result[n] = err.Error()
			code = http.StatusServiceUnavailable
		} else {
			result[n] = "ok"
		}
	}
	writeJSON(w, code, map[string]any{"ready": code == http.StatusOK, "checks": result})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
