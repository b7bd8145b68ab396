package coordinator_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/lincheck"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/node"
)

// TestMembershipLinearizable checks a strong namespace for linearizability
// (porcupine, per key) while the cluster changes shape under network
// faults: a node joins and the rebalancer moves replicas onto it, the
// namespace reshards 2 -> 4, and an original node is removed (drained),
// while a seeded schedule of delays, drops and short partitions of one
// node runs and is healed before the end. Concurrent clients do get, put
// and compare-and-set on a few keys through different nodes; a write whose
// outcome is unknown is recorded as possibly applied at any later time.
//
// The seed (DISTKV_TEST_SEED) picks the clients' operations and nodes and
// the fault schedule; it is printed on failure.
func TestMembershipLinearizable(t *testing.T) {
	seed := testSeed(t)
	const (
		clients   = 6
		readers   = 2 // clients 0 and 1 only read (the others' writes pause while their keys move)
		keys      = 4
		opTimeout = time.Second
		faultsFor = 9 * time.Second  // faults are injected for this long, then healed
		minRun    = 12 * time.Second // the workload runs at least this long
		maxRun    = 20 * time.Second // the changes must be done by then
	)
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 2, Seed: seed, RequestTimeout: opTimeout})
	c.WaitMap(30*time.Second, "every shard fully replicated", fullyReplicated)
	writeKeys(t, c, "bulk", 300) // data for the moves and reshards to carry (not checked here)
	start := time.Now()
	var logMu sync.Mutex
	var events []string
	note := func(format string, args ...any) {
		logMu.Lock()
		events = append(events, fmt.Sprintf("%6.2fs ", time.Since(start).Seconds())+fmt.Sprintf(format, args...))
		logMu.Unlock()
	}
	t.Cleanup(func() {
		logMu.Lock()
		t.Logf("seed %d; changes and faults:\n%s", seed, strings.Join(events, "\n"))
		logMu.Unlock()
	})

	// The nodes clients send requests to: the original three, then n4 once
	// it is active; n2 until it is removed.
	var serving atomic.Pointer[[]*node.Node]
	setServing := func(ids ...keyspace.NodeID) {
		ns := nodesOf(t, c, ids...)
		serving.Store(&ns)
		note("clients use %v", ids)
	}
	setServing(1, 2, 3)

	rec := lincheck.NewRecorder()
	// Operations started, finished (however), and answered definitely.
	var started, finished, acked atomic.Int64
	stopClients := make(chan struct{})
	var clientsWG sync.WaitGroup
	for id := range clients {
		clientsWG.Add(1)
		go func() {
			defer clientsWG.Done()
			linClient(id, id < readers, rand.New(rand.NewSource(seed*1000+int64(id))), rec, &serving, keys, opTimeout, &started, &finished, &acked, stopClients)
		}()
	}
	stopOnce := sync.Once{}
	stop := func() { stopOnce.Do(func() { close(stopClients); clientsWG.Wait() }) }
	defer stop()

	// The fault schedule: one fault at a time, each with a time to live.
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		rng := rand.New(rand.NewSource(seed))
		f := c.Faults()
		for time.Since(start) < faultsFor {
			ttl := time.Duration(300+rng.Intn(700)) * time.Millisecond
			ids := c.IDs()
			victim := ids[rng.Intn(len(ids))]
			switch p := rng.Intn(100); {
			case p < 35:
				d := time.Duration(1+rng.Intn(8)) * time.Millisecond
				if _, err := f.Delay(0, d, d, ttl); err == nil {
					note("delay %v±%v on every link for %v", d, d, ttl)
				}
			case p < 65:
				prob := 0.05 + 0.2*rng.Float64()
				if _, err := f.Drop(uint64(victim), prob, ttl); err == nil {
					note("drop %.2f of %s's messages for %v", prob, victim, ttl)
				}
			default:
				var rest []uint64
				for _, id := range ids {
					if id != victim {
						rest = append(rest, uint64(id))
					}
				}
				if _, err := f.Partition([][]uint64{{uint64(victim)}, rest}, ttl); err == nil {
					note("partition %s from %v for %v", victim, rest, ttl)
				}
			}
			time.Sleep(ttl + time.Duration(100+rng.Intn(400))*time.Millisecond)
		}
		f.Heal()
		note("network healed")
	}()

	// The changes, one after another, spread over the faults.
	// during notes how the workload overlapped a change that began when
	// before was taken: operations answered meanwhile (a fault may stall
	// every client for a while), and operations in flight at some point
	// of it, of which there must be some.
	type mark struct{ answered, finished int64 }
	now := func() mark { return mark{acked.Load(), finished.Load()} }
	during := func(what string, before mark) {
		t.Helper()
		answered, overlapping := acked.Load()-before.answered, started.Load()-before.finished
		note("%s done; %d operations answered meanwhile, %d overlapped it", what, answered, overlapping)
		if overlapping <= 0 {
			t.Fatalf("no operation overlapped %s", what)
		}
	}
	at := func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) }
	left := func() time.Duration { return max(time.Until(start.Add(maxRun)), time.Second) }
	all := func() []*node.Node { return nodesOf(t, c, 1, 2, 3, 4) }
	rest := func() []*node.Node { return nodesOf(t, c, 1, 3, 4) }

	at(500 * time.Millisecond)
	before := now()
	note("n4 joins")
	c.Join(4)
	waitMapOn(t, all(), left(), "n4 active", inState(4, membership.MemberActive))
	setServing(1, 2, 3, 4)
	waitMapOn(t, all(), left(), "replicas moved onto n4, settled",
		allOf(settled, fullyReplicated, func(m *membership.Map) bool { return replicasOn(m, "default")[4] > 0 }))
	during("the join and the moves onto n4", before)

	at(3 * time.Second)
	before = now()
	note("reshard 2 -> 4")
	llReshard(t, c.Node(1), "default", 4)
	waitMapOn(t, all(), left(), "4 shards, settled", func(m *membership.Map) bool {
		return settled(m) && m.Namespace("default").Shards == 4 && fullyReplicated(m)
	})
	during("the reshard 2 -> 4", before)

	at(5500 * time.Millisecond)
	before = now()
	note("remove n2")
	linRemove(t, c, "n2")
	waitMapOn(t, rest(), left(), "n2 removed, holding nothing, settled",
		allOf(inState(2, membership.MemberRemoved), noReplicasOn(2), settled, fullyReplicated))
	setServing(1, 3, 4)
	during("n2's removal", before)

	at(8 * time.Second)
	before = now()
	note("reshard 4 -> 3")
	llReshard(t, c.Node(1), "default", 3)
	waitMapOn(t, rest(), left(), "3 shards, settled", func(m *membership.Map) bool {
		return settled(m) && m.Namespace("default").Shards == 3 && fullyReplicated(m)
	})
	during("the reshard 4 -> 3", before)
	if d := time.Until(start.Add(minRun)); d > 0 {
		time.Sleep(d)
	}
	stop()
	<-faultsDone
	c.Faults().Heal()
	// n2 is removed: the clients stopped using it when it was; stop it.
	c.Stop(2)
	note("clients stopped, n2 stopped")

	waitLeadersOn(t, rest(), 30*time.Second)
	// Final reads pin down every key's last state, through every node.
	for i, n := range rest() {
		for k := range keys {
			key := fmt.Sprintf("k%d", k)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			for {
				if linGet(ctx, rec, clients+i, n, key, map[string]uint64{}) || ctx.Err() != nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
		}
	}

	h := rec.History()
	ok, unknown := 0, 0
	for _, op := range h {
		out := op.Output.(lincheck.Output)
		if out.Unknown {
			unknown++
		} else if out.OK {
			ok++
		}
	}
	t.Logf("history: %d operations, %d successful writes, %d of unknown outcome, in %v", len(h), ok, unknown, time.Since(start).Round(time.Millisecond))
	if ok < 50 {
		t.Fatalf("only %d writes succeeded: the workload checks little", ok)
	}
	checkStart := time.Now()
	r := lincheck.Check(h, 60*time.Second)
	t.Logf("check: %s in %v (%d ops on %d keys, %d unknown)", r.Verdict, time.Since(checkStart).Round(time.Millisecond), r.Ops, r.Keys, r.Unknown)
	if r.Verdict != lincheck.Linearizable {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("distkv-membership-lin-%d.html", seed))
		if err := r.Visualize(path); err == nil {
			t.Logf("porcupine's view of the history: %s", path)
		}
		ops := r.FailingOps
		if len(ops) > 150 {
			ops = append([]string{fmt.Sprintf("(%d earlier operations left out)", len(ops)-150)}, ops[len(ops)-150:]...)
		}
		t.Fatalf("seed %d: %s (rerun with DISTKV_TEST_SEED=%d); key %s:\n%s", seed, r.Verdict, seed, r.FailingKey, strings.Join(ops, "\n"))
	}
}

