package pertitle

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rend(w, h int, peak, avg, bytes int64, vmaf float64) RenditionReport {
	return RenditionReport{Width: w, Height: h, Bitrate: peak, AverageBitrate: avg, Bytes: bytes, Scores: map[Metric]float64{MetricVMAF: vmaf}}
}

// staticRenditions are a static ladder as measured; perTitle spends half the
// bits for the same qualities.
func staticRenditions() []RenditionReport {
	return []RenditionReport{
		rend(1920, 1080, 7_800_000, 6_000_000, 7_500_000, 97),
		rend(1280, 720, 4_500_000, 4_000_000, 5_000_000, 94),
		rend(1280, 720, 3_000_000, 2_500_000, 3_125_000, 90),
		rend(960, 540, 2_000_000, 1_600_000, 2_000_000, 85),
		rend(640, 360, 365_000, 300_000, 375_000, 70),
	}
}

func halved(rs []RenditionReport) []RenditionReport {
	var out []RenditionReport
	for _, r := range rs {
		r.Bitrate, r.AverageBitrate, r.Bytes = r.Bitrate/2, r.AverageBitrate/2, r.Bytes/2
		r.Scores = map[Metric]float64{MetricVMAF: r.Scores[MetricVMAF]}
		out = append(out, r)
	}
	return out
}

func TestComputeSavings(t *testing.T) {
	t.Parallel()
	static := staticRenditions()
	tests := []struct {
		name     string
		perTitle []RenditionReport
		cap      int64
		check    func(t *testing.T, s *Savings)
	}{
		{"half the bits everywhere", halved(static), 0, func(t *testing.T, s *Savings) {
			assert.InDelta(t, -50, s.BDRate, 0.01)
			assert.Empty(t, s.BDRateError)
			assert.Equal(t, int64(18_000_000), s.StaticBytes)
			assert.Equal(t, int64(9_000_000), s.PerTitleBytes)
			assert.InDelta(t, 0.5, s.StorageSaved, 1e-9)
			assert.Equal(t, DefaultCapBitrate, s.CapBitrate)
			// Static: 7.8 Mb/s does not fit in 5 Mb/s, 4.5 does. Per-title: 3.9 fits.
			assert.Equal(t, int64(4_500_000), s.StaticTop.Bitrate)
			assert.Equal(t, int64(3_900_000), s.PerTitleTop.Bitrate)
			assert.InDelta(t, 1-3_000_000.0/4_000_000, s.TopBitrateSaved, 1e-9)
			assert.InDelta(t, (4_000_000.0-3_000_000)/8*3600, s.StreamingCostSavedPerHour, 1e-6)
		}},
		{"tight cap", halved(static), 1_000_000, func(t *testing.T, s *Savings) {
			assert.Equal(t, int64(365_000), s.StaticTop.Bitrate)
			assert.Equal(t, int64(1_000_000), s.PerTitleTop.Bitrate)
			assert.InDelta(t, 1-800_000.0/300_000, s.TopBitrateSaved, 1e-9, "negative: per-title gives this viewer more bits")
			assert.InDelta(t, (300_000.0-800_000)/8*3600, s.StreamingCostSavedPerHour, 1e-6)
		}},
		{"cap below every rung: the lowest rung", halved(static), 100_000, func(t *testing.T, s *Savings) {
			assert.Equal(t, int64(365_000), s.StaticTop.Bitrate)
			assert.Equal(t, int64(182_500), s.PerTitleTop.Bitrate)
		}},
		{"no scores: BD-rate explained, the rest computed", []RenditionReport{{Width: 640, Height: 360, Bitrate: 400_000, Bytes: 100}}, 0, func(t *testing.T, s *Savings) {
			assert.Zero(t, s.BDRate)
			assert.Contains(t, s.BDRateError, "0 usable")
			assert.Equal(t, int64(100), s.PerTitleBytes)
			assert.Equal(t, int64(400_000), s.PerTitleTop.Bitrate, "peak used when the average is unknown")
			assert.InDelta(t, (4_000_000.0-400_000)/8*3600, s.StreamingCostSavedPerHour, 1e-6)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := ComputeSavings(tt.perTitle, static, MetricVMAF, tt.cap)
			require.NoError(t, err)
			tt.check(t, s)
		})
	}
	_, err := ComputeSavings(nil, static, MetricVMAF, 0)
	assert.ErrorContains(t, err, "both ladders are needed")
	_, err = ComputeSavings(static, nil, MetricVMAF, 0)
	assert.Error(t, err)
}

