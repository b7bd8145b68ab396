package shardsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/storage"
)

// Transactions. A transaction on one shard is one command (OpTxn): its
// comparisons, then the branch they chose, applied at once. One that
// spans shards runs a two-phase commit whose every step is a command of
// some shard's log (see package txn for the coordinator):
//
//	OpTxnPrepare  on each participant: lock the transaction's keys there
//	              (an intent per key) and record both branches' writes of
//	              that shard; answer the keys' current states.
//	OpTxnDecide   on the record shard (the namespace's shard 0): the commit point.
//	              The first decision recorded wins; a later one answers it.
//	OpTxnResolve  on each participant: apply the decided branch's writes
//	              (or none, on abort) and release the locks.
//
// A key under an intent refuses other writes and reads with *LockedError,
// whose holder's record tells whoever meets it how to resolve it.

// Transaction commands' kinds (after the single-key ones).
const (
	OpTxn Op = iota + OpHashSet + 1
	OpTxnPrepare
	OpTxnDecide
	OpTxnResolve
)

// CompareTarget is what a comparison looks at.
type CompareTarget string

const (
	TargetVersion CompareTarget = "version" // the key's version (0: absent)
	TargetValue   CompareTarget = "value"   // the key's value (absent: no match but "!=")
	TargetExists  CompareTarget = "exists"  // whether the key exists
)

// CompareOp is a comparison's operator.
type CompareOp string

const (
	OpEqual    CompareOp = "="
	OpNotEqual CompareOp = "!="
	OpLess     CompareOp = "<"
	OpGreater  CompareOp = ">"
)

// Compare is one condition of a transaction.
type Compare struct {
	Key     []byte        `json:"k"`
	Target  CompareTarget `json:"t"`
	Op      CompareOp     `json:"o"`
	Version uint64        `json:"v,omitempty"`
	Value   []byte        `json:"x,omitempty"`
	Exists  bool          `json:"e,omitempty"`
}

// TxnOpKind is an operation of a transaction's branch.
type TxnOpKind string

const (
	TxnPut    TxnOpKind = "put"
	TxnDelete TxnOpKind = "delete"
	TxnGet    TxnOpKind = "get"
)

// TxnOp is one operation of a branch.
type TxnOp struct {
	Kind  TxnOpKind `json:"op"`
	Key   []byte    `json:"k"`
	Value []byte    `json:"v,omitempty"`
}

// Txn is the body of every transaction command: a whole single-shard
// transaction (OpTxn), one shard's part of a cross-shard one
// (OpTxnPrepare: only that shard's keys), or a decision (OpTxnDecide,
// OpTxnResolve: ID, Commit, Succeeded).
type Txn struct {
	ID string `json:"id,omitempty"`
	// Record is the group holding the transaction's record; Start is the
	// coordinator's clock (Unix ns) when it began, from which whoever meets
	// a lock judges whether its holder was abandoned.
	Record uint64 `json:"r,omitempty"`
	Start  int64  `json:"s,omitempty"`
	// TTL (ns), when set, is how long after Start the transaction may hold
	// its locks before they count as abandoned (an interactive transaction
	// waits for its client); 0 leaves it to the resolver's default.
	TTL      int64     `json:"ttl,omitempty"`
	Compares []Compare `json:"c,omitempty"`
	Success  []TxnOp   `json:"y,omitempty"`
	Failure  []TxnOp   `json:"n,omitempty"`
	// Commit and Succeeded are a decision: commit (with the success or the
	// failure branch) or abort.
	Commit    bool `json:"commit,omitempty"`
	Succeeded bool `json:"ok,omitempty"`
}

// Encode returns the command op carrying t.
func (t *Txn) Encode(op Op) []byte {
	b, err := json.Marshal(t)
	if err != nil {
		panic(fmt.Sprintf("shardsm: encoding a transaction: %v", err))
	}
	return append([]byte{byte(op)}, b...)
}

