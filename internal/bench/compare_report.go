package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// compareNote explains the figures of a comparison.
const compareNote = "Each figure is the median of that figure over the runs (throughput and p99 may come from different runs); " +
	"errors add up all runs. \"other CPU\" is the share of the machine's CPU that processes other than the benchmark and " +
	"the store under test used during a run: well above 0%, the figures were disturbed. Ratios are distkv over the peer: throughput above 1× and latency below 1× favour distkv. " +
	"In each cell both stores are deployed fresh, side by side on this machine with the load generator, and their runs " +
	"alternate (distkv, peer, distkv, ...) so that background load weighs on both alike."

// compareHeader is the lines that open a comparison report.
func compareHeader(c *Comparison) []string {
	shape := describeShape(c.Options, modeOf(c.Options))
	return []string{
		fmt.Sprintf("distkv bench compare, started %s", c.Started.Format(time.RFC3339)),
		fmt.Sprintf("machine: %d CPUs; %s", c.Machine.CPUs, c.Machine.Fsync),
		fmt.Sprintf("workloads %s, %d runs each; %s", strings.Join(c.Workloads, ", "), c.Runs, shape),
	}
}

func modeOf(o Options) string {
	if o.Rate > 0 {
		return ModeFixedRate
	}
	return ModeClosedLoop
}

