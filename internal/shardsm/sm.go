// Package shardsm is a strong shard's replicated state machine: its keys,
// each with a version that grows with every write, conditional writes,
// and the steps by which a reshard moves keys between shards while both
// keep serving. It runs inside a Raft group (multiraft.StateMachine); every
// replica applies the same commands in the same order to the same state.
package shardsm

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/storage"
)

// Errors of conditional writes, returned in an Outcome.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("kv: key not found")
	// ErrExists: a create-only write found the key present.
	ErrExists = errors.New("kv: key exists")
	// ErrVersionMismatch: a compare-and-set found another version.
	ErrVersionMismatch = errors.New("kv: version mismatch")
	// ErrWrongType: the key holds another kind of value than the
	// operation works on — a string where a hash field is read or
	// written, or a hash where a string is read.
	ErrWrongType = errors.New("kv: key holds the wrong kind of value")
)

// VersionMismatchError reports the version a compare-and-set found (0 when
// the key is missing).
type VersionMismatchError struct {
	Expected, Current uint64
}

func (e *VersionMismatchError) Error() string {
	return fmt.Sprintf("kv: version mismatch: expected %d, current %d", e.Expected, e.Current)
}

func (e *VersionMismatchError) Is(target error) bool { return target == ErrVersionMismatch }

// Change is one applied write, reported after it is durable.
type Change struct {
	Group   uint64
	Key     []byte
	Value   []byte // nil for a delete
	Version uint64
	Deleted bool
}

// Outcome is what applying a command returns to its proposer.
type Outcome struct {
	// Version is the put's new version, or the delete's (the version the
	// key would have had).
	Version uint64
	Created bool
	// Added is how many fields an OpHashSet created.
	Added int
	// Txn is a transaction command's result.
	Txn *TxnResult
	Err error
}

// SM is a strong shard's state machine: the shard's keys, each stored
// with its version, which is the Raft index of the write that produced it
// plus the shard's version base (0 until a reshard copied keys in).
type SM struct {
	group     uint64
	engine    *storage.Engine
	onChange  func([]Change)
	onRestore func(index uint64)
	onDestroy func()
	changes   []Change
	// keys counts the shard's keys: loaded from the engine when the state
	// machine is created or restored, then kept up to date by Apply.
	// Written on the Raft loop, read by status requests.
	keys atomic.Int64
	// pendingKeys is this cycle's change to keys, published on Committed.
	pendingKeys int64
	// hashes is set once the shard may hold a hash (it held a marker when
	// loaded, or one was written since): until then a write or read of a
	// plain key need not look for a hash under it. Never cleared but by
	// reloading.
	hashes   atomic.Bool
	versions *versionCache
	// rec is the shard's record as of the last committed cycle, for
	// readers; pending is this cycle's, for Apply (nil: unchanged).
	rec     atomic.Pointer[record]
	pending *record
	// locks are the keys prepared transactions hold (see txn.go).
	locks locks
}

// Config configures an SM.
type Config struct {
	Group  uint64
	Engine *storage.Engine
	// OnChange receives each cycle's user writes once they are durable.
	OnChange func([]Change)
	// OnRestore is told a snapshot replaced the state at index.
	OnRestore func(index uint64)
	// OnDestroy is told the replica was deleted from this node.
	OnDestroy func()
	// VersionCache bounds the cache of recent keys' versions (default
	// 8192; tests use tiny ones).
	VersionCache int
}

// New returns the state machine of group, loading its key count and
// record from the engine.
func New(cfg Config) (*SM, error) {
	if cfg.VersionCache <= 0 {
		cfg.VersionCache = versionCacheSize
	}
	sm := &SM{group: cfg.Group, engine: cfg.Engine, onChange: cfg.OnChange, onRestore: cfg.OnRestore,
		onDestroy: cfg.OnDestroy, versions: newVersionCache(cfg.VersionCache)}
	if err := sm.load(); err != nil {
		return nil, err
	}
	return sm, nil
}

func (sm *SM) load() error {
	var n int64
	hashes := false
	start, end := storage.DataRange(sm.group, nil)
	err := sm.engine.Scan(start, end, func(k, v []byte) bool {
		key := storage.UserKey(k)
		if countsAsKey(key) {
			n++
		}
		hashes = hashes || isMarker(key)
		return true
	})
	if err != nil {
		return err
	}
	sm.keys.Store(n)
	sm.hashes.Store(hashes)
	b, _, err := sm.engine.Get(storage.ShardRecordKey(sm.group))
	if err != nil {
		return err
	}
	r, err := decodeRecord(b)
	if err != nil {
		return err
	}
	sm.rec.Store(r)
	return sm.loadLocks()
}

