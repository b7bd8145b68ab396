// Package rebalance decides, from a shard map and what the coordinator
// observes of the nodes, the next changes that bring the cluster to its
// intended shape: members' state changes, the metadata group's voters,
// replica moves and leadership transfers. It is pure: it changes nothing,
// and the same input always gives the same plan.
package rebalance

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
)

// NodeView is what the coordinator observes of one member.
type NodeView struct {
	// Alive: the failure detector hears the node now.
	Alive bool
	// SilentFor is how long the node has been silent (0 if alive).
	SilentFor time.Duration
	// MetaCaughtUp: the node's replica of the metadata group has the
	// leader's log (a joining node is ready to become active).
	MetaCaughtUp bool
}

// Options bound a plan.
type Options struct {
	// MaxMoves bounds the moves under way at once, those already running
	// included. Default 4.
	MaxMoves int
	// MaxMovesPerNode bounds the moves any one node takes part in (as
	// source or target). Default 2.
	MaxMovesPerNode int
	// MaxTransfers bounds the leadership transfers in one plan. Default 4.
	MaxTransfers int
	// DeadTimeout is how long an active member may be silent before it is
	// declared dead and its replicas are re-created elsewhere; 0 never.
	DeadTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.MaxMoves <= 0 {
		o.MaxMoves = 4
	}
	if o.MaxMovesPerNode <= 0 {
		o.MaxMovesPerNode = 2
	}
	if o.MaxTransfers <= 0 {
		o.MaxTransfers = 4
	}
}

// Input is everything a plan depends on.
type Input struct {
	Map   *membership.Map
	Nodes map[keyspace.NodeID]NodeView
	// Leaders are the current leaders of strong shard groups (unknown
	// ones are absent).
	Leaders map[keyspace.GroupID]keyspace.NodeID
	Options Options
}

// StateChange is a member's next state.
type StateChange struct {
	Node   keyspace.NodeID
	State  membership.MemberState
	Reason string
}

// Transfer is a leadership transfer of one strong shard.
type Transfer struct {
	Namespace string
	Shard     int
	Group     keyspace.GroupID
	From, To  keyspace.NodeID
	Reason    string
}

// Plan is the next set of changes. Each is independent of the others;
// the coordinator carries out what it can and plans again.
type Plan struct {
	States []StateChange
	// MetaVoters is the metadata group's intended voters when they differ
	// from the map's (nil otherwise). The coordinator gets there one
	// change at a time, adding before removing.
	MetaVoters []keyspace.NodeID
	Moves      []membership.Move
	Transfers  []Transfer
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.States) == 0 && p.MetaVoters == nil && len(p.Moves) == 0 && len(p.Transfers) == 0
}

// Make plans the next changes for in.
func Make(in Input) Plan {
	in.Options.setDefaults()
	var p Plan
	p.States = states(in)
	p.MetaVoters = metaVoters(in)
	p.Moves = moves(in)
	if len(in.Map.Moves) == 0 && len(p.Moves) == 0 {
		p.Transfers = transfers(in)
	} else {
		p.Transfers = evacuations(in)
	}
	return p
}

func (in Input) alive(id keyspace.NodeID) bool { return in.Nodes[id].Alive }

// states decides members' state changes: a joining node that has caught
// up becomes active; an active one silent past the timeout is declared
// dead, and a dead one that speaks again is active; a draining one that
// holds nothing any more is removed.
func states(in Input) []StateChange {
	var out []StateChange
	for _, mb := range in.Map.Members {
		v := in.Nodes[mb.ID]
		switch mb.State {
		case membership.MemberJoining:
			if v.Alive && v.MetaCaughtUp {
				out = append(out, StateChange{mb.ID, membership.MemberActive, "caught up with the metadata group"})
			}
		case membership.MemberActive:
			if !v.Alive && in.Options.DeadTimeout > 0 && v.SilentFor >= in.Options.DeadTimeout {
				out = append(out, StateChange{mb.ID, membership.MemberDead, fmt.Sprintf("silent for %v", v.SilentFor.Round(time.Second))})
			}
		case membership.MemberDead:
			if v.Alive {
				out = append(out, StateChange{mb.ID, membership.MemberActive, "alive again"})
			}
		case membership.MemberDraining:
			if len(in.Map.ShardsOn(mb.ID)) == 0 && !slices.Contains(in.Map.MetaVoters, mb.ID) {
				out = append(out, StateChange{mb.ID, membership.MemberRemoved, "drained"})
			}
		}
	}
	return out
}

