package shardsm

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/distkv/distkv/internal/storage"
)

var smSeeds = flag.Int("sm.seeds", 20, "seeds for TestShardSMVersionCache")

// TestShardSMVersionCache applies random puts, deletes and conditional
// writes, a few per cycle, to a shard state machine whose version cache is
// far smaller than its key set, and checks every outcome, the key count
// and finally the engine against a model. Snapshot restores, which rewrite
// the keys behind the cache, are mixed in. A wrong cached version would show as a wrong outcome.
func TestShardSMVersionCache(t *testing.T) {
	for seed := range *smSeeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runShardSMModel(t, uint64(seed)) })
	}
}

func runShardSMModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0))
	e, err := storage.Open(storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const group = 7
	sm, err := New(Config{Group: group, Engine: e, VersionCache: 4})
	if err != nil {
		t.Fatal(err)
	}
	model := map[string]uint64{}
	index := uint64(10)
	for cycle := range 300 {
		b := e.NewBatch()
		for range 1 + rng.IntN(8) {
			index++
			key := fmt.Sprintf("k%02d", rng.IntN(24))
			c := Command{Op: OpPut, Key: []byte(key), Value: []byte(fmt.Sprint("v", index))}
			switch rng.IntN(6) {
			case 0:
				c.Op = OpDelete
			case 1:
				c.Cond = IfAbsent
			case 2:
				c.Cond = IfPresent
			case 3: // compare-and-set, right or wrong
				c.Version = model[key]
				if rng.IntN(2) == 0 || c.Version == 0 {
					c.Version += 1 + uint64(rng.IntN(3))
				}
			}
			got := sm.Apply(b, index, c.Encode()).(Outcome)
			cur, exists := model[key]
			var want Outcome
			switch {
			case c.Op == OpDelete && !exists, c.Cond == IfPresent && !exists:
				want.Err = ErrNotFound
			case c.Cond == IfAbsent && exists:
				want.Err = ErrExists
			case c.Version != 0 && c.Version != cur:
				want.Err = &VersionMismatchError{Expected: c.Version, Current: cur}
			case c.Op == OpDelete:
				want.Version = index
				delete(model, key)
			default:
				want = Outcome{Version: index, Created: !exists}
				model[key] = index
			}
			if got.Version != want.Version || got.Created != want.Created || !sameErr(got.Err, want.Err) {
				t.Fatalf("seed %d, cycle %d, index %d, %+v on %s: got %+v, want %+v", seed, cycle, index, c, key, got, want)
			}
		}
		if err := b.Commit(false); err != nil {
			t.Fatal(err)
		}
		b.Close()
		sm.Committed()
		if n := len(sm.versions.m); n > sm.versions.max {
			t.Fatalf("seed %d: version cache holds %d entries after a commit, bound %d", seed, n, sm.versions.max)
		}
		if got := sm.keys.Load(); got != int64(len(model)) {
			t.Fatalf("seed %d, cycle %d: key count %d, model has %d", seed, cycle, got, len(model))
		}
		if rng.IntN(20) == 0 {
			// A snapshot replaces the shard's state behind the state
			// machine: every key is rewritten at a new version.
			index++
			b := e.NewWriteBatch()
			for key := range model {
				model[key] = index
				if err := b.Set(storage.DataKey(group, []byte(key)), EncodeValue(index, []byte("snap"))); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Commit(false); err != nil {
				t.Fatal(err)
			}
			b.Close()
			sm.Restored(index)
		}
	}
	start, end := storage.DataRange(group, nil)
	seen := 0
	err = e.Scan(start, end, func(k, v []byte) bool {
		seen++
		ver, _, err := DecodeValue(v)
		key := string(k[len(storage.DataKey(group, nil)):])
		if err != nil || model[key] != ver {
			t.Errorf("seed %d: engine has %s at version %d (%v), model %d", seed, key, ver, err, model[key])
		}
		return true
	})
	if err != nil || seen != len(model) {
		t.Fatalf("seed %d: engine holds %d keys (%v), model %d", seed, seen, err, len(model))
	}
}

func sameErr(a, b error) bool {
	var va, vb *VersionMismatchError
	if errors.As(a, &va) || errors.As(b, &vb) {
		return errors.As(a, &va) && errors.As(b, &vb) && *va == *vb
	}
	return errors.Is(a, b)
}
