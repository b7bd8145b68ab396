package txn_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/node"
	"github.com/distkv/distkv/internal/shardsm"
	"github.com/distkv/distkv/internal/txn"
)

var bankSeed = flag.Int64("txn.seed", 0, "seed for TestBankTransfers (0: from the clock)")

func flag64(name string) *int64 { return flag.Int64(name, 0, "seed (0: from the clock)") }

func newCluster(t *testing.T) *clustertest.Cluster {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 8, RequestTimeout: 8 * time.Second})
	c.WaitReady(30 * time.Second)
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// keysOnShards returns n keys with prefix, each on a different shard of
// the default namespace.
func keysOnShards(t *testing.T, nd *node.Node, prefix string, n int) []string {
	ns := nd.Map().Namespace(keyspace.DefaultNamespace)
	seen := map[keyspace.GroupID]bool{}
	var out []string
	for i := 0; len(out) < n && i < 10000; i++ {
		k := fmt.Sprintf("%s%d", prefix, i)
		if g := ns.Locate([]byte(k)).Group; !seen[g] {
			seen[g] = true
			out = append(out, k)
		}
	}
	if len(out) < n {
		t.Fatalf("found keys on only %d shards", len(out))
	}
	return out
}

func put(k, v string) shardsm.TxnOp {
	return shardsm.TxnOp{Kind: shardsm.TxnPut, Key: []byte(k), Value: []byte(v)}
}
func get(k string) shardsm.TxnOp { return shardsm.TxnOp{Kind: shardsm.TxnGet, Key: []byte(k)} }
func absent(k string) shardsm.Compare {
	return shardsm.Compare{Key: []byte(k), Target: shardsm.TargetVersion, Op: shardsm.OpEqual, Version: 0}
}

func mustGet(t *testing.T, nd *node.Node, k string) (string, uint64, bool) {
	t.Helper()
	e, err := nd.KV().Get(ctx(t), "", []byte(k), kv.ReadOptions{})
	if errors.Is(err, kv.ErrNotFound) {
		return "", 0, false
	}
	if err != nil {
		t.Fatalf("get %s: %v", k, err)
	}
	return string(e.Value), e.Version, true
}