// metaVoters keeps the metadata group at MaxMetaVoters voters (or every
// eligible member, if fewer): current voters stay while they are active,
// and the lowest-numbered active members fill the gaps, live ones first.
func metaVoters(in Input) []keyspace.NodeID {
	m := in.Map
	eligible := func(id keyspace.NodeID) bool {
		mb, ok := m.Member(id)
		return ok && mb.State == membership.MemberActive
	}
	var want []keyspace.NodeID
	for _, v := range m.MetaVoters {
		if eligible(v) {
			want = append(want, v)
		}
	}
	for _, liveFirst := range []bool{true, false} {
		for _, mb := range m.Members {
			if len(want) >= membership.MaxMetaVoters {
				break
			}
			if eligible(mb.ID) && in.alive(mb.ID) == liveFirst && !slices.Contains(want, mb.ID) {
				want = append(want, mb.ID)
			}
		}
	}
	if len(want) == 0 {
		return nil // nobody eligible: keep what there is
	}
	slices.Sort(want)
	if slices.Equal(want, m.MetaVoters) {
		return nil
	}
	return want
}

// candidate is one possible move with its priority.
type candidate struct {
	mv       membership.Move
	priority int // lower first: 0 restores a replica on a lost node, 1 changes the replica count, 2 balances
}

// moves plans replica moves toward each namespace's placement on the ring
// of active members, most urgent first, within the concurrency bounds,
// and only where the shard keeps a live quorum throughout.
func moves(in Input) []membership.Move {
	m := in.Map
	busy := map[keyspace.NodeID]int{}
	for _, mv := range m.Moves {
		busy[mv.From]++
		busy[mv.To]++
	}
	ring := m.Ring()
	var cands []candidate
	for _, ns := range m.Namespaces {
		if ns.Reshard != nil || ring.Len() == 0 {
			continue
		}
		target := keyspace.Place(ring, ns.Namespace)
		for s, cur := range ns.Placement {
			if _, moving := m.MoveFor(ns.Shard(s).Group); moving {
				continue
			}
			if c, ok := shardMove(in, ns, s, cur, target[s]); ok {
				cands = append(cands, c)
			}
		}
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return cmp.Compare(a.priority, b.priority) })
	var out []membership.Move
	inFlight := len(m.Moves)
	for _, c := range cands {
		if inFlight >= in.Options.MaxMoves {
			break
		}
		if (c.mv.From != 0 && busy[c.mv.From] >= in.Options.MaxMovesPerNode) || (c.mv.To != 0 && busy[c.mv.To] >= in.Options.MaxMovesPerNode) {
			continue
		}
		busy[c.mv.From]++
		busy[c.mv.To]++
		inFlight++
		out = append(out, c.mv)
	}
	return out
}

