package kv_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/node"
)

// TestLeaderlessReshardWhileReplicaDown reshards an eventual namespace
// while one of its replicas is down and anti-entropy is off: the writes it
// missed are only in other nodes' hints for a group the reshard drops, and
// the keys of the new shards it is placed on reach it only as hints of the
// new groups. When it is back it must hold every key of its new shards.
func TestLeaderlessReshardWhileReplicaDown(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 4, Shards: 1, AntiEntropyInterval: time.Hour, RequestTimeout: 20 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond})
	c.CreateNamespace(api.Namespace{Name: "ev", Mode: "eventual", Replicas: "3", Shards: 1})
	c.WaitReady(30 * time.Second)
	victim := c.Node(1).Map().Namespace("ev").Placement[0][2]
	oldGroup := c.Node(1).Map().Namespace("ev").Shard(0).Group
	var via = c.Node(1)
	if victim == 1 {
		via = c.Node(2)
	}
	waitFor(t, 10*time.Second, func() bool {
		for _, n := range c.Running() {
			if n.ID() != via.ID() && via.Detector().State(n.ID()).String() != "alive" {
				return false
			}
		}
		return true
	})
	c.Stop(victim)
	waitSuspect(t, c, via.ID(), victim)
	const keys = 400
	want := map[string]string{}
	for i := range keys {
		k, v := fmt.Sprintf("r%04d", i), fmt.Sprintf("v%d", i)
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := via.KV().Put(wctx, "ev", []byte(k), []byte(v), kv.WriteOptions{})
		cancel()
		if err != nil {
			t.Fatalf("write while %s is down: %v", victim, err)
		}
		want[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := via.UpdateNamespace(ctx, "ev", api.NamespaceUpdate{Shards: 3}); err != nil {
		t.Fatalf("reshard: %v", err)
	}
	waitMapOf(t, c, via, 60*time.Second, func(m *membership.Map) bool {
		ns := m.Namespace("ev")
		return ns.Shards == 3 && ns.Reshard == nil
	})
	ns := via.Map().Namespace("ev")
	expect := map[string]string{}
	for k, v := range want {
		if slices.Contains(ns.Locate([]byte(k)).Replicas, victim) {
			expect[k] = v
		}
	}
	if len(expect) == 0 {
		t.Fatalf("%s is placed on no shard of the new layout: %v", victim, ns.Placement)
	}
	// Before it is back, what it is owed waits as hints of the new groups
	// (the old group's are gone with it). Restarting it would run an
	// anti-entropy round at once, which could hide a missing hint.
	hints, owed := 0, 0
	for k := range expect {
		if ns.Locate([]byte(k)).Group != oldGroup {
			owed++
		}
	}
	for s := range ns.Placement {
		if g := ns.Shard(s).Group; g != oldGroup {
			for _, n := range c.Running() {
				hints += n.PendingHintsIn(g)
			}
		}
	}
	if owed == 0 {
		t.Fatalf("no key %s is owed moved to a new group: %v", victim, ns.Placement)
	}
	if hints < owed {
		t.Fatalf("the live nodes hold %d hints of the new groups; %s is owed %d keys in them", hints, victim, owed)
	}
	c.Restart(victim)
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := localKeys(t, c.Node(victim), "ev")
		missing := 0
		for k, v := range expect {
			if got[k] != v {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d keys of ev; %d of the %d keys of its new shards are missing or stale", victim, len(got), missing, len(expect))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitMapOf waits until n's map satisfies ok.
func waitMapOf(t *testing.T, c *clustertest.Cluster, n interface{ Map() *membership.Map }, limit time.Duration, ok func(*membership.Map) bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok(n.Map()) {
		if time.Now().After(deadline) {
			t.Fatalf("map condition not met within %v: epoch %d", limit, n.Map().Epoch)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCausalJoinThenReshard writes to a causal namespace, lets the
// origins prune their logs, then adds a node: the writes made before it
// joined can no longer reach it, so it must start from the vector the
// others have applied, or it would buffer every later write forever (their
// dependencies never arrive) and a reshard, which waits for each node to
// have applied every write, would never end.
func TestCausalJoinThenReshard(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 1})
	c.CreateNamespace(causalNS("c"))
	write := func(prefix string, n int) map[string]string {
		out := map[string]string{}
		nodes := c.Running()
		for i := range n {
			k, v := fmt.Sprintf("%s%04d", prefix, i), fmt.Sprintf("%s-%d", prefix, i)
			wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := nodes[i%len(nodes)].KV().Put(wctx, "c", []byte(k), []byte(v), kv.WriteOptions{})
			cancel()
			if err != nil {
				t.Fatalf("put %s: %v", k, err)
			}
			out[k] = v
		}
		return out
	}
	before := write("b", 200)
	time.Sleep(time.Second) // acknowledgements flow; the origins prune their logs
	c.Join(4)
	c.WaitMap(60*time.Second, "n4 active, holding replicas of c, settled", func(m *membership.Map) bool {
		mb, ok := m.Member(4)
		if !ok || mb.State != membership.MemberActive || len(m.Moves) > 0 {
			return false
		}
		for _, sh := range m.ShardsOn(4) {
			if sh.Namespace.Name == "c" {
				return true
			}
		}
		return false
	})
	after := write("a", 100)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The rebalancer may still be moving replicas onto n4: a reshard waits
	// for that (it is refused as a conflict meanwhile).
	for {
		_, err := c.Node(1).UpdateNamespace(ctx, "c", api.NamespaceUpdate{Shards: 6})
		if err == nil {
			break
		}
		if !errors.Is(err, kv.ErrConflict) || ctx.Err() != nil {
			t.Fatalf("reshard: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.WaitMap(60*time.Second, "c resharded to 6, settled", func(m *membership.Map) bool {
		ns := m.Namespace("c")
		return ns.Shards == 6 && ns.Reshard == nil && len(m.Moves) == 0
	})
	for _, want := range []map[string]string{before, after} {
		for k, v := range want {
			e, err := c.Node(4).KV().Get(ctx, "c", []byte(k), kv.ReadOptions{})
			if err != nil || string(e.Value) != v {
				t.Fatalf("n4: get %s = %q, %v; want %q", k, e.Value, err, v)
			}
		}
	}
}

// TestReshardWhileOnlyHolderDown: writes acknowledged by a replica cut
// off from the others (eventual with W=1, or causal, which acknowledges at
// one replica) live only on it. It goes down, and a reshard runs and ends
// without it (its handoff could not run there). When it is back it must
// hand the moved keys over to their new shards before it drops the old
// data, or the writes are gone (eventual) or missing from its own replicas
// of the new shards for good (causal: its broadcast reaches the others,
// not itself, and causal replicas have no anti-entropy).
func TestReshardWhileOnlyHolderDown(t *testing.T) {
	for _, mode := range []string{"eventual", "causal"} {
		t.Run(mode, func(t *testing.T) { testReshardWhileOnlyHolderDown(t, mode) })
	}
}

func testReshardWhileOnlyHolderDown(t *testing.T, mode string) {
	c := clustertest.New(t, clustertest.Options{Nodes: 4, Shards: 1, AntiEntropyInterval: time.Hour, RequestTimeout: 20 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond})
	c.CreateNamespace(api.Namespace{Name: "ev", Mode: mode, Replicas: "3", Shards: 1})
	c.WaitReady(30 * time.Second)
	victim := c.Node(1).Map().Namespace("ev").Placement[0][1]
	var via *node.Node
	for _, n := range c.Running() {
		if n.ID() != victim {
			via = n
			break
		}
	}
	if _, err := c.Faults().Isolate(uint64(victim), time.Minute); err != nil {
		t.Fatal(err)
	}
	opts := kv.WriteOptions{W: 1}
	if mode == "causal" {
		opts = kv.WriteOptions{}
	}
	const keys = 200
	want := map[string]string{}
	for i := range keys {
		k, v := fmt.Sprintf("only%04d", i), fmt.Sprintf("v%d", i)
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Node(victim).KV().Put(wctx, "ev", []byte(k), []byte(v), opts)
		cancel()
		if err != nil {
			t.Fatalf("write on cut-off %s: %v", victim, err)
		}
		want[k] = v
	}
	c.Stop(victim)
	c.Faults().Heal()
	waitSuspect(t, c, via.ID(), victim)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := via.UpdateNamespace(ctx, "ev", api.NamespaceUpdate{Shards: 3}); err != nil {
		t.Fatalf("reshard: %v", err)
	}
	waitMapOf(t, c, via, 60*time.Second, func(m *membership.Map) bool {
		ns := m.Namespace("ev")
		return ns.Shards == 3 && ns.Reshard == nil
	})
	moved := 0
	ns := via.Map().Namespace("ev")
	for k := range want {
		if ns.Locate([]byte(k)).Index != 0 {
			moved++
		}
	}
	if moved == 0 {
		t.Fatalf("no key moved to a new shard")
	}
	c.Restart(victim)
	// Every replica of each moved key's shard holds it, the victim's
	// included; in the causal namespace every key's.
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := map[keyspace.NodeID]int{}
		held := map[keyspace.NodeID]map[string]string{}
		for _, n := range c.Running() {
			held[n.ID()] = keysInTheirShards(t, n, ns)
		}
		for k, v := range want {
			sh := ns.Locate([]byte(k))
			holders := sh.Replicas
			if mode == "eventual" && sh.Index == 0 {
				// Not moved: it stays where the W=1 write put it, on the
				// victim alone until anti-entropy (off here) runs.
				holders = []keyspace.NodeID{victim}
			}
			for _, r := range holders {
				if held[r][k] != v {
					missing[r]++
				}
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s came back, replicas miss acknowledged writes (of %d, %d moved by the reshard): %v", victim, keys, moved, missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// keysInTheirShards lists what n holds of namespace ns's keys in the shard
// ns's layout puts each in (a key left behind in a shard it moved out of
// is not counted: reads do not go there).
func keysInTheirShards(t *testing.T, n *node.Node, ns *membership.NamespaceMap) map[string]string {
	out := map[string]string{}
	err := n.Dump(ctx(t), func(e api.DumpEntry) error {
		if e.Namespace == ns.Name && !e.Deleted && e.Shard == ns.Locate([]byte(e.Key)).Index {
			out[e.Key] = e.Value
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLeaderlessReshardLeavesNothingBehind: a reshard keeps the groups of
// the shards both layouts have, and the keys that moved out of them must
// not stay behind there once it ends (reads no longer look; in a causal
// namespace, with no anti-entropy, the leftovers differed between replicas
// for good: a write applied after a replica learned of the end was stored
// only in the new shard, one applied before in both).
func TestLeaderlessReshardLeavesNothingBehind(t *testing.T) {
	for _, mode := range []string{"causal", "eventual"} {
		t.Run(mode, func(t *testing.T) {
			c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 1})
			spec := causalNS("r")
			spec.Shards = 1
			if mode == "eventual" {
				spec = api.Namespace{Name: "r", Mode: "eventual", Replicas: "3", Shards: 1}
			}
			c.CreateNamespace(spec)
			c.WaitReady(30 * time.Second)
			for i := range 300 {
				wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := c.Node(keyspace.NodeID(1+i%3)).KV().Put(wctx, "r", []byte(fmt.Sprintf("k%04d", i)), []byte("v"), kv.WriteOptions{})
				cancel()
				if err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := c.Node(1).UpdateNamespace(ctx, "r", api.NamespaceUpdate{Shards: 3}); err != nil {
				t.Fatalf("reshard: %v", err)
			}
			c.WaitMap(60*time.Second, "r resharded to 3, settled", func(m *membership.Map) bool {
				ns := m.Namespace("r")
				return ns.Shards == 3 && ns.Reshard == nil && len(m.Moves) == 0
			})
			waitFor(t, 30*time.Second, func() bool {
				for _, n := range c.Running() {
					ns := n.Map().Namespace("r")
					left, placed := 0, 0
					dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer dcancel()
					err := n.Dump(dctx, func(e api.DumpEntry) error {
						if e.Namespace != "r" {
							return nil
						}
						if e.Shard != ns.Locate([]byte(e.Key)).Index {
							left++
						} else {
							placed++
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					if left > 0 || placed != 300 {
						t.Logf("%s: %d keys left behind in a shard they moved out of, %d in their shards", n.ID(), left, placed)
						return false
					}
				}
				return true
			})
		})
	}
}
