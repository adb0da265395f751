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

// SVGPalette colours resolutions, largest first (and pkg/pershot's rungs,
// top first).
var SVGPalette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"}

// SVG is the report for people: a self-contained rate-quality plot. The x-axis
// is bitrate on a log scale with kbit/s ticks, the y-axis the ladder's metric.
// It shows every analysed point coloured by resolution, the hull as a line,
// the chosen rungs as labelled diamonds ("1280x720 2.1 Mb/s"), the measured
// renditions when scored and the static ladder's renditions when encoded.
func (r *Report) SVG() []byte {
	if r == nil {
		r = &Report{}
	}
	p := newSVGPlot(r)
	p.fitScales()
	p.header(r)
	p.axes()
	p.colourSizes()
	p.drawStatic()
	p.drawPoints()
	p.drawHull()
	p.drawMeasured()
	p.drawRungs()
	p.legend()
	fmt.Fprintf(&p.w, "</svg>\n")
	return p.w.Bytes()
}

// svgSize is a resolution in the plot.
type svgSize struct{ w, h int }

// svgPlot is a rate-quality plot being drawn: what it shows, its scales and
// the document written so far.
type svgPlot struct {
	w                              bytes.Buffer
	metric                         Metric
	points, hull, static, measured []Point
	rungs                          []Rung
	// empty: nothing to plot; the scales are then a default frame.
	empty bool
	// lx0..lx1 is the x range in log10 bits/s; qmin..qmax the y range in
	// steps of ystep; pw, ph the plot area's size.
	lx0, lx1, qmin, qmax, ystep, pw, ph float64
	sizes                               []svgSize // largest first
	colour                              map[svgSize]string
}

// newSVGPlot gathers what r's plot shows: the metric (the report's, else the
// ladder's, else the analysis's, else VMAF) and the points that can be drawn.
func newSVGPlot(r *Report) *svgPlot {
	p := &svgPlot{metric: r.Metric}
	if p.metric == "" {
		p.metric = r.Ladder.Metric
	}
	if p.metric == "" && r.Analysis != nil {
		p.metric = r.Analysis.Metric
	}
	if p.metric == "" {
		p.metric = MetricVMAF
	}
	if r.Analysis != nil {
		p.points, p.hull = usablePoints(r.Analysis.Points), usablePoints(r.Analysis.Hull)
	}
	p.static = usablePoints(renditionPoints(r.Static, p.metric))
	p.measured = usablePoints(renditionPoints(r.Renditions, p.metric))
	for _, g := range r.Ladder.Rungs {
		if g.Bitrate > 0 && !math.IsNaN(g.PredictedQuality) && !math.IsInf(g.PredictedQuality, 0) {
			p.rungs = append(p.rungs, g)
		}
	}
	return p
}

// fitScales sets the ranges: every point and rung inside, the bitrate axis
// padded by 6% of its decades, the quality axis on whole steps.
func (p *svgPlot) fitScales() {
	bmin, bmax, qmin, qmax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	see := func(b int64, q float64) {
		bmin, bmax = math.Min(bmin, float64(b)), math.Max(bmax, float64(b))
		qmin, qmax = math.Min(qmin, q), math.Max(qmax, q)
	}
	for _, set := range [][]Point{p.points, p.hull, p.static, p.measured} {
		for _, pt := range set {
			see(pt.Bitrate, pt.Quality)
		}
	}
	for _, g := range p.rungs {
		see(g.Bitrate, g.PredictedQuality)
	}
	p.empty = math.IsInf(bmin, 1)
	if p.empty {
		bmin, bmax, qmin, qmax = 1e5, 1e7, 0, 100
	}
	lx0, lx1 := math.Log10(bmin), math.Log10(bmax)
	pad := math.Max((lx1-lx0)*0.06, 0.05)
	p.lx0, p.lx1 = lx0-pad, lx1+pad
	if qmax-qmin < 1e-9 {
		qmin, qmax = qmin-1, qmax+1
	}
	p.ystep = NiceStep((qmax - qmin) / 6)
	p.qmin = math.Floor(qmin/p.ystep) * p.ystep
	p.qmax = math.Ceil(qmax/p.ystep) * p.ystep
	p.pw, p.ph = float64(svgW-svgLeft-svgRight), float64(svgH-svgTop-svgBott)
}

// X is where bitrate b lies on the page.
func (p *svgPlot) X(b float64) float64 { return svgLeft + (math.Log10(b)-p.lx0)/(p.lx1-p.lx0)*p.pw }

