package cli

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/distkv/distkv/api"
)

func (a *app) newStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the nodes, the coordinator, the namespaces and the shards",
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			cl, err := c.Cluster(ctx)
			if err != nil {
				return &opError{op: "status", err: err}
			}
			if a.json {
				return a.printJSON(cl)
			}
			formatStatus(a.stdout, cl, a.progressFormat())
			return nil
		},
	}
}

// formatStatus writes cl as readable tables: nodes (the coordinator
// marked), namespaces, shards, and active faults if any.
//
// bar draws a move's progress: progressBar on a terminal, a percentage
// otherwise.
func formatStatus(w io.Writer, cl *api.Cluster, bar func(float64) string) {
	fmt.Fprintf(w, "coordinator %s, epoch %d (as seen by %s)\n\n", orDash(cl.Coordinator), cl.Epoch, orDash(cl.Node))

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tMEMBER\tSTATE\tCLIENT\tPEER\tLAST SEEN")
	for _, n := range sortedNodes(cl.Nodes) {
		id := n.ID
		if id == cl.Coordinator {
			id += " *"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", id, orDash(n.Membership), orDash(n.State), orDash(n.ClientAddr), orDash(n.PeerAddr), lastSeen(n))
	}
	tw.Flush()
	fmt.Fprintln(w, "(* coordinator)")

	if len(cl.Namespaces) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "NAMESPACE\tMODE\tREPLICAS\tSHARDS")
		for _, ns := range cl.Namespaces {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", ns.Name, orDash(ns.Mode), orDash(string(ns.Replicas)), ns.Shards)
		}
		tw.Flush()
	}

	if len(cl.Shards) > 0 {
		fmt.Fprintln(w)
		formatShards(w, cl.Shards)
	}

	var reshards []api.Reshard
	for _, ns := range cl.Namespaces {
		if ns.Reshard != nil {
			reshards = append(reshards, *ns.Reshard)
		}
	}
	if len(cl.Moves) > 0 || len(reshards) > 0 {
		fmt.Fprintln(w)
		formatMoves(w, cl.Moves, reshards, bar)
	}

	if len(cl.Faults) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "FAULT\tKIND\tDETAIL")
		for _, f := range cl.Faults {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", f.ID, f.Kind, faultDetail(f))
		}
		tw.Flush()
	}
}

// formatShards writes one row per shard, then a summary line.
func formatShards(w io.Writer, shards []api.Shard) {
	shards = slices.Clone(shards)
	slices.SortFunc(shards, func(x, y api.Shard) int {
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.ID, y.ID))
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tLEADER\tREPLICAS\tKEYS\tTERM\tAPPLIED")
	var leaderless int
	var keys int64
	for _, s := range shards {
		leader := s.Leader
		switch {
		case s.Mode != "" && s.Mode != "strong":
			leader = "-" // leaderless by design
		case leader == "":
			leader = "NONE"
			leaderless++
		}
		k := "?"
		if s.Keys >= 0 {
			k = strconv.FormatInt(s.Keys, 10)
			keys += s.Keys
		}
		fmt.Fprintf(tw, "%s/%d\t%s\t%s\t%s\t%d\t%d\n",
			s.Namespace, s.ID, leader, strings.Join(s.Replicas, ","), k, s.Term, s.Applied)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d shards, %d keys", len(shards), keys)
	if leaderless > 0 {
		fmt.Fprintf(w, ", %d WITHOUT A LEADER", leaderless)
	}
	fmt.Fprintln(w)
}

// sortedNodes orders nodes by ID, n2 before n10.
func sortedNodes(nodes []api.Node) []api.Node {
	nodes = slices.Clone(nodes)
	slices.SortFunc(nodes, func(x, y api.Node) int { return compareIDs(x.ID, y.ID) })
	return nodes
}

// compareIDs orders node IDs shortest first, then lexically: n2 < n10.
func compareIDs(x, y string) int {
	return cmp.Or(cmp.Compare(len(x), len(y)), cmp.Compare(x, y))
}

func lastSeen(n api.Node) string {
	if n.LastSeenMs <= 0 {
		return "-"
	}
	return (time.Duration(n.LastSeenMs) * time.Millisecond).String() + " ago"
}

// faultDetail describes a fault's targets and parameters.
func faultDetail(f api.Fault) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("nodes", strings.Join(f.Nodes, ","))
	var groups []string
	for _, g := range f.Groups {
		groups = append(groups, strings.Join(g, ","))
	}
	add("groups", strings.Join(groups, "|"))
	add("from", f.From)
	add("to", f.To)
	if f.Prob > 0 {
		add("prob", strconv.FormatFloat(f.Prob, 'g', -1, 64))
	}
	add("delay", f.Delay)
	add("jitter", f.Jitter)
	add("until", f.Until)
	add("reported-by", f.Node)
	return orDash(strings.Join(parts, " "))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatMoves writes the replica moves and reshards under way.
func formatMoves(w io.Writer, moves []api.Move, reshards []api.Reshard, bar func(float64) string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(moves) > 0 {
		fmt.Fprintln(tw, "MOVE\tSHARD\tFROM\tTO\tSTEP\tPROGRESS\tWHY")
		for _, mv := range moves {
			fmt.Fprintf(tw, "%d\t%s/%d\t%s\t%s\t%s\t%s\t%s\n", mv.ID, mv.Namespace, mv.Shard,
				orDash(mv.From), orDash(mv.To), orDash(mv.Step), bar(mv.Progress), orDash(mv.Reason))
		}
		tw.Flush()
	}
	if len(reshards) > 0 {
		if len(moves) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(tw, "RESHARD\tSHARDS\tPHASE\tSTEP")
		for _, r := range reshards {
			fmt.Fprintf(tw, "%s\t%d -> %d\t%s\t%s\n", r.Namespace, r.From, r.To, orDash(r.Phase), orDash(r.Step))
		}
		tw.Flush()
	}
}

// progressFormat is how moves' progress is shown: a bar on a terminal,
// a percentage in a pipe.
func (a *app) progressFormat() func(float64) string {
	if isTerminal(a.stdout) {
		return progressBar
	}
	return percent
}

// progressBar draws p (0..1) as a 20-cell bar with its percentage.
func progressBar(p float64) string {
	p = min(max(p, 0), 1)
	full := int(p*20 + 0.5)
	return "[" + strings.Repeat("#", full) + strings.Repeat(".", 20-full) + "] " + percent(p)
}

func percent(p float64) string { return fmt.Sprintf("%3.0f%%", 100*min(max(p, 0), 1)) }
