package txn_test

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/shardsm"
	"github.com/distkv/distkv/internal/txn"
)

var crashSeed = flag64("txn.crash.seed")

// TestBankUnderCrashes moves money between accounts on many shards with
// coordinators on every node while nodes crash (losing what they had not
// synced) and restart, so transactions lose their coordinator, or a
// participant's leader, at every step of the protocol. Transfers that fail
// or end unknown are fine; what no audit, during the run or after it, may
// see is a total other than the initial one, and at the end no key may
// stay locked.
func TestBankUnderCrashes(t *testing.T) { runBankUnderFaults(t, "crash") }

// TestBankUnderPartitions is the same with a node cut off from the others
// instead: its coordinators' transactions lose their participants (and
// participants their leaders) mid-protocol, then the partition heals.
func TestBankUnderPartitions(t *testing.T) { runBankUnderFaults(t, "partition") }

func runBankUnderFaults(t *testing.T, fault string) {
	if testing.Short() {
		t.Skip("long")
	}
	seed := *crashSeed
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000
	}
	t.Logf("seed %d (replay: -txn.crash.seed=%d)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 8, Crashable: true, RequestTimeout: 3 * time.Second})
	c.WaitReady(30 * time.Second)
	const accounts, initial = 6, 100
	ks := keysOnShards(t, c.Node(1), "crash", accounts)
	var setup, all []shardsm.TxnOp
	for _, k := range ks {
		setup = append(setup, put(k, strconv.Itoa(initial)))
		all = append(all, get(k))
	}
	if _, err := c.Node(1).Transactions().Run(ctx(t), "", txn.Request{Success: setup}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var committed, audits int
	var bad []string
	audit := func(co *txn.Coordinator, when string) bool {
		res, err := co.Run(context.Background(), "", txn.Request{Success: all})
		if err != nil {
			return false
		}
		sum := 0
		for _, r := range res.Results {
			v, _ := strconv.Atoi(string(r.Value))
			sum += v
		}
		mu.Lock()
		defer mu.Unlock()
		audits++
		if sum != accounts*initial {
			bad = append(bad, fmt.Sprintf("%s: an audit saw %d, want %d", when, sum, accounts*initial))
		}
		return true
	}
	for cycle := range 4 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wr := rand.New(rand.NewSource(seed*31 + int64(cycle*10+w)))
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					running := c.Running()
					if len(running) == 0 {
						return
					}
					co := running[wr.Intn(len(running))].Transactions()
					if i%3 == 0 {
						audit(co, fmt.Sprintf("cycle %d", cycle))
						continue
					}
					a, b := wr.Intn(accounts), wr.Intn(accounts-1)
					if b >= a {
						b++
					}
					snap, err := co.Run(context.Background(), "", txn.Request{Success: []shardsm.TxnOp{get(ks[a]), get(ks[b])}})
					if err != nil || len(snap.Results) != 2 {
						continue
					}
					va, _ := strconv.Atoi(string(snap.Results[0].Value))
					vb, _ := strconv.Atoi(string(snap.Results[1].Value))
					amt := 1 + wr.Intn(9)
					res, err := co.Run(context.Background(), "", txn.Request{
						Compares: []shardsm.Compare{
							{Key: []byte(ks[a]), Target: shardsm.TargetVersion, Op: shardsm.OpEqual, Version: snap.Results[0].Version},
							{Key: []byte(ks[b]), Target: shardsm.TargetVersion, Op: shardsm.OpEqual, Version: snap.Results[1].Version}},
						Success: []shardsm.TxnOp{put(ks[a], strconv.Itoa(va-amt)), put(ks[b], strconv.Itoa(vb+amt))}})
					if err == nil && res.Succeeded {
						mu.Lock()
						committed++
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(300+rng.Intn(300)) * time.Millisecond)
		victim := keyspace.NodeID(1 + rng.Intn(3))
		if fault == "crash" {
			c.CrashKeeping(victim, rng.Intn(100), uint64(rng.Int63()))
		} else {
			rule, err := c.Faults().Isolate(uint64(victim), 0)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(300+rng.Intn(500)) * time.Millisecond)
			c.Faults().Remove(rule)
		}
		time.Sleep(time.Duration(100+rng.Intn(300)) * time.Millisecond)
		close(stop)
		wg.Wait()
		if fault == "crash" {
			c.Restart(victim)
		}
		c.WaitReady(30 * time.Second)
	}
	// After the crashes: an audit must succeed and see the total, and the
	// abandoned transactions' locks must all be resolved.
	deadline := time.Now().Add(30 * time.Second)
	for !audit(c.Node(2).Transactions(), "after the crashes") {
		if time.Now().After(deadline) {
			t.Fatalf("seed %d: no audit succeeded after the crashes", seed)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitNoLocks(t, c)
	mu.Lock()
	defer mu.Unlock()
	for _, b := range bad {
		t.Errorf("seed %d: %s", seed, b)
	}
	if committed == 0 {
		t.Fatalf("seed %d: no transfer committed", seed)
	}
	t.Logf("seed %d: %d transfers committed, %d audits, total kept through 4 faults (%s)", seed, committed, audits, fault)
}
