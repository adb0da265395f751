package svc_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/pkg/videometrics"
)

// Every series a service exports, each observed once so that it exists,
// passes promlint (Prometheus' naming conventions), and the series the alert
// rules and dashboards name have their names and types.
func TestMetricsFollowPrometheusConventions(t *testing.T) {
	ops := svc.NewOps("lint")
	m := ops.Metrics
	m.EventsHandled.WithLabelValues("t").Inc()
	m.EventsFailed.WithLabelValues("t", "retry").Inc()
	m.HandlerLatency.WithLabelValues("t").Observe(1)
	m.EventsPublished.WithLabelValues("t").Inc()
	m.HTTPRequests.WithLabelValues("/r", "200").Inc()
	m.HTTPLatency.WithLabelValues("/r").Observe(1)
	v := videometrics.Video
	v.ObserveEncode("local", "pertitle", videometrics.OutcomeOf(nil), time.Minute, 30)
	v.ObserveEncode("local", "pertitle", videometrics.OutcomeOf(errors.New("x")), time.Minute, 30)
	v.ObserveAnalysis("fast", time.Second, 4*time.Second)
	v.ObserveSavings(.3, .2)
	v.ObserveOutcome(&eventsv1.EncodingFinished{Backend: "local", LadderMode: "pertitle", Renditions: []*eventsv1.Rung{
		{Bitrate: 1, SizeBytes: 10}, {Bitrate: 2, SizeBytes: 20, Quality: []*eventsv1.QualityScore{{Metric: "vmaf", Value: 95}, {Metric: "ssim", Value: .98}}}}},
		time.Now().Add(-time.Second))
	v.ObserveOutcome(&eventsv1.EncodingFailed{}, time.Now().Add(-time.Second))
	v.QueueMessages.WithLabelValues("q", "visible").Set(1)
	v.QueueOldestAge.WithLabelValues("q").Set(1)
	v.QueueObservedAt.WithLabelValues("q").SetToCurrentTime()

	mfs, err := ops.Registry.Gather()
	require.NoError(t, err)
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	require.NoError(t, err)
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "pertitle_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
	types := map[string]dto.MetricType{}
	for _, mf := range mfs {
		types[mf.GetName()] = mf.GetType()
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				assert.NotEqual(t, "service", l.GetName(), "%s: a service label clashes with the scrape's", mf.GetName())
			}
		}
	}
	for name, typ := range map[string]dto.MetricType{
		"pertitle_encode_duration_seconds":          dto.MetricType_HISTOGRAM,
		"pertitle_queue_oldest_message_age_seconds": dto.MetricType_GAUGE,
		"pertitle_queue_messages":                   dto.MetricType_GAUGE,
		"pertitle_encode_realtime_ratio":            dto.MetricType_HISTOGRAM,
		"pertitle_analysis_cpu_ratio":               dto.MetricType_HISTOGRAM,
		"pertitle_ladder_stored_bytes":              dto.MetricType_HISTOGRAM,
		"pertitle_top_rung_vmaf":                    dto.MetricType_HISTOGRAM,
		"pertitle_top_rung_ssim":                    dto.MetricType_HISTOGRAM,
		"pertitle_title_savings_ratio":              dto.MetricType_HISTOGRAM,
		"pertitle_webhook_latency_seconds":          dto.MetricType_HISTOGRAM,
	} {
		got, ok := types[name]
		if assert.True(t, ok, "%s is exported", name) {
			assert.Equal(t, typ, got, name)
		}
	}
}
