package kv_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
)

var (
	crashCycles = flag.Int("crash.cycles", 50, "crash cycles in TestAcknowledgedWritesSurviveCrashes")
	crashSeed   = flag.Int64("crash.seed", 1, "seed for TestAcknowledgedWritesSurviveCrashes")
)

// TestAcknowledgedWritesSurviveCrashes writes unique keys from several
// clients while nodes crash at random moments, losing whatever they had not
// synced (and, half the time, keeping a random part of it, as a torn write
// would). Sometimes every node crashes at once. After each restart, every
// write that was acknowledged must still be readable.
func TestAcknowledgedWritesSurviveCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	seed := *crashSeed
	rng := rand.New(rand.NewSource(seed))
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 3, Crashable: true, RequestTimeout: 500 * time.Millisecond})
	acked := newAckedWrites()
	for cycle := 0; cycle < *crashCycles; cycle++ {
		stop := make(chan struct{})
		wg := writeUniqueKeys(c, "", fmt.Sprintf("c%d", cycle), 4, 500*time.Millisecond, stop, acked)
		time.Sleep(time.Duration(10+rng.Intn(60)) * time.Millisecond)
		victims := c.IDs()
		if rng.Intn(3) > 0 { // two times in three: one node; else all
			victims = []keyspace.NodeID{victims[rng.Intn(len(victims))]}
		}
		for _, id := range victims {
			keep := 0
			if rng.Intn(2) == 0 {
				keep = rng.Intn(100)
			}
			c.CrashKeeping(id, keep, uint64(rng.Int63()))
		}
		close(stop)
		wg.Wait()
		for _, id := range victims {
			c.Restart(id)
		}
		c.WaitReady(20 * time.Second)
		if cycle%10 == 9 || cycle == *crashCycles-1 {
			verifyAcked(t, c, acked.m, seed, cycle)
		}
	}
	t.Logf("seed %d: %d crash cycles, %d acknowledged writes, none lost", seed, *crashCycles, len(acked.m))
}

func verifyAcked(t *testing.T, c *clustertest.Cluster, acked map[string]string, seed int64, cycle int) {
	t.Helper()
	n := c.Running()[cycle%len(c.Running())]
	for k, v := range acked {
		var e kv.Entry
		var err error
		for try := 0; try < 5; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			e, err = n.KV().Get(ctx, "", []byte(k), kv.ReadOptions{})
			cancel()
			if err == nil || errors.Is(err, kv.ErrNotFound) {
				break
			}
		}
		if err != nil || string(e.Value) != v {
			t.Fatalf("seed %d cycle %d: acknowledged write %s lost: got %q, %v (replay: -crash.seed=%d)", seed, cycle, k, e.Value, err, seed)
		}
	}
}
