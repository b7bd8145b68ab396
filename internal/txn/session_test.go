package txn_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/txn"
)

func fastCluster(t *testing.T) *clustertest.Cluster {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 8, RequestTimeout: 1500 * time.Millisecond})
	c.WaitReady(30 * time.Second)
	return c
}

// An interactive transaction over three shards: reads see its own
// writes, nothing is visible before the commit, a prepared key refuses
// another writer with a conflict naming the key and the holder, and after
// the commit every write is readable from every node.
func TestInteractiveCommit(t *testing.T) {
	c := fastCluster(t)
	co := c.Node(1).Transactions()
	ks := keysOnShards(t, c.Node(1), "i", 3)
	st, err := co.Begin("", 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != api.TxnActive || !strings.HasPrefix(st.Txn, "n1-") || st.TTLMillis != txn.DefaultTTL.Milliseconds() {
		t.Fatalf("begin answered %+v", st)
	}
	if _, err := co.Read(ctx(t), "", st.Txn, []byte(ks[0])); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("read of an absent key: %v", err)
	}
	for _, k := range ks {
		if err := co.Write("", st.Txn, []byte(k), []byte("v-"+k), false); err != nil {
			t.Fatal(err)
		}
	}
	if e, err := co.Read(ctx(t), "", st.Txn, []byte(ks[1])); err != nil || string(e.Value) != "v-"+ks[1] {
		t.Fatalf("read of its own write: %q, %v", e.Value, err)
	}
	if _, _, ok := mustGet(t, c.Node(2), ks[1]); ok {
		t.Fatal("a buffered write is visible before prepare")
	}
	prep, err := co.Prepare(ctx(t), st.Txn)
	if err != nil {
		t.Fatal(err)
	}
	if prep.State != api.TxnPrepared || len(prep.Participants) < 3 {
		t.Fatalf("prepare answered %+v", prep)
	}
	records := 0
	for _, p := range prep.Participants {
		if p.Record {
			records++
		}
	}
	if records != 1 {
		t.Fatalf("participants %+v: want exactly one record shard", prep.Participants)
	}
	pctx, cancel := context.WithTimeout(ctx(t), 2*time.Second)
	_, err = c.Node(3).KV().Put(pctx, "", []byte(ks[2]), []byte("other"), kv.WriteOptions{})
	cancel()
	var l *kv.LockedError
	if !errors.As(err, &l) || string(l.Key) != ks[2] || !strings.HasPrefix(l.Txn, st.Txn) {
		t.Fatalf("a write to a prepared key answered %v, want a conflict naming %s and %s", err, ks[2], st.Txn)
	}
	if got, err := co.Status(l.Txn); err != nil || got.Txn != st.Txn {
		t.Fatalf("status by the lock's holder %s: %+v, %v", l.Txn, got, err)
	}
	done, err := co.Commit(ctx(t), st.Txn)
	if err != nil {
		t.Fatal(err)
	}
	if done.State != api.TxnCommitted || len(done.Results) != 3 || done.Results[0].Version == 0 {
		t.Fatalf("commit answered %+v", done)
	}
	for i, k := range ks {
		if v, ver, ok := mustGet(t, c.Node(3), k); !ok || v != "v-"+k || ver != done.Results[i].Version {
			t.Fatalf("%s = %q v%d (found %v) after the commit, want %q v%d", k, v, ver, ok, "v-"+k, done.Results[i].Version)
		}
	}
	if _, err := co.Commit(ctx(t), st.Txn); err != nil {
		t.Fatalf("committing again: %v (want the committed state)", err)
	}
	if _, err := co.Rollback(ctx(t), st.Txn); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("rolling back a committed transaction: %v, want a conflict", err)
	}
	if err := co.Write("", st.Txn, []byte(ks[0]), []byte("late"), false); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("a write into a committed transaction: %v, want a conflict", err)
	}
	if _, err := c.Node(2).Transactions().Status(st.Txn); !errors.Is(err, kv.ErrNoTxn) || !strings.Contains(err.Error(), "n1") {
		t.Fatalf("status on another node: %v, want no such transaction naming n1", err)
	}
	waitNoLocks(t, c)
}

