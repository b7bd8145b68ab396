package kv_test

import (
	"flag"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
)

var causalCrashSeed = flag.Int64("causal-crash.seed", 1, "seed for TestCausalOriginCrashes")

// TestCausalOriginCrashes writes unique keys to a causal namespace through
// every node while nodes crash, losing what they had not synced. A write an
// origin broadcast must not be forgotten by it (or its sequence number
// would be used again, and replicas that had the first write would drop the
// second as a duplicate): afterwards every replica of each key's shard
// holds every acknowledged write.
func TestCausalOriginCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	seed := *causalCrashSeed
	rng := rand.New(rand.NewSource(seed))
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 1, Crashable: true, RequestTimeout: 2 * time.Second})
	spec := causalNS("cc")
	spec.Shards = 2
	c.CreateNamespace(spec)
	c.WaitReady(30 * time.Second)
	acked := newAckedWrites()
	for cycle := range 4 {
		stop := make(chan struct{})
		wg := writeUniqueKeys(c, "cc", fmt.Sprintf("c%d", cycle), 4, time.Second, stop, acked)
		time.Sleep(time.Duration(50+rng.Intn(150)) * time.Millisecond)
		ids := c.IDs()
		victim := ids[rng.Intn(len(ids))]
		c.CrashKeeping(victim, rng.Intn(100), uint64(rng.Int63()))
		time.Sleep(time.Duration(rng.Intn(100)) * time.Millisecond)
		close(stop)
		wg.Wait()
		c.Restart(victim)
		c.WaitReady(30 * time.Second)
	}
	ns := c.Node(1).Map().Namespace("cc")
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := map[keyspace.NodeID][]string{}
		held := map[keyspace.NodeID]map[string]string{}
		for _, n := range c.Running() {
			held[n.ID()] = keysInTheirShards(t, n, ns)
		}
		for k, v := range acked.m {
			for _, r := range ns.Locate([]byte(k)).Replicas {
				if held[r][k] != v {
					missing[r] = append(missing[r], k)
				}
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for r, ks := range missing {
				t.Logf("%s misses %d of %d acknowledged writes, e.g. %v", r, len(ks), len(acked.m), ks[:min(5, len(ks))])
			}
			t.Fatalf("seed %d: replicas miss acknowledged writes (replay: -causal-crash.seed=%d)", seed, seed)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("seed %d: %d acknowledged writes on every replica", seed, len(acked.m))
}