// Y is where quality q lies on the page.
func (p *svgPlot) Y(q float64) float64 { return svgTop + (p.qmax-q)/(p.qmax-p.qmin)*p.ph }

// header opens the document: background, title (source name and size) and
// subtitle.
func (p *svgPlot) header(r *Report) {
	w := &p.w
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgW, svgH)
	title := "per-title ladder"
	if r.Source != "" {
		title += ": " + filepath.Base(r.Source)
	}
	if r.Width > 0 && r.Height > 0 {
		title += fmt.Sprintf(" (%dx%d)", r.Width, r.Height)
	}
	SVGText(w, svgLeft, 30, "start", `font-size="16" font-weight="bold"`, title)
	SVGText(w, svgLeft, 46, "start", `fill="#555555"`, fmt.Sprintf("%s over bitrate; hull over linear bitrate, drawn on a log axis", strings.ToUpper(string(p.metric))))
}

// axes draws the grid, the frame, the tick labels and the axis titles.
func (p *svgPlot) axes() {
	w := &p.w
	fmt.Fprintf(w, `<g stroke="#e5e5e5" stroke-width="1">`+"\n")
	xt := kbitTicks(math.Pow(10, p.lx0), math.Pow(10, p.lx1))
	for _, t := range xt {
		x := p.X(t)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`+"\n", x, svgTop, x, svgH-svgBott)
	}
	for q := p.qmin; q <= p.qmax+p.ystep/2; q += p.ystep {
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`+"\n", svgLeft, p.Y(q), svgW-svgRight, p.Y(q))
	}
	fmt.Fprintf(w, "</g>\n")
	fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333333"/>`+"\n", svgLeft, svgTop, p.pw, p.ph)
	for _, t := range xt {
		SVGText(w, p.X(t), float64(svgH-svgBott+16), "middle", "", strings.TrimSuffix(fmt.Sprintf("%.0f", t/1000), ".0"))
	}
	for q := p.qmin; q <= p.qmax+p.ystep/2; q += p.ystep {
		SVGText(w, svgLeft-6, p.Y(q)+4, "end", "", trimFloat(q, p.ystep))
	}
	SVGText(w, svgLeft+p.pw/2, float64(svgH-18), "middle", "", "bitrate (kbit/s, log scale)")
	fmt.Fprintf(w, `<text x="20" y="%.1f" text-anchor="middle" transform="rotate(-90 20 %.1f)">%s</text>`+"\n", svgTop+p.ph/2, svgTop+p.ph/2, xmlEscape(fmt.Sprintf("quality (%s)", strings.ToUpper(string(p.metric)))))
	if p.empty {
		SVGText(w, svgLeft+p.pw/2, svgTop+p.ph/2, "middle", `fill="#999999"`, "no measured points")
	}
}

// colourSizes gives each analysed resolution its colour, largest first.
func (p *svgPlot) colourSizes() {
	seen := map[svgSize]bool{}
	for _, pt := range p.points {
		if s := (svgSize{pt.Width, pt.Height}); !seen[s] {
			seen[s] = true
			p.sizes = append(p.sizes, s)
		}
	}
	sort.Slice(p.sizes, func(i, j int) bool { return p.sizes[i].w*p.sizes[i].h > p.sizes[j].w*p.sizes[j].h })
	p.colour = map[svgSize]string{}
	for i, s := range p.sizes {
		p.colour[s] = SVGPalette[i%len(SVGPalette)]
	}
}

// drawStatic draws the static ladder: grey squares joined by a dashed line.
func (p *svgPlot) drawStatic() {
	if len(p.static) == 0 {
		return
	}
	static := p.static
	sort.Slice(static, func(i, j int) bool { return static[i].Bitrate < static[j].Bitrate })
	fmt.Fprintf(&p.w, `<polyline fill="none" stroke="#888888" stroke-width="1.5" stroke-dasharray="5 4" points="%s"/>`+"\n", svgPolyline(static, p.X, p.Y))
	for _, pt := range static {
		fmt.Fprintf(&p.w, `<rect x="%.1f" y="%.1f" width="8" height="8" fill="#bbbbbb" stroke="#555555"><title>%s</title></rect>`+"\n",
			p.X(float64(pt.Bitrate))-4, p.Y(pt.Quality)-4, xmlEscape(fmt.Sprintf("static %dx%d %s, %s %.2f", pt.Width, pt.Height, fmtRate(float64(pt.Bitrate)), p.metric, pt.Quality)))
	}
}

