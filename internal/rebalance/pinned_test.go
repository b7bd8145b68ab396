package rebalance

import (
	"fmt"
	"slices"
	"testing"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
)

// pinnedCluster is n nodes whose default namespace is causal with its
// shards pinned (seed 004's shards).
func pinnedCluster(t *testing.T, n int, pin string) (*membership.Map, map[keyspace.NodeID]NodeView) {
	t.Helper()
	var ms []membership.Member
	nodes := map[keyspace.NodeID]NodeView{}
	for i := 1; i <= n; i++ {
		id := keyspace.NodeID(i)
		ms = append(ms, membership.Member{ID: id, PeerAddr: fmt.Sprintf("addr-%d", i)})
		nodes[id] = NodeView{Alive: true, MetaCaughtUp: true}
	}
	p := keyspace.Pinning(pin)
	gs, err := p.Groups()
	if err != nil {
		t.Fatal(err)
	}
	m, err := membership.Bootstrap(ms, keyspace.Namespace{Name: "default", Mode: keyspace.ModeCausal,
		Replicas: keyspace.Replication{N: 3}, Shards: len(gs), Pinned: p})
	if err != nil {
		t.Fatal(err)
	}
	return m, nodes
}

func apply(t *testing.T, m *membership.Map, c membership.Command) *membership.Map {
	t.Helper()
	res := c.Apply(m)
	if res.Err != nil {
		t.Fatalf("%s: %v", c.Op, res.Err)
	}
	return res.Map
}

// converge carries out plans (moves completed at once) until one is empty.
func converge(t *testing.T, m *membership.Map, nodes map[keyspace.NodeID]NodeView) *membership.Map {
	t.Helper()
	for range 40 {
		p := Make(Input{Map: m, Nodes: nodes})
		if len(p.Moves) == 0 && len(p.States) == 0 {
			return m
		}
		for _, sc := range p.States {
			m = apply(t, m, membership.Command{Op: membership.OpMemberState, Node: sc.Node, State: sc.State})
		}
		for _, mv := range p.Moves {
			res := apply(t, m, membership.Command{Op: membership.OpStartMove, Move: &mv})
			m = apply(t, res, membership.Command{Op: membership.OpEndMove, MoveID: res.Moves[len(res.Moves)-1].ID, Completed: true})
		}
	}
	t.Fatal("no convergence in 40 rounds")
	return nil
}

func placement(m *membership.Map) string {
	var out []string
	for _, g := range m.Namespace("default").Placement {
		g = slices.Clone(g)
		slices.Sort(g)
		out = append(out, fmt.Sprint(g))
	}
	return fmt.Sprint(out)
}

// A pinned namespace is placed exactly on its groups, and a new pinning
// (a node added to a shard, another moved between shards) is reached by
// moves; the ring's balancing never undoes it.
func TestPinnedPlacementFollowsThePinning(t *testing.T) {
	m, nodes := pinnedCluster(t, 6, "n1,n2,n3;n4,n5,n6")
	if got := placement(m); got != "[[n1 n2 n3] [n4 n5 n6]]" {
		t.Fatalf("bootstrap placement %s", got)
	}
	if p := Make(Input{Map: m, Nodes: nodes}); len(p.Moves) != 0 {
		t.Fatalf("a placement that matches its pinning gets moves: %v", p.Moves)
	}
	m = apply(t, m, membership.Command{Op: membership.OpAddMember, Member: &membership.Member{ID: 7, PeerAddr: "addr-7"}})
	nodes[7] = NodeView{Alive: true, MetaCaughtUp: true}
	m = converge(t, m, nodes)
	if got := placement(m); got != "[[n1 n2 n3] [n4 n5 n6]]" {
		t.Fatalf("an unpinned node was given replicas: %s", got)
	}
	m = apply(t, m, membership.Command{Op: membership.OpSetPinning, NS: "default", Pinned: "n1,n2,n7;n3,n4,n5,n6"})
	m = converge(t, m, nodes)
	if got := placement(m); got != "[[n1 n2 n7] [n3 n4 n5 n6]]" {
		t.Fatalf("after the new pinning: %s", got)
	}
}

// A dead pinned node keeps its replica (it is the shard's place, and may
// come back); a shard whose group is emptied keeps its data until a node
// is pinned to it.
func TestPinnedKeepsDataInPlace(t *testing.T) {
	m, nodes := pinnedCluster(t, 4, "n1,n2;n3,n4")
	m = apply(t, m, membership.Command{Op: membership.OpMemberState, Node: 2, State: membership.MemberDead})
	nodes[2] = NodeView{}
	m = converge(t, m, nodes)
	if got := placement(m); got != "[[n1 n2] [n3 n4]]" {
		t.Fatalf("with n2 dead: %s", got)
	}
	m = apply(t, m, membership.Command{Op: membership.OpMemberState, Node: 2, State: membership.MemberActive})
	nodes[2] = NodeView{Alive: true, MetaCaughtUp: true}
	m = apply(t, m, membership.Command{Op: membership.OpSetPinning, NS: "default", Pinned: ";n1,n2,n3,n4"})
	m = converge(t, m, nodes)
	if got := placement(m); got != "[[n1 n2] [n1 n2 n3 n4]]" {
		t.Fatalf("with shard 0's group emptied: %s (its replicas must stay)", got)
	}
}

// Pinnings are checked: every shard named, no node twice, only members.
func TestPinningRefused(t *testing.T) {
	m, _ := pinnedCluster(t, 4, "n1,n2;n3,n4")
	for _, pin := range []keyspace.Pinning{"n1,n2,n3,n4", "n1,n2;n2,n3", "n1,n2;n3,n9", "n1;x"} {
		if res := (membership.Command{Op: membership.OpSetPinning, NS: "default", Pinned: pin}).Apply(m); res.Err == nil {
			t.Errorf("pinning %q was accepted", pin)
		}
	}
	if res := (membership.Command{Op: membership.OpStartReshard, NS: "default", Shards: 3}).Apply(m); res.Err == nil {
		t.Error("a pinned namespace resharded without a new pinning")
	}
	res := (membership.Command{Op: membership.OpStartReshard, NS: "default", Shards: 1, Pinned: "n1,n2,n3,n4"}).Apply(m)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if ns := res.Map.Namespace("default"); ns.Shards != 1 || ns.Pinned != "n1,n2,n3,n4" || ns.Reshard == nil {
		t.Fatalf("after the reshard to 1: shards %d pinned %q reshard %v", ns.Shards, ns.Pinned, ns.Reshard)
	}
}

func TestCutIntoShards(t *testing.T) {
	ids := []keyspace.NodeID{1, 2, 3, 4, 5, 6, 7}
	if got := fmt.Sprint(keyspace.CutIntoShards(ids, 3)); got != "[[n1 n2 n3] [n4 n5] [n6 n7]]" {
		t.Fatalf("7 nodes into 3: %s", got)
	}
	if got := keyspace.MakePinning(keyspace.CutIntoShards(ids[:6], 2)); got != "n1,n2,n3;n4,n5,n6" {
		t.Fatalf("pinning %q", got)
	}
}