func testReport() *Report {
	points := modelPoints([]int{1080, 720, 540, 360, 234}, []float64{18, 24, 30, 36, 42})
	hull := UpperHull(points)
	ladder, err := SelectLadder(hull, Constraints{SourceWidth: 1920, SourceHeight: 1080})
	if err != nil {
		panic(err)
	}
	static := staticRenditions()
	per := halved(static)
	savings, _ := ComputeSavings(per, static, MetricVMAF, 0)
	return &Report{
		Source: "/tmp/in/clip <&>.mp4", Width: 1920, Height: 1080, Duration: 10, Metric: MetricVMAF,
		Analysis: &Analysis{Mode: ModeFast, Metric: MetricVMAF, Points: points, Hull: hull,
			Samples: [][2]float64{{0, 2}, {5, 7}}, Elapsed: 1500 * time.Millisecond, CPUTime: 3 * time.Second},
		Ladder: ladder, Renditions: per, Static: static, Savings: savings,
		AnalysisTime: 2 * time.Second, EncodeTime: 90 * time.Second, EncodeCPUTime: 4 * time.Minute,
	}
}

func TestReportJSON(t *testing.T) {
	t.Parallel()
	r := testReport()
	r.Renditions[0].Scores[MetricPSNR] = math.Inf(1)
	r.Ladder.Rungs[0].PredictedQuality = math.NaN()
	b, err := r.JSON()
	require.NoError(t, err, "non-finite numbers do not break the encoding")
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for _, k := range []string{"source", "width", "height", "duration_seconds", "metric", "analysis", "ladder", "renditions", "analysis_seconds", "encode_seconds", "encode_cpu_seconds", "static", "savings"} {
		assert.Contains(t, m, k)
	}
	assert.Equal(t, 2.0, m["analysis_seconds"])
	assert.Equal(t, 240.0, m["encode_cpu_seconds"])
	a := m["analysis"].(map[string]any)
	assert.Equal(t, "fast", a["mode"])
	assert.Equal(t, 3.0, a["cpu_seconds"])
	assert.Equal(t, []any{[]any{0.0, 2.0}, []any{5.0, 7.0}}, a["samples"])
	rung := m["ladder"].(map[string]any)["rungs"].([]any)[0].(map[string]any)
	for _, k := range []string{"width", "height", "bitrate", "crf", "predicted_quality", "fixed", "why"} {
		assert.Contains(t, rung, k)
	}
	s := m["savings"].(map[string]any)
	for _, k := range []string{"bd_rate_percent", "per_title_bytes", "static_bytes", "storage_saved", "cap_bitrate", "per_title_top", "static_top", "top_bitrate_saved", "streaming_cost_saved_bytes_per_hour"} {
		assert.Contains(t, s, k)
	}
	assert.InDelta(t, -50, s["bd_rate_percent"], 0.01)
	assert.Contains(t, s["per_title_top"], "average_bitrate")
	assert.Contains(t, string(b), "\n  \"source\"", "indented")

	empty, err := (&Report{}).JSON()
	require.NoError(t, err)
	assert.NotContains(t, string(empty), "savings")
	assert.Contains(t, string(empty), `"rungs": []`)
	_, err = (*Report)(nil).JSON()
	assert.Error(t, err)
}
