package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// latencyRows are the rows of a run's table, in order.
var latencyRows = []string{"read", "write", "all"}

// WriteText writes r as a table for a person: a line describing the run,
// one row per operation kind (ops, ops/s, p50, p90, p99, p99.9, max),
// and the errors by kind.
func WriteText(w io.Writer, r *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", describeRun(r.Options, r.Mode))
	if r.Interrupted {
		b.WriteString("INTERRUPTED: the figures cover the run until Ctrl-C\n")
	}
	fmt.Fprintf(&b, "measured %.2fs\n\n", r.ElapsedSeconds)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tops\tops/s\tp50\tp90\tp99\tp99.9\tmax\t")
	for _, k := range latencyRows {
		l, ok := r.Latency[k]
		if !ok || (k == "all" && len(r.Latency) == 2) { // one kind only: "all" repeats it
			continue
		}
		rate := 0.0
		if r.ElapsedSeconds > 0 {
			rate = float64(l.Count) / r.ElapsedSeconds
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", k, fmtCount(l.Count), fmtRate(rate),
			fmtLatency(l.P50Micros), fmtLatency(l.P90Micros), fmtLatency(l.P99Micros),
			fmtLatency(l.P999Micros), fmtLatency(l.MaxMicros))
	}
	if len(r.Latency) == 0 {
		fmt.Fprintln(tw, "all\t0\t0\t–\t–\t–\t–\t–\t")
	}
	tw.Flush()
	fmt.Fprintf(&b, "\nerrors: %s", errorLine(r.Errors))
	if r.Misses > 0 {
		fmt.Fprintf(&b, "; reads of missing keys: %s", fmtCount(r.Misses))
	}
	b.WriteString("\n")
	for _, k := range ErrorKinds {
		if m, ok := r.ErrorSamples[k]; ok {
			fmt.Fprintf(&b, "  first %s: %s\n", k, oneLine(m, 200))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// errorLine renders error counts in ErrorKinds order.
func errorLine(errs map[string]int64) string {
	parts := make([]string, len(ErrorKinds))
	for i, k := range ErrorKinds {
		parts[i] = fmt.Sprintf("%s %s", k, fmtCount(errs[k]))
	}
	return strings.Join(parts, ", ")
}

// oneLine folds s onto one line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// WriteJSON writes v (a *Result or a *Comparison) as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