// lockKey is the key whose lock guards key: a hash field's hash, else
// the key itself.
func lockKey(key []byte) []byte {
	if ik, ok := keyspace.ParseInternal(key); ok {
		return ik.Key
	}
	return key
}

// Keys returns the number of keys this replica holds, as users count
// them: strings and hashes (a hash's fields are not keys).
func (sm *SM) Keys() int64 { return sm.keys.Load() }

// MayHoldHashes reports whether the shard may hold a hash; false means
// it certainly holds none, so a read of a missing plain key need not look
// for one.
func (sm *SM) MayHoldHashes() bool { return sm.hashes.Load() }

// countsAsKey reports whether a stored key is a key as users count them:
// a plain key or a hash's marker, not a hash's field.
func countsAsKey(key []byte) bool { return !keyspace.IsInternal(key) || isMarker(key) }

func isMarker(key []byte) bool {
	return keyspace.IsInternal(key) && len(key) > len(keyspace.InternalPrefix) && key[len(keyspace.InternalPrefix)] == keyspace.FormHashMarker
}

// current returns the record Apply works on.
func (sm *SM) current() *record {
	if sm.pending != nil {
		return sm.pending
	}
	return sm.rec.Load()
}

// editable returns a copy of the record for this cycle to change.
func (sm *SM) editable() *record {
	if sm.pending == nil {
		sm.pending = sm.rec.Load().clone()
	}
	return sm.pending
}

func (sm *SM) saveRecord(b *storage.Batch) {
	if err := b.Set(storage.ShardRecordKey(sm.group), sm.pending.encode()); err != nil {
		panic(fmt.Sprintf("shardsm: writing the shard record of %d: %v", sm.group, err))
	}
}

// Apply implements multiraft.StateMachine.
func (sm *SM) Apply(b *storage.Batch, index uint64, cmd []byte) any {
	if len(cmd) > 0 && Op(cmd[0]) == OpMigrate {
		m, err := DecodeMigrate(cmd)
		if err != nil {
			return Outcome{Err: err}
		}
		return sm.migrate(b, index, m)
	}
	if len(cmd) > 0 && Op(cmd[0]) >= OpTxn && Op(cmd[0]) <= OpTxnResolve {
		return sm.applyTxn(b, index, cmd)
	}
	c, err := DecodeCommand(cmd)
	if err != nil {
		return Outcome{Err: err}
	}
	rec := sm.current()
	if err := rec.admitWrite(c.Key); err != nil {
		return Outcome{Err: err}
	}
	if err := sm.lockedFor(lockKey(c.Key), ""); err != nil {
		return Outcome{Err: err}
	}
	if c.Op == OpHashSet {
		return sm.applyHashSet(b, index, rec, c)
	}
	if keyspace.IsInternal(c.Key) {
		return sm.applyHash(b, index, rec, c)
	}
	cur, found := sm.version(b, storage.DataKey(sm.group, c.Key), c.Key)
	// A key holds a string or a hash, never both: a put of a string
	// replaces a hash, a delete deletes whichever is there, and the
	// conditions see the key as present if either is.
	present, curVersion, isHash := found, cur, false
	if !found && sm.hashes.Load() {
		mk := keyspace.HashMarkerKey(c.Key)
		if gen, ok := sm.version(b, storage.DataKey(sm.group, mk), mk); ok {
			present, curVersion, isHash = true, gen, true
		}
	}
	if err := check(c, present, curVersion); err != nil {
		return Outcome{Err: err}
	}
	version := rec.VersionBase + index
	if isHash {
		sm.dropHash(b, rec, c.Key)
	}
	switch c.Op {
	case OpPut:
		sm.write(b, rec, c.Key, version, c.Value, found)
		sm.record(Change{Group: sm.group, Key: c.Key, Value: c.Value, Version: version})
		return Outcome{Version: version, Created: !present}
	case OpDelete:
		if found {
			sm.erase(b, rec, c.Key)
		}
		sm.record(Change{Group: sm.group, Key: c.Key, Version: version, Deleted: true})
		return Outcome{Version: version}
	}
	return Outcome{Err: errBadCommand}
}

