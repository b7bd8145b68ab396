package coordinator_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/storage"
)

func writeKeys(t *testing.T, c *clustertest.Cluster, prefix string, n int) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := map[string]string{}
	nodes := c.Running()
	for i := range n {
		k, v := fmt.Sprintf("%s%04d", prefix, i), fmt.Sprintf("v%d", i)
		if _, err := nodes[i%len(nodes)].KV().Put(ctx, "", []byte(k), []byte(v), kv.WriteOptions{}); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		want[k] = v
	}
	return want
}

func checkKeys(t *testing.T, c *clustertest.Cluster, want map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, n := range c.Running() {
		for k, v := range want {
			e, err := n.KV().Get(ctx, "", []byte(k), kv.ReadOptions{})
			if err != nil || string(e.Value) != v {
				t.Fatalf("%s: get %s = %q, %v; want %q", n.ID(), k, e.Value, err, v)
			}
		}
	}
}

func active(id keyspace.NodeID) func(*membership.Map) bool {
	return func(m *membership.Map) bool {
		mb, ok := m.Member(id)
		return ok && mb.State == membership.MemberActive
	}
}

func settled(m *membership.Map) bool {
	if len(m.Moves) > 0 {
		return false
	}
	for _, ns := range m.Namespaces {
		if ns.Reshard != nil {
			return false
		}
	}
	return true
}

// replicasOn counts a namespace's replicas on each node.
func replicasOn(m *membership.Map, ns string) map[keyspace.NodeID]int {
	out := map[keyspace.NodeID]int{}
	for _, reps := range m.Namespace(ns).Placement {
		for _, id := range reps {
			out[id]++
		}
	}
	return out
}

func TestJoinRebalances(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 8})
	want := writeKeys(t, c, "a", 200)
	c.Join(4)
	c.WaitMap(30*time.Second, "n4 active", active(4))
	c.WaitMap(60*time.Second, "replicas on n4 and no moves", func(m *membership.Map) bool {
		return settled(m) && replicasOn(m, "default")[4] >= 4
	})
	m := c.Node(1).Map()
	t.Logf("after the join: replicas %v, meta voters %v, epoch %d", replicasOn(m, "default"), m.MetaVoters, m.Epoch)
	c.WaitReady(30 * time.Second)
	checkKeys(t, c, want)
	c.WaitConverged(30 * time.Second)
}

func TestReshardStrong(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 8})
	want := writeKeys(t, c, "r", 500)
	for _, shards := range []int{12, 5} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ch, err := c.Node(1).UpdateNamespace(ctx, "default", api.NamespaceUpdate{Shards: shards})
		cancel()
		if err != nil {
			t.Fatalf("reshard to %d: %v", shards, err)
		}
		t.Logf("started: %v", ch.Started)
		c.WaitMap(60*time.Second, fmt.Sprintf("%d shards, settled", shards), func(m *membership.Map) bool {
			return settled(m) && m.Namespace("default").Shards == shards
		})
		c.WaitReady(30 * time.Second)
		checkKeys(t, c, want)
		c.WaitConverged(30 * time.Second)
		checkPlaced(t, c, "default", want)
	}
	// Versions never go backwards across a move: a write after the reshard
	// gets a higher version than the key had.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for k := range want {
		before, err := c.Node(2).KV().Get(ctx, "", []byte(k), kv.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Node(2).KV().Put(ctx, "", []byte(k), []byte("after"), kv.WriteOptions{Version: before.Version})
		if err != nil || res.Version <= before.Version {
			t.Fatalf("compare-and-set of %s at version %d: %+v, %v", k, before.Version, res, err)
		}
	}
}

// checkPlaced verifies, on every running replica, that each key is held by
// exactly the group the namespace's layout puts it in.
func checkPlaced(t *testing.T, c *clustertest.Cluster, nsName string, want map[string]string) {
	t.Helper()
	m := c.Node(1).Map()
	ns := m.Namespace(nsName)
	holders := map[string][]keyspace.GroupID{}
	for _, n := range c.Running() {
		for _, g := range n.Host().Groups() {
			if keyspace.GroupID(g).Namespace() != ns.ID {
				continue
			}
			start, end := storage.DataRange(g, nil)
			_ = n.Engine().Scan(start, end, func(k, _ []byte) bool {
				key := string(storage.UserKey(k))
				if !slices.Contains(holders[key], keyspace.GroupID(g)) {
					holders[key] = append(holders[key], keyspace.GroupID(g))
				}
				return true
			})
		}
	}
	for k := range want {
		sh := ns.Locate([]byte(k))
		if hs := holders[k]; len(hs) != 1 || hs[0] != sh.Group {
			t.Fatalf("key %s is held by groups %v; the layout (%d shards) puts it in %s", k, hs, ns.Shards, sh.Group)
		}
	}
	if len(holders) != len(want) {
		t.Fatalf("replicas hold %d keys, %d were written", len(holders), len(want))
	}
}