func decodeTxn(cmd []byte) (*Txn, error) {
	if len(cmd) == 0 {
		return nil, fmt.Errorf("%w: empty transaction command", errBadCommand)
	}
	var t Txn
	if err := json.Unmarshal(cmd[1:], &t); err != nil {
		return nil, fmt.Errorf("%w: transaction: %v", errBadCommand, err)
	}
	return &t, nil
}

// Keys returns every key t touches, sorted, each once.
func (t *Txn) Keys() [][]byte {
	var ks [][]byte
	for _, c := range t.Compares {
		ks = append(ks, c.Key)
	}
	for _, o := range t.Success {
		ks = append(ks, o.Key)
	}
	for _, o := range t.Failure {
		ks = append(ks, o.Key)
	}
	slices.SortFunc(ks, bytes.Compare)
	return slices.CompactFunc(ks, bytes.Equal)
}

// KeyState is a key's state as a transaction saw it.
type KeyState struct {
	Key     []byte `json:"k"`
	Found   bool   `json:"f,omitempty"`
	Version uint64 `json:"v,omitempty"`
	Value   []byte `json:"x,omitempty"`
}

// Holds reports whether c holds against s.
func (c Compare) Holds(s KeyState) bool {
	var cmp int
	switch c.Target {
	case TargetVersion:
		v := s.Version
		if !s.Found {
			v = 0
		}
		cmp = compareUint(v, c.Version)
	case TargetValue:
		if !s.Found {
			return c.Op == OpNotEqual
		}
		cmp = bytes.Compare(s.Value, c.Value)
	case TargetExists:
		if c.Op != OpEqual && c.Op != OpNotEqual {
			return false
		}
		return (s.Found == c.Exists) == (c.Op == OpEqual)
	default:
		return false
	}
	switch c.Op {
	case OpEqual:
		return cmp == 0
	case OpNotEqual:
		return cmp != 0
	case OpLess:
		return cmp < 0
	case OpGreater:
		return cmp > 0
	}
	return false
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TxnResult is what a transaction command returns.
type TxnResult struct {
	// OpTxn: which branch ran and its operations' results (a get's state,
	// a put's or a delete's version).
	Succeeded bool       `json:"ok,omitempty"`
	Results   []KeyState `json:"res,omitempty"`
	// OpTxnPrepare: the states of this shard's keys, locked.
	Reads []KeyState `json:"reads,omitempty"`
	// OpTxnDecide: the decision recorded (perhaps an earlier one).
	Commit bool `json:"commit,omitempty"`
	// OpTxnResolve: the versions the decided branch's writes here got,
	// by key (none on abort or if resolved before).
	Versions map[string]uint64 `json:"vers,omitempty"`
}

// Validate checks a transaction a client asked for: known comparisons and
// operations, and no key written twice in one branch.
func (t *Txn) Validate() error {
	for _, c := range t.Compares {
		if len(c.Key) == 0 {
			return fmt.Errorf("a comparison has no key")
		}
		switch c.Target {
		case TargetVersion, TargetValue:
			switch c.Op {
			case OpEqual, OpNotEqual, OpLess, OpGreater:
			default:
				return fmt.Errorf("comparison of %q: unknown operator %q (use =, !=, < or >)", c.Key, c.Op)
			}
		case TargetExists:
			if c.Op != OpEqual && c.Op != OpNotEqual {
				return fmt.Errorf("comparison of %q: existence compares with = or !=, not %q", c.Key, c.Op)
			}
		default:
			return fmt.Errorf("comparison of %q: unknown target %q (use version, value or exists)", c.Key, c.Target)
		}
	}
	for _, br := range [][]TxnOp{t.Success, t.Failure} {
		written := map[string]bool{}
		for _, o := range br {
			if len(o.Key) == 0 {
				return fmt.Errorf("a %s has no key", o.Kind)
			}
			if keyspace.IsInternal(o.Key) {
				return fmt.Errorf("key %q is reserved", o.Key)
			}
			switch o.Kind {
			case TxnPut, TxnDelete:
				if written[string(o.Key)] {
					return fmt.Errorf("key %q is written twice in one branch", o.Key)
				}
				written[string(o.Key)] = true
			case TxnGet:
			default:
				return fmt.Errorf("unknown operation %q (use put, delete or get)", o.Kind)
			}
		}
	}
	for _, c := range t.Compares {
		if keyspace.IsInternal(c.Key) {
			return fmt.Errorf("key %q is reserved", c.Key)
		}
	}
	return nil
}

// ErrLocked: the key is locked by another transaction; see *LockedError.
var ErrLocked = errors.New("kv: key locked by a transaction")

// LockedError names a locked key and the transaction holding it.
type LockedError struct {
	Key    []byte `json:"key"`
	Group  uint64 `json:"group"`         // the shard holding the lock
	Txn    string `json:"txn"`           // the holder
	Record uint64 `json:"record"`        // the group holding the holder's record
	Start  int64  `json:"start"`         // the holder's start (Unix ns, its coordinator's clock)
	TTL    int64  `json:"ttl,omitempty"` // the holder's own lock timeout (ns; 0: the default)
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("kv: key %q is locked by transaction %s (a transaction for the key is already present)", e.Key, e.Txn)
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// intent is what an IntentKey holds.
type intent struct {
	Txn    string `json:"txn"`
	Record uint64 `json:"r"`
	Start  int64  `json:"s"`
	TTL    int64  `json:"ttl,omitempty"`
}

func (in intent) locked(key []byte, group uint64) *LockedError {
	return &LockedError{Key: key, Group: group, Txn: in.Txn, Record: in.Record, Start: in.Start, TTL: in.TTL}
}

// part states, stored under TxnKey(group, 'p', id).
const (
	partPrepared = "prepared"
	partResolved = "resolved"
)

type part struct {
	State string `json:"state"`
	Txn   *Txn   `json:"txn,omitempty"` // while prepared
}

// locks is a shard's set of locked keys. held is the state as of the
// last applied command: Apply consults only it, so every replica decides
// alike whatever its batching. Readers also see releasing, the locks this
// cycle's resolves dropped, until their writes are durable (Committed):
// a reader never finds a key unlocked before its resolved value is on
// disk.
type locks struct {
	mu        sync.RWMutex
	held      map[string]intent
	releasing map[string]intent
}

func (l *locks) get(key []byte) (intent, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	in, ok := l.held[string(key)]
	if !ok {
		in, ok = l.releasing[string(key)]
	}
	return in, ok
}

// Locked returns a *LockedError if key is locked here.
func (sm *SM) Locked(key []byte) error {
	key = lockKey(key)
	in, ok := sm.locks.get(key)
	if !ok {
		return nil
	}
	return in.locked(slices.Clone(key), sm.group)
}

// LockedIn returns a *LockedError for the first locked key in [from, to)
// that keep accepts (to nil: no upper bound), if any.
func (sm *SM) LockedIn(from, to []byte, keep func([]byte) bool) error {
	sm.locks.mu.RLock()
	defer sm.locks.mu.RUnlock()
	var first string
	var holder intent
	found := false
	for _, m := range []map[string]intent{sm.locks.held, sm.locks.releasing} {
		for k, in := range m {
			if k < string(from) || (to != nil && k >= string(to)) || (keep != nil && !keep([]byte(k))) {
				continue
			}
			if !found || k < first {
				first, holder, found = k, in, true
			}
		}
	}
	if !found {
		return nil
	}
	return holder.locked([]byte(first), sm.group)
}

// Locks lists the locks held here.
func (sm *SM) Locks() []LockedError {
	sm.locks.mu.RLock()
	defer sm.locks.mu.RUnlock()
	out := make([]LockedError, 0, len(sm.locks.held))
	for k, in := range sm.locks.held {
		out = append(out, *in.locked([]byte(k), sm.group))
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Key, out[j].Key) < 0 })
	return out
}