// applyHash applies a put or delete of one field of a hash. The command's
// key is the field's key with generation 0, "the current generation":
// the field of the hash the key holds now. A put to a key that holds no
// hash creates one (its marker, whose version is the new generation) in
// the same write; a delete of a hash's last field deletes its marker too,
// so a hash is never empty. The conditions (create-only, update-only,
// compare-and-set) apply to the field. Change events are not emitted for
// hash fields.
func (sm *SM) applyHash(b *storage.Batch, index uint64, rec *record, c Command) Outcome {
	ik, ok := keyspace.ParseInternal(c.Key)
	if !ok || ik.Form != keyspace.FormHashField || ik.Gen != 0 {
		return Outcome{Err: fmt.Errorf("%w: internal key %q is not a field of a hash's current generation", errBadCommand, c.Key)}
	}
	mk := keyspace.HashMarkerKey(ik.Key)
	gen, exists := sm.version(b, storage.DataKey(sm.group, mk), mk)
	if !exists { // (a key holding a hash holds no string: no need to look)
		if _, isString := sm.version(b, storage.DataKey(sm.group, ik.Key), ik.Key); isString {
			return Outcome{Err: ErrWrongType}
		}
	}
	var (
		fk    []byte
		cur   uint64
		found bool
	)
	if exists {
		fk = keyspace.HashFieldKey(ik.Key, gen, ik.Field)
		cur, found = sm.version(b, storage.DataKey(sm.group, fk), fk)
	}
	if err := check(c, found, cur); err != nil {
		return Outcome{Err: err}
	}
	version := rec.VersionBase + index
	switch c.Op {
	case OpPut:
		if !exists {
			gen = version
			sm.write(b, rec, mk, version, nil, false)
			fk = keyspace.HashFieldKey(ik.Key, gen, ik.Field)
		}
		sm.write(b, rec, fk, version, c.Value, found)
		return Outcome{Version: version, Created: !found}
	case OpDelete:
		sm.erase(b, rec, fk)
		if !sm.anyField(b, ik.Key, gen) {
			sm.erase(b, rec, mk)
		}
		return Outcome{Version: version}
	}
	return Outcome{Err: errBadCommand}
}

// applyHashSet sets the fields of the hash under the command's key (a
// user key) in one write, creating the hash if the key holds nothing; a
// key holding a string is refused whole. A field named twice takes its
// last value.
func (sm *SM) applyHashSet(b *storage.Batch, index uint64, rec *record, c Command) Outcome {
	if keyspace.IsInternal(c.Key) || len(c.Fields) == 0 || c.Cond != Always || c.Version != 0 {
		return Outcome{Err: fmt.Errorf("%w: a hash set takes a user key, fields and no condition", errBadCommand)}
	}
	mk := keyspace.HashMarkerKey(c.Key)
	gen, exists := sm.version(b, storage.DataKey(sm.group, mk), mk)
	if !exists {
		if _, isString := sm.version(b, storage.DataKey(sm.group, c.Key), c.Key); isString {
			return Outcome{Err: ErrWrongType}
		}
	}
	version := rec.VersionBase + index
	if !exists {
		gen = version
		sm.write(b, rec, mk, version, nil, false)
	}
	added := 0
	for _, f := range c.Fields {
		fk := keyspace.HashFieldKey(c.Key, gen, f.Name)
		var found bool
		if exists || added > 0 {
			_, found = sm.version(b, storage.DataKey(sm.group, fk), fk)
		}
		sm.write(b, rec, fk, version, f.Value, found)
		if !found {
			added++
		}
	}
	return Outcome{Version: version, Created: !exists, Added: added}
}

// dropHash deletes the hash under key: its marker and every field key of
// any generation (reading them through the batch, so fields this cycle
// wrote are deleted too).
func (sm *SM) dropHash(b *storage.Batch, rec *record, key []byte) {
	var fields [][]byte
	start, end := storage.DataRange(sm.group, keyspace.HashFieldsPrefix(key))
	err := b.Scan(start, end, func(k, _ []byte) bool {
		fields = append(fields, append([]byte(nil), storage.UserKey(k)...))
		return true
	})
	if err != nil {
		panic(fmt.Sprintf("shardsm: reading the fields of hash %q during apply: %v", key, err))
	}
	for _, fk := range fields {
		sm.erase(b, rec, fk)
	}
	sm.erase(b, rec, keyspace.HashMarkerKey(key))
}

// anyField reports whether generation gen of the hash under key has a
// field, as of the batch.
func (sm *SM) anyField(b *storage.Batch, key []byte, gen uint64) bool {
	found := false
	start, end := storage.DataRange(sm.group, keyspace.HashFieldPrefix(key, gen))
	err := b.Scan(start, end, func(_, _ []byte) bool { found = true; return false })
	if err != nil {
		panic(fmt.Sprintf("shardsm: reading the fields of hash %q during apply: %v", key, err))
	}
	return found
}

// write stores key as a write of a command (not a reshard's copy): a key
// moving out has its delete record cancelled.
func (sm *SM) write(b *storage.Batch, rec *record, key []byte, version uint64, value []byte, existed bool) {
	if m := rec.Migration; m != nil && m.class(key) == outgoing {
		sm.track(b, key, false)
	}
	sm.set(b, key, version, value, existed)
}

