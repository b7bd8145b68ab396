package bench

import (
	"fmt"
	"strings"
)

// A cell with RESP3 runs each of its workloads twice over the Redis
// protocol: over RESP2, as every Redis cell does, and over RESP3 (each
// connection of both sides opens with HELLO 3). The RESP3 runs carry the
// label "w@resp3" where the workload's name would be, in the results and
// the reports; a workload's two protocols run interleaved on the same
// deployments (w, w@resp3, w, w@resp3, ... each alternating the stores),
// so they meet the same background load and the same data.

// resp3Suffix ends the label of a workload's runs over RESP3.
const resp3Suffix = "@resp3"

// parseLabel splits a run label into its workload and the RESP version
// it asks for (0: the target's default).
func parseLabel(label string) (workload string, protocol int) {
	if w, ok := strings.CutSuffix(label, resp3Suffix); ok {
		return w, 3
	}
	return label, 0
}

// labelGroups groups a cell's run labels by workload, in order, so each
// workload's protocols run interleaved.
func labelGroups(labels []string) [][]string {
	var groups [][]string
	index := map[string]int{}
	for _, l := range labels {
		w, _ := parseLabel(l)
		i, ok := index[w]
		if !ok {
			i = len(groups)
			index[w] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], l)
	}
	return groups
}

// ProtocolRatios compare a workload's RESP3 runs with its RESP2 runs on
// each side of a cell: RESP3's figures over RESP2's (throughput near 1×
// and latency near 1× mean the protocols cost the same).
type ProtocolRatios struct {
	Distkv Ratios `json:"distkv"`
	Peer   Ratios `json:"peer"`
}

// resp3Ratios computes, for each workload that ran over both protocols
// on a side, RESP3 over RESP2 (a side that lacks either has zero Ratios).
func resp3Ratios(cr *CellResult) map[string]ProtocolRatios {
	out := map[string]ProtocolRatios{}
	for _, l := range cr.Workloads {
		w, proto := parseLabel(l)
		if proto != 3 {
			continue
		}
		var pr ProtocolRatios
		for _, side := range []struct {
			s   SideResult
			dst *Ratios
		}{{cr.Distkv, &pr.Distkv}, {cr.Peer, &pr.Peer}} {
			r2, r3 := findRuns(side.s, w), findRuns(side.s, l)
			if r2 != nil && r3 != nil && r2.Median.Runs > 0 && r3.Median.Runs > 0 {
				*side.dst = ratios(r3.Median, r2.Median)
			}
		}
		out[w] = pr
	}
	return out
}

// protocolLine describes a cell's RESP3/RESP2 ratios for the reports,
// or "" for a cell that ran one protocol.
func protocolLine(cell *CellResult) string {
	if len(cell.RESP3) == 0 {
		return ""
	}
	var parts []string
	for _, l := range cell.Workloads {
		w, proto := parseLabel(l)
		pr, ok := cell.RESP3[w]
		if proto != 3 || !ok {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: distkv %s, %s %s", w, fmtRatio(pr.Distkv.Throughput),
			cell.Peer.System, fmtRatio(pr.Peer.Throughput)))
	}
	return "RESP3/RESP2 throughput, " + strings.Join(parts, "; ")
}
