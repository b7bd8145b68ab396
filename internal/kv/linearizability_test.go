package kv_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/lincheck"
	"github.com/distkv/distkv/internal/node"
)

var (
	linSeeds    = flag.Int("lin.seeds", 50, "seeds for TestLinearizableUnderFaults")
	linFirst    = flag.Int64("lin.seed", 1, "first seed for TestLinearizableUnderFaults")
	linDuration = flag.Duration("lin.duration", 1500*time.Millisecond, "workload length per seed")
)

// workload drives concurrent clients doing random get/put/cas/delete on a
// few keys through random running nodes, recording the history.
type workload struct {
	c       *clustertest.Cluster
	rec     *lincheck.Recorder
	keys    int
	clients int
	timeout time.Duration
}

func (w *workload) run(seed int64, d time.Duration) {
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for i := 0; i < w.clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.client(i, rand.New(rand.NewSource(seed*1000+int64(i))), stop)
		}()
	}
	wg.Wait()
}

func (w *workload) client(id int, rng *rand.Rand, stop time.Time) {
	seen := map[string]uint64{}
	for seq := 0; time.Now().Before(stop); seq++ {
		running := w.c.Running()
		if len(running) == 0 {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		n := running[rng.Intn(len(running))]
		key := fmt.Sprintf("k%d", rng.Intn(w.keys))
		val := fmt.Sprintf("c%d-%d", id, seq)
		ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
		switch p := rng.Intn(100); {
		case p < 40:
			w.get(ctx, n, id, key, seen)
		case p < 65:
			in := lincheck.Input{Kind: lincheck.Put, Key: key, Value: val}
			call := w.rec.Begin(id, in)
			r, err := n.KV().Put(ctx, "", []byte(key), []byte(val), kv.WriteOptions{})
			endWrite(call, err, r.Version)
		case p < 85:
			in := lincheck.Input{Kind: lincheck.CAS, Key: key, Value: val, Expect: seen[key]}
			if in.Expect == 0 {
				in.Expect = uint64(1 + rng.Intn(50))
			}
			call := w.rec.Begin(id, in)
			r, err := n.KV().Put(ctx, "", []byte(key), []byte(val), kv.WriteOptions{Version: in.Expect})
			endWrite(call, err, r.Version)
		default:
			call := w.rec.Begin(id, lincheck.Input{Kind: lincheck.Delete, Key: key})
			_, err := n.KV().Delete(ctx, "", []byte(key), kv.WriteOptions{})
			endWrite(call, err, 0)
		}
		cancel()
	}
}

func (w *workload) get(ctx context.Context, n *node.Node, client int, key string, seen map[string]uint64) {
	call := w.rec.Begin(client, lincheck.Input{Kind: lincheck.Get, Key: key})
	e, err := n.KV().Get(ctx, "", []byte(key), kv.ReadOptions{})
	switch {
	case err == nil:
		call.End(lincheck.Output{Found: true, Value: string(e.Value), Version: e.Version})
		seen[key] = e.Version
	case errors.Is(err, kv.ErrNotFound):
		call.End(lincheck.Output{})
		delete(seen, key)
	default:
		call.Drop() // a failed read changed nothing
	}
}

// endWrite records a write's response: a definite answer, nothing (when
// the store says it certainly did not happen), or an unknown outcome.
func endWrite(call *lincheck.Call, err error, version uint64) {
	switch {
	case err == nil:
		call.End(lincheck.Output{OK: true, Version: version})
	case errors.Is(err, kv.ErrVersionMismatch), errors.Is(err, kv.ErrNotFound), errors.Is(err, kv.ErrExists):
		call.End(lincheck.Output{})
	case errors.Is(err, kv.ErrUnavailable):
		call.Drop()
	default:
		call.End(lincheck.Output{Unknown: true})
	}
}

// runLinearizabilitySeed runs one seeded workload under faults and returns
// the check's result and the nemesis log.
func runLinearizabilitySeed(t *testing.T, seed int64, unsafeReads bool, d time.Duration) (lincheck.Result, []string) {
	c := clustertest.New(t, clustertest.Options{
		Nodes: 3, Shards: 2, Seed: seed, Crashable: true, UnsafeLocalReads: unsafeReads,
		RequestTimeout: 400 * time.Millisecond,
	})
	w := &workload{c: c, rec: lincheck.NewRecorder(), keys: 4, clients: 4, timeout: 400 * time.Millisecond}
	nem := c.Nemesis(seed)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rng := rand.New(rand.NewSource(seed))
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			time.Sleep(time.Duration(50+rng.Intn(150)) * time.Millisecond)
			nem.Step()
		}
	}()
	w.run(seed, d)
	<-done
	nem.HealAll()
	c.WaitReady(20 * time.Second)
	// Final reads after healing pin down every key's last state.
	for k := 0; k < w.keys; k++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		w.get(ctx, c.Running()[0], w.clients, fmt.Sprintf("k%d", k), map[string]uint64{})
		cancel()
	}
	c.WaitConverged(20 * time.Second)
	return lincheck.Check(w.rec.History(), 30*time.Second), nem.Log()
}

func TestLinearizableUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	for i := 0; i < *linSeeds; i++ {
		seed := *linFirst + int64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			r, nem := runLinearizabilitySeed(t, seed, false, *linDuration)
			if r.Verdict != lincheck.Linearizable {
				t.Fatalf("seed %d: %s (replay with -run 'TestLinearizableUnderFaults/seed=%d$' -lin.seed=%d -lin.seeds=1)\nfaults: %s\nkey %s:\n%s",
					seed, r.Verdict, seed, seed, strings.Join(nem, "; "), r.FailingKey, strings.Join(r.FailingOps, "\n"))
			}
			t.Logf("seed %d: %d ops (%d unknown) on %d keys, linearizable; faults: %d", seed, r.Ops, r.Unknown, r.Keys, len(nem))
		})
	}
}

// TestLinearizabilityCheckHasTeeth serves "linearizable" reads from the
// local replica without ReadIndex and expects the checker to catch it.
func TestLinearizabilityCheckHasTeeth(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	for seed := int64(1); seed <= 20; seed++ {
		r, _ := runLinearizabilitySeed(t, seed, true, 1500*time.Millisecond)
		if r.Verdict == lincheck.NotLinearizable {
			t.Logf("seed %d caught stale local reads on key %s:\n%s", seed, r.FailingKey, strings.Join(r.FailingOps, "\n"))
			return
		}
	}
	t.Fatal("20 seeds with unsafe local reads all passed: the check has no teeth")
}
