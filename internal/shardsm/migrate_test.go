package shardsm

import (
	"errors"
	"fmt"
	"testing"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/storage"
)

// target is a state machine playing the one shard of a 2 -> 1 reshard:
// old shard 0 stays here, old shard 1's keys move in.
type target struct {
	t     *testing.T
	e     *storage.Engine
	sm    *SM
	mg    Migration
	index uint64
}

func newTarget(t *testing.T) *target {
	e, err := storage.Open(storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	sm, err := New(Config{Group: 3, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	mg := Migration{ID: 9, Old: keyspace.Layout{Shards: 2}, New: keyspace.Layout{Shards: 1}, OldIndex: 0, NewIndex: 0}
	return &target{t: t, e: e, sm: sm, mg: mg, index: 100}
}

// apply applies one command in a cycle of its own.
func (tg *target) apply(cmd []byte) Outcome {
	tg.t.Helper()
	tg.index++
	b := tg.e.NewBatch()
	defer b.Close()
	out := tg.sm.Apply(b, tg.index, cmd).(Outcome)
	if err := b.Commit(false); err != nil {
		tg.t.Fatal(err)
	}
	tg.sm.Committed()
	return out
}

func (tg *target) step(step string, final bool, entries []Entry, deletes ...[]byte) {
	tg.t.Helper()
	m := &Migrate{Step: step, Reshard: tg.mg, Source: 1, Final: final, Entries: entries, Deletes: deletes}
	if out := tg.apply(m.Encode()); out.Err != nil {
		tg.t.Fatalf("%s: %v", step, out.Err)
	}
}

// get returns key's version, or 0 if absent.
func (tg *target) get(key []byte) uint64 {
	tg.t.Helper()
	raw, found, err := tg.e.Get(storage.DataKey(3, key))
	if err != nil {
		tg.t.Fatal(err)
	}
	if !found {
		return 0
	}
	v, _, err := DecodeValue(raw)
	if err != nil {
		tg.t.Fatal(err)
	}
	return v
}

// movingKeys returns n keys that move in (old shard 1 of 2).
func movingKeys(n int) [][]byte {
	var out [][]byte
	old := keyspace.Layout{Shards: 2}
	for i := 0; len(out) < n; i++ {
		k := []byte(fmt.Sprint("key", i))
		if old.ShardOf(k) == 1 {
			out = append(out, k)
		}
	}
	return out
}

// TestIngestLateCopies replays copies in the orders a retried or abandoned
// export can produce, and checks that none takes a moving key backwards.
func TestIngestLateCopies(t *testing.T) {
	ks := movingKeys(3)
	a, b, c := ks[0], ks[1], ks[2]
	tg := newTarget(t)
	// The bulk copy brings a at 50 and b at 60; the final copy brings a at
	// 70 and deletes b.
	bulk := []Entry{{Key: a, Version: 50, Value: []byte("a50")}, {Key: b, Version: 60, Value: []byte("b60")}}
	tg.step(StepIngest, false, bulk)
	tg.step(StepIngest, true, []Entry{{Key: a, Version: 70, Value: []byte("a70")}}, b)
	if got := tg.get(a); got != 70 {
		t.Fatalf("after the final copy a is at version %d, want 70", got)
	}
	// A bulk batch of the same source proposed again, committing late:
	// it must not bring b back nor take a back to 50.
	tg.step(StepIngest, false, bulk)
	if got := tg.get(a); got != 70 {
		t.Fatalf("a late bulk copy took a to version %d, want 70", got)
	}
	if got := tg.get(b); got != 0 {
		t.Fatalf("a late bulk copy brought back b (deleted by the final copy) at version %d", got)
	}
	// A final copy repeated out of order with an older version of a
	// keeps the newer one; a key only it has still arrives.
	tg.step(StepIngest, true, []Entry{{Key: a, Version: 65, Value: []byte("a65")}, {Key: c, Version: 66, Value: []byte("c66")}})
	if got := tg.get(a); got != 70 {
		t.Fatalf("an older final entry took a to version %d, want 70", got)
	}
	if got := tg.get(c); got != 66 {
		t.Fatalf("c is at version %d, want 66", got)
	}
	tg.step(StepReady, false, nil)
	tg.step(StepUnlock, false, nil)
	put := &Command{Op: OpPut, Key: a, Value: []byte("new")}
	out := tg.apply(put.Encode())
	if out.Err != nil || out.Version <= 70 {
		t.Fatalf("a write after the unlock: %+v, want a version above 70", out)
	}
	written := out.Version
	// Once the target is ready, no copy changes anything: not a late
	// final copy's delete, nor its entry.
	tg.step(StepIngest, true, []Entry{{Key: c, Version: 1 << 40, Value: []byte("late")}}, a)
	if got := tg.get(a); got != written {
		t.Fatalf("a copy after ready changed a: version %d, want %d", got, written)
	}
	if got := tg.get(c); got != 66 {
		t.Fatalf("a copy after ready changed c: version %d, want 66", got)
	}
}

// TestDroppedGroupRefusesAfterFinish plays old shard 1 of a 2 -> 1
// reshard, a group the new layout drops: once it has finished, a write
// routed by the old layout (a router that paused on ErrMoving and tried
// again) must be refused as moved, not applied where no read will look.
func TestDroppedGroupRefusesAfterFinish(t *testing.T) {
	tg := newTarget(t)
	tg.mg = Migration{ID: 9, Old: keyspace.Layout{Shards: 2}, New: keyspace.Layout{Shards: 1}, OldIndex: 1, NewIndex: -1}
	key := movingKeys(1)[0]
	put := &Command{Op: OpPut, Key: key, Value: []byte("v")}
	if out := tg.apply(put.Encode()); out.Err != nil {
		t.Fatalf("a write before the reshard: %v", out.Err)
	}
	for _, step := range []string{StepTrack, StepBulkDone, StepFreeze, StepSeal} {
		tg.step(step, false, nil)
	}
	tg.step(StepFinish, false, nil)
	if got := tg.get(key); got != 0 {
		t.Fatalf("the moved key is still here after finish, version %d", got)
	}
	for _, cmd := range []*Command{put, {Op: OpDelete, Key: key}} {
		out := tg.apply(cmd.Encode())
		var moved *MovedError
		if !errors.As(out.Err, &moved) {
			t.Fatalf("op %v on the dropped group after finish: %+v, want a MovedError", cmd.Op, out)
		}
	}
	if got := tg.get(key); got != 0 {
		t.Fatalf("a refused write left the key at version %d", got)
	}
}
