package shardsm

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/storage"
)

var hashSeeds = flag.Int("hash.seeds", 20, "seeds for TestShardSMHashes")

// modelKey is what one user key holds in the model: nothing, a string
// (version), or a hash (generation and fields' versions).
type modelKey struct {
	str    uint64
	gen    uint64
	fields map[string]uint64
}

// TestShardSMHashes applies random writes of strings and of hash fields
// (generation 0: "the current hash") to a few user keys, a few per cycle,
// with conditions, and checks every outcome against a model in which a
// key holds a string or a hash, never both: a string put replaces a
// hash, a delete deletes either, a field write on a string fails with
// ErrWrongType, a hash's generation is the version of the write that
// created it, and deleting its last field deletes it. At the end the
// engine must hold exactly the model: no field of a dead generation, no
// marker without fields. A failure names its seed; -hash.seeds runs more.
func TestShardSMHashes(t *testing.T) {
	for seed := range *hashSeeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runHashModel(t, uint64(seed)) })
	}
}

func runHashModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	e, err := storage.Open(storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const group = 5
	sm, err := New(Config{Group: group, Engine: e, VersionCache: 4})
	if err != nil {
		t.Fatal(err)
	}
	model := map[string]*modelKey{}
	index := uint64(20)
	for cycle := range 400 {
		b := e.NewBatch()
		for range 1 + rng.IntN(6) {
			index++
			key := fmt.Sprintf("k%d", rng.IntN(4))
			field := fmt.Sprintf("f%d", rng.IntN(4))
			m := model[key]
			if m == nil {
				m = &modelKey{}
				model[key] = m
			}
			c, want := hashStep(rng, m, key, field, index)
			got := sm.Apply(b, index, c.Encode()).(Outcome)
			if got.Version != want.Version || got.Created != want.Created || !sameErr(got.Err, want.Err) {
				t.Fatalf("seed %d, cycle %d, index %d, op %d %+v (%q): got %+v, want %+v", seed, cycle, index, c.Op, c, c.Key, got, want)
			}
		}
		if err := b.Commit(false); err != nil {
			t.Fatal(err)
		}
		b.Close()
		sm.Committed()
		var keys int64
		for _, m := range model {
			if m.str != 0 || m.gen != 0 {
				keys++
			}
		}
		if got := sm.Keys(); got != keys {
			t.Fatalf("seed %d, cycle %d: key count %d, model has %d", seed, cycle, got, keys)
		}
		if rng.IntN(40) == 0 {
			sm.Restored(index) // reload: counts and the hash flag from the engine
		}
	}
	want := map[string]uint64{}
	for key, m := range model {
		switch {
		case m.str != 0:
			want[key] = m.str
		case m.gen != 0:
			want[string(keyspace.HashMarkerKey([]byte(key)))] = m.gen
			for f, v := range m.fields {
				want[string(keyspace.HashFieldKey([]byte(key), m.gen, []byte(f)))] = v
			}
		}
	}
	start, end := storage.DataRange(group, nil)
	seen := 0
	err = e.Scan(start, end, func(k, v []byte) bool {
		seen++
		key := string(storage.UserKey(k))
		ver, _, err := DecodeValue(v)
		if err != nil || want[key] != ver {
			t.Errorf("seed %d: engine has %q at version %d (%v), model %d", seed, key, ver, err, want[key])
		}
		return true
	})
	if err != nil || seen != len(want) {
		t.Fatalf("seed %d: engine holds %d keys (%v), model %d", seed, seen, err, len(want))
	}
}

