package rebalance

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
)

// The transcripts in testdata drive a shard map through the planner.
//
//	cluster nodes=3 shards=8 [replicas=3] [mode=strong]   bootstrap n1..nN
//	ns name=x shards=4 [replicas=3] [mode=eventual]       create a namespace
//	join n4                                               admit a joining node
//	caughtup n4                                           its metadata replica caught up
//	down n2 for=6m / up n2                                failure detector's view
//	remove n2                                             start draining n2
//	replicas ns=default n=5|all                           change a replication factor
//	leaders auto | leaders default/0=n2 ...               current shard leaders
//	plan [max-moves=4] [per-node=2] [dead-timeout=5m]     print the next plan
//	apply [...]                                           plan, then carry it out at once
//	converge [...] [rounds=30]                            apply until the plan is empty
//	loads                                                 replicas and leaders per node
type harness struct {
	m       *membership.Map
	nodes   map[keyspace.NodeID]NodeView
	leaders map[keyspace.GroupID]keyspace.NodeID
}

func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		h := &harness{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return h.run(t, d)
		})
	})
}

func (h *harness) run(t *testing.T, d *datadriven.TestData) string {
	switch d.Cmd {
	case "cluster":
		return h.cluster(t, d)
	case "ns":
		return h.namespace(t, d)
	case "join":
		for _, a := range d.CmdArgs {
			id := nodeArg(t, d, a.Key)
			h.must(t, d, membership.Command{Op: membership.OpAddMember, Member: &membership.Member{ID: id, PeerAddr: "addr-" + a.Key}})
			h.nodes[id] = NodeView{Alive: true}
		}
		return h.members()
	case "caughtup":
		for _, a := range d.CmdArgs {
			v := h.nodes[nodeArg(t, d, a.Key)]
			v.MetaCaughtUp = true
			h.nodes[nodeArg(t, d, a.Key)] = v
		}
		return "ok"
	case "down", "up":
		var silent time.Duration
		if d.HasArg("for") {
			var s string
			d.ScanArgs(t, "for", &s)
			var err error
			if silent, err = time.ParseDuration(s); err != nil {
				d.Fatalf(t, "%v", err)
			}
		}
		id := nodeArg(t, d, d.CmdArgs[0].Key)
		h.nodes[id] = NodeView{Alive: d.Cmd == "up", SilentFor: silent, MetaCaughtUp: true}
		return "ok"
	case "remove":
		res := membership.Command{Op: membership.OpRemoveMember, Node: nodeArg(t, d, d.CmdArgs[0].Key)}.Apply(h.m)
		if res.Err != nil {
			return "error: " + res.Err.Error()
		}
		h.m = res.Map
		return h.members()
	case "replicas":
		var ns, n string
		d.ScanArgs(t, "ns", &ns)
		d.ScanArgs(t, "n", &n)
		r, err := keyspace.ParseReplication(n)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		res := membership.Command{Op: membership.OpSetReplicas, NS: ns, Replicas: &r}.Apply(h.m)
		if res.Err != nil {
			return "error: " + res.Err.Error()
		}
		h.m = res.Map
		return "ok"
	case "leaders":
		return h.setLeaders(t, d)
	case "plan":
		return describe(Make(h.input(t, d)))
	case "apply":
		p := Make(h.input(t, d))
		h.apply(t, d, p)
		return describe(p) + "\n" + h.loads()
	case "converge":
		return h.converge(t, d)
	case "loads":
		return h.loads()
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

func nodeArg(t *testing.T, d *datadriven.TestData, s string) keyspace.NodeID {
	id, err := keyspace.ParseNodeID(s)
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	return id
}

func (h *harness) must(t *testing.T, d *datadriven.TestData, c membership.Command) membership.Result {
	res := c.Apply(h.m)
	if res.Err != nil {
		d.Fatalf(t, "%s: %v", c.Op, res.Err)
	}
	h.m = res.Map
	return res
}

func nsArgs(t *testing.T, d *datadriven.TestData) keyspace.Namespace {
	ns := keyspace.Namespace{Mode: keyspace.ModeStrong, Replicas: keyspace.Replication{N: 3}, Shards: 8}
	d.MaybeScanArgs(t, "shards", &ns.Shards)
	var reps, mode string
	if d.MaybeScanArgs(t, "replicas", &reps) {
		r, err := keyspace.ParseReplication(reps)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		ns.Replicas = r
	}
	if d.MaybeScanArgs(t, "mode", &mode) {
		m, err := keyspace.ParseMode(mode)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		ns.Mode = m
	}
	return ns
}

func (h *harness) cluster(t *testing.T, d *datadriven.TestData) string {
	var n int
	d.ScanArgs(t, "nodes", &n)
	var members []membership.Member
	h.nodes = map[keyspace.NodeID]NodeView{}
	h.leaders = map[keyspace.GroupID]keyspace.NodeID{}
	for i := 1; i <= n; i++ {
		id := keyspace.NodeID(i)
		members = append(members, membership.Member{ID: id, PeerAddr: fmt.Sprintf("addr-%d", i)})
		h.nodes[id] = NodeView{Alive: true, MetaCaughtUp: true}
	}
	m, err := membership.Bootstrap(members, nsArgs(t, d))
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	h.m = m
	return h.loads()
}

func (h *harness) namespace(t *testing.T, d *datadriven.TestData) string {
	ns := nsArgs(t, d)
	d.ScanArgs(t, "name", &ns.Name)
	h.must(t, d, membership.Command{Op: membership.OpCreateNamespace, Namespace: &ns})
	return h.loads()
}

func (h *harness) setLeaders(t *testing.T, d *datadriven.TestData) string {
	h.leaders = map[keyspace.GroupID]keyspace.NodeID{}
	if len(d.CmdArgs) == 1 && d.CmdArgs[0].Key == "auto" {
		for _, ns := range h.m.Namespaces {
			for s := range ns.Placement {
				h.leaders[ns.Shard(s).Group] = ns.Placement[s][0]
			}
		}
		return h.loads()
	}
	for _, a := range d.CmdArgs {
		name, shard, ok := strings.Cut(a.Key, "/")
		var s int
		if _, err := fmt.Sscan(shard, &s); !ok || err != nil || len(a.Vals) != 1 {
			d.Fatalf(t, "leaders: %q is not ns/shard=node", a.Key)
		}
		h.leaders[h.m.Namespace(name).Shard(s).Group] = nodeArg(t, d, a.Vals[0])
	}
	return h.loads()
}

func (h *harness) input(t *testing.T, d *datadriven.TestData) Input {
	in := Input{Map: h.m, Nodes: h.nodes, Leaders: h.leaders}
	d.MaybeScanArgs(t, "max-moves", &in.Options.MaxMoves)
	d.MaybeScanArgs(t, "per-node", &in.Options.MaxMovesPerNode)
	var dt string
	if d.MaybeScanArgs(t, "dead-timeout", &dt) {
		v, err := time.ParseDuration(dt)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		in.Options.DeadTimeout = v
	}
	return in
}

// apply carries a plan out as if every step succeeded at once: states and
// voters are recorded, moves start and complete, leaderships move.
func (h *harness) apply(t *testing.T, d *datadriven.TestData, p Plan) {
	for _, sc := range p.States {
		h.must(t, d, membership.Command{Op: membership.OpMemberState, Node: sc.Node, State: sc.State})
	}
	if p.MetaVoters != nil {
		h.must(t, d, membership.Command{Op: membership.OpMetaVoters, Voters: p.MetaVoters})
	}
	for _, mv := range p.Moves {
		res := h.must(t, d, membership.Command{Op: membership.OpStartMove, Move: &mv})
		g := res.Move.Group
		h.must(t, d, membership.Command{Op: membership.OpEndMove, MoveID: res.Move.ID, Completed: true})
		if h.leaders[g] == mv.From {
			h.leaders[g] = mv.To // the driver hands leadership to the arriving replica
			if mv.To == 0 {
				delete(h.leaders, g)
			}
		}
	}
	for _, tr := range p.Transfers {
		h.leaders[tr.Group] = tr.To
	}
	// Shards that lost their leader elect one: the first replica.
	for _, ns := range h.m.Namespaces {
		for s := range ns.Placement {
			g := ns.Shard(s).Group
			if l, ok := h.leaders[g]; len(h.leaders) > 0 && (!ok || !slices.Contains(ns.Placement[s], l) || !h.nodes[l].Alive) {
				h.leaders[g] = ns.Placement[s][0]
				for _, r := range ns.Placement[s] {
					if h.nodes[r].Alive {
						h.leaders[g] = r
						break
					}
				}
			}
		}
	}
}

func (h *harness) converge(t *testing.T, d *datadriven.TestData) string {
	rounds := 30
	d.MaybeScanArgs(t, "rounds", &rounds)
	moves, transfers := 0, 0
	for i := 1; i <= rounds; i++ {
		p := Make(h.input(t, d))
		if p.Empty() {
			return fmt.Sprintf("converged after %d rounds: %d moves, %d transfers\n%s\n%s", i-1, moves, transfers, h.loads(), h.balance())
		}
		moves += len(p.Moves)
		transfers += len(p.Transfers)
		h.apply(t, d, p)
	}
	return fmt.Sprintf("not converged after %d rounds (%d moves, %d transfers)\n%s", rounds, moves, transfers, h.loads())
}

// balance checks every namespace's replica counts against ±25% of the
// mean over active members.
func (h *harness) balance() string {
	var b strings.Builder
	active := h.m.Placeable()
	for _, ns := range h.m.Namespaces {
		count := map[keyspace.NodeID]int{}
		total := 0
		for _, reps := range ns.Placement {
			for _, id := range reps {
				count[id]++
				total++
			}
		}
		mean := float64(total) / float64(len(active))
		ok := true
		for _, id := range active {
			if c := float64(count[id]); c < 0.75*mean-1 || c > 1.25*mean+1 {
				ok = false
			}
		}
		fmt.Fprintf(&b, "%s: mean %.2f, within ±25%%: %v\n", ns.Name, mean, ok)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (h *harness) members() string {
	var parts []string
	for _, mb := range h.m.Members {
		parts = append(parts, fmt.Sprintf("%s:%s", mb.ID, mb.State))
	}
	return strings.Join(parts, " ") + " voters=" + ids(h.m.MetaVoters)
}

func (h *harness) loads() string {
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d; %s\n", h.m.Epoch, h.members())
	for _, ns := range h.m.Namespaces {
		reps, leads := map[keyspace.NodeID]int{}, map[keyspace.NodeID]int{}
		for s, r := range ns.Placement {
			for _, id := range r {
				reps[id]++
			}
			if l, ok := h.leaders[ns.Shard(s).Group]; ok {
				leads[l]++
			}
		}
		fmt.Fprintf(&b, "%s (%s, %s replicas, %d shards):", ns.Name, ns.Mode, ns.Replicas, ns.Shards)
		for _, mb := range h.m.Members {
			if mb.State == membership.MemberRemoved {
				continue
			}
			fmt.Fprintf(&b, " %s=%d", mb.ID, reps[mb.ID])
			if len(h.leaders) > 0 {
				fmt.Fprintf(&b, "/%d", leads[mb.ID])
			}
		}
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func describe(p Plan) string {
	if p.Empty() {
		return "nothing to do"
	}
	var lines []string
	for _, s := range p.States {
		lines = append(lines, fmt.Sprintf("state %s -> %s (%s)", s.Node, s.State, s.Reason))
	}
	if p.MetaVoters != nil {
		lines = append(lines, "meta voters "+ids(p.MetaVoters))
	}
	for _, mv := range p.Moves {
		lines = append(lines, fmt.Sprintf("move %s (%s)", mv, mv.Reason))
	}
	for _, tr := range p.Transfers {
		lines = append(lines, fmt.Sprintf("transfer %s/%d %s->%s (%s)", tr.Namespace, tr.Shard, tr.From, tr.To, tr.Reason))
	}
	return strings.Join(lines, "\n")
}

func ids(ns []keyspace.NodeID) string {
	s := make([]string, len(ns))
	for i, id := range ns {
		s[i] = id.String()
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}
