package dynamo

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"

	"github.com/distkv/distkv/internal/replication/dynamo/dvv"
	"github.com/distkv/distkv/internal/replication/dynamo/merkle"
	"github.com/distkv/distkv/internal/storage"
)

// Storage layout, in each group's leaderless range:
//
//	'v' key            the key's state (dvv.Set), on its replicas
//	'h' owner(8) key   a hint: a state held for replica owner while it is down
const (
	subValue = 'v'
	subHint  = 'h'
)

// merkleBuckets is the leaf count of every shard's anti-entropy tree.
const merkleBuckets = 1024

// store is a node's local leaderless data: states per key, with a Merkle
// tree and a live-key count per group kept in step with every write.
// Writes to one key are serialized by a striped lock.
type store struct {
	engine  *storage.Engine
	sync    bool
	stripes [256]sync.Mutex
	mu      sync.Mutex
	groups  map[uint64]*groupState
}

type groupState struct {
	once sync.Once
	err  error
	tree *merkle.Tree
	live atomic.Int64 // keys with at least one live sibling
}

func newStore(e *storage.Engine, sync bool) *store {
	return &store{engine: e, sync: sync, groups: map[uint64]*groupState{}}
}

func (s *store) stripe(key []byte) *sync.Mutex {
	h := fnv.New32a()
	h.Write(key)
	return &s.stripes[h.Sum32()%uint32(len(s.stripes))]
}

// group returns a group's state, building its tree from disk on first use.
func (s *store) group(g uint64) (*groupState, error) {
	s.mu.Lock()
	gs := s.groups[g]
	if gs == nil {
		gs = &groupState{tree: merkle.New(merkleBuckets)}
		s.groups[g] = gs
	}
	s.mu.Unlock()
	gs.once.Do(func() { gs.err = s.load(g, gs) })
	return gs, gs.err
}

func (s *store) load(g uint64, gs *groupState) error {
	start, end := storage.LeaderlessRange(g, subValue, nil)
	var decErr error
	err := s.engine.Scan(start, end, func(k, v []byte) bool {
		set, err := dvv.Decode(v)
		if err != nil {
			decErr = fmt.Errorf("dynamo: group %d key %q: %w", g, k[len(start):], err)
			return false
		}
		gs.tree.Set(k[len(start):], 0, set.Hash(), false)
		if !set.IsTombstone() {
			gs.live.Add(1)
		}
		return true
	})
	if err == nil {
		err = decErr
	}
	return err
}

// get reads a key's local state.
func (s *store) get(g uint64, key []byte) (dvv.Set, bool, error) {
	v, ok, err := s.engine.Get(storage.LeaderlessKey(g, subValue, key))
	if err != nil || !ok {
		return dvv.Set{}, false, err
	}
	set, err := dvv.Decode(v)
	return set, err == nil, err
}

// update runs fn on a key's current state under the key's lock and stores
// what it returns (if write). The tree and the live count follow.
func (s *store) update(g uint64, key []byte, fn func(old dvv.Set, found bool) (dvv.Set, bool)) (dvv.Set, bool, error) {
	return s.updateWith(g, key, fn, nil)
}

// updateWith is update whose batch also carries extra's writes, committed
// atomically with the key's new state (even when the state is unchanged).
func (s *store) updateWith(g uint64, key []byte, fn func(old dvv.Set, found bool) (dvv.Set, bool), extra func(b *storage.Batch) error) (dvv.Set, bool, error) {
	gs, err := s.group(g)
	if err != nil {
		return dvv.Set{}, false, err
	}
	mu := s.stripe(key)
	mu.Lock()
	defer mu.Unlock()
	old, found, err := s.get(g, key)
	if err != nil {
		return dvv.Set{}, false, err
	}
	next, write := fn(old, found)
	if !write || (found && next.Equal(old)) {
		if extra == nil {
			return old, false, nil
		}
		return old, false, s.commitExtra(extra)
	}
	b := s.engine.NewWriteBatch()
	defer b.Close()
	if err := b.Set(storage.LeaderlessKey(g, subValue, key), next.Encode()); err != nil {
		return old, false, err
	}
	if extra != nil {
		if err := extra(b); err != nil {
			return old, false, err
		}
	}
	if err := b.Commit(s.sync); err != nil {
		return old, false, err
	}
	var oldHash uint64
	if found {
		oldHash = old.Hash()
	}
	gs.tree.Set(key, oldHash, next.Hash(), found)
	wasLive, isLive := found && !old.IsTombstone(), !next.IsTombstone()
	switch {
	case isLive && !wasLive:
		gs.live.Add(1)
	case wasLive && !isLive:
		gs.live.Add(-1)
	}
	return next, true, nil
}

func (s *store) commitExtra(extra func(b *storage.Batch) error) error {
	b := s.engine.NewWriteBatch()
	defer b.Close()
	if err := extra(b); err != nil {
		return err
	}
	return b.Commit(s.sync)
}

// merge folds a remote state into the local one.
func (s *store) merge(g uint64, key []byte, in dvv.Set, lww bool, discarded func(int)) (dvv.Set, bool, error) {
	return s.update(g, key, func(old dvv.Set, found bool) (dvv.Set, bool) {
		m := in
		if found {
			m = dvv.Merge(old, in)
		}
		if lww {
			var n int
			m, n = m.ResolveLWW()
			if n > 0 && discarded != nil {
				discarded(n)
			}
		}
		return m, true
	})
}

