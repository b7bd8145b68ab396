package bench

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// chart is a line chart drawn as inline SVG: no script, no external
// resource, so a report file opens anywhere, offline.
type chart struct {
	Title  string
	XLabel string
	YLabel string
	Series []chartSeries
}

// chartSeries is one line: points (X[i], Y[i]).
type chartSeries struct {
	Name  string
	Color string // a CSS color
	X, Y  []float64
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 720, 300
	padL, padR     = 70, 20
	padT, padB     = 36, 64
)

// palette is the colors of successive series.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// svg renders c. Axes start at 0; their ends are rounded up to a "nice"
// number, with five gridlines.
func (c chart) svg() string {
	maxX, maxY := 1.0, 0.0
	for _, s := range c.Series {
		for i := range s.X {
			maxX, maxY = math.Max(maxX, s.X[i]), math.Max(maxY, s.Y[i])
		}
	}
	yTop := niceCeil(maxY)
	xTop := niceCeil(maxX)
	px := func(x float64) float64 { return padL + x/xTop*(chartW-padL-padR) }
	py := func(y float64) float64 { return chartH - padB - y/yTop*(chartH-padT-padB) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.Title))
	fmt.Fprintf(&b, `<text x="%d" y="20" class="t">%s</text>`, padL, esc(c.Title))
	for i := 0; i <= 5; i++ {
		yv := yTop * float64(i) / 5
		y := py(yv)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="g"/>`, padL, y, chartW-padR, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="yl">%s</text>`, padL-6, y+4, esc(tick(yv)))
		xv := xTop * float64(i) / 5
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="xl">%s</text>`, px(xv), chartH-padB+16, esc(tick(xv)))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="a"/>`, padL, chartH-padB, chartW-padR, chartH-padB)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="a"/>`, padL, padT, padL, chartH-padB)
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="xl">%s</text>`, (chartW+padL)/2, chartH-padB+34, esc(c.XLabel))
	fmt.Fprintf(&b, `<text x="14" y="%d" class="yt" transform="rotate(-90 14 %d)">%s</text>`, (chartH+padT-padB)/2, (chartH+padT-padB)/2, esc(c.YLabel))
	for i, s := range c.Series {
		color := s.Color
		if color == "" {
			color = palette[i%len(palette)]
		}
		pts := make([]string, 0, len(s.X))
		for j := range s.X {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.X[j]), py(s.Y[j])))
		}
		if len(pts) == 1 { // a lone point: a short flat stroke, so it shows
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.X[0])+3, py(s.Y[0])))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`,
			esc(color), strings.Join(pts, " "), esc(s.Name))
		lx := padL + 10 + i*170
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/>`, lx, chartH-16, esc(color))
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="lg">%s</text>`, lx+20, chartH-11, esc(s.Name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten (1 for
// v <= 0).
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p*(1+1e-12) {
			return m * p
		}
	}
	return 10 * p
}

// tick renders an axis value compactly: 1500 → "1.5k".
func tick(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// esc escapes text for HTML and SVG.
func esc(s string) string { return html.EscapeString(s) }

// latencyChart draws each run's per-second p50 and p99, its lines named
// after the run.
func latencyChart(title string, runs []namedSeries) chart {
	c := chart{Title: title, XLabel: "seconds after warmup", YLabel: "latency (ms)"}
	for i, r := range runs {
		var x, p50, p99 []float64
		for _, p := range r.Points {
			x = append(x, float64(p.Second))
			p50 = append(p50, p.P50Micros/1e3)
			p99 = append(p99, p.P99Micros/1e3)
		}
		c.Series = append(c.Series,
			chartSeries{Name: r.Name + "p50", Color: palette[(2*i)%len(palette)], X: x, Y: p50},
			chartSeries{Name: r.Name + "p99", Color: palette[(2*i+1)%len(palette)], X: x, Y: p99})
	}
	return c
}

// throughputChart draws each run's per-second throughput.
func throughputChart(title string, runs []namedSeries) chart {
	c := chart{Title: title, XLabel: "seconds after warmup", YLabel: "operations per second"}
	for i, r := range runs {
		var x, y []float64
		for _, p := range r.Points {
			x = append(x, float64(p.Second))
			y = append(y, p.OpsPerSec)
		}
		c.Series = append(c.Series, chartSeries{Name: r.Name + "ops/s", Color: palette[(2*i)%len(palette)], X: x, Y: y})
	}
	return c
}

// namedSeries is one run's series with the prefix of its line names.
type namedSeries struct {
	Name   string
	Points []SeriesPoint
}
