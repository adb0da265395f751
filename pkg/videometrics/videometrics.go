// Package videometrics holds the Prometheus series about the video work
// itself (encodes, ladders, quality, savings, webhooks, queue ages), beside
// the transport's (svc.Metrics). They are process-wide, like the work they
// measure; every service's ops registry exports them (svc.NewOps), and a
// series appears once observed.
package videometrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pertitle/pertitle/pkg/events/eventsv1"
)

// Metrics are the series of one process.
type Metrics struct {
	EncodeDuration  *prometheus.HistogramVec
	EncodeRealtime  *prometheus.HistogramVec
	AnalysisShare   *prometheus.HistogramVec
	LadderBytes     *prometheus.HistogramVec
	TopRungVMAF     *prometheus.HistogramVec
	TopRungSSIM     *prometheus.HistogramVec
	Savings         *prometheus.HistogramVec
	WebhookLatency  *prometheus.HistogramVec
	QueueMessages   *prometheus.GaugeVec
	QueueOldestAge  *prometheus.GaugeVec
	QueueObservedAt *prometheus.GaugeVec
}

var ratioBuckets = []float64{.05, .1, .2, .3, .4, .5, .6, .7, .8, .9, 1, 1.5, 2, 3, 5, 10}

// Video is the process's video metrics.
var Video = newMetrics()

func newMetrics() *Metrics {
	h := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	}
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	return &Metrics{
		EncodeDuration: h("pertitle_encode_duration_seconds", "Wall time of one title's encoding job in encoder-dispatch, from EncodingRequested to the hand-over (the whole encode on the local backend, the submission on Bitmovin's), by backend, ladder mode and outcome (ok, failed, interrupted).",
			[]float64{1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800}, "backend", "ladder_mode", "outcome"),
		EncodeRealtime: h("pertitle_encode_realtime_ratio", "Encoding wall time per second of content of each successful local job (1 = real time), by ladder mode.",
			ratioBuckets, "backend", "ladder_mode"),
		AnalysisShare: h("pertitle_analysis_cpu_ratio", "Per-title analysis CPU time as a share of the final encode's CPU time, per title.",
			ratioBuckets, "analysis"),
		LadderBytes: h("pertitle_ladder_stored_bytes", "Bytes stored for one title's ladder (all renditions), by backend and ladder mode.",
			prometheus.ExponentialBuckets(1<<20, 4, 10), "backend", "ladder_mode"),
		TopRungVMAF: h("pertitle_top_rung_vmaf", "VMAF (0-100) of each finished title's top rendition against the source, when measured.",
			[]float64{60, 70, 75, 80, 85, 88, 90, 92, 94, 96, 98, 100}, "ladder_mode"),
		TopRungSSIM: h("pertitle_top_rung_ssim", "SSIM (0-1) of each finished title's top rendition against the source, when measured.",
			[]float64{.8, .85, .9, .92, .94, .95, .96, .97, .98, .99, 1}, "ladder_mode"),
		Savings: h("pertitle_title_savings_ratio", "Per title, what the per-title ladder saves against the static one, as a fraction: storage (ladder bytes) and top_bitrate (the capped viewer's top rung).",
			[]float64{-.5, -.25, -.1, 0, .1, .2, .3, .4, .5, .6, .7, .8, .9}, "kind"),
		WebhookLatency: h("pertitle_webhook_latency_seconds", "Time from an encoding's end (as its job record or Bitmovin says) to the webhook-receiver publishing its outcome, by outcome (finished, failed).",
			[]float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}, "outcome"),
		QueueMessages: g("pertitle_queue_messages", "Messages in each queue (and dead-letter queue) this process consumes, as SQS approximates them, by state (visible, in_flight, delayed).",
			"queue", "state"),
		QueueOldestAge: g("pertitle_queue_oldest_message_age_seconds", "Age of the oldest message waiting in each queue this process consumes, as far as it can tell: the wait of the oldest message it received in the last interval, growing while messages wait and none arrive; 0 when the queue is empty.",
			"queue"),
		QueueObservedAt: g("pertitle_queue_observed_timestamp_seconds", "When each queue's depth was last read (Unix time): a stale value means the gauges above are stale.",
			"queue"),
	}
}