// removeIfHash deletes a key whose state still hashes to h (tombstone GC).
func (s *store) removeIfHash(g uint64, key []byte, h uint64) (bool, error) {
	gs, err := s.group(g)
	if err != nil {
		return false, err
	}
	mu := s.stripe(key)
	mu.Lock()
	defer mu.Unlock()
	old, found, err := s.get(g, key)
	if err != nil || !found || old.Hash() != h || !old.IsTombstone() {
		return false, err
	}
	b := s.engine.NewWriteBatch()
	defer b.Close()
	if err := b.Delete(storage.LeaderlessKey(g, subValue, key)); err != nil {
		return false, err
	}
	if err := b.Commit(s.sync); err != nil {
		return false, err
	}
	gs.tree.Remove(key, h)
	return true, nil
}

// remove deletes a key's state (no change event) if ok, asked under the
// key's lock, still says so.
func (s *store) remove(g uint64, key []byte, ok func([]byte) bool) error {
	gs, err := s.group(g)
	if err != nil {
		return err
	}
	mu := s.stripe(key)
	mu.Lock()
	defer mu.Unlock()
	old, found, err := s.get(g, key)
	if err != nil || !found || !ok(key) {
		return err
	}
	b := s.engine.NewWriteBatch()
	defer b.Close()
	if err := b.Delete(storage.LeaderlessKey(g, subValue, key)); err != nil {
		return err
	}
	if err := b.Commit(s.sync); err != nil {
		return err
	}
	gs.tree.Remove(key, old.Hash())
	if !old.IsTombstone() {
		gs.live.Add(-1)
	}
	return nil
}

// scan lists the states of a group's keys with prefix after after, up to
// limit, in key order.
func (s *store) scan(g uint64, prefix, after []byte, limit int, fn func(key []byte, set dvv.Set) bool) error {
	start, end := storage.LeaderlessRange(g, subValue, prefix)
	base := len(storage.LeaderlessKey(g, subValue, nil))
	var decErr error
	n := 0
	err := s.engine.Scan(start, end, func(k, v []byte) bool {
		key := k[base:]
		if len(after) > 0 && string(key) <= string(after) {
			return true
		}
		if limit > 0 && n >= limit {
			return false
		}
		set, err := dvv.Decode(v)
		if err != nil {
			decErr = err
			return false
		}
		n++
		return fn(append([]byte(nil), key...), set)
	})
	if err == nil {
		err = decErr
	}
	return err
}

// liveKeys is the number of keys with a live value in a group here.
func (s *store) liveKeys(g uint64) int64 {
	gs, err := s.group(g)
	if err != nil {
		return -1
	}
	return gs.live.Load()
}

// hintKey is where a hint for owner lives.
func hintKey(g, owner uint64, key []byte) []byte {
	k := binary.BigEndian.AppendUint64(nil, owner)
	return storage.LeaderlessKey(g, subHint, append(k, key...))
}

// storeHint merges a state into the hint held for owner.
func (s *store) storeHint(g, owner uint64, key []byte, in dvv.Set) error {
	mu := s.stripe(key)
	mu.Lock()
	defer mu.Unlock()
	hk := hintKey(g, owner, key)
	if v, ok, err := s.engine.Get(hk); err != nil {
		return err
	} else if ok {
		old, err := dvv.Decode(v)
		if err != nil {
			return err
		}
		in = dvv.Merge(old, in)
	}
	b := s.engine.NewWriteBatch()
	defer b.Close()
	if err := b.Set(hk, in.Encode()); err != nil {
		return err
	}
	return b.Commit(s.sync)
}

// hint is a stored hint.
type hint struct {
	group, owner uint64
	key          []byte
	set          dvv.Set
	raw          []byte
}

// hints lists up to limit hints of a group.
func (s *store) hints(g uint64, limit int) ([]hint, error) {
	var out []hint
	err := s.scanHints(g, func(h hint) bool {
		out = append(out, h)
		return len(out) < limit
	})
	return out, err
}

// scanHints calls fn with each hint of a group, in key order, until fn
// returns false.
func (s *store) scanHints(g uint64, fn func(hint) bool) error {
	start, end := storage.LeaderlessRange(g, subHint, nil)
	base := len(storage.LeaderlessKey(g, subHint, nil))
	return s.engine.Scan(start, end, func(k, v []byte) bool {
		rest := k[base:]
		if len(rest) < 8 {
			return true
		}
		set, err := dvv.Decode(v)
		if err != nil {
			return true
		}
		return fn(hint{group: g, owner: binary.BigEndian.Uint64(rest[:8]),
			key: append([]byte(nil), rest[8:]...), set: set, raw: append([]byte(nil), v...)})
	})
}

// dropHints deletes delivered hints, each unless it changed since it was
// read, in one batch.
func (s *store) dropHints(hs []hint) error {
	b := s.engine.NewWriteBatch()
	defer b.Close()
	for _, h := range hs {
		mu := s.stripe(h.key)
		mu.Lock()
		hk := hintKey(h.group, h.owner, h.key)
		v, ok, err := s.engine.Get(hk)
		if err == nil && ok && string(v) == string(h.raw) {
			err = b.Delete(hk)
		}
		mu.Unlock()
		if err != nil {
			return err
		}
	}
	return b.Commit(s.sync)
}
