package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// pageStyle is the whole stylesheet of a report: inline, like everything
// else in it.
const pageStyle = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}.note{color:#555}
table.cmp td:nth-child(-n+3),table.cmp th:nth-child(-n+3){text-align:left}
svg{display:block;margin:12px 0;background:#fff}
svg .g{stroke:#e4e4e4}svg .a{stroke:#444}
svg text{font:11px system-ui,sans-serif;fill:#333}svg .t{font-size:13px;font-weight:600}
svg .yl{text-anchor:end}svg .xl{text-anchor:middle}svg .yt{text-anchor:middle}`

// page writes a complete, self-contained HTML document around body. The
// markup is well-formed XML (every element closed, every attribute
// quoted), so the report also parses as XHTML.
func page(w io.Writer, title, body string) error {
	_, err := fmt.Fprintf(w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"+
		"<title>%s</title><style>%s</style></head><body>\n%s\n</body></html>\n", esc(title), pageStyle, body)
	return err
}

// WriteHTML writes r as a self-contained HTML report: the setup, the
// table, the errors, and two inline SVG charts, latency (per-second p50
// and p99) and throughput over time.
func WriteHTML(w io.Writer, r *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "<h1>distkv bench: %s, workload %s</h1>\n", esc(r.Options.Target), esc(r.Options.Workload))
	fmt.Fprintf(&b, "<p class=\"note\">%s. Started %s; measured %.2f s.", esc(describeRun(r.Options, r.Mode)),
		esc(r.Started.Format(time.RFC3339)), r.ElapsedSeconds)
	if r.Interrupted {
		b.WriteString(" <b>Interrupted</b>: the figures cover the run until Ctrl-C.")
	}
	b.WriteString("</p>\n")
	b.WriteString(latencyTableHTML(r))
	fmt.Fprintf(&b, "<p>Errors: %s", esc(errorLine(r.Errors)))
	if r.Misses > 0 {
		fmt.Fprintf(&b, "; reads of missing keys: %s", fmtCount(r.Misses))
	}
	b.WriteString("</p>\n")
	for _, k := range ErrorKinds {
		if m, ok := r.ErrorSamples[k]; ok {
			fmt.Fprintf(&b, "<p class=\"note\">First %s: %s</p>\n", esc(k), esc(oneLine(m, 300)))
		}
	}
	runs := []namedSeries{{Points: r.Series}}
	b.WriteString("<h2>Latency over time</h2>\n")
	b.WriteString(latencyChart("Latency of the operations ending in each second", runs).svg())
	b.WriteString("\n<h2>Throughput over time</h2>\n")
	b.WriteString(throughputChart("Operations completed in each second", runs).svg())
	b.WriteString("\n<p class=\"note\">Latencies come from HDR histograms (3 significant digits in the table, 2 in the charts)." +
		" In fixed-rate mode they are measured from each operation's due time, so a stall counts for every operation it delays.</p>")
	return page(w, "distkv bench "+r.Options.Target+" "+r.Options.Workload, b.String())
}

// latencyTableHTML is the table of WriteText, as HTML.
func latencyTableHTML(r *Result) string {
	var b strings.Builder
	b.WriteString("<table><tr><th></th><th>ops</th><th>ops/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n")
	for _, k := range latencyRows {
		l, ok := r.Latency[k]
		if !ok || (k == "all" && len(r.Latency) == 2) {
			continue
		}
		rate := 0.0
		if r.ElapsedSeconds > 0 {
			rate = float64(l.Count) / r.ElapsedSeconds
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			k, fmtCount(l.Count), fmtRate(rate), esc(fmtLatency(l.P50Micros)), esc(fmtLatency(l.P90Micros)),
			esc(fmtLatency(l.P99Micros)), esc(fmtLatency(l.P999Micros)), esc(fmtLatency(l.MaxMicros)))
	}
	b.WriteString("</table>\n")
	return b.String()
}