// linClient runs one client until stop closes: random get/put/cas (only
// get if readOnly) on keys k0..k<keys-1> through a random serving node.
func linClient(id int, readOnly bool, rng *rand.Rand, rec *lincheck.Recorder, serving *atomic.Pointer[[]*node.Node], keys int, timeout time.Duration, started, finished, acked *atomic.Int64, stop <-chan struct{}) {
	seen := map[string]uint64{}
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		nodes := *serving.Load()
		n := nodes[rng.Intn(len(nodes))]
		key := fmt.Sprintf("k%d", rng.Intn(keys))
		val := fmt.Sprintf("c%d-%d", id, seq)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		started.Add(1)
		p := rng.Intn(100)
		if readOnly {
			p = 0
		}
		switch {
		case p < 40:
			if linGet(ctx, rec, id, n, key, seen) {
				acked.Add(1)
			}
		case p < 75:
			call := rec.Begin(id, lincheck.Input{Kind: lincheck.Put, Key: key, Value: val})
			res, err := n.KV().Put(ctx, "", []byte(key), []byte(val), kv.WriteOptions{})
			linEndWrite(call, err, res.Version, acked)
		default:
			in := lincheck.Input{Kind: lincheck.CAS, Key: key, Value: val, Expect: seen[key]}
			if in.Expect == 0 {
				in.Expect = uint64(1 + rng.Intn(50))
			}
			call := rec.Begin(id, in)
			res, err := n.KV().Put(ctx, "", []byte(key), []byte(val), kv.WriteOptions{Version: in.Expect})
			linEndWrite(call, err, res.Version, acked)
		}
		finished.Add(1)
		cancel()
		time.Sleep(time.Duration(rng.Intn(4)) * time.Millisecond)
	}
}