// erase deletes key as a write of a command: a key moving out gets a
// delete record, so the reshard's final copy deletes it on the target.
func (sm *SM) erase(b *storage.Batch, rec *record, key []byte) {
	if m := rec.Migration; m != nil && m.class(key) == outgoing {
		sm.track(b, key, true)
	}
	sm.del(b, key)
}

func (sm *SM) set(b *storage.Batch, key []byte, version uint64, value []byte, existed bool) {
	if err := b.Set(storage.DataKey(sm.group, key), EncodeValue(version, value)); err != nil {
		panic(fmt.Sprintf("shardsm: writing %q during apply: %v", key, err))
	}
	sm.versions.set(key, version)
	if !existed && countsAsKey(key) {
		sm.pendingKeys++
	}
	if isMarker(key) {
		sm.hashes.Store(true)
	}
}

func (sm *SM) del(b *storage.Batch, key []byte) {
	if err := b.Delete(storage.DataKey(sm.group, key)); err != nil {
		panic(fmt.Sprintf("shardsm: deleting %q during apply: %v", key, err))
	}
	sm.versions.set(key, 0)
	if countsAsKey(key) {
		sm.pendingKeys--
	}
}

// track keeps the record of keys moving out that were deleted since the
// reshard began (a later put of the key cancels it), so the final copy
// can delete them on the target too.
func (sm *SM) track(b *storage.Batch, key []byte, deleted bool) {
	k := storage.MovedDeleteKey(sm.group, key)
	var err error
	if deleted {
		err = b.Set(k, nil)
	} else {
		err = b.Delete(k)
	}
	if err != nil {
		panic(fmt.Sprintf("shardsm: tracking %q: %v", key, err))
	}
}

// version returns key's current version and whether it exists, from the
// version cache or else by reading the key (data key dk) through b.
func (sm *SM) version(b *storage.Batch, dk, key []byte) (uint64, bool) {
	if v, ok := sm.versions.get(key); ok {
		return v, v != 0
	}
	raw, found, err := b.Get(dk)
	if err != nil {
		panic(fmt.Sprintf("shardsm: reading %q during apply: %v", key, err))
	}
	var cur uint64
	if found {
		if cur, _, err = DecodeValue(raw); err != nil {
			panic(fmt.Sprintf("shardsm: key %q: %v", key, err))
		}
	}
	sm.versions.set(key, cur)
	return cur, found
}

// check decides whether a command's conditions hold against the key's
// current state.
func check(c Command, found bool, cur uint64) error {
	switch {
	case c.Op == OpDelete && !found:
		return ErrNotFound
	case c.Cond == IfAbsent && found:
		return ErrExists
	case c.Cond == IfPresent && !found:
		return ErrNotFound
	case c.Version != 0 && c.Version != cur:
		return &VersionMismatchError{Expected: c.Version, Current: cur}
	}
	return nil
}

func (sm *SM) record(ch Change) {
	if sm.onChange != nil {
		sm.changes = append(sm.changes, ch)
	}
}

// Committed implements multiraft.StateMachine.
func (sm *SM) Committed() {
	sm.versions.trim()
	sm.keys.Add(sm.pendingKeys)
	sm.pendingKeys = 0
	if sm.pending != nil {
		sm.rec.Store(sm.pending)
		sm.pending = nil
	}
	sm.committedLocks()
	if len(sm.changes) == 0 {
		return
	}
	sm.onChange(sm.changes)
	sm.changes = nil
}

// Restored implements multiraft.StateMachine.
func (sm *SM) Restored(index uint64) {
	sm.changes, sm.pendingKeys, sm.pending = nil, 0, nil
	sm.versions.clear()
	if err := sm.load(); err != nil {
		panic(fmt.Sprintf("shardsm: reloading group %d after a snapshot: %v", sm.group, err))
	}
	if sm.onRestore != nil {
		sm.onRestore(index)
	}
}

// Destroyed is told by the Raft host that the replica was deleted.
func (sm *SM) Destroyed() {
	if sm.onDestroy != nil {
		sm.onDestroy()
	}
}

// AdmitRead reports whether the shard serves a read of key (call after the
// read barrier): a *MovedError or ErrMoving if a reshard took the key
// elsewhere or has not brought it here yet.
func (sm *SM) AdmitRead(key []byte) error { return sm.rec.Load().admitRead(key) }

// AdmitScan reports whether the shard serves a scan routed by layout l as
// shard index, with the filter of the keys the scan may see (nil: all).
func (sm *SM) AdmitScan(l keyspace.Layout, index int) (func([]byte) bool, error) {
	return sm.rec.Load().admitScan(l, index)
}

// Migration returns the reshard under way here, if any (a copy).
func (sm *SM) Migration() *Migration {
	r := sm.rec.Load()
	if r.Migration == nil {
		return nil
	}
	m := *r.Migration
	return &m
}
