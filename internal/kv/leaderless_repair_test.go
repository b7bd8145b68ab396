package kv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
)

// replicaValue reads key from one replica's local state (its dump).
func replicaValue(t *testing.T, c *clustertest.Cluster, id keyspace.NodeID, ns, key string) string {
	return localKeys(t, c.Node(id), ns)[key]
}

// TestReadRepairFixesPlantedValue plants a divergent value on one replica
// and reads with R=all: every replica holds the real value afterwards.
func TestReadRepairFixesPlantedValue(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 1, AntiEntropyInterval: time.Hour})
	c.CreateNamespace(eventual("ev", "3", "siblings"))
	n1 := c.Node(1)
	if _, err := n1.KV().Put(ctx(t), "ev", []byte("k"), []byte("real"), kv.WriteOptions{W: kv.AllReplicas}); err != nil {
		t.Fatal(err)
	}
	if err := n1.KV().Plant(ctx(t), "ev", 3, []byte("k"), []byte("trick")); err != nil {
		t.Fatal(err)
	}
	if got := replicaValue(t, c, 3, "ev", "k"); got != "trick" {
		t.Fatalf("planted replica holds %q, want trick", got)
	}
	e, err := c.Node(2).KV().Get(ctx(t), "ev", []byte("k"), kv.ReadOptions{R: kv.AllReplicas})
	if err != nil || string(e.Value) != "real" || len(e.Siblings) != 0 {
		t.Fatalf("R=all read: %q siblings %q %v", e.Value, e.Siblings, err)
	}
	waitFor(t, 5*time.Second, func() bool {
		for _, id := range c.IDs() {
			if replicaValue(t, c, id, "ev", "k") != "real" {
				return false
			}
		}
		return true
	})
}

// TestAntiEntropyConvergesWithoutReads diverges replicas under a partition
// and checks that, once healed, anti-entropy alone makes them equal.
func TestAntiEntropyConvergesWithoutReads(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 1, AntiEntropyInterval: 200 * time.Millisecond})
	c.CreateNamespace(eventual("ev", "3", "siblings"))
	if _, err := c.Faults().Partition([][]uint64{{1, 2}, {3}}, 0); err != nil {
		t.Fatal(err)
	}
	waitSuspect(t, c, 3, 1)
	waitSuspect(t, c, 1, 3)
	for i := 0; i < 200; i++ {
		n := c.Node(keyspace.NodeID(1 + 2*(i%2))) // n1 and n3 alternately
		if _, err := n.KV().Put(ctx(t), "ev", []byte(fmt.Sprintf("d%03d", i)), []byte("v"), kv.WriteOptions{W: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if len(localKeys(t, c.Node(3), "ev")) == 200 {
		t.Fatal("n3 got every key during the partition")
	}
	c.Faults().Heal()
	start := time.Now()
	waitFor(t, 20*time.Second, func() bool {
		for _, id := range c.IDs() {
			if len(localKeys(t, c.Node(id), "ev")) != 200 {
				return false
			}
		}
		return true
	})
	t.Logf("replicas equal %v after the heal, by anti-entropy alone", time.Since(start))
}

// TestHalfTheClusterDown: 6 nodes, replicas 4; with 3 nodes stopped every
// key is still readable with r=one (seed 003).
func TestHalfTheClusterDown(t *testing.T) {
	for _, replicas := range []api.Replicas{"4", "all"} {
		t.Run("replicas="+string(replicas), func(t *testing.T) {
			c := clustertest.New(t, clustertest.Options{Nodes: 6, Shards: 1, Replicas: 3})
			c.CreateNamespace(api.Namespace{Name: "ev", Mode: "eventual", Replicas: replicas, Shards: 4})
			const keys = 300
			for i := 0; i < keys; i++ {
				if _, err := c.Node(1).KV().Put(ctx(t), "ev", []byte(fmt.Sprintf("k%03d", i)), []byte("v"), kv.WriteOptions{W: kv.AllReplicas}); err != nil {
					t.Fatal(err)
				}
			}
			for _, id := range []keyspace.NodeID{2, 4, 6} {
				c.Stop(id)
			}
			for _, id := range []keyspace.NodeID{1, 3, 5} {
				waitSuspect(t, c, id, 2)
			}
			for i := 0; i < keys; i++ {
				via := c.Running()[i%3]
				e, err := via.KV().Get(ctx(t), "ev", []byte(fmt.Sprintf("k%03d", i)), kv.ReadOptions{R: 1})
				if err != nil || string(e.Value) != "v" {
					t.Fatalf("k%03d via %s with half the cluster down: %q %v", i, via.ID(), e.Value, err)
				}
			}
		})
	}
}

// TestTombstonesAreCollected deletes keys and checks the tombstones
// disappear from every replica once past the grace period.
func TestTombstonesAreCollected(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 1, AntiEntropyInterval: 100 * time.Millisecond, TombstoneGrace: 300 * time.Millisecond})
	c.CreateNamespace(eventual("ev", "3", "siblings"))
	for i := 0; i < 10; i++ {
		k := []byte(fmt.Sprintf("t%d", i))
		if _, err := c.Node(1).KV().Put(ctx(t), "ev", k, []byte("v"), kv.WriteOptions{W: kv.AllReplicas}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Node(2).KV().Delete(ctx(t), "ev", k, kv.WriteOptions{W: kv.AllReplicas}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, func() bool {
		for _, n := range c.Running() {
			left := 0
			_ = n.Dump(context.Background(), func(e api.DumpEntry) error {
				if e.Namespace == "ev" {
					left++
				}
				return nil
			})
			if left > 0 {
				return false
			}
		}
		return true
	})
}
