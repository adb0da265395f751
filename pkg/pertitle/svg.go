package pertitle

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
)

// SVG geometry, in user units.
const (
	svgW, svgH                         = 960, 580
	svgLeft, svgRight, svgTop, svgBott = 78, 250, 56, 64
)

// svgPalette colours resolutions, largest first.
var svgPalette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"}

// SVG is the report for people: a self-contained rate-quality plot. The x-axis
// is bitrate on a log scale with kbit/s ticks, the y-axis the ladder's metric.
// It shows every analysed point coloured by resolution, the hull as a line,
// the chosen rungs as labelled diamonds ("1280x720 2.1 Mb/s"), the measured
// renditions when scored and the static ladder's renditions when encoded.
func (r *Report) SVG() []byte {
	if r == nil {
		r = &Report{}
	}
	metric := r.Metric
	if metric == "" {
		metric = r.Ladder.Metric
	}
	if metric == "" && r.Analysis != nil {
		metric = r.Analysis.Metric
	}
	if metric == "" {
		metric = MetricVMAF
	}
	var points, hull []Point
	if r.Analysis != nil {
		points, hull = usablePoints(r.Analysis.Points), usablePoints(r.Analysis.Hull)
	}
	static := usablePoints(renditionPoints(r.Static, metric))
	measured := usablePoints(renditionPoints(r.Renditions, metric))
	var rungs []Rung
	for _, g := range r.Ladder.Rungs {
		if g.Bitrate > 0 && !math.IsNaN(g.PredictedQuality) && !math.IsInf(g.PredictedQuality, 0) {
			rungs = append(rungs, g)
		}
	}

	// Ranges.
	bmin, bmax, qmin, qmax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	see := func(b int64, q float64) {
		bmin, bmax = math.Min(bmin, float64(b)), math.Max(bmax, float64(b))
		qmin, qmax = math.Min(qmin, q), math.Max(qmax, q)
	}
	for _, set := range [][]Point{points, hull, static, measured} {
		for _, p := range set {
			see(p.Bitrate, p.Quality)
		}
	}
	for _, g := range rungs {
		see(g.Bitrate, g.PredictedQuality)
	}
	empty := math.IsInf(bmin, 1)
	if empty {
		bmin, bmax, qmin, qmax = 1e5, 1e7, 0, 100
	}
	lx0, lx1 := math.Log10(bmin), math.Log10(bmax)
	pad := math.Max((lx1-lx0)*0.06, 0.05)
	lx0, lx1 = lx0-pad, lx1+pad
	if qmax-qmin < 1e-9 {
		qmin, qmax = qmin-1, qmax+1
	}
	ystep := niceStep((qmax - qmin) / 6)
	qmin = math.Floor(qmin/ystep) * ystep
	qmax = math.Ceil(qmax/ystep) * ystep
	pw, ph := float64(svgW-svgLeft-svgRight), float64(svgH-svgTop-svgBott)
	X := func(b float64) float64 { return svgLeft + (math.Log10(b)-lx0)/(lx1-lx0)*pw }
	Y := func(q float64) float64 { return svgTop + (qmax-q)/(qmax-qmin)*ph }

	var w bytes.Buffer
	fmt.Fprintf(&w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(&w, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgW, svgH)
	title := "per-title ladder"
	if r.Source != "" {
		title += ": " + filepath.Base(r.Source)
	}
	if r.Width > 0 && r.Height > 0 {
		title += fmt.Sprintf(" (%dx%d)", r.Width, r.Height)
	}
	svgText(&w, svgLeft, 30, "start", `font-size="16" font-weight="bold"`, title)
	svgText(&w, svgLeft, 46, "start", `fill="#555555"`, fmt.Sprintf("%s over bitrate; hull over linear bitrate, drawn on a log axis", strings.ToUpper(string(metric))))

	// Grid and axes.
	fmt.Fprintf(&w, `<g stroke="#e5e5e5" stroke-width="1">`+"\n")
	xt := kbitTicks(math.Pow(10, lx0), math.Pow(10, lx1))
	for _, t := range xt {
		x := X(t)
		fmt.Fprintf(&w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`+"\n", x, svgTop, x, svgH-svgBott)
	}
	for q := qmin; q <= qmax+ystep/2; q += ystep {
		fmt.Fprintf(&w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`+"\n", svgLeft, Y(q), svgW-svgRight, Y(q))
	}
	fmt.Fprintf(&w, "</g>\n")
	fmt.Fprintf(&w, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333333"/>`+"\n", svgLeft, svgTop, pw, ph)
	for _, t := range xt {
		svgText(&w, X(t), float64(svgH-svgBott+16), "middle", "", strings.TrimSuffix(fmt.Sprintf("%.0f", t/1000), ".0"))
	}
	for q := qmin; q <= qmax+ystep/2; q += ystep {
		svgText(&w, svgLeft-6, Y(q)+4, "end", "", trimFloat(q, ystep))
	}
	svgText(&w, svgLeft+pw/2, float64(svgH-18), "middle", "", "bitrate (kbit/s, log scale)")
	fmt.Fprintf(&w, `<text x="20" y="%.1f" text-anchor="middle" transform="rotate(-90 20 %.1f)">%s</text>`+"\n", svgTop+ph/2, svgTop+ph/2, xmlEscape(fmt.Sprintf("quality (%s)", strings.ToUpper(string(metric)))))
	if empty {
		svgText(&w, svgLeft+pw/2, svgTop+ph/2, "middle", `fill="#999999"`, "no measured points")
	}

	// Resolutions, largest first, each with its colour.
	type size struct{ w, h int }
	var sizes []size
	seen := map[size]bool{}
	for _, p := range points {
		if s := (size{p.Width, p.Height}); !seen[s] {
			seen[s] = true
			sizes = append(sizes, s)
		}
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i].w*sizes[i].h > sizes[j].w*sizes[j].h })
	colour := map[size]string{}
	for i, s := range sizes {
		colour[s] = svgPalette[i%len(svgPalette)]
	}

	// Static ladder: grey squares joined by a dashed line.
	if len(static) > 0 {
		sort.Slice(static, func(i, j int) bool { return static[i].Bitrate < static[j].Bitrate })
		fmt.Fprintf(&w, `<polyline fill="none" stroke="#888888" stroke-width="1.5" stroke-dasharray="5 4" points="%s"/>`+"\n", svgPolyline(static, X, Y))
		for _, p := range static {
			fmt.Fprintf(&w, `<rect x="%.1f" y="%.1f" width="8" height="8" fill="#bbbbbb" stroke="#555555"><title>%s</title></rect>`+"\n",
				X(float64(p.Bitrate))-4, Y(p.Quality)-4, xmlEscape(fmt.Sprintf("static %dx%d %s, %s %.2f", p.Width, p.Height, fmtRate(float64(p.Bitrate)), metric, p.Quality)))
		}
	}
	// Analysed points.
	for _, p := range points {
		fmt.Fprintf(&w, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s" fill-opacity="0.75"><title>%s</title></circle>`+"\n",
			X(float64(p.Bitrate)), Y(p.Quality), colour[size{p.Width, p.Height}],
			xmlEscape(fmt.Sprintf("%dx%d CRF %.1f: %s, %s %.2f", p.Width, p.Height, p.CRF, fmtRate(float64(p.Bitrate)), metric, p.Quality)))
	}
	// Hull: straight in linear bitrate, so drawn with intermediate points.
	if len(hull) > 0 {
		var dense []Point
		for i, p := range hull {
			if i > 0 {
				lo := hull[i-1]
				for k := 1; k < 8; k++ {
					t := float64(k) / 8
					dense = append(dense, Point{Bitrate: lo.Bitrate + int64(t*float64(p.Bitrate-lo.Bitrate)), Quality: lo.Quality + t*(p.Quality-lo.Quality)})
				}
			}
			dense = append(dense, p)
		}
		fmt.Fprintf(&w, `<polyline fill="none" stroke="#222222" stroke-width="2" points="%s"/>`+"\n", svgPolyline(dense, X, Y))
	}
	// Measured renditions: hollow triangles.
	for _, p := range measured {
		x, y := X(float64(p.Bitrate)), Y(p.Quality)
		fmt.Fprintf(&w, `<path d="M%.1f %.1f L%.1f %.1f L%.1f %.1f Z" fill="none" stroke="#000000"><title>%s</title></path>`+"\n",
			x, y-6, x-5, y+4, x+5, y+4, xmlEscape(fmt.Sprintf("encoded %dx%d %s, %s %.2f", p.Width, p.Height, fmtRate(float64(p.Bitrate)), metric, p.Quality)))
	}
	// Chosen rungs: diamonds with labels.
	for _, g := range rungs {
		x, y := X(float64(g.Bitrate)), Y(g.PredictedQuality)
		fill := "#ffd700"
		if g.Fixed {
			fill = "#ff8c00"
		}
		fmt.Fprintf(&w, `<path d="M%.1f %.1f L%.1f %.1f L%.1f %.1f L%.1f %.1f Z" fill="%s" stroke="#000000"><title>%s</title></path>`+"\n",
			x, y-7, x+7, y, x, y+7, x-7, y, fill, xmlEscape(g.Why))
		svgText(&w, x+9, y+14, "start", `font-size="11"`, RungLabel(g))
	}

	// Legend.
	lx, ly := float64(svgW-svgRight+18), float64(svgTop+8)
	row := func(marker, label string) {
		fmt.Fprintf(&w, marker+"\n", lx, ly)
		svgText(&w, lx+18, ly+4, "start", "", label)
		ly += 20
	}
	for _, s := range sizes {
		row(`<circle cx="%.1f" cy="%.1f" r="4" fill="`+colour[s]+`"/>`, fmt.Sprintf("%dx%d", s.w, s.h))
	}
	if len(hull) > 0 {
		fmt.Fprintf(&w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222222" stroke-width="2"/>`+"\n", lx-6, ly, lx+6, ly)
		svgText(&w, lx+18, ly+4, "start", "", "convex hull")
		ly += 20
	}
	if len(rungs) > 0 {
		row(`<circle cx="%.1f" cy="%.1f" r="5" fill="#ffd700" stroke="#000000"/>`, "per-title rungs")
	}
	if len(measured) > 0 {
		row(`<circle cx="%.1f" cy="%.1f" r="5" fill="none" stroke="#000000"/>`, "per-title, as encoded")
	}
	if len(static) > 0 {
		row(`<circle cx="%.1f" cy="%.1f" r="4" fill="#bbbbbb" stroke="#555555"/>`, "static ladder (Apple HLS)")
	}
	fmt.Fprintf(&w, "</svg>\n")
	return w.Bytes()
}

// RungLabel is the short name of a rung in plots and tables: "1280x720 2.1 Mb/s".
func RungLabel(g Rung) string {
	return fmt.Sprintf("%dx%d %s", g.Width, g.Height, fmtRate(float64(g.Bitrate)))
}

func usablePoints(ps []Point) []Point {
	var out []Point
	for _, p := range ps {
		if p.Bitrate > 0 && !math.IsNaN(p.Quality) && !math.IsInf(p.Quality, 0) {
			out = append(out, p)
		}
	}
	return out
}

func svgPolyline(ps []Point, X, Y func(float64) float64) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", X(float64(p.Bitrate)), Y(p.Quality))
	}
	return b.String()
}

func svgText(w *bytes.Buffer, x, y float64, anchor, attrs, s string) {
	if attrs != "" {
		attrs = " " + attrs
	}
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="%s"%s>%s</text>`+"\n", x, y, anchor, attrs, xmlEscape(s))
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// kbitTicks are the 1-2-5 ticks (bits/s) within [lo, hi], thinned to at most 12.
func kbitTicks(lo, hi float64) []float64 {
	var ts []float64
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			if t := m * math.Pow(10, e); t >= lo && t <= hi && t >= 1000 {
				ts = append(ts, t)
			}
		}
	}
	for len(ts) > 12 {
		var thin []float64
		for i, t := range ts {
			if i%2 == 0 {
				thin = append(thin, t)
			}
		}
		ts = thin
	}
	return ts
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v, step float64) string {
	dec := max(0, int(math.Ceil(-math.Log10(step)+1e-9)))
	return fmt.Sprintf("%.*f", dec, v)
}
