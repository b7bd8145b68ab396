package kv_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/node"
)

func eventual(name string, replicas api.Replicas, conflicts string) api.Namespace {
	return api.Namespace{Name: name, Mode: "eventual", Replicas: replicas, Shards: 4, Conflicts: conflicts}
}

func TestEventualBasics(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 2})
	c.CreateNamespace(eventual("ev", "3", "siblings"))
	nodes := c.Running()
	for i := 0; i < 20; i++ {
		k := []byte(fmt.Sprintf("k%d", i))
		if _, err := nodes[i%3].KV().Put(ctx(t), "ev", k, []byte(fmt.Sprint(i)), kv.WriteOptions{}); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	for i := 0; i < 20; i++ {
		k := []byte(fmt.Sprintf("k%d", i))
		e, err := nodes[(i+1)%3].KV().Get(ctx(t), "ev", k, kv.ReadOptions{})
		if err != nil || string(e.Value) != fmt.Sprint(i) || e.Context == "" {
			t.Fatalf("get %s: %q %v (context %q)", k, e.Value, err, e.Context)
		}
	}
	res, err := nodes[0].KV().Scan(ctx(t), "ev", kv.ScanOptions{Prefix: []byte("k1"), Values: true})
	if err != nil || len(res.Entries) != 11 {
		t.Fatalf("scan k1: %d entries, %v", len(res.Entries), err)
	}
	if _, err := nodes[1].KV().Delete(ctx(t), "ev", []byte("k3"), kv.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[2].KV().Get(ctx(t), "ev", []byte("k3"), kv.ReadOptions{}); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := nodes[0].KV().Put(ctx(t), "ev", []byte("x"), []byte("1"), kv.WriteOptions{Condition: kv.IfAbsent}); !errors.Is(err, kv.ErrWrongMode) {
		t.Fatalf("conditional write in an eventual namespace: %v", err)
	}
}

// Concurrent writes on both sides of a partition are both kept as
// siblings; a write carrying their context resolves them.
func TestPartitionedWritesBecomeSiblings(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 1})
	c.CreateNamespace(eventual("ev", "3", "siblings"))
	n1, n3 := c.Node(1), c.Node(3)
	if _, err := c.Faults().Partition([][]uint64{{1, 2}, {3}}, 0); err != nil {
		t.Fatal(err)
	}
	waitSuspect(t, c, 3, 1)
	if _, err := n1.KV().Put(ctx(t), "ev", []byte("k"), []byte("left"), kv.WriteOptions{W: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := n3.KV().Put(ctx(t), "ev", []byte("k"), []byte("right"), kv.WriteOptions{W: 1}); err != nil {
		t.Fatal(err)
	}
	c.Faults().Heal()
	var e kv.Entry
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		e, err = n1.KV().Get(ctx(t), "ev", []byte("k"), kv.ReadOptions{R: kv.AllReplicas})
		if err == nil && len(e.Siblings) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("siblings after heal: %q %v", e.Siblings, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	vals := []string{string(e.Siblings[0]), string(e.Siblings[1])}
	sort.Strings(vals)
	if vals[0] != "left" || vals[1] != "right" {
		t.Fatalf("siblings %v, want left and right (none lost)", vals)
	}
	if _, err := n3.KV().Put(ctx(t), "ev", []byte("k"), []byte("merged"), kv.WriteOptions{Context: e.Context}); err != nil {
		t.Fatal(err)
	}
	e2, err := c.Node(2).KV().Get(ctx(t), "ev", []byte("k"), kv.ReadOptions{R: kv.AllReplicas})
	if err != nil || string(e2.Value) != "merged" || len(e2.Siblings) != 0 {
		t.Fatalf("after resolving: %q siblings %q %v", e2.Value, e2.Siblings, err)
	}
}

// waitSuspect waits until node from no longer thinks node about is alive.
func waitSuspect(t *testing.T, c *clustertest.Cluster, from, about keyspace.NodeID) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.Node(from).Detector().State(about).String() == "alive" {
		if time.Now().After(deadline) {
			t.Fatalf("%s still thinks %s alive", from, about)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLWWKeepsOneValue(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 1})
	c.CreateNamespace(eventual("lww", "3", "lww"))
	if _, err := c.Faults().Partition([][]uint64{{1, 2}, {3}}, 0); err != nil {
		t.Fatal(err)
	}
	waitSuspect(t, c, 3, 1)
	_, _ = c.Node(1).KV().Put(ctx(t), "lww", []byte("k"), []byte("first"), kv.WriteOptions{W: 1})
	time.Sleep(5 * time.Millisecond)
	_, _ = c.Node(3).KV().Put(ctx(t), "lww", []byte("k"), []byte("second"), kv.WriteOptions{W: 1})
	c.Faults().Heal()
	waitFor(t, 10*time.Second, func() bool {
		e, err := c.Node(2).KV().Get(ctx(t), "lww", []byte("k"), kv.ReadOptions{R: kv.AllReplicas})
		return err == nil && string(e.Value) == "second" && len(e.Siblings) == 0
	})
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// localKeys counts the keys a node's replicas of a namespace hold.
func localKeys(t *testing.T, n *node.Node, ns string) map[string]string {
	out := map[string]string{}
	err := n.Dump(ctx(t), func(e api.DumpEntry) error {
		if e.Namespace == ns && !e.Deleted {
			out[e.Key] = e.Value
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHintedHandoff stops a replica, writes 10,000 keys (its writes go to
// a fallback node as hints), brings it back, and checks that the replica
// alone then holds every key of its shards.
func TestHintedHandoff(t *testing.T) {
	// Anti-entropy is off (an hour) so only hints can bring the keys back.
	c := clustertest.New(t, clustertest.Options{Nodes: 4, Shards: 1, AntiEntropyInterval: time.Hour, RequestTimeout: 20 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond})
	c.CreateNamespace(api.Namespace{Name: "ev", Mode: "eventual", Replicas: "3", Shards: 1})
	ns := c.Node(1).Map().Namespace("ev")
	victim := ns.Placement[0][2]
	var via *node.Node
	for _, n := range c.Running() {
		if n.ID() != victim {
			via = n
		}
	}
	c.Stop(victim)
	waitSuspect(t, c, via.ID(), victim)
	const keys = 10000
	sem := make(chan struct{}, 32)
	errs := make(chan error, keys)
	for i := 0; i < keys; i++ {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := via.KV().Put(wctx, "ev", []byte(fmt.Sprintf("h%05d", i)), []byte("v"), kv.WriteOptions{})
			errs <- err
		}()
	}
	for i := 0; i < keys; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("write while %s is down: %v", victim, err)
		}
	}
	// Hints are stored in the background once W replicas have the write.
	waitFor(t, 60*time.Second, func() bool {
		hints := 0
		for _, n := range c.Running() {
			hints += n.PendingHints()
		}
		return hints >= keys
	})
	c.Restart(victim)
	waitFor(t, 60*time.Second, func() bool { return len(localKeys(t, c.Node(victim), "ev")) == keys })
	waitFor(t, 10*time.Second, func() bool {
		for _, n := range c.Running() {
			if n.PendingHints() > 0 {
				return false
			}
		}
		return true
	})
}