// linGet records a linearizable read; it reports whether the read had an
// answer (a failed read is dropped: it changed nothing).
func linGet(ctx context.Context, rec *lincheck.Recorder, client int, n *node.Node, key string, seen map[string]uint64) bool {
	call := rec.Begin(client, lincheck.Input{Kind: lincheck.Get, Key: key})
	e, err := n.KV().Get(ctx, "", []byte(key), kv.ReadOptions{})
	switch {
	case err == nil:
		call.End(lincheck.Output{Found: true, Value: string(e.Value), Version: e.Version})
		seen[key] = e.Version
	case errors.Is(err, kv.ErrNotFound):
		call.End(lincheck.Output{})
		delete(seen, key)
	default:
		call.Drop()
		return false
	}
	return true
}

// linEndWrite records a write's answer: a definite one, nothing when the
// store promises nothing was done (unavailable), or an unknown outcome.
func linEndWrite(call *lincheck.Call, err error, version uint64, acked *atomic.Int64) {
	switch {
	case err == nil:
		call.End(lincheck.Output{OK: true, Version: version})
		acked.Add(1)
	case errors.Is(err, kv.ErrVersionMismatch), errors.Is(err, kv.ErrNotFound), errors.Is(err, kv.ErrExists):
		call.End(lincheck.Output{})
		acked.Add(1)
	case errors.Is(err, kv.ErrUnavailable):
		call.Drop()
	default:
		call.End(lincheck.Output{Unknown: true})
	}
}

// linRemove asks the cluster to remove member id, retrying transient
// failures (a partition may hide the coordinator for a moment).
func linRemove(t *testing.T, c *clustertest.Cluster, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		for _, n := range nodesOf(t, c, 1, 3, 4) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = n.RemoveMember(ctx, id)
			cancel()
			if err == nil {
				return
			}
			if errors.Is(err, kv.ErrConflict) || errors.Is(err, kv.ErrUnknownMember) || errors.Is(err, kv.ErrInvalid) {
				t.Fatalf("removing %s: %v", id, err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("removing %s: still failing after 20s: %v", id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