// Collectors are every series, to register.
func (v *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{v.EncodeDuration, v.EncodeRealtime, v.AnalysisShare, v.LadderBytes, v.TopRungVMAF,
		v.TopRungSSIM, v.Savings, v.WebhookLatency, v.QueueMessages, v.QueueOldestAge, v.QueueObservedAt}
}

// ObserveEncode records one encoding job of encoder-dispatch. contentSeconds
// (the title's duration) may be 0 when unknown.
func (v *Metrics) ObserveEncode(backend, ladderMode, outcome string, took time.Duration, contentSeconds float64) {
	v.EncodeDuration.WithLabelValues(backend, ladderMode, outcome).Observe(took.Seconds())
	if outcome == "ok" && contentSeconds > 0 && backend == "local" {
		v.EncodeRealtime.WithLabelValues(backend, ladderMode).Observe(took.Seconds() / contentSeconds)
	}
}

// ObserveFinished records what a finished encoding stored and how good its
// top rendition is; latency is the time since the encoding ended.
func (v *Metrics) ObserveFinished(f *eventsv1.EncodingFinished, latency time.Duration) {
	var bytes int64
	var top *eventsv1.Rung
	for _, r := range f.GetRenditions() {
		bytes += r.GetSizeBytes()
		if top == nil || r.GetBitrate() > top.GetBitrate() {
			top = r
		}
	}
	if bytes > 0 {
		v.LadderBytes.WithLabelValues(f.GetBackend(), f.GetLadderMode()).Observe(float64(bytes))
	}
	for _, q := range top.GetQuality() {
		switch q.GetMetric() {
		case "vmaf":
			v.TopRungVMAF.WithLabelValues(f.GetLadderMode()).Observe(q.GetValue())
		case "ssim":
			v.TopRungSSIM.WithLabelValues(f.GetLadderMode()).Observe(q.GetValue())
		}
	}
	v.ObserveWebhook("finished", latency)
}

// ObserveWebhook records the latency of an encoding's outcome; a zero or
// negative latency (no end time known) is not recorded.
func (v *Metrics) ObserveWebhook(outcome string, latency time.Duration) {
	if latency > 0 {
		v.WebhookLatency.WithLabelValues(outcome).Observe(latency.Seconds())
	}
}

// ObserveAnalysis records the share of a title's per-title analysis in CPU
// time against its final encode, by analysis mode (fast, exhaustive).
func (v *Metrics) ObserveAnalysis(mode string, analysisCPU, encodeCPU time.Duration) {
	if analysisCPU > 0 && encodeCPU > 0 {
		v.AnalysisShare.WithLabelValues(mode).Observe(analysisCPU.Seconds() / encodeCPU.Seconds())
	}
}

// ObserveSavings records what a title's per-title ladder saved against the
// static one: storage and the capped viewer's top bitrate, as fractions.
func (v *Metrics) ObserveSavings(storage, topBitrate float64) {
	v.Savings.WithLabelValues("storage").Observe(storage)
	v.Savings.WithLabelValues("top_bitrate").Observe(topBitrate)
}

// ObserveOutcome records an encoding's published outcome (EncodingFinished or
// EncodingFailed) and, when endedAt is known, how long after the encoding's
// end it was published.
func (v *Metrics) ObserveOutcome(payload any, endedAt time.Time) {
	var latency time.Duration
	if !endedAt.IsZero() {
		latency = time.Since(endedAt)
	}
	switch p := payload.(type) {
	case *eventsv1.EncodingFinished:
		v.ObserveFinished(p, latency)
	case *eventsv1.EncodingFailed:
		v.ObserveWebhook("failed", latency)
	}
}

// OutcomeOf is the outcome label of a job that ended with err: ok,
// interrupted (cancelled: it comes back) or failed.
func OutcomeOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	return "failed"
}
