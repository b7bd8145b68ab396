package kv_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/node"
	"github.com/distkv/distkv/internal/replication/multiraft"
)

// keyOnShard finds a key of the default namespace that lives on shard s.
func keyOnShard(n *node.Node, s int, tag string) []byte {
	ns := n.Map().Namespace(keyspace.DefaultNamespace)
	for i := 0; ; i++ {
		k := []byte(fmt.Sprintf("%s-%d", tag, i))
		if ns.Locate(k).Index == s {
			return k
		}
	}
}

func put(t *testing.T, n *node.Node, key, val string) uint64 {
	t.Helper()
	r, err := n.KV().Put(ctx(t), "", []byte(key), []byte(val), kv.WriteOptions{})
	if err != nil {
		t.Fatalf("put %s via %s: %v", key, n.ID(), err)
	}
	return r.Version
}

func mustGet(t *testing.T, n *node.Node, key, want string) {
	t.Helper()
	e, err := n.KV().Get(ctx(t), "", []byte(key), kv.ReadOptions{})
	if err != nil || string(e.Value) != want {
		t.Fatalf("get %s via %s = %q, %v; want %q", key, n.ID(), e.Value, err, want)
	}
}

func TestShardLeaderKilledWritesContinue(t *testing.T) {
	for _, nodes := range []int{3, 5} {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) {
			c := clustertest.New(t, clustertest.Options{Nodes: nodes, Shards: 2, Replicas: 3})
			any := c.Running()[0]
			key := keyOnShard(any, 0, "k")
			put(t, any, string(key), "before")
			group := any.Map().Namespace(keyspace.DefaultNamespace).Locate(key).Group
			old := c.Leader(group)
			c.Crash(old)
			start := time.Now()
			var survivor *node.Node
			for _, n := range c.Running() {
				survivor = n
			}
			put(t, survivor, string(key), "after")
			t.Logf("first write after killing leader %s took %v", old, time.Since(start))
			if l := c.Leader(group); l == old || l == 0 {
				t.Fatalf("leader after crash = %v, want a new one", l)
			}
			mustGet(t, survivor, string(key), "after")
			c.Restart(old)
			c.WaitConverged(10 * time.Second)
			mustGet(t, c.Node(old), string(key), "after")
		})
	}
}

func TestRestartedFollowerCatchesUpBySnapshot(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 1, LogKeep: 5})
	n1 := c.Running()[0]
	group := n1.Map().Namespace(keyspace.DefaultNamespace).Shard(0).Group
	var follower keyspace.NodeID
	for _, id := range c.IDs() {
		if id != c.Leader(group) {
			follower = id
			break
		}
	}
	c.Stop(follower)
	live := c.Running()[0]
	for i := 0; i < 100; i++ {
		put(t, live, fmt.Sprintf("k%03d", i), fmt.Sprint(i))
	}
	leader := c.Node(c.Leader(group))
	st := groupStatus(t, leader, group)
	if st.FirstIndex <= 20 {
		t.Fatalf("leader's log was not truncated: first index %d", st.FirstIndex)
	}
	c.Restart(follower)
	c.WaitConverged(10 * time.Second)
	f := c.Node(follower)
	if got := f.Host().Stats().SnapshotsApplied; got == 0 {
		t.Fatal("follower caught up without installing a snapshot")
	}
	fst := groupStatus(t, f, group)
	if fst.Applied < st.Applied {
		t.Fatalf("follower applied %d, leader had %d", fst.Applied, st.Applied)
	}
	e, err := f.KV().Get(ctx(t), "", []byte("k042"), kv.ReadOptions{Consistency: kv.Stale})
	if err != nil || string(e.Value) != "42" {
		t.Fatalf("stale read on caught-up follower: %q %v", e.Value, err)
	}
}

func groupStatus(t *testing.T, n *node.Node, g keyspace.GroupID) multiraft.GroupStatus {
	t.Helper()
	sts, err := n.Host().Status(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if s.Group == uint64(g) {
			return s
		}
	}
	t.Fatalf("%s does not host %s", n.ID(), g)
	return multiraft.GroupStatus{}
}

func TestMinorityCannotWriteMajorityServes(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 5, Shards: 2, Replicas: 5})
	ids := c.IDs()
	put(t, c.Node(ids[0]), "x", "0")
	minority, majority := ids[:2], ids[2:]
	if _, err := c.Faults().Partition([][]uint64{u64s(minority), u64s(majority)}, 0); err != nil {
		t.Fatal(err)
	}
	// The majority keeps serving once it has (re)elected leaders.
	for i, id := range majority {
		put(t, c.Node(id), fmt.Sprintf("maj-%d", i), "ok")
		mustGet(t, c.Node(id), "x", "0")
	}
	short, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	for _, id := range minority {
		_, err := c.Node(id).KV().Put(short, "", []byte("min"), []byte("no"), kv.WriteOptions{})
		if !errors.Is(err, kv.ErrUnavailable) && !errors.Is(err, kv.ErrUnknownOutcome) {
			t.Fatalf("write on minority %s: %v, want unavailable or unknown outcome", id, err)
		}
		_, err = c.Node(id).KV().Get(short, "", []byte("x"), kv.ReadOptions{})
		if err == nil {
			t.Fatalf("linearizable read on minority %s succeeded", id)
		}
		if !errors.Is(err, kv.ErrTimeout) && !errors.Is(err, kv.ErrUnavailable) {
			t.Fatalf("linearizable read on minority %s: %v, want timeout or unavailable", id, err)
		}
	}
	c.Faults().Heal()
	c.WaitReady(10 * time.Second)
	c.WaitConverged(10 * time.Second)
	for _, id := range minority {
		mustGet(t, c.Node(id), "maj-0", "ok")
	}
	if _, err := c.Node(minority[0]).KV().Get(ctx(t), "", []byte("min"), kv.ReadOptions{}); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("a write refused on the minority became visible: %v", err)
	}
}

func u64s(ids []keyspace.NodeID) []uint64 {
	out := make([]uint64, len(ids))
	for i, id := range ids {
		out[i] = uint64(id)
	}
	return out
}