// A read that another client changes before prepare aborts the
// transaction (409), and none of its writes appear; rollback of a
// prepared transaction releases its locks and writes nothing.
func TestInteractiveConflictAndRollback(t *testing.T) {
	c := fastCluster(t)
	co := c.Node(2).Transactions()
	ks := keysOnShards(t, c.Node(1), "r", 2)
	if _, err := c.Node(1).KV().Put(ctx(t), "", []byte(ks[0]), []byte("0"), kv.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	st, _ := co.Begin("", 0)
	if _, err := co.Read(ctx(t), "", st.Txn, []byte(ks[0])); err != nil {
		t.Fatal(err)
	}
	if err := co.Write("", st.Txn, []byte(ks[1]), []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Node(3).KV().Put(ctx(t), "", []byte(ks[0]), []byte("1"), kv.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := co.Commit(ctx(t), st.Txn)
	if !errors.Is(err, kv.ErrTxnAborted) || got.State != api.TxnAborted || !strings.Contains(got.Reason, "changed") {
		t.Fatalf("commit after a read changed: %+v, %v; want aborted", got, err)
	}
	if _, _, ok := mustGet(t, c.Node(1), ks[1]); ok {
		t.Fatal("an aborted transaction's write is visible")
	}

	st, _ = co.Begin("", 0)
	_ = co.Write("", st.Txn, []byte(ks[0]), []byte("rb"), false)
	_ = co.Write("", st.Txn, []byte(ks[1]), []byte("rb"), true)
	if _, err := co.Prepare(ctx(t), st.Txn); err != nil {
		t.Fatal(err)
	}
	rb, err := co.Rollback(ctx(t), st.Txn)
	if err != nil || rb.State != api.TxnAborted {
		t.Fatalf("rollback: %+v, %v", rb, err)
	}
	if v, _, _ := mustGet(t, c.Node(3), ks[0]); v != "1" {
		t.Fatalf("%s = %q after a rollback, want 1", ks[0], v)
	}
	if _, err := co.Commit(ctx(t), st.Txn); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("commit after rollback: %v, want a conflict", err)
	}
	waitNoLocks(t, c)
}

// Bad input: a TTL out of range, a missing transaction, a write in the
// wrong namespace; none of them leaves anything behind.
func TestInteractiveBadInput(t *testing.T) {
	c := fastCluster(t)
	co := c.Node(1).Transactions()
	if _, err := co.Begin("", time.Hour); !errors.Is(err, kv.ErrInvalid) {
		t.Fatalf("an hour's TTL: %v", err)
	}
	if _, err := co.Begin("nope", 0); !errors.Is(err, kv.ErrNoNamespace) {
		t.Fatalf("a missing namespace: %v", err)
	}
	if _, err := co.Prepare(ctx(t), "n1-0000"); !errors.Is(err, kv.ErrNoTxn) {
		t.Fatalf("a missing transaction: %v", err)
	}
	st, _ := co.Begin("", 0)
	if err := co.Write("other", st.Txn, []byte("k"), nil, false); !errors.Is(err, kv.ErrInvalid) {
		t.Fatalf("a write in the wrong namespace: %v", err)
	}
	if err := co.Write("", st.Txn, []byte{}, nil, false); err == nil {
		t.Fatal("an empty key was accepted")
	}
}

// A coordinator that dies after prepare leaves its locks; once its TTL
// passes, whoever meets them rolls it back. One that dies after recording
// its commit is finished by whoever meets its locks, at once.
func TestInteractiveAbandoned(t *testing.T) {
	c := newCluster(t)
	n1 := c.Node(1)
	ks := keysOnShards(t, n1, "a", 3)
	for _, step := range []string{"prepare", "decide"} {
		t.Run(step, func(t *testing.T) {
			dead := txn.New(txn.Config{KV: n1.KV(), NodeID: "dead"})
			n1.KV().SetLockResolver(n1.Transactions())
			if step == "decide" {
				txn.StopAfter(dead, "decide")
			}
			st, err := dead.Begin("", time.Second)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range ks {
				_ = dead.Write("", st.Txn, []byte(k), []byte(step), false)
			}
			if step == "prepare" {
				if _, err := dead.Prepare(ctx(t), st.Txn); err != nil {
					t.Fatal(err)
				}
			} else if _, err := dead.Commit(ctx(t), st.Txn); err == nil {
				t.Fatal("the abandoned commit reported success")
			}
			start := time.Now()
			v, _, ok := mustGet(t, c.Node(2), ks[1])
			switch {
			case step == "prepare" && ok && v == step:
				t.Fatalf("%s of a transaction that never committed is visible", ks[1])
			case step == "decide" && v != step:
				t.Fatalf("%s = %q after its transaction's commit was recorded, want %q", ks[1], v, step)
			}
			t.Logf("the read met the lock and resolved it after %v", time.Since(start))
			waitNoLocks(t, c)
		})
	}
}

// Two transactions that lock the same keys in opposite orders both
// finish (no deadlock: a prepare that meets a lock gives way), and write
// skew is impossible: each reads one key and writes the other, so at most
// one of them commits.
func TestInteractiveContention(t *testing.T) {
	c := fastCluster(t)
	ks := keysOnShards(t, c.Node(1), "w", 2)
	cos := []*txn.Coordinator{c.Node(1).Transactions(), c.Node(2).Transactions()}
	for round := range 10 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		states := make([]api.TxnState, 2)
		ids := make([]string, 2)
		for i, co := range cos {
			st, err := co.Begin("", 0)
			if err != nil {
				t.Fatal(err)
			}
			r, w := ks[i], ks[1-i]
			if _, err := co.Read(ctx(t), "", st.Txn, []byte(r)); err != nil && !errors.Is(err, kv.ErrNotFound) {
				t.Fatal(err)
			}
			if err := co.Write("", st.Txn, []byte(w), []byte{byte('a' + round)}, false); err != nil {
				t.Fatal(err)
			}
			ids[i] = st.Txn
		}
		for i, co := range cos { // both have read before either commits
			wg.Add(1)
			go func() {
				defer wg.Done()
				states[i], errs[i] = co.Commit(ctx(t), ids[i])
			}()
		}
		wg.Wait()
		if errs[0] == nil && errs[1] == nil {
			t.Fatalf("round %d: both transactions of a write skew committed: %+v", round, states)
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, kv.ErrTxnAborted) && !errors.Is(err, kv.ErrLocked) {
				t.Fatalf("round %d: %v, want a commit or a conflict", round, err)
			}
		}
	}
	// Opposite lock orders, no reads: both commit.
	for round := range 10 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, co := range cos {
			st, _ := co.Begin("", 0)
			_ = co.Write("", st.Txn, []byte(ks[i]), []byte("x"), false)
			_ = co.Write("", st.Txn, []byte(ks[1-i]), []byte("x"), false)
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, errs[i] = co.Commit(c, st.Txn)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: blind writer %d: %v", round, i, err)
			}
		}
	}
	waitNoLocks(t, c)
}