// hashStep picks a random command on key (or its field) and applies it to
// the model, returning the command and the outcome the model expects.
func hashStep(rng *rand.Rand, m *modelKey, key, field string, index uint64) (Command, Outcome) {
	isHash := m.gen != 0
	if rng.IntN(3) == 0 { // a string command
		c := Command{Op: OpPut, Key: []byte(key), Value: []byte("s")}
		present := m.str != 0 || isHash
		switch rng.IntN(4) {
		case 0:
			c.Op = OpDelete
		case 1:
			c.Cond = IfAbsent
		case 2:
			c.Cond = IfPresent
		}
		switch {
		case c.Op == OpDelete && !present, c.Cond == IfPresent && !present:
			return c, Outcome{Err: ErrNotFound}
		case c.Cond == IfAbsent && present:
			return c, Outcome{Err: ErrExists}
		case c.Op == OpDelete:
			*m = modelKey{}
			return c, Outcome{Version: index}
		}
		*m = modelKey{str: index}
		return c, Outcome{Version: index, Created: !present}
	}
	c := Command{Op: OpPut, Key: keyspace.HashFieldKey([]byte(key), 0, []byte(field)), Value: []byte("h")}
	cur, found := m.fields[field]
	switch rng.IntN(5) {
	case 0, 1:
		c.Op = OpDelete
	case 2:
		c.Cond = IfAbsent
	case 3: // compare-and-set, right or wrong
		c.Version = cur
		if rng.IntN(2) == 0 || c.Version == 0 {
			c.Version += 1 + uint64(rng.IntN(2))
		}
	}
	switch {
	case m.str != 0:
		return c, Outcome{Err: ErrWrongType}
	case c.Op == OpDelete && !found:
		return c, Outcome{Err: ErrNotFound}
	case c.Cond == IfAbsent && found:
		return c, Outcome{Err: ErrExists}
	case c.Version != 0 && c.Version != cur:
		return c, Outcome{Err: &VersionMismatchError{Expected: c.Version, Current: cur}}
	case c.Op == OpDelete:
		delete(m.fields, field)
		if len(m.fields) == 0 {
			*m = modelKey{}
		}
		return c, Outcome{Version: index}
	}
	if !isHash {
		m.gen, m.fields = index, map[string]uint64{}
	}
	m.fields[field] = index
	return c, Outcome{Version: index, Created: !found}
}

// TestShardSMRefusesInternalKeysOtherThanCurrentFields: a command naming
// a marker, or a field of an explicit generation, is refused (only the
// shard decides generations).
func TestShardSMRefusesInternalKeysOtherThanCurrentFields(t *testing.T) {
	tg := newTarget(t)
	for _, k := range [][]byte{keyspace.HashMarkerKey([]byte("k")), keyspace.HashFieldKey([]byte("k"), 5, []byte("f")), []byte(keyspace.InternalPrefix + "zz")} {
		c := Command{Op: OpPut, Key: k, Value: []byte("v")}
		if out := tg.apply(c.Encode()); !errors.Is(out.Err, errBadCommand) {
			t.Errorf("put of %q: %+v, want a malformed command", k, out)
		}
	}
	if n := tg.sm.Keys(); n != 0 {
		t.Fatalf("%d keys after refused writes", n)
	}
}