// A transaction over keys of four shards applies all its writes, answers
// the versions they got, and a get in it sees its own earlier write; run
// again, its comparison fails and the failure branch runs instead.
func TestCrossShardCommit(t *testing.T) {
	c := newCluster(t)
	n1 := c.Node(1)
	ks := keysOnShards(t, n1, "x", 4)
	req := txn.Request{Compares: []shardsm.Compare{absent(ks[0])},
		Success: []shardsm.TxnOp{put(ks[0], "a"), put(ks[1], "b"), put(ks[2], "c"), put(ks[3], "d"), get(ks[0])},
		Failure: []shardsm.TxnOp{get(ks[1])}}
	res, err := n1.Transactions().Run(ctx(t), "", req)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Succeeded || res.Shards != 4 || len(res.Results) != 5 || res.ID == "" {
		t.Fatalf("result %+v, want the success branch over 4 shards with 5 results", res)
	}
	if g := res.Results[4]; !g.Found || string(g.Value) != "a" || g.Version != res.Results[0].Version {
		t.Fatalf("the get after the put saw %+v, want value a at version %d", g, res.Results[0].Version)
	}
	for i, k := range ks {
		v, ver, ok := mustGet(t, c.Node(keyspace.NodeID(1+i%3)), k)
		if !ok || v != string(rune('a'+i)) || ver != res.Results[i].Version {
			t.Fatalf("%s = %q at %d (found %v), want %q at %d", k, v, ver, ok, string(rune('a'+i)), res.Results[i].Version)
		}
	}
	res, err = c.Node(2).Transactions().Run(ctx(t), "", req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Succeeded || len(res.Results) != 1 || string(res.Results[0].Value) != "b" {
		t.Fatalf("second run %+v, want the failure branch reading b", res)
	}
}

// A transaction on one shard is one proposal: no ID, no two-phase commit.
func TestSingleShardFastPath(t *testing.T) {
	c := newCluster(t)
	n1 := c.Node(1)
	res, err := n1.Transactions().Run(ctx(t), "", txn.Request{Success: []shardsm.TxnOp{put("solo", "1"), get("solo")}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Succeeded || res.Shards != 1 || res.ID != "" || string(res.Results[1].Value) != "1" {
		t.Fatalf("result %+v, want the fast path", res)
	}
}

// Bad transactions are refused whole, naming the problem.
func TestInvalidTransactions(t *testing.T) {
	c := newCluster(t)
	co := c.Node(1).Transactions()
	for name, req := range map[string]txn.Request{
		"unknown op":     {Success: []shardsm.TxnOp{{Kind: "incr", Key: []byte("a")}}},
		"written twice":  {Success: []shardsm.TxnOp{put("a", "1"), put("a", "2")}},
		"unknown target": {Compares: []shardsm.Compare{{Key: []byte("a"), Target: "color", Op: "="}}},
		"no key":         {Success: []shardsm.TxnOp{{Kind: shardsm.TxnGet}}},
	} {
		if _, err := co.Run(ctx(t), "", req); !errors.Is(err, kv.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
	if _, err := co.Run(ctx(t), "nope", txn.Request{Success: []shardsm.TxnOp{get("a")}}); !errors.Is(err, kv.ErrNoNamespace) {
		t.Errorf("unknown namespace: got %v", err)
	}
}

// A coordinator that dies after preparing leaves locks and no decision:
// whoever meets a lock once it is older than the timeout records an abort,
// so nothing of the transaction is ever visible and the keys are free.
func TestAbandonedAfterPrepareRollsBack(t *testing.T) {
	c := newCluster(t)
	n1 := c.Node(1)
	ks := keysOnShards(t, n1, "p", 3)
	dead := txn.New(txn.Config{KV: n1.KV()}) // a second coordinator, to abandon
	n1.KV().SetLockResolver(n1.Transactions())
	txn.StopAfter(dead, "prepare")
	_, err := dead.Run(ctx(t), "", txn.Request{Success: []shardsm.TxnOp{put(ks[0], "1"), put(ks[1], "1"), put(ks[2], "1")}})
	if err == nil {
		t.Fatal("the abandoned transaction reported success")
	}
	start := time.Now()
	if _, _, ok := mustGet(t, c.Node(2), ks[1]); ok {
		t.Fatalf("%s of a transaction that never decided is visible", ks[1])
	}
	t.Logf("the read met the lock and resolved it after %v", time.Since(start))
	if _, err := c.Node(3).KV().Put(ctx(t), "", []byte(ks[2]), []byte("mine"), kv.WriteOptions{}); err != nil {
		t.Fatalf("a write to a key of the rolled-back transaction: %v", err)
	}
	if _, _, ok := mustGet(t, c.Node(1), ks[0]); ok {
		t.Fatalf("%s of the rolled-back transaction is visible", ks[0])
	}
	waitNoLocks(t, c)
}

// A coordinator that dies after its commit point leaves the decision
// recorded and the writes unapplied: whoever meets a lock resolves it by
// the record, so every write appears.
func TestAbandonedAfterDecideCommits(t *testing.T) {
	c := newCluster(t)
	n1 := c.Node(1)
	ks := keysOnShards(t, n1, "d", 3)
	dead := txn.New(txn.Config{KV: n1.KV()})
	n1.KV().SetLockResolver(n1.Transactions())
	txn.StopAfter(dead, "decide")
	if _, err := dead.Run(ctx(t), "", txn.Request{Success: []shardsm.TxnOp{put(ks[0], "v"), put(ks[1], "v"), put(ks[2], "v")}}); err == nil {
		t.Fatal("the abandoned transaction reported success")
	}
	for i, k := range ks {
		if v, _, ok := mustGet(t, c.Node(keyspace.NodeID(1+i)), k); !ok || v != "v" {
			t.Fatalf("%s = %q (found %v) after its transaction committed, want v", k, v, ok)
		}
	}
	waitNoLocks(t, c)
}

// Nothing stays locked: the sweeper resolves what nobody touches.
func waitNoLocks(t *testing.T, c *clustertest.Cluster) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var held []kv.LockedError
		for _, n := range c.Running() {
			held = append(held, n.KV().LocalLocks()...)
		}
		if len(held) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("locks still held: %v", held)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Concurrent transfers between accounts on many shards, each a
// transaction comparing both balances' versions, never change the total,
// and a transaction reading every balance never sees a transfer half
// done. Conflicting transactions give way to each other (no deadlock).
func TestBankTransfers(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	seed := *bankSeed
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000
	}
	t.Logf("seed %d (replay: -txn.seed=%d)", seed, seed)
	c := newCluster(t)
	const accounts, initial = 8, 100
	ks := keysOnShards(t, c.Node(1), "acct", accounts)
	var setup []shardsm.TxnOp
	for _, k := range ks {
		setup = append(setup, put(k, strconv.Itoa(initial)))
	}
	if _, err := c.Node(1).Transactions().Run(ctx(t), "", txn.Request{Success: setup}); err != nil {
		t.Fatal(err)
	}
	var all []shardsm.TxnOp
	for _, k := range ks {
		all = append(all, get(k))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var committed, conflicts, audits, gaveUp int
	errs := make(chan error, 16)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed + int64(w)))
			co := c.Node(keyspace.NodeID(1 + w%3)).Transactions()
			for range 25 {
				a, b := rng.Intn(accounts), rng.Intn(accounts-1)
				if b >= a {
					b++
				}
				snap, err := co.Run(ctx(t), "", txn.Request{Success: []shardsm.TxnOp{get(ks[a]), get(ks[b])}})
				if err != nil {
					errs <- fmt.Errorf("reading %s and %s: %w", ks[a], ks[b], err)
					return
				}
				va, _ := strconv.Atoi(string(snap.Results[0].Value))
				vb, _ := strconv.Atoi(string(snap.Results[1].Value))
				amt := rng.Intn(20)
				res, err := co.Run(ctx(t), "", txn.Request{
					Compares: []shardsm.Compare{
						{Key: []byte(ks[a]), Target: shardsm.TargetVersion, Op: shardsm.OpEqual, Version: snap.Results[0].Version},
						{Key: []byte(ks[b]), Target: shardsm.TargetVersion, Op: shardsm.OpEqual, Version: snap.Results[1].Version}},
					Success: []shardsm.TxnOp{put(ks[a], strconv.Itoa(va-amt)), put(ks[b], strconv.Itoa(vb+amt))}})
				if err != nil {
					errs <- fmt.Errorf("transfer %s->%s: %w", ks[a], ks[b], err)
					return
				}
				mu.Lock()
				if res.Succeeded {
					committed++
				} else {
					conflicts++
				}
				mu.Unlock()
			}
		}()
	}
	stop := make(chan struct{})
	var auditWG sync.WaitGroup
	auditWG.Add(1)
	go func() {
		defer auditWG.Done()
		co := c.Node(2).Transactions()
		for done := 0; ; done++ {
			select {
			case <-stop:
				if done >= 20 {
					return
				}
			default:
			}
			res, err := co.Run(ctx(t), "", txn.Request{Success: all})
			if errors.Is(err, kv.ErrLocked) {
				// An audit locks every account, so under constant transfers
				// it may not find them all free before its deadline (no-wait
				// locking gives no priority to the older transaction).
				mu.Lock()
				gaveUp++
				mu.Unlock()
				continue
			}
			if err != nil {
				errs <- fmt.Errorf("audit: %w", err)
				return
			}
			sum := 0
			for _, r := range res.Results {
				v, _ := strconv.Atoi(string(r.Value))
				sum += v
			}
			if sum != accounts*initial {
				errs <- fmt.Errorf("audit saw a total of %d, want %d: %+v", sum, accounts*initial, res.Results)
				return
			}
			mu.Lock()
			audits++
			mu.Unlock()
		}
	}()
	wg.Wait()
	close(stop)
	auditWG.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("seed %d: %v", seed, err)
	}
	sum := 0
	for _, k := range ks {
		v, _, _ := mustGet(t, c.Node(3), k)
		n, _ := strconv.Atoi(v)
		sum += n
	}
	if sum != accounts*initial {
		t.Fatalf("seed %d: final total %d, want %d", seed, sum, accounts*initial)
	}
	if audits == 0 {
		t.Fatalf("seed %d: no audit succeeded (%d gave up on locks)", seed, gaveUp)
	}
	t.Logf("seed %d: %d transfers committed, %d refused by their comparison, %d audits (%d gave up on locks), total kept",
		seed, committed, conflicts, audits, gaveUp)
	waitNoLocks(t, c)
}
