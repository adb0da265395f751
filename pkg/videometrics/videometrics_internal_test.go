package videometrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/events/eventsv1"
)

// histogram returns the sample count and sum of one histogram series.
func histogram(t *testing.T, o prometheus.Observer) (uint64, float64) {
	t.Helper()
	var m dto.Metric
	require.NoError(t, o.(prometheus.Metric).Write(&m))
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func TestObserveFinishedTakesTheTopRung(t *testing.T) {
	v := newMetrics()
	v.ObserveFinished(&eventsv1.EncodingFinished{Backend: "local", LadderMode: "pertitle", Renditions: []*eventsv1.Rung{
		{Bitrate: 3_000_000, SizeBytes: 3000, Quality: []*eventsv1.QualityScore{{Metric: "vmaf", Value: 96}}},
		{Bitrate: 6_000_000, SizeBytes: 6000, Quality: []*eventsv1.QualityScore{{Metric: "vmaf", Value: 93}, {Metric: "ssim", Value: .97}}},
		{Bitrate: 800_000, SizeBytes: 800, Quality: []*eventsv1.QualityScore{{Metric: "vmaf", Value: 80}}},
	}}, 2*time.Second)
	n, sum := histogram(t, v.LadderBytes.WithLabelValues("local", "pertitle"))
	assert.Equal(t, uint64(1), n)
	assert.Equal(t, 9800.0, sum, "the whole ladder's bytes, once per title")
	n, sum = histogram(t, v.TopRungVMAF.WithLabelValues("pertitle"))
	assert.Equal(t, uint64(1), n)
	assert.Equal(t, 93.0, sum, "the highest-bitrate rung's score, not the best score")
	_, sum = histogram(t, v.TopRungSSIM.WithLabelValues("pertitle"))
	assert.Equal(t, .97, sum)
	_, sum = histogram(t, v.WebhookLatency.WithLabelValues("finished"))
	assert.Equal(t, 2.0, sum)
}

func TestObserveEncodeAndOutcome(t *testing.T) {
	v := newMetrics()
	v.ObserveEncode("local", "static", OutcomeOf(nil), 30*time.Second, 60)
	v.ObserveEncode("local", "static", OutcomeOf(fmt.Errorf("job: %w", context.Canceled)), 5*time.Second, 60)
	v.ObserveEncode("bitmovin", "pertitle", OutcomeOf(errors.New("refused")), time.Second, 60)
	assert.Equal(t, 3, testutil.CollectAndCount(v.EncodeDuration), "ok, interrupted and failed are separate series")
	_, sum := histogram(t, v.EncodeRealtime.WithLabelValues("local", "static"))
	assert.Equal(t, .5, sum, "30 s of work for 60 s of content")
	assert.Equal(t, 1, testutil.CollectAndCount(v.EncodeRealtime), "only finished local jobs say how fast encoding is")

	v.ObserveOutcome(&eventsv1.EncodingFailed{}, time.Time{})
	assert.Zero(t, testutil.CollectAndCount(v.WebhookLatency), "no end time, no latency")
	v.ObserveOutcome(&eventsv1.EncodingFailed{}, time.Now().Add(-time.Minute))
	n, sum := histogram(t, v.WebhookLatency.WithLabelValues("failed"))
	assert.Equal(t, uint64(1), n)
	assert.InDelta(t, 60, sum, 1)
	v.ObserveAnalysis("fast", 0, time.Second)
	assert.Zero(t, testutil.CollectAndCount(v.AnalysisShare), "no analysis, no share")
}