// drawPoints draws the analysed points, coloured by resolution.
func (p *svgPlot) drawPoints() {
	for _, pt := range p.points {
		fmt.Fprintf(&p.w, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s" fill-opacity="0.75"><title>%s</title></circle>`+"\n",
			p.X(float64(pt.Bitrate)), p.Y(pt.Quality), p.colour[svgSize{pt.Width, pt.Height}],
			xmlEscape(fmt.Sprintf("%dx%d CRF %.1f: %s, %s %.2f", pt.Width, pt.Height, pt.CRF, fmtRate(float64(pt.Bitrate)), p.metric, pt.Quality)))
	}
}

// drawHull draws the hull: straight in linear bitrate, so drawn with
// intermediate points on the log axis.
func (p *svgPlot) drawHull() {
	if len(p.hull) == 0 {
		return
	}
	var dense []Point
	for i, pt := range p.hull {
		if i > 0 {
			lo := p.hull[i-1]
			for k := 1; k < 8; k++ {
				t := float64(k) / 8
				dense = append(dense, Point{Bitrate: lo.Bitrate + int64(t*float64(pt.Bitrate-lo.Bitrate)), Quality: lo.Quality + t*(pt.Quality-lo.Quality)})
			}
		}
		dense = append(dense, pt)
	}
	fmt.Fprintf(&p.w, `<polyline fill="none" stroke="#222222" stroke-width="2" points="%s"/>`+"\n", svgPolyline(dense, p.X, p.Y))
}

// drawMeasured draws the encoded renditions as hollow triangles.
func (p *svgPlot) drawMeasured() {
	for _, pt := range p.measured {
		x, y := p.X(float64(pt.Bitrate)), p.Y(pt.Quality)
		fmt.Fprintf(&p.w, `<path d="M%.1f %.1f L%.1f %.1f L%.1f %.1f Z" fill="none" stroke="#000000"><title>%s</title></path>`+"\n",
			x, y-6, x-5, y+4, x+5, y+4, xmlEscape(fmt.Sprintf("encoded %dx%d %s, %s %.2f", pt.Width, pt.Height, fmtRate(float64(pt.Bitrate)), p.metric, pt.Quality)))
	}
}

// drawRungs draws the chosen rungs as labelled diamonds (fixed rungs orange).
func (p *svgPlot) drawRungs() {
	for _, g := range p.rungs {
		x, y := p.X(float64(g.Bitrate)), p.Y(g.PredictedQuality)
		fill := "#ffd700"
		if g.Fixed {
			fill = "#ff8c00"
		}
		fmt.Fprintf(&p.w, `<path d="M%.1f %.1f L%.1f %.1f L%.1f %.1f L%.1f %.1f Z" fill="%s" stroke="#000000"><title>%s</title></path>`+"\n",
			x, y-7, x+7, y, x, y+7, x-7, y, fill, xmlEscape(g.Why))
		SVGText(&p.w, x+9, y+14, "start", `font-size="11"`, RungLabel(g))
	}
}

// legend lists the resolutions and the other series shown, right of the plot.
func (p *svgPlot) legend() {
	w := &p.w
	lx, ly := float64(svgW-svgRight+18), float64(svgTop+8)
	row := func(marker, label string) {
		fmt.Fprintf(w, marker+"\n", lx, ly)
		SVGText(w, lx+18, ly+4, "start", "", label)
		ly += 20
	}
	for _, s := range p.sizes {
		row(`<circle cx="%.1f" cy="%.1f" r="4" fill="`+p.colour[s]+`"/>`, fmt.Sprintf("%dx%d", s.w, s.h))
	}
	if len(p.hull) > 0 {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222222" stroke-width="2"/>`+"\n", lx-6, ly, lx+6, ly)
		SVGText(w, lx+18, ly+4, "start", "", "convex hull")
		ly += 20
	}
	if len(p.rungs) > 0 {
		row(`<circle cx="%.1f" cy="%.1f" r="5" fill="#ffd700" stroke="#000000"/>`, "per-title rungs")
	}
	if len(p.measured) > 0 {
		row(`<circle cx="%.1f" cy="%.1f" r="5" fill="none" stroke="#000000"/>`, "per-title, as encoded")
	}
	if len(p.static) > 0 {
		row(`<circle cx="%.1f" cy="%.1f" r="4" fill="#bbbbbb" stroke="#555555"/>`, "static ladder (Apple HLS)")
	}
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

// SVGText writes a text element at x, y (anchor start, middle or end, extra
// attributes attrs) holding s, escaped.
func SVGText(w *bytes.Buffer, x, y float64, anchor, attrs, s string) {
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

// NiceStep rounds a raw step up to 1, 2 or 5 times a power of ten: axis ticks.
func NiceStep(raw float64) float64 {
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