// WriteCompareText writes c as a table: for each cell and workload, the
// median figures of distkv and of the peer, then their ratios.
func WriteCompareText(w io.Writer, c *Comparison) error {
	var b strings.Builder
	for _, l := range compareHeader(c) {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "cell\tworkload\tstore\tops/s\tp50\tp90\tp99\tp99.9\terrors\tother CPU\t")
	for _, cell := range c.Cells {
		for _, w := range cell.workloadsOf(c) {
			d, p := findRuns(cell.Distkv, w), findRuns(cell.Peer, w)
			fmt.Fprintf(tw, "%s\t%s\t%s\n", cell.Name, w, figuresCells(cell.Distkv.System, d))
			fmt.Fprintf(tw, "\t\t%s\n", figuresCells(cell.Peer.System, p))
			if r, ok := cell.Ratios[w]; ok {
				fmt.Fprintf(tw, "\t\tdistkv/%s\t%s\t%s\t\t%s\t\t\t\t\n", cell.Peer.System, fmtRatio(r.Throughput), fmtRatio(r.P50), fmtRatio(r.P99))
			}
		}
	}
	tw.Flush()
	b.WriteString("\nstores:\n")
	for _, cell := range c.Cells {
		fmt.Fprintf(&b, "  %s: %s\n", cell.Name, cell.Title)
		for _, s := range []SideResult{cell.Distkv, cell.Peer} {
			fmt.Fprintf(&b, "    %s: %s\n", s.System, sideStatus(s))
		}
		if l := protocolLine(cell); l != "" {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	b.WriteString("\n" + compareNote + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// sideStatus describes a side: what ran, its load, why it was skipped.
func sideStatus(s SideResult) string {
	parts := []string{}
	if s.Desc != "" {
		parts = append(parts, s.Desc)
	}
	if s.Load != nil {
		parts = append(parts, fmt.Sprintf("loaded %s keys at %s ops/s", fmtCount(s.Load.Ops), fmtRate(s.Load.OpsPerSec)))
	}
	if s.HashLoad != nil {
		parts = append(parts, fmt.Sprintf("loaded %s records of %d fields at %s ops/s", fmtCount(s.HashLoad.Ops), RecordFields, fmtRate(s.HashLoad.OpsPerSec)))
	}
	if s.Skipped != "" {
		parts = append(parts, "SKIPPED: "+s.Skipped)
	}
	return strings.Join(parts, "; ")
}

// workloadsOf returns the workloads cell ran of c's (c's own, for a
// comparison recorded before cells listed theirs).
func (cell *CellResult) workloadsOf(c *Comparison) []string {
	if cell.Workloads != nil {
		return cell.Workloads
	}
	return c.Workloads
}

// findRuns returns the side's runs of workload w, or nil.
func findRuns(s SideResult, w string) *WorkloadRuns {
	for _, wr := range s.Workloads {
		if wr.Workload == w {
			return wr
		}
	}
	return nil
}

// figuresCells renders a store's median figures as tab-separated cells.
func figuresCells(system string, wr *WorkloadRuns) string {
	if wr == nil || wr.Median.Runs == 0 {
		return system + "\t–\t–\t–\t–\t–\t–\t–\t"
	}
	f := wr.Median
	return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t", system, fmtRate(f.OpsPerSec), fmtLatency(f.P50Micros),
		fmtLatency(f.P90Micros), fmtLatency(f.P99Micros), fmtLatency(f.P999Micros), fmtCount(f.Errors), fmtShare(f.ForeignCPU))
}

// WriteCompareHTML writes c as a self-contained HTML report: the table,
// then for each cell and workload the throughput and latency over time of
// distkv's and the peer's median runs, as inline SVG.
func WriteCompareHTML(w io.Writer, c *Comparison) error {
	var b strings.Builder
	b.WriteString("<h1>distkv bench compare</h1>\n")
	for _, l := range compareHeader(c)[1:] {
		fmt.Fprintf(&b, "<p class=\"note\">%s</p>\n", esc(l))
	}
	fmt.Fprintf(&b, "<p class=\"note\">Started %s.</p>\n", esc(c.Started.Format(time.RFC3339)))
	b.WriteString("<table class=\"cmp\"><tr><th>cell</th><th>workload</th><th>store</th><th>ops/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>errors</th><th>other CPU</th></tr>\n")
	for _, cell := range c.Cells {
		for _, wl := range cell.workloadsOf(c) {
			for i, s := range []SideResult{cell.Distkv, cell.Peer} {
				name, work := "", ""
				if i == 0 {
					name, work = cell.Name, wl
				}
				fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td>%s</tr>\n", esc(name), esc(work), figuresHTML(s.System, findRuns(s, wl)))
			}
			if r, ok := cell.Ratios[wl]; ok {
				fmt.Fprintf(&b, "<tr><td></td><td></td><td><b>distkv/%s</b></td><td><b>%s</b></td><td><b>%s</b></td><td></td><td><b>%s</b></td><td></td><td></td><td></td></tr>\n",
					esc(cell.Peer.System), esc(fmtRatio(r.Throughput)), esc(fmtRatio(r.P50)), esc(fmtRatio(r.P99)))
			}
		}
	}
	b.WriteString("</table>\n")
	fmt.Fprintf(&b, "<p class=\"note\">%s</p>\n", esc(compareNote))
	for _, cell := range c.Cells {
		fmt.Fprintf(&b, "<h2>%s: %s</h2>\n", esc(cell.Name), esc(cell.Title))
		for _, s := range []SideResult{cell.Distkv, cell.Peer} {
			fmt.Fprintf(&b, "<p class=\"note\">%s: %s</p>\n", esc(s.System), esc(sideStatus(s)))
		}
		if l := protocolLine(cell); l != "" {
			fmt.Fprintf(&b, "<p class=\"note\">%s</p>\n", esc(l))
		}
		for _, wl := range cell.workloadsOf(c) {
			var runs []namedSeries
			for _, s := range []SideResult{cell.Distkv, cell.Peer} {
				if wr := findRuns(s, wl); wr != nil && len(wr.Runs) > 0 {
					runs = append(runs, namedSeries{Name: s.System + " ", Points: medianRun(wr.Runs).Series})
				}
			}
			if len(runs) == 0 {
				continue
			}
			title := fmt.Sprintf("%s, workload %s (median run of each store)", cell.Name, wl)
			b.WriteString(throughputChart("Throughput: "+title, runs).svg() + "\n")
			b.WriteString(latencyChart("Latency: "+title, runs).svg() + "\n")
		}
	}
	return page(w, "distkv bench compare", b.String())
}

// figuresHTML renders a store's median figures as table cells.
func figuresHTML(system string, wr *WorkloadRuns) string {
	cells := strings.Split(strings.TrimSuffix(figuresCells(system, wr), "\t"), "\t")
	var b strings.Builder
	for _, c := range cells {
		fmt.Fprintf(&b, "<td>%s</td>", esc(c))
	}
	return b.String()
}
