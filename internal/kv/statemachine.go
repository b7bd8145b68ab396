package kv

import (
	"fmt"
	"sync/atomic"

	"github.com/distkv/distkv/internal/storage"
)

// Change is one applied write, reported after it is durable.
type Change struct {
	Group   uint64
	Key     []byte
	Value   []byte // nil for a delete
	Version uint64 // the write's Raft index
	Deleted bool
}

// outcome is what applying a command returns to its proposer.
type outcome struct {
	version uint64 // the new version (put) or the write's index (delete)
	created bool
	err     error
}

// shardSM is a strong shard's state machine: the shard's keys, each with
// the Raft index of the write that produced it as its version.
type shardSM struct {
	group     uint64
	engine    *storage.Engine
	onChange  func([]Change)
	onRestore func(index uint64)
	changes   []Change
	// keys counts the shard's keys: loaded from the engine when the state
	// machine is created or restored, then kept up to date by Apply.
	// Written on the Raft loop, read by status requests.
	keys atomic.Int64
	// pendingKeys is this cycle's change to keys, published on Committed.
	pendingKeys int64
	versions    *versionCache
}

func newShardSM(group uint64, e *storage.Engine, onChange func([]Change)) *shardSM {
	sm := &shardSM{group: group, engine: e, onChange: onChange, versions: newVersionCache(versionCacheSize)}
	sm.recount()
	return sm
}

func (sm *shardSM) recount() {
	var n int64
	start, end := storage.DataRange(sm.group, nil)
	_ = sm.engine.Scan(start, end, func(k, v []byte) bool { n++; return true })
	sm.keys.Store(n)
}

func (sm *shardSM) Apply(b *storage.Batch, index uint64, cmd []byte) any {
	c, err := decodeCommand(cmd)
	if err != nil {
		return outcome{err: err}
	}
	dk := storage.DataKey(sm.group, c.key)
	cur, found := sm.version(b, dk, c.key)
	if err := check(c, found, cur); err != nil {
		return outcome{err: err}
	}
	switch c.op {
	case opPut:
		if err := b.Set(dk, encodeValue(index, c.value)); err != nil {
			panic(fmt.Sprintf("kv: writing %q during apply: %v", c.key, err))
		}
		sm.versions.set(c.key, index)
		sm.record(Change{Group: sm.group, Key: c.key, Value: c.value, Version: index})
		if !found {
			sm.pendingKeys++
		}
		return outcome{version: index, created: !found}
	case opDelete:
		if err := b.Delete(dk); err != nil {
			panic(fmt.Sprintf("kv: deleting %q during apply: %v", c.key, err))
		}
		sm.versions.set(c.key, 0)
		sm.record(Change{Group: sm.group, Key: c.key, Version: index, Deleted: true})
		sm.pendingKeys--
		return outcome{version: index}
	}
	return outcome{err: errBadCommand}
}

// version returns key's current version and whether it exists, from the
// version cache or else by reading the key (data key dk) through b.
func (sm *shardSM) version(b *storage.Batch, dk, key []byte) (uint64, bool) {
	if v, ok := sm.versions.get(key); ok {
		return v, v != 0
	}
	raw, found, err := b.Get(dk)
	if err != nil {
		panic(fmt.Sprintf("kv: reading %q during apply: %v", key, err))
	}
	var cur uint64
	if found {
		if cur, _, err = decodeValue(raw); err != nil {
			panic(fmt.Sprintf("kv: key %q: %v", key, err))
		}
	}
	sm.versions.set(key, cur)
	return cur, found
}

// check decides whether a command's conditions hold against the key's
// current state.
func check(c command, found bool, cur uint64) error {
	switch {
	case c.op == opDelete && !found:
		return ErrNotFound
	case c.cond == IfAbsent && found:
		return ErrExists
	case c.cond == IfPresent && !found:
		return ErrNotFound
	case c.version != 0 && c.version != cur:
		return &VersionMismatchError{Expected: c.version, Current: cur}
	}
	return nil
}

func (sm *shardSM) record(ch Change) {
	if sm.onChange != nil {
		sm.changes = append(sm.changes, ch)
	}
}

func (sm *shardSM) Committed() {
	sm.versions.trim()
	sm.keys.Add(sm.pendingKeys)
	sm.pendingKeys = 0
	if len(sm.changes) == 0 {
		return
	}
	sm.onChange(sm.changes)
	sm.changes = nil
}

func (sm *shardSM) Restored(index uint64) {
	sm.changes, sm.pendingKeys = nil, 0
	sm.versions.clear()
	sm.recount()
	if sm.onRestore != nil {
		sm.onRestore(index)
	}
}