func (sm *SM) loadLocks() error {
	held := map[string]intent{}
	start, end := storage.IntentRange(sm.group)
	var derr error
	err := sm.engine.Scan(start, end, func(k, v []byte) bool {
		var in intent
		if err := json.Unmarshal(v, &in); err != nil {
			derr = fmt.Errorf("shardsm: group %d: intent on %q: %w", sm.group, k[len(start):], err)
			return false
		}
		held[string(k[len(start):])] = in
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return err
	}
	sm.locks.mu.Lock()
	sm.locks.held, sm.locks.releasing = held, nil
	sm.locks.mu.Unlock()
	return nil
}

// lockedFor is the *LockedError for key if another transaction than id
// holds it, as of the last applied command.
func (sm *SM) lockedFor(key []byte, id string) error {
	sm.locks.mu.RLock()
	in, ok := sm.locks.held[string(key)]
	sm.locks.mu.RUnlock()
	if ok && in.Txn != id {
		return in.locked(slices.Clone(key), sm.group)
	}
	return nil
}

// keyState reads a key's state through b. A key holding a hash is
// ErrWrongType: transactions work on strings.
func (sm *SM) keyState(b *storage.Batch, key []byte) (KeyState, error) {
	raw, found, err := b.Get(storage.DataKey(sm.group, key))
	if err != nil {
		panic(fmt.Sprintf("shardsm: reading %q during apply: %v", key, err))
	}
	if !found {
		if sm.hashes.Load() {
			mk := keyspace.HashMarkerKey(key)
			if _, ok := sm.version(b, storage.DataKey(sm.group, mk), mk); ok {
				return KeyState{}, fmt.Errorf("%w: key %q holds a hash", ErrWrongType, key)
			}
		}
		return KeyState{Key: key}, nil
	}
	v, val, err := DecodeValue(raw)
	if err != nil {
		panic(fmt.Sprintf("shardsm: key %q: %v", key, err))
	}
	return KeyState{Key: key, Found: true, Version: v, Value: slices.Clone(val)}, nil
}

// applyWrites applies a branch's puts and deletes at version, in order,
// returning each written key's version.
func (sm *SM) applyWrites(b *storage.Batch, rec *record, ops []TxnOp, version uint64) map[string]uint64 {
	vers := map[string]uint64{}
	for _, o := range ops {
		switch o.Kind {
		case TxnPut:
			_, found := sm.version(b, storage.DataKey(sm.group, o.Key), o.Key)
			sm.write(b, rec, o.Key, version, o.Value, found)
			sm.record(Change{Group: sm.group, Key: o.Key, Value: o.Value, Version: version})
			vers[string(o.Key)] = version
		case TxnDelete:
			if _, found := sm.version(b, storage.DataKey(sm.group, o.Key), o.Key); found {
				sm.erase(b, rec, o.Key)
				sm.record(Change{Group: sm.group, Key: o.Key, Version: version, Deleted: true})
			}
			vers[string(o.Key)] = version
		}
	}
	return vers
}

func (sm *SM) applyTxn(b *storage.Batch, index uint64, cmd []byte) Outcome {
	t, err := decodeTxn(cmd)
	if err != nil {
		return Outcome{Err: err}
	}
	rec := sm.current()
	switch Op(cmd[0]) {
	case OpTxn:
		return sm.applyLocalTxn(b, index, rec, t)
	case OpTxnPrepare:
		return sm.prepare(b, rec, t)
	case OpTxnDecide:
		return sm.decide(b, t)
	case OpTxnResolve:
		return sm.resolve(b, index, rec, t)
	}
	return Outcome{Err: errBadCommand}
}

// applyLocalTxn runs a transaction whose keys are all on this shard.
func (sm *SM) applyLocalTxn(b *storage.Batch, index uint64, rec *record, t *Txn) Outcome {
	if err := t.Validate(); err != nil {
		return Outcome{Err: fmt.Errorf("%w: %v", errBadCommand, err)}
	}
	states := map[string]KeyState{}
	for _, k := range t.Keys() {
		if err := rec.admitWrite(k); err != nil {
			return Outcome{Err: err}
		}
		if err := sm.lockedFor(k, ""); err != nil {
			return Outcome{Err: err}
		}
		s, err := sm.keyState(b, k)
		if err != nil {
			return Outcome{Err: err}
		}
		states[string(k)] = s
	}
	ok := true
	for _, c := range t.Compares {
		ok = ok && c.Holds(states[string(c.Key)])
	}
	branch := t.Failure
	if ok {
		branch = t.Success
	}
	version := rec.VersionBase + index
	res := &TxnResult{Succeeded: ok}
	for _, o := range branch {
		switch o.Kind {
		case TxnGet:
			res.Results = append(res.Results, states[string(o.Key)])
		case TxnPut:
			sm.applyWrites(b, rec, []TxnOp{o}, version)
			states[string(o.Key)] = KeyState{Key: o.Key, Found: true, Version: version, Value: o.Value}
			res.Results = append(res.Results, KeyState{Key: o.Key, Version: version})
		case TxnDelete:
			sm.applyWrites(b, rec, []TxnOp{o}, version)
			states[string(o.Key)] = KeyState{Key: o.Key}
			res.Results = append(res.Results, KeyState{Key: o.Key, Version: version})
		}
	}
	return Outcome{Version: version, Txn: res}
}

func (sm *SM) getPart(b *storage.Batch, id string) (part, bool) {
	raw, found, err := b.Get(storage.TxnKey(sm.group, 'p', id))
	if err != nil {
		panic(fmt.Sprintf("shardsm: reading transaction %s during apply: %v", id, err))
	}
	if !found {
		return part{}, false
	}
	var p part
	if err := json.Unmarshal(raw, &p); err != nil {
		panic(fmt.Sprintf("shardsm: transaction %s: %v", id, err))
	}
	return p, true
}

func (sm *SM) putPart(b *storage.Batch, id string, p part) {
	raw, _ := json.Marshal(p)
	if err := b.Set(storage.TxnKey(sm.group, 'p', id), raw); err != nil {
		panic(fmt.Sprintf("shardsm: writing transaction %s: %v", id, err))
	}
}

// prepare locks this shard's keys of t and records its writes. Applying
// it again (a retried proposal) answers the same; applying it after the
// transaction was resolved here locks nothing.
func (sm *SM) prepare(b *storage.Batch, rec *record, t *Txn) Outcome {
	if t.ID == "" || t.Record == 0 {
		return Outcome{Err: fmt.Errorf("%w: a prepare without a transaction ID or record", errBadCommand)}
	}
	if err := t.Validate(); err != nil {
		return Outcome{Err: fmt.Errorf("%w: %v", errBadCommand, err)}
	}
	p, found := sm.getPart(b, t.ID)
	if found && p.State == partResolved {
		return Outcome{Err: fmt.Errorf("%w: transaction %s was already resolved here", ErrTxnFinished, t.ID)}
	}
	if rec.Migration != nil {
		// A reshard moves keys between shards: locks must not travel, so
		// transactions wait for it (it does not freeze while locks exist).
		return Outcome{Err: ErrMoving}
	}
	keys := t.Keys()
	res := &TxnResult{}
	for _, k := range keys {
		if err := rec.admitWrite(k); err != nil {
			return Outcome{Err: err}
		}
		if err := sm.lockedFor(k, t.ID); err != nil {
			return Outcome{Err: err}
		}
	}
	for _, k := range keys {
		s, err := sm.keyState(b, k)
		if err != nil {
			return Outcome{Err: err}
		}
		res.Reads = append(res.Reads, s)
	}
	if found {
		return Outcome{Txn: res} // prepared before: the locks stand
	}
	held := intent{Txn: t.ID, Record: t.Record, Start: t.Start, TTL: t.TTL}
	in, _ := json.Marshal(held)
	sm.locks.mu.Lock()
	if sm.locks.held == nil {
		sm.locks.held = map[string]intent{}
	}
	for _, k := range keys {
		if err := b.Set(storage.IntentKey(sm.group, k), in); err != nil {
			panic(fmt.Sprintf("shardsm: locking %q: %v", k, err))
		}
		sm.locks.held[string(k)] = held
	}
	sm.locks.mu.Unlock()
	sm.putPart(b, t.ID, part{State: partPrepared, Txn: t})
	return Outcome{Txn: res}
}

// ErrTxnFinished: a prepare arrived for a transaction already resolved on
// the shard (its coordinator's retry came late); the transaction is over.
var ErrTxnFinished = errors.New("kv: transaction already finished")

// decide records t's decision as the transaction's record unless one is
// recorded, and answers the one that stands.
func (sm *SM) decide(b *storage.Batch, t *Txn) Outcome {
	if t.ID == "" {
		return Outcome{Err: fmt.Errorf("%w: a decision without a transaction ID", errBadCommand)}
	}
	key := storage.TxnKey(sm.group, 'r', t.ID)
	raw, found, err := b.Get(key)
	if err != nil {
		panic(fmt.Sprintf("shardsm: reading transaction record %s: %v", t.ID, err))
	}
	if found {
		var d Txn
		if err := json.Unmarshal(raw, &d); err != nil {
			panic(fmt.Sprintf("shardsm: transaction record %s: %v", t.ID, err))
		}
		return Outcome{Txn: &TxnResult{Commit: d.Commit, Succeeded: d.Succeeded}}
	}
	d := Txn{ID: t.ID, Commit: t.Commit, Succeeded: t.Commit && t.Succeeded}
	raw, _ = json.Marshal(d)
	if err := b.Set(key, raw); err != nil {
		panic(fmt.Sprintf("shardsm: writing transaction record %s: %v", t.ID, err))
	}
	return Outcome{Txn: &TxnResult{Commit: d.Commit, Succeeded: d.Succeeded}}
}

// resolve applies a decided transaction's part here and releases its
// locks; again, it does nothing.
func (sm *SM) resolve(b *storage.Batch, index uint64, rec *record, t *Txn) Outcome {
	if t.ID == "" {
		return Outcome{Err: fmt.Errorf("%w: a resolve without a transaction ID", errBadCommand)}
	}
	p, found := sm.getPart(b, t.ID)
	if found && p.State == partResolved {
		return Outcome{Txn: &TxnResult{}}
	}
	res := &TxnResult{}
	if found && p.Txn != nil {
		if t.Commit {
			branch := p.Txn.Failure
			if t.Succeeded {
				branch = p.Txn.Success
			}
			res.Versions = sm.applyWrites(b, rec, branch, rec.VersionBase+index)
		}
		sm.locks.mu.Lock()
		for _, k := range p.Txn.Keys() {
			if err := b.Delete(storage.IntentKey(sm.group, k)); err != nil {
				panic(fmt.Sprintf("shardsm: unlocking %q: %v", k, err))
			}
			if in, ok := sm.locks.held[string(k)]; ok && in.Txn == t.ID {
				delete(sm.locks.held, string(k))
				if sm.locks.releasing == nil {
					sm.locks.releasing = map[string]intent{}
				}
				sm.locks.releasing[string(k)] = in
			}
		}
		sm.locks.mu.Unlock()
	}
	// Kept (small) so that a late prepare of the transaction locks nothing.
	sm.putPart(b, t.ID, part{State: partResolved})
	return Outcome{Txn: res}
}

// committedLocks drops the locks this cycle resolved, now that the
// resolved writes are durable.
func (sm *SM) committedLocks() {
	sm.locks.mu.Lock()
	sm.locks.releasing = nil
	sm.locks.mu.Unlock()
}

// anyLock reports whether the shard holds a lock (as of the last applied
// command).
func (sm *SM) anyLock() bool {
	sm.locks.mu.RLock()
	defer sm.locks.mu.RUnlock()
	return len(sm.locks.held) > 0
}
