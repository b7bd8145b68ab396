package rebalance

import (
	"cmp"
	"slices"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
)

// led is one strong shard with a known leader.
type led struct {
	ns     *membership.NamespaceMap
	shard  int
	group  keyspace.GroupID
	leader keyspace.NodeID
}

// ledShards lists the strong shards with a known leader and no move under
// way, in namespace and shard order.
func ledShards(in Input) []led {
	var out []led
	for _, ns := range in.Map.Namespaces {
		if ns.Mode != keyspace.ModeStrong || ns.Reshard != nil {
			continue
		}
		for s := range ns.Placement {
			g := ns.Shard(s).Group
			if _, moving := in.Map.MoveFor(g); moving {
				continue
			}
			if l, ok := in.Leaders[g]; ok && l != 0 {
				out = append(out, led{ns, s, g, l})
			}
		}
	}
	return out
}

// canLead reports whether id may be handed leaderships: an active member
// the detector hears.
func (in Input) canLead(id keyspace.NodeID) bool {
	mb, ok := in.Map.Member(id)
	return ok && mb.State == membership.MemberActive && in.alive(id)
}

// leaderCounts counts the leaderships of every node that can lead.
func leaderCounts(in Input, shards []led) map[keyspace.NodeID]int {
	counts := map[keyspace.NodeID]int{}
	for _, id := range in.Map.Placeable() {
		if in.canLead(id) {
			counts[id] = 0
		}
	}
	for _, l := range shards {
		if _, ok := counts[l.leader]; ok {
			counts[l.leader]++
		}
	}
	return counts
}

// fewest returns the replica of l (other than its leader) that can lead
// and has the fewest leaderships, lowest ID on ties; 0 if none.
func fewest(in Input, l led, counts map[keyspace.NodeID]int) keyspace.NodeID {
	var best keyspace.NodeID
	for _, id := range l.ns.Placement[l.shard] {
		if id == l.leader || !in.canLead(id) {
			continue
		}
		if best == 0 || counts[id] < counts[best] || (counts[id] == counts[best] && id < best) {
			best = id
		}
	}
	return best
}

// evacuations moves leaderships off members that are leaving (draining),
// whatever else is going on.
func evacuations(in Input) []Transfer {
	shards := ledShards(in)
	counts := leaderCounts(in, shards)
	var out []Transfer
	for _, l := range shards {
		if len(out) >= in.Options.MaxTransfers {
			break
		}
		if mb, ok := in.Map.Member(l.leader); ok && mb.State == membership.MemberActive {
			continue
		}
		if to := fewest(in, l, counts); to != 0 {
			out = append(out, Transfer{l.ns.Name, l.shard, l.group, l.leader, to, "leader on " + state(in.Map, l.leader) + " node"})
			counts[to]++
		}
	}
	return out
}

// transfers spreads leaderships: after evacuating leaving members, it
// repeatedly hands one leadership from the node with the most to the
// replica of that shard with the fewest, while that narrows the gap by
// more than one. Each node can only lead shards it holds, so the result
// is as even as the placement allows, not necessarily perfectly even.
func transfers(in Input) []Transfer {
	out := evacuations(in)
	shards := ledShards(in)
	counts := leaderCounts(in, shards)
	for _, t := range out {
		counts[t.To]++
		for i := range shards {
			if shards[i].group == t.Group {
				shards[i].leader = t.To
			}
		}
	}
	for len(out) < in.Options.MaxTransfers {
		t, ok := bestTransfer(in, shards, counts)
		if !ok {
			break
		}
		out = append(out, t)
		counts[t.From]--
		counts[t.To]++
		for i := range shards {
			if shards[i].group == t.Group {
				shards[i].leader = t.To
			}
		}
	}
	return out
}

// bestTransfer finds one leadership to move from the busiest node (lowest
// ID on ties) to a replica of the shard holding at least two fewer.
func bestTransfer(in Input, shards []led, counts map[keyspace.NodeID]int) (Transfer, bool) {
	nodes := make([]keyspace.NodeID, 0, len(counts))
	for id := range counts {
		nodes = append(nodes, id)
	}
	slices.SortFunc(nodes, func(a, b keyspace.NodeID) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	for _, from := range nodes {
		var best Transfer
		bestCount := -1
		for _, l := range shards {
			if l.leader != from {
				continue
			}
			to := fewest(in, l, counts)
			if to == 0 || counts[to] >= counts[from]-1 {
				continue
			}
			if bestCount < 0 || counts[to] < bestCount {
				best, bestCount = Transfer{l.ns.Name, l.shard, l.group, from, to, "spread leaders"}, counts[to]
			}
		}
		if bestCount >= 0 {
			return best, true
		}
	}
	return Transfer{}, false
}
