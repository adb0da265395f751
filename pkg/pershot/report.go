package pershot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/pertitle/pertitle/pkg/pertitle"
)

// WriteReport writes report.json (JSON) and report.svg (SVG) into dir, under
// pertitle's names.
func WriteReport(rep *Report, dir string) error {
	js, err := rep.JSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, pertitle.ReportJSONName), js, 0o644); err != nil {
		return fmt.Errorf("pershot: report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, pertitle.ReportSVGName), rep.SVG(), 0o644); err != nil {
		return fmt.Errorf("pershot: report: %w", err)
	}
	return nil
}

type jsonShot struct {
	Index        int         `json:"index"`
	FirstFrame   int64       `json:"first_frame"`
	Frames       int64       `json:"frames"`
	StartSeconds float64     `json:"start_seconds"`
	Seconds      float64     `json:"seconds"`
	Complexity   float64     `json:"complexity_bits_per_second"`
	Measured     int         `json:"measured_piece"`
	Sample       [2]float64  `json:"sample"`
	Scale        float64     `json:"scale"`
	Probe        *[2]float64 `json:"probe,omitempty"`
	CRFs         []float64   `json:"crfs"`
	Bitrates     []int64     `json:"bitrates"`
	Qualities    []float64   `json:"qualities"`
}

type jsonRungPlan struct {
	Width            int       `json:"width"`
	Height           int       `json:"height"`
	Bitrate          int64     `json:"bitrate"`
	MaxRate          int64     `json:"max_rate"`
	BufSize          int64     `json:"buf_size"`
	PerTitleCRF      float64   `json:"per_title_crf"`
	CRFs             []float64 `json:"crfs"`
	PredictedBitrate float64   `json:"predicted_bitrate"`
	PredictedQuality float64   `json:"predicted_quality"`
	Notes            []string  `json:"notes,omitempty"`
}

// JSON is pertitle's report.json with the per-shot fields added: "mode"
// ("pershot"), "shots", "rungs", "per_title_bd_rate_percent" and, when it
// could not be computed, "per_title_bd_rate_error".
func (r *Report) JSON() ([]byte, error) {
	if r == nil {
		return nil, errors.New("pershot: cannot encode a nil report")
	}
	base, err := r.Report.JSON()
	if err != nil {
		return nil, fmt.Errorf("pershot: report: %w", err)
	}
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(base, &fields); err != nil {
		return nil, fmt.Errorf("pershot: report: %w", err)
	}
	shots := make([]jsonShot, 0, len(r.Shots))
	for _, s := range r.Shots {
		js := jsonShot{Index: s.Index, FirstFrame: s.First, Frames: s.Frames, StartSeconds: fin(s.Start),
			Seconds: fin(s.Seconds), Complexity: fin(s.Complexity), Measured: s.Measured, Sample: [2]float64{fin(s.Sample[0]), fin(s.Sample[1])},
			Scale: fin(s.Scale), CRFs: fins(s.CRFs), Bitrates: s.Bitrates, Qualities: fins(s.Qualities)}
		if s.Probe[1] > 0 {
			js.Probe = &[2]float64{fin(s.Probe[0]), fin(s.Probe[1])}
		}
		shots = append(shots, js)
	}
	rungs := make([]jsonRungPlan, 0, len(r.Rungs))
	for _, p := range r.Rungs {
		rungs = append(rungs, jsonRungPlan{Width: p.Width, Height: p.Height, Bitrate: p.Bitrate, MaxRate: p.MaxRate, BufSize: p.BufSize,
			PerTitleCRF: fin(p.PerTitleCRF), CRFs: fins(p.CRFs), PredictedBitrate: fin(p.PredictedBitrate),
			PredictedQuality: fin(p.PredictedQuality), Notes: p.Notes})
	}
	add := map[string]any{"mode": "pershot", "shots": shots, "rungs": rungs, "per_title_bd_rate_percent": fin(r.PerTitleBDRate)}
	if r.PerTitleBDRateError != "" {
		add["per_title_bd_rate_error"] = r.PerTitleBDRateError
	}
	for k, v := range add {
		if fields[k], err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("pershot: report: %w", err)
		}
	}
	return json.MarshalIndent(fields, "", "  ")
}

func fin(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func fins(vs []float64) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = fin(v)
	}
	return out
}

// Geometry of the CRF panel below pertitle's plot, in user units.
const (
	crfPanelH                         = 340
	crfLeft, crfRight, crfTop         = 78, 250, 40
	crfBottom                         = 48
	pertitleW, pertitleH      float64 = 960, 580
)

