package shardsm

import (
	"errors"
	"reflect"
	"testing"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/storage"
)

const txnGroup = 9

func openSM(t *testing.T, e *storage.Engine) *SM {
	t.Helper()
	sm, err := New(Config{Group: txnGroup, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	return sm
}

// applyCycles applies cmds from index 1 on, cut into cycles of size each
// (a Raft Ready's batch), and returns every outcome.
func applyCycles(t *testing.T, sm *SM, e *storage.Engine, cmds [][]byte, size int) []Outcome {
	t.Helper()
	var out []Outcome
	for i := 0; i < len(cmds); i += size {
		b := e.NewBatch()
		for j := i; j < min(i+size, len(cmds)); j++ {
			out = append(out, sm.Apply(b, uint64(j+1), cmds[j]).(Outcome))
		}
		if err := b.Commit(false); err != nil {
			t.Fatal(err)
		}
		b.Close()
		sm.Committed()
	}
	return out
}

func putCmd(k, v string) []byte {
	return (&Command{Op: OpPut, Key: []byte(k), Value: []byte(v)}).Encode()
}

func prepareCmd(id string, keys ...string) []byte {
	t := &Txn{ID: id, Record: txnGroup, Start: 1}
	for _, k := range keys {
		t.Success = append(t.Success, TxnOp{Kind: TxnPut, Key: []byte(k), Value: []byte(id)})
	}
	return t.Encode(OpTxnPrepare)
}

func resolveCmd(id string, commit bool) []byte {
	return (&Txn{ID: id, Commit: commit, Succeeded: true}).Encode(OpTxnResolve)
}

func errText(o Outcome) string {
	if o.Err == nil {
		return ""
	}
	return o.Err.Error()
}

// Every replica must decide alike however its log is cut into cycles: a
// lock a resolve released is gone for the next command at once (readers
// alone see it until the cycle commits).
func TestTxnOutcomesIgnoreBatching(t *testing.T) {
	cmds := [][]byte{
		prepareCmd("t1", "a", "b"),
		putCmd("a", "x"),      // locked by t1
		prepareCmd("t2", "b"), // locked by t1
		resolveCmd("t1", true),
		putCmd("a", "y"),      // free again
		prepareCmd("t2", "b"), // free again
		prepareCmd("t1", "a"), // t1 is over here: refused
		resolveCmd("t2", false),
		putCmd("b", "z"),
	}
	var runs [][]string
	for _, size := range []int{1, 2, 3, len(cmds)} {
		e, err := storage.Open(storage.Config{})
		if err != nil {
			t.Fatal(err)
		}
		sm := openSM(t, e)
		var got []string
		for _, o := range applyCycles(t, sm, e, cmds, size) {
			got = append(got, errText(o))
		}
		runs = append(runs, got)
		if sm.anyLock() || len(sm.Locks()) != 0 {
			t.Errorf("cycles of %d: locks left %v", size, sm.Locks())
		}
		e.Close()
	}
	for i := 1; i < len(runs); i++ {
		if !reflect.DeepEqual(runs[i], runs[0]) {
			t.Fatalf("outcomes depend on batching:\n%q\n%q", runs[0], runs[i])
		}
	}
	want := []bool{false, true, true, false, false, false, true, false, false} // which commands fail
	for i, msg := range runs[0] {
		if (msg != "") != want[i] {
			t.Errorf("command %d: error %q, want failure %v", i, msg, want[i])
		}
	}
}

// A resolve's lock stays visible to readers until its cycle commits.
func TestTxnLockVisibleUntilCommitted(t *testing.T) {
	e, _ := storage.Open(storage.Config{})
	defer e.Close()
	sm := openSM(t, e)
	applyCycles(t, sm, e, [][]byte{prepareCmd("t1", "k")}, 1)
	var l *LockedError
	if err := sm.Locked([]byte("k")); !errors.As(err, &l) || l.Txn != "t1" {
		t.Fatalf("Locked(k) = %v, want t1's lock", err)
	}
	b := e.NewBatch()
	sm.Apply(b, 2, resolveCmd("t1", true))
	if err := sm.Locked([]byte("k")); err == nil {
		t.Fatal("a reader saw the key unlocked before the resolved write was committed")
	}
	_ = b.Commit(false)
	b.Close()
	sm.Committed()
	if err := sm.Locked([]byte("k")); err != nil {
		t.Fatalf("still locked after the resolve committed: %v", err)
	}
	if err := sm.LockedIn([]byte("a"), []byte("z"), nil); err != nil {
		t.Fatalf("range still locked: %v", err)
	}
}

// Locks, parts and records are replicated state: a replica that reloads
// (a restart, or a snapshot) has them back.
func TestTxnStateSurvivesReload(t *testing.T) {
	e, _ := storage.Open(storage.Config{})
	defer e.Close()
	sm := openSM(t, e)
	dec := (&Txn{ID: "t1", Commit: true, Succeeded: true}).Encode(OpTxnDecide)
	applyCycles(t, sm, e, [][]byte{prepareCmd("t1", "k", "m"), dec}, 1)
	sm2 := openSM(t, e)
	if got := sm2.Locks(); len(got) != 2 || string(got[0].Key) != "k" || string(got[1].Key) != "m" || got[0].Record != txnGroup {
		t.Fatalf("reloaded locks %+v", got)
	}
	if err := sm2.LockedIn([]byte("l"), nil, nil); err == nil {
		t.Fatal("LockedIn missed m")
	}
	// The record stands: a later abort learns the commit.
	out := applyCycles(t, sm2, e, [][]byte{(&Txn{ID: "t1"}).Encode(OpTxnDecide), resolveCmd("t1", true)}, 1)
	if out[0].Err != nil || !out[0].Txn.Commit || !out[0].Txn.Succeeded {
		t.Fatalf("second decision %+v, want the recorded commit", out[0])
	}
	if out[1].Err != nil || len(out[1].Txn.Versions) != 2 {
		t.Fatalf("resolve %+v, want both writes applied", out[1])
	}
	raw, ok, _ := e.Get(storage.DataKey(txnGroup, []byte("m")))
	if _, v, _ := DecodeValue(raw); !ok || string(v) != "t1" {
		t.Fatalf("m = %q (found %v), want t1's write", v, ok)
	}
}

// A single-shard transaction evaluates its comparisons and applies the
// branch they choose in one command.
func TestLocalTxn(t *testing.T) {
	e, _ := storage.Open(storage.Config{})
	defer e.Close()
	sm := openSM(t, e)
	applyCycles(t, sm, e, [][]byte{putCmd("a", "1")}, 1)
	tx := &Txn{
		Compares: []Compare{{Key: []byte("a"), Target: TargetValue, Op: OpEqual, Value: []byte("1")},
			{Key: []byte("b"), Target: TargetExists, Op: OpEqual, Exists: false}},
		Success: []TxnOp{{Kind: TxnPut, Key: []byte("b"), Value: []byte("2")}, {Kind: TxnDelete, Key: []byte("a")}, {Kind: TxnGet, Key: []byte("b")}},
		Failure: []TxnOp{{Kind: TxnGet, Key: []byte("a")}},
	}
	out := applyCycles(t, sm, e, [][]byte{tx.Encode(OpTxn), tx.Encode(OpTxn)}, 1)
	first, second := out[0], out[1]
	if first.Err != nil || !first.Txn.Succeeded || len(first.Txn.Results) != 3 || string(first.Txn.Results[2].Value) != "2" {
		t.Fatalf("first run %+v", first)
	}
	if second.Err != nil || second.Txn.Succeeded || len(second.Txn.Results) != 1 || second.Txn.Results[0].Found {
		t.Fatalf("second run %+v, want the failure branch finding a deleted", second)
	}
	// A key another transaction holds refuses the single-shard one too.
	out = applyCycles(t, sm, e, [][]byte{prepareCmd("t9", "b"), tx.Encode(OpTxn)}, 1)
	if !errors.Is(out[1].Err, ErrLocked) {
		t.Fatalf("a transaction over a locked key: %v", out[1].Err)
	}
}

func TestCompareHolds(t *testing.T) {
	present := KeyState{Key: []byte("k"), Found: true, Version: 5, Value: []byte("m")}
	missing := KeyState{Key: []byte("k")}
	for _, c := range []struct {
		cmp  Compare
		s    KeyState
		want bool
	}{
		{Compare{Target: TargetVersion, Op: OpEqual, Version: 5}, present, true},
		{Compare{Target: TargetVersion, Op: OpLess, Version: 6}, present, true},
		{Compare{Target: TargetVersion, Op: OpGreater, Version: 5}, present, false},
		{Compare{Target: TargetVersion, Op: OpEqual, Version: 0}, missing, true},
		{Compare{Target: TargetValue, Op: OpGreater, Value: []byte("a")}, present, true},
		{Compare{Target: TargetValue, Op: OpEqual, Value: []byte("")}, missing, false},
		{Compare{Target: TargetValue, Op: OpNotEqual, Value: []byte("x")}, missing, true},
		{Compare{Target: TargetExists, Op: OpEqual, Exists: true}, present, true},
		{Compare{Target: TargetExists, Op: OpNotEqual, Exists: true}, missing, true},
		{Compare{Target: TargetExists, Op: OpLess, Exists: true}, present, false},
	} {
		if got := c.cmp.Holds(c.s); got != c.want {
			t.Errorf("%s %s %v/%q on %+v = %v, want %v", c.cmp.Target, c.cmp.Op, c.cmp.Version, c.cmp.Value, c.s, got, c.want)
		}
	}
}

// A reshard does not freeze a shard whose keys a transaction holds.
func TestFreezeWaitsForLocks(t *testing.T) {
	e, _ := storage.Open(storage.Config{})
	defer e.Close()
	sm := openSM(t, e)
	applyCycles(t, sm, e, [][]byte{prepareCmd("t1", "k")}, 1)
	b := e.NewBatch()
	defer b.Close()
	mg := Migration{ID: 3, Old: keyspace.Layout{Shards: 1, Sharding: keyspace.ShardingJump},
		New: keyspace.Layout{Shards: 2, Sharding: keyspace.ShardingJump}, OldIndex: 0, NewIndex: 0}
	o := sm.migrate(b, 5, &Migrate{Step: StepFreeze, Reshard: mg})
	if !errors.Is(o.Err, ErrLocked) {
		t.Fatalf("freeze with a lock held: %v", o.Err)
	}
	if sm.pending != nil {
		t.Fatal("a refused freeze changed the shard's record")
	}
}