// shardMove picks the next move of shard s from cur toward target.
func shardMove(in Input, ns *membership.NamespaceMap, s int, cur, target []keyspace.NodeID) (candidate, bool) {
	lost := func(id keyspace.NodeID) bool {
		mb, ok := in.Map.Member(id)
		return !ok || mb.State != membership.MemberActive
	}
	var removes, adds []keyspace.NodeID
	for _, id := range cur {
		if !slices.Contains(target, id) {
			removes = append(removes, id)
		}
	}
	for _, id := range target {
		if !slices.Contains(cur, id) && in.alive(id) {
			adds = append(adds, id)
		}
	}
	if ns.Pinned != "" {
		// A pinned shard keeps its group's nodes while they are members,
		// dead ones included: they are its only places, and may return.
		removes = slices.DeleteFunc(removes, func(id keyspace.NodeID) bool { return pinnedStays(in.Map, ns, s, id) })
	}
	// Replicas on lost nodes (dead, draining) go first.
	slices.SortStableFunc(removes, func(a, b keyspace.NodeID) int {
		return cmp.Compare(b2i(!lost(a)), b2i(!lost(b)))
	})
	mv := membership.Move{Namespace: ns.Name, Shard: s}
	c := candidate{priority: 2}
	switch {
	case len(removes) > 0 && len(adds) > 0:
		mv.From, mv.To = removes[0], adds[0]
		mv.Reason = "rebalance"
		if lost(mv.From) {
			c.priority, mv.Reason = 0, "replace "+mv.From.String()+" ("+state(in.Map, mv.From)+")"
		}
	case len(adds) > 0:
		mv.To, mv.Reason, c.priority = adds[0], fmt.Sprintf("replicas %d->%d", len(cur), len(cur)+1), 1
	case len(removes) > 0 && ns.Pinned != "":
		// Without an add, a pinned shard drops a replica only while one of
		// its live pinned nodes keeps the data.
		if !slices.ContainsFunc(cur, func(id keyspace.NodeID) bool { return id != removes[0] && slices.Contains(target, id) }) {
			return c, false
		}
		mv.From, mv.Reason, c.priority = removes[0], fmt.Sprintf("unpinned from shard %d", s), 1
	case len(removes) > 0 && len(cur) > len(target) && len(cur) > wantReplicas(in.Map, ns):
		mv.From, mv.Reason, c.priority = removes[0], fmt.Sprintf("replicas %d->%d", len(cur), len(cur)-1), 1
		if lost(mv.From) {
			c.priority = 0
		}
	default:
		return c, false
	}
	if ns.Mode == keyspace.ModeStrong && !keepsQuorum(in, cur, mv) {
		return c, false
	}
	c.mv = mv
	return c, true
}

// keepsQuorum reports whether a strong shard with replicas cur keeps a
// live majority in every configuration mv passes through: the current one
// (while the new replica catches up as a learner) and the final one.
func keepsQuorum(in Input, cur []keyspace.NodeID, mv membership.Move) bool {
	live := func(set []keyspace.NodeID) int {
		n := 0
		for _, id := range set {
			if in.alive(id) {
				n++
			}
		}
		return n
	}
	final := slices.DeleteFunc(slices.Clone(cur), func(id keyspace.NodeID) bool { return id == mv.From })
	if mv.To != 0 {
		final = append(final, mv.To)
	}
	return len(final) > 0 && live(cur) > len(cur)/2 && live(final) > len(final)/2
}

// wantReplicas is how many replicas each shard of ns should have: its
// replication factor (every active member for "all"). When fewer nodes are
// active than the factor, replicas on lost nodes are kept rather than
// dropped: the shard cannot have its factor anyway, and they may return.
func wantReplicas(m *membership.Map, ns *membership.NamespaceMap) int {
	if ns.Replicas.All {
		return len(m.Placeable())
	}
	return ns.Replicas.N
}

// pinnedStays reports whether node id belongs in shard s of pinned
// namespace ns: it is in the shard's group and still a member that may
// hold replicas (active, or dead and perhaps coming back).
func pinnedStays(m *membership.Map, ns *membership.NamespaceMap, s int, id keyspace.NodeID) bool {
	if g, ok := ns.Pinned.ShardOf(id); !ok || g != s {
		return false
	}
	mb, ok := m.Member(id)
	return ok && (mb.State == membership.MemberActive || mb.State == membership.MemberDead)
}

func state(m *membership.Map, id keyspace.NodeID) string {
	mb, _ := m.Member(id)
	return mb.State.String()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