// SVG is pertitle's rate-quality plot with, below it, the CRF of every shot
// in every rung: time on the x axis, a step line per rung, each rung's
// resolution and target in the legend.
func (r *Report) SVG() []byte {
	if r == nil {
		r = &Report{}
	}
	top := r.Report.SVG()
	if i := bytes.Index(top, []byte("<svg")); i > 0 {
		top = top[i:] // nested: no XML declaration
	}
	var w bytes.Buffer
	fmt.Fprintf(&w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&w, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n",
		pertitleW, pertitleH+crfPanelH, pertitleW, pertitleH+crfPanelH)
	w.Write(top)
	fmt.Fprintf(&w, `<g transform="translate(0 %.0f)">`+"\n", pertitleH)
	r.crfPanel(&w)
	w.WriteString("</g>\n</svg>\n")
	return w.Bytes()
}

// crfPanel draws the CRF per shot of every rung.
func (r *Report) crfPanel(w *bytes.Buffer) {
	pw, ph := pertitleW-crfLeft-crfRight, float64(crfPanelH-crfTop-crfBottom)
	fmt.Fprintf(w, `<rect width="%.0f" height="%d" fill="#ffffff"/>`+"\n", pertitleW, crfPanelH)
	pertitle.SVGText(w, crfLeft, 24, "start", `font-size="16" font-weight="bold"`, "CRF per shot, by rung")
	end, lo, hi := r.crfRange()
	fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333333"/>`+"\n", crfLeft, crfTop, pw, ph)
	if len(r.Shots) == 0 || end <= 0 {
		pertitle.SVGText(w, crfLeft+pw/2, crfTop+ph/2, "middle", `fill="#999999"`, "no shots")
		return
	}
	X := func(t float64) float64 { return crfLeft + t/end*pw }
	Y := func(c float64) float64 { return crfTop + (c-lo)/(hi-lo)*ph } // low CRF (more bits) on top
	step := pertitle.NiceStep((hi - lo) / 6)
	for c := math.Ceil(lo/step) * step; c <= hi+1e-9; c += step {
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", crfLeft, Y(c), crfLeft+pw, Y(c))
		pertitle.SVGText(w, crfLeft-6, Y(c)+4, "end", "", fmt.Sprintf("%g", c))
	}
	for _, s := range r.Shots {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#cccccc" stroke-dasharray="3,3"/>`+"\n", X(s.Start), crfTop, X(s.Start), crfTop+ph)
	}
	tstep := pertitle.NiceStep(end / 10)
	for t := 0.0; t <= end+1e-9; t += tstep {
		pertitle.SVGText(w, X(t), crfTop+ph+16, "middle", "", fmt.Sprintf("%g", t))
	}
	pertitle.SVGText(w, crfLeft+pw/2, crfTop+ph+36, "middle", "", "time (s); dashed lines: shot starts")
	fmt.Fprintf(w, `<text x="20" y="%.1f" text-anchor="middle" transform="rotate(-90 20 %.1f)">CRF (lower: more bits)</text>`+"\n", crfTop+ph/2, crfTop+ph/2)
	for i, rp := range r.Rungs {
		colour := pertitle.SVGPalette[i%len(pertitle.SVGPalette)]
		var pts []string
		for k, s := range r.Shots {
			if k < len(rp.CRFs) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", X(s.Start), Y(rp.CRFs[k]), X(s.Start+s.Seconds), Y(rp.CRFs[k])))
			}
		}
		fmt.Fprintf(w, `<polyline class="crf" fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", colour, strings.Join(pts, " "))
		ly := float64(crfTop + 10 + 18*i)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`+"\n", crfLeft+pw+14, ly-4, crfLeft+pw+34, ly-4, colour)
		pertitle.SVGText(w, crfLeft+pw+40, ly, "start", "", fmt.Sprintf("%dx%d, target %s", rp.Width, rp.Height, fmtRate(rp.Bitrate)))
	}
}

// crfRange is the title's end (seconds) and the CRF axis's range, padded.
func (r *Report) crfRange() (end, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range r.Shots {
		end = math.Max(end, s.Start+s.Seconds)
	}
	for _, rp := range r.Rungs {
		for _, c := range rp.CRFs {
			lo, hi = math.Min(lo, c), math.Max(hi, c)
		}
	}
	if math.IsInf(lo, 0) {
		return end, 18, 36
	}
	return end, math.Floor(lo) - 1, math.Ceil(hi) + 1
}
