package svc

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the series every service exports.
type Metrics struct {
	EventsHandled   *prometheus.CounterVec
	EventsFailed    *prometheus.CounterVec
	HandlerLatency  *prometheus.HistogramVec
	EventsPublished *prometheus.CounterVec
	HTTPRequests    *prometheus.CounterVec
	HTTPLatency     *prometheus.HistogramVec
}

// NewMetrics registers the common series on reg. They carry no service label:
// the scrape's target labels (job, Kubernetes' service and pod) say where they
// come from, and a label of the same name would clash with those.
func NewMetrics(reg prometheus.Registerer, _ string) *Metrics {
	m := &Metrics{
		EventsHandled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pertitle_events_handled_total",
			Help: "Events handled successfully, by topic."}, []string{"topic"}),
		EventsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pertitle_events_failed_total",
			Help: "Event handling failures, by topic and outcome (retry; dead_letter: sent to the DLQ; dead_letter_swept: found in the DLQ by the sweeper)."}, []string{"topic", "outcome"}),
		HandlerLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pertitle_event_handler_seconds",
			Help:    "Event handler latency, by topic.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 120, 600}}, []string{"topic"}),
		EventsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pertitle_events_published_total",
			Help: "Events published, by topic."}, []string{"topic"}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pertitle_http_requests_total",
			Help: "HTTP requests, by route and status code."}, []string{"route", "code"}),
		HTTPLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pertitle_http_request_seconds",
			Help: "HTTP request latency, by route.", Buckets: prometheus.DefBuckets}, []string{"route"}),
	}
	reg.MustRegister(m.Collectors()...)
	return m
}

// Collectors are every series of m.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.EventsHandled, m.EventsFailed, m.HandlerLatency, m.EventsPublished, m.HTTPRequests, m.HTTPLatency}
}

// Instrument wraps an HTTP handler with request counting and latency under route.
func (m *Metrics) Instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		m.HTTPRequests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		m.HTTPLatency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (flush, deadlines).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
