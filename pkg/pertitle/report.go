package pertitle

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
)

// DefaultCapBitrate is the bandwidth of the capped viewer in Savings: 5 Mbit/s.
const DefaultCapBitrate int64 = 5_000_000

// ComputeSavings compares a per-title ladder with the static ladder encoded
// from the same title.
//
//   - BDRate: per-title against static (the reference), from each rendition's
//     average bitrate (the peak when the average is unknown) and Scores[metric].
//     When it cannot be computed (scores missing, no overlap in quality),
//     BDRateError says why and the rest is still filled in.
//   - Storage: the bytes of each whole ladder and the fraction saved.
//   - The capped viewer: under each ladder, the highest rung whose peak Bitrate
//     fits in capBitrate (DefaultCapBitrate when ≤ 0), or the lowest rung when
//     none fits. TopBitrateSaved is the saved fraction of the static top's
//     average bitrate and StreamingCostSavedPerHour the bytes saved per hour
//     of viewing: (static − per-title average bitrate) / 8 × 3600.
//
// Negative savings mean per-title spends more.
func ComputeSavings(perTitle, static []RenditionReport, metric Metric, capBitrate int64) (*Savings, error) {
	if len(perTitle) == 0 || len(static) == 0 {
		return nil, fmt.Errorf("cannot compute savings: %d per-title and %d static renditions, both ladders are needed", len(perTitle), len(static))
	}
	if capBitrate <= 0 {
		capBitrate = DefaultCapBitrate
	}
	if metric == "" {
		metric = MetricVMAF
	}
	s := &Savings{CapBitrate: capBitrate}
	bd, err := BDRate(renditionPoints(static, metric), renditionPoints(perTitle, metric))
	if err != nil {
		s.BDRateError = fmt.Sprintf("%s (metric %s)", err, metric)
	} else {
		s.BDRate = bd
	}
	for _, r := range perTitle {
		s.PerTitleBytes += r.Bytes
	}
	for _, r := range static {
		s.StaticBytes += r.Bytes
	}
	if s.StaticBytes > 0 {
		s.StorageSaved = 1 - float64(s.PerTitleBytes)/float64(s.StaticBytes)
	}
	s.PerTitleTop, s.StaticTop = CappedTop(perTitle, capBitrate), CappedTop(static, capBitrate)
	pt, st := float64(averageBitrate(s.PerTitleTop)), float64(averageBitrate(s.StaticTop))
	if st > 0 {
		s.TopBitrateSaved = 1 - pt/st
	}
	s.StreamingCostSavedPerHour = (st - pt) / 8 * 3600
	return s, nil
}

// CappedTop is the rendition a viewer limited to capBitrate settles on: the
// highest whose peak Bitrate fits, or the lowest when none does. It returns
// the zero value for an empty ladder.
func CappedTop(ladder []RenditionReport, capBitrate int64) RenditionReport {
	if len(ladder) == 0 {
		return RenditionReport{}
	}
	rs := append([]RenditionReport(nil), ladder...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Bitrate > rs[j].Bitrate })
	for _, r := range rs {
		if r.Bitrate <= capBitrate {
			return r
		}
	}
	return rs[len(rs)-1]
}

func averageBitrate(r RenditionReport) int64 {
	if r.AverageBitrate > 0 {
		return r.AverageBitrate
	}
	return r.Bitrate
}

// renditionPoints turns measured renditions into rate-quality points; those
// without a score for metric are left out.
func renditionPoints(rs []RenditionReport, metric Metric) []Point {
	var ps []Point
	for _, r := range rs {
		q, ok := r.Scores[metric]
		if !ok {
			continue
		}
		ps = append(ps, Point{Width: r.Width, Height: r.Height, CRF: r.CRF, Bitrate: averageBitrate(r), Quality: q, Metric: metric})
	}
	return ps
}

// JSON is the report for machines: indented, snake_case field names, durations
// in seconds. The wire names are defined here, apart from the Go names, so that
// renaming a Go field never changes the format.
func (r *Report) JSON() ([]byte, error) {
	if r == nil {
		return nil, errors.New("cannot encode a nil report")
	}
	out := jsonReport{
		Source:          r.Source,
		Width:           r.Width,
		Height:          r.Height,
		DurationSeconds: finite(r.Duration),
		Metric:          r.Metric,
		Ladder:          jsonLadderOf(r.Ladder),
		Renditions:      jsonRenditions(r.Renditions),
		AnalysisSeconds: r.AnalysisTime.Seconds(),
		EncodeSeconds:   r.EncodeTime.Seconds(),
		EncodeCPU:       r.EncodeCPUTime.Seconds(),
		Static:          jsonRenditions(r.Static),
	}
	if r.Static == nil {
		out.Static = nil
	}
	if a := r.Analysis; a != nil {
		ja := &jsonAnalysis{
			Mode:       a.Mode,
			Metric:     a.Metric,
			Points:     jsonPoints(a.Points),
			Hull:       jsonPoints(a.Hull),
			Samples:    make([][2]float64, 0, len(a.Samples)),
			ElapsedSec: a.Elapsed.Seconds(),
			CPUSec:     a.CPUTime.Seconds(),
			Warnings:   append([]string{}, a.Warnings...),
		}
		for _, s := range a.Samples {
			ja.Samples = append(ja.Samples, [2]float64{finite(s[0]), finite(s[1])})
		}
		out.Analysis = ja
	}
	if s := r.Savings; s != nil {
		out.Savings = &jsonSavings{
			BDRate:              finite(s.BDRate),
			BDRateError:         s.BDRateError,
			PerTitleBytes:       s.PerTitleBytes,
			StaticBytes:         s.StaticBytes,
			StorageSaved:        finite(s.StorageSaved),
			CapBitrate:          s.CapBitrate,
			PerTitleTop:         jsonRenditionOf(s.PerTitleTop),
			StaticTop:           jsonRenditionOf(s.StaticTop),
			TopBitrateSaved:     finite(s.TopBitrateSaved),
			StreamingCostPerHrB: finite(s.StreamingCostSavedPerHour),
		}
	}
	return json.MarshalIndent(out, "", "  ")
}

