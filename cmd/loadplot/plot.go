package main

import (
	"fmt"
	"html"
	"math"
	"strings"

	"github.com/chatplatform/chat/internal/loadgen/series"
)

// Chart geometry, in SVG user units.
const (
	width       = 760
	panelHeight = 150
	marginLeft  = 64
	marginRight = 16
	titleHeight = 28
	gapHeight   = 46 // between panels: the x axis labels and the next panel's title
	plotWidth   = width - marginLeft - marginRight
)

// line is one series of a panel.
type line struct {
	label  string
	color  string
	dashed bool
	value  func(series.Row) float64
}

// panel is one chart of the SVG: a y axis and its lines over time.
type panel struct {
	title string
	unit  string
	lines []line
}

var panels = []panel{
	{"Clients", "clients", []line{
		{"target", "#999999", true, func(r series.Row) float64 { return float64(r.Target) }},
		{"connected", "#1f77b4", false, func(r series.Row) float64 { return float64(r.Connected) }},
	}},
	{"Messages per second", "per s", []line{
		{"received", "#2ca02c", false, func(r series.Row) float64 { return r.ReceivedPerSec }},
		{"sent", "#ff7f0e", false, func(r series.Row) float64 { return r.SentPerSec }},
	}},
	{"End-to-end latency of each interval", "ms", []line{
		{"p99", "#d62728", false, func(r series.Row) float64 { return r.P99 }},
		{"p50", "#9467bd", false, func(r series.Row) float64 { return r.P50 }},
	}},
}

// plot draws rows as an SVG document: one panel per entry of panels, time
// on the x axis. Latency lines skip intervals without a measurement.
func plot(rows []series.Row, title string) string {
	height := titleHeight + len(panels)*(panelHeight+gapHeight)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`+"\n", marginLeft, html.EscapeString(title))
	tMax := rows[len(rows)-1].T
	for i, p := range panels {
		top := titleHeight + i*(panelHeight+gapHeight) + 18
		drawPanel(&b, p, rows, top, tMax)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// drawPanel draws p with its top edge at y = top.
func drawPanel(b *strings.Builder, p panel, rows []series.Row, top int, tMax float64) {
	yMax := 0.0
	for _, r := range rows {
		for _, l := range p.lines {
			yMax = math.Max(yMax, l.value(r))
		}
	}
	yMax = niceCeil(yMax)
	x := func(t float64) float64 { return marginLeft + plotWidth*t/math.Max(tMax, 1e-9) }
	y := func(v float64) float64 { return float64(top) + panelHeight*(1-v/yMax) }

	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", marginLeft, top-6, html.EscapeString(p.title))
	legendX := marginLeft + plotWidth
	for _, l := range p.lines {
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end" fill="%s">%s</text>`+"\n", legendX, top-6, l.color, html.EscapeString(l.label))
		legendX -= 8 + 7*len(l.label)
	}
	for k := 0; k <= 4; k++ {
		v := yMax * float64(k) / 4
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", marginLeft, marginLeft+plotWidth, y(v), y(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginLeft-6, y(v)+4, formatTick(v))
	}
	fmt.Fprintf(b, `<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>`+"\n", top+panelHeight/2, top+panelHeight/2, p.unit)
	step := niceCeil(tMax / 6)
	for t := 0.0; t <= tMax+1e-9; t += step {
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#e5e5e5"/>`+"\n", x(t), x(t), top, top+panelHeight)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%ss</text>`+"\n", x(t), top+panelHeight+14, formatTick(t))
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888888"/>`+"\n", marginLeft, top, plotWidth, panelHeight)
	for _, l := range p.lines {
		var pts []string
		flush := func() {
			if len(pts) > 0 {
				dash := ""
				if l.dashed {
					dash = ` stroke-dasharray="5 4"`
				}
				fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.8"%s points="%s"/>`+"\n", l.color, dash, strings.Join(pts, " "))
			}
			pts = pts[:0]
		}
		for _, r := range rows {
			if p.unit == "ms" && r.LatencyCount == 0 {
				flush() // no message in this interval: no latency to draw
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(r.T), y(l.value(r))))
		}
		flush()
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for v <= 0).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// formatTick formats an axis value without needless decimals.
func formatTick(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.4gk", v/1000)
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}