// TestShardSMHashMovesWhole: during a reshard, a hash whose key moves out
// is exported whole to its key's new shard, and deleting it records the
// delete of its marker and of every field, so the final copy deletes all
// of them on the target.
func TestShardSMHashMovesWhole(t *testing.T) {
	e, err := storage.Open(storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const group = 4
	sm, err := New(Config{Group: group, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	// 1 -> 2 shards: this group is old shard 0 and new shard 0; keys of
	// new shard 1 move out.
	mg := Migration{ID: 3, Old: keyspace.Layout{Shards: 1, Sharding: keyspace.ShardingJump},
		New: keyspace.Layout{Shards: 2, Sharding: keyspace.ShardingJump}, OldIndex: 0, NewIndex: 0}
	var key []byte
	for i := 0; key == nil; i++ {
		if k := fmt.Appendf(nil, "h%d", i); mg.New.ShardOf(k) == 1 {
			key = k
		}
	}
	index := uint64(10)
	apply := func(cmd []byte) Outcome {
		t.Helper()
		index++
		b := e.NewBatch()
		defer b.Close()
		out := sm.Apply(b, index, cmd).(Outcome)
		if err := b.Commit(false); err != nil {
			t.Fatal(err)
		}
		sm.Committed()
		return out
	}
	for i := range 3 {
		c := Command{Op: OpPut, Key: keyspace.HashFieldKey(key, 0, fmt.Appendf(nil, "f%d", i)), Value: []byte("v")}
		if out := apply(c.Encode()); out.Err != nil {
			t.Fatal(out.Err)
		}
	}
	if out := apply((&Migrate{Step: StepTrack, Reshard: mg}).Encode()); out.Err != nil {
		t.Fatal(out.Err)
	}
	var exported int
	_, err = Export(e, group, false, func(target int, en *Entry, _ []byte) error {
		if target != 1 {
			t.Errorf("exported %q to shard %d, want 1 (its user key's)", en.Key, target)
		}
		if !bytes.Equal(keyspace.RoutingKey(en.Key), key) {
			t.Errorf("exported %q, which is not of hash %q", en.Key, key)
		}
		exported++
		return nil
	})
	if err != nil || exported != 4 {
		t.Fatalf("bulk export sent %d keys (%v), want the marker and 3 fields", exported, err)
	}
	if out := apply((&Command{Op: OpDelete, Key: key}).Encode()); out.Err != nil {
		t.Fatalf("DEL of the hash: %v", out.Err)
	}
	if out := apply((&Migrate{Step: StepBulkDone, Reshard: mg}).Encode()); out.Err != nil {
		t.Fatal(out.Err)
	}
	if out := apply((&Migrate{Step: StepFreeze, Reshard: mg}).Encode()); out.Err != nil {
		t.Fatal(out.Err)
	}
	deleted := map[string]bool{}
	_, err = Export(e, group, true, func(target int, en *Entry, del []byte) error {
		if en != nil {
			t.Errorf("final copy sent %q, which was deleted", en.Key)
		}
		deleted[string(del)] = true
		return nil
	})
	if err != nil || len(deleted) != 4 || !deleted[string(keyspace.HashMarkerKey(key))] {
		t.Fatalf("final copy deleted %v (%v), want the marker and 3 fields", deleted, err)
	}
	if n := sm.Keys(); n != 0 {
		t.Fatalf("key count %d after the hash was deleted", n)
	}
}

// TestHashSetIsOneWrite: an OpHashSet writes all its fields at one
// version, creating the hash, counting only new fields (a field named
// twice takes its last value), and on a key holding a string writes none;
// its encoding round-trips and a malformed one is refused.
func TestHashSetIsOneWrite(t *testing.T) {
	tg := newTarget(t)
	set := func(key string, kvs ...string) Outcome {
		c := &Command{Op: OpHashSet, Key: []byte(key)}
		for i := 0; i < len(kvs); i += 2 {
			c.Fields = append(c.Fields, Field{Name: []byte(kvs[i]), Value: []byte(kvs[i+1])})
		}
		return tg.apply(c.Encode())
	}
	field := func(key, name string) (uint64, string) {
		mk := keyspace.HashMarkerKey([]byte(key))
		raw, ok, err := tg.e.Get(storage.DataKey(3, mk))
		if err != nil || !ok {
			return 0, ""
		}
		gen, _, _ := DecodeValue(raw)
		raw, ok, err = tg.e.Get(storage.DataKey(3, keyspace.HashFieldKey([]byte(key), gen, []byte(name))))
		if err != nil || !ok {
			return 0, ""
		}
		v, val, _ := DecodeValue(raw)
		return v, string(val)
	}
	out := set("h", "a", "1", "b", "2", "a", "3")
	if out.Err != nil || out.Added != 2 || !out.Created {
		t.Fatalf("new hash: %+v, want 2 added, created", out)
	}
	for name, want := range map[string]string{"a": "3", "b": "2"} {
		if v, got := field("h", name); got != want || v != out.Version {
			t.Fatalf("field %s = %q at %d, want %q at %d", name, got, v, want, out.Version)
		}
	}
	if out = set("h", "b", "x", "c", "y"); out.Err != nil || out.Added != 1 || out.Created {
		t.Fatalf("existing hash: %+v, want 1 added, not created", out)
	}
	put := &Command{Op: OpPut, Key: []byte("s"), Value: []byte("str")}
	if o := tg.apply(put.Encode()); o.Err != nil {
		t.Fatal(o.Err)
	}
	if out = set("s", "a", "1", "b", "2"); !errors.Is(out.Err, ErrWrongType) {
		t.Fatalf("hash set on a string: %+v, want ErrWrongType", out)
	}
	if v, _ := field("s", "a"); v != 0 {
		t.Fatalf("a refused hash set wrote field a at %d", v)
	}
	c := &Command{Op: OpHashSet, Key: []byte("k"), Fields: []Field{{Name: []byte("f"), Value: []byte("v")}, {Name: []byte(""), Value: []byte("w")}}}
	enc := c.Encode()
	d, err := DecodeCommand(enc)
	if err != nil || d.Op != OpHashSet || string(d.Key) != "k" || len(d.Fields) != 2 || string(d.Fields[0].Value) != "v" || string(d.Fields[1].Value) != "w" {
		t.Fatalf("round trip: %+v, %v", d, err)
	}
	for _, bad := range [][]byte{enc[:len(enc)-1], append(bytes.Clone(enc), 0), {byte(OpHashSet), 0, 0, 1, 'k', 0}} {
		if _, err := DecodeCommand(bad); err == nil {
			t.Errorf("malformed hash set %x decoded", bad)
		}
	}
	for _, c := range []*Command{{Op: OpHashSet, Key: []byte("k")}, {Op: OpHashSet, Key: keyspace.HashMarkerKey([]byte("k")), Fields: c.Fields}} {
		if o := tg.apply(c.Encode()); o.Err == nil {
			t.Errorf("hash set %+v applied: %+v", c, o)
		}
	}
}