type jsonReport struct {
	Source          string          `json:"source"`
	Width           int             `json:"width"`
	Height          int             `json:"height"`
	DurationSeconds float64         `json:"duration_seconds"`
	Metric          Metric          `json:"metric"`
	Analysis        *jsonAnalysis   `json:"analysis,omitempty"`
	Ladder          jsonLadder      `json:"ladder"`
	Renditions      []jsonRendition `json:"renditions"`
	AnalysisSeconds float64         `json:"analysis_seconds"`
	EncodeSeconds   float64         `json:"encode_seconds"`
	EncodeCPU       float64         `json:"encode_cpu_seconds"`
	Static          []jsonRendition `json:"static,omitempty"`
	Savings         *jsonSavings    `json:"savings,omitempty"`
}

type jsonAnalysis struct {
	Mode       Mode         `json:"mode"`
	Metric     Metric       `json:"metric"`
	Points     []jsonPoint  `json:"points"`
	Hull       []jsonPoint  `json:"hull"`
	Samples    [][2]float64 `json:"samples"`
	ElapsedSec float64      `json:"elapsed_seconds"`
	CPUSec     float64      `json:"cpu_seconds"`
	Warnings   []string     `json:"warnings"`
}

type jsonPoint struct {
	Width   int                `json:"width"`
	Height  int                `json:"height"`
	CRF     float64            `json:"crf"`
	Bitrate int64              `json:"bitrate"`
	Quality float64            `json:"quality"`
	Metric  Metric             `json:"metric"`
	Scores  map[Metric]float64 `json:"scores,omitempty"`
}

type jsonLadder struct {
	Metric Metric     `json:"metric"`
	Rungs  []jsonRung `json:"rungs"`
	Notes  []string   `json:"notes"`
}

type jsonRung struct {
	Width            int     `json:"width"`
	Height           int     `json:"height"`
	Bitrate          int64   `json:"bitrate"`
	CRF              float64 `json:"crf"`
	PredictedQuality float64 `json:"predicted_quality"`
	Fixed            bool    `json:"fixed"`
	Why              string  `json:"why"`
}

type jsonRendition struct {
	Width          int                `json:"width"`
	Height         int                `json:"height"`
	Bitrate        int64              `json:"bitrate"`
	AverageBitrate int64              `json:"average_bitrate"`
	Bytes          int64              `json:"bytes"`
	CRF            float64            `json:"crf"`
	Scores         map[Metric]float64 `json:"scores,omitempty"`
	Playlist       string             `json:"playlist,omitempty"`
}

type jsonSavings struct {
	BDRate              float64       `json:"bd_rate_percent"`
	BDRateError         string        `json:"bd_rate_error,omitempty"`
	PerTitleBytes       int64         `json:"per_title_bytes"`
	StaticBytes         int64         `json:"static_bytes"`
	StorageSaved        float64       `json:"storage_saved"`
	CapBitrate          int64         `json:"cap_bitrate"`
	PerTitleTop         jsonRendition `json:"per_title_top"`
	StaticTop           jsonRendition `json:"static_top"`
	TopBitrateSaved     float64       `json:"top_bitrate_saved"`
	StreamingCostPerHrB float64       `json:"streaming_cost_saved_bytes_per_hour"`
}

func jsonLadderOf(l Ladder) jsonLadder {
	out := jsonLadder{Metric: l.Metric, Rungs: []jsonRung{}, Notes: append([]string{}, l.Notes...)}
	for _, r := range l.Rungs {
		out.Rungs = append(out.Rungs, jsonRung{r.Width, r.Height, r.Bitrate, finite(r.CRF), finite(r.PredictedQuality), r.Fixed, r.Why})
	}
	return out
}

func jsonPoints(ps []Point) []jsonPoint {
	out := make([]jsonPoint, 0, len(ps))
	for _, p := range ps {
		out = append(out, jsonPoint{p.Width, p.Height, finite(p.CRF), p.Bitrate, finite(p.Quality), p.Metric, finiteScores(p.Scores)})
	}
	return out
}

func jsonRenditions(rs []RenditionReport) []jsonRendition {
	out := make([]jsonRendition, 0, len(rs))
	for _, r := range rs {
		out = append(out, jsonRenditionOf(r))
	}
	return out
}

func jsonRenditionOf(r RenditionReport) jsonRendition {
	return jsonRendition{r.Width, r.Height, r.Bitrate, r.AverageBitrate, r.Bytes, finite(r.CRF), finiteScores(r.Scores), r.Playlist}
}

// finiteScores drops non-finite values, which JSON cannot carry.
func finiteScores(m map[Metric]float64) map[Metric]float64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[Metric]float64, len(m))
	for k, v := range m {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[k] = v
		}
	}
	return out
}

// finite maps non-finite values, which JSON cannot carry, to 0.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
