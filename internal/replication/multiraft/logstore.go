package multiraft

import (
	"fmt"

	"github.com/distkv/distkv/internal/storage"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// logStore is one group's raft.Storage, read from the node's engine. The
// positions it keeps in memory (truncated, last) describe what is committed
// to the engine; the loop updates them only after a batch commits, so raft
// never asks for an entry that is not yet readable.
type logStore struct {
	group     uint64
	engine    *storage.Engine
	truncated logPosition // last entry removed from the log
	last      logPosition // last entry in the log
	applied   appliedState
	hard      *pb.HardState
	cache     entryCache
}

// Bootstrap positions: every replica of a new group starts with the same
// empty log at this index and term, as if those entries had been applied, so
// replicas created independently agree without exchanging a snapshot.
const (
	bootstrapIndex = 10
	bootstrapTerm  = 5
)

// loadLogStore reads a group's persisted state; found is false for a group
// that has never been created on this node.
func loadLogStore(e *storage.Engine, group uint64) (ls *logStore, found bool, err error) {
	ls = &logStore{group: group, engine: e, hard: &pb.HardState{}}
	v, ok, err := e.Get(storage.AppliedStateKey(group))
	if err != nil || !ok {
		return ls, false, err
	}
	if ls.applied, err = decodeApplied(v); err != nil {
		return nil, false, err
	}
	if v, ok, err = e.Get(storage.TruncatedStateKey(group)); err != nil {
		return nil, false, err
	} else if ok {
		if ls.truncated, err = decodePosition(v); err != nil {
			return nil, false, err
		}
	}
	if v, ok, err = e.Get(storage.HardStateKey(group)); err != nil {
		return nil, false, err
	} else if ok {
		if ls.hard, err = decodeHardState(v); err != nil {
			return nil, false, err
		}
	}
	ls.last = ls.truncated
	_, end := storage.RaftRange(group)
	lo := storage.LogKey(group, ls.truncated.Index+1)
	var lastErr error
	err = e.Scan(lo, end, func(k, v []byte) bool {
		if len(k) != len(lo) {
			return true // not a log key
		}
		idx := storage.LogIndex(k)
		t, err := entryTerm(idx, v)
		if err != nil {
			lastErr = err
			return false
		}
		ls.last = logPosition{idx, t}
		return true
	})
	if err == nil {
		err = lastErr
	}
	return ls, true, err
}

// writeBootstrap writes the initial state of a new group with the given
// members into b.
func writeBootstrap(b *storage.Batch, group uint64, voters, learners []uint64) (*logStore, error) {
	ls := &logStore{
		group:     group,
		truncated: logPosition{bootstrapIndex, bootstrapTerm},
		last:      logPosition{bootstrapIndex, bootstrapTerm},
		applied:   appliedState{Index: bootstrapIndex, Term: bootstrapTerm, Voters: append([]uint64(nil), voters...), Learners: append([]uint64(nil), learners...)},
		hard:      &pb.HardState{Term: new(uint64(bootstrapTerm)), Vote: new(uint64(0)), Commit: new(uint64(bootstrapIndex))},
	}
	for _, err := range []error{
		b.Set(storage.AppliedStateKey(group), encodeApplied(ls.applied)),
		b.Set(storage.TruncatedStateKey(group), encodePosition(ls.truncated)),
		b.Set(storage.HardStateKey(group), encodeHardState(ls.hard)),
	} {
		if err != nil {
			return nil, err
		}
	}
	return ls, nil
}

// writeEmpty writes the state of a replica that joins a running group:
// no log, no configuration, nothing applied. The leader sends it a
// snapshot once it adds the replica to the group.
func writeEmpty(b *storage.Batch, group uint64) (*logStore, error) {
	ls := &logStore{group: group, hard: &pb.HardState{Term: new(uint64(0)), Vote: new(uint64(0)), Commit: new(uint64(0))}}
	for _, err := range []error{
		b.Set(storage.AppliedStateKey(group), encodeApplied(ls.applied)),
		b.Set(storage.TruncatedStateKey(group), encodePosition(ls.truncated)),
		b.Set(storage.HardStateKey(group), encodeHardState(ls.hard)),
	} {
		if err != nil {
			return nil, err
		}
	}
	return ls, nil
}

func (ls *logStore) InitialState() (*pb.HardState, *pb.ConfState, error) {
	return ls.hard, ls.applied.confState(), nil
}

func (ls *logStore) FirstIndex() (uint64, error) { return ls.truncated.Index + 1, nil }

func (ls *logStore) LastIndex() (uint64, error) { return ls.last.Index, nil }

func (ls *logStore) Term(i uint64) (uint64, error) {
	switch {
	case i == ls.truncated.Index:
		return ls.truncated.Term, nil
	case i < ls.truncated.Index:
		return 0, raft.ErrCompacted
	case i > ls.last.Index:
		return 0, raft.ErrUnavailable
	case i == ls.last.Index:
		return ls.last.Term, nil
	}
	if e := ls.cache.get(i); e != nil {
		return e.GetTerm(), nil
	}
	v, ok, err := ls.engine.Get(storage.LogKey(ls.group, i))
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%w: group %d missing entry %d in [%d, %d]", errCorrupt, ls.group, i, ls.truncated.Index+1, ls.last.Index)
	}
	return entryTerm(i, v)
}

func (ls *logStore) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	if lo <= ls.truncated.Index {
		return nil, raft.ErrCompacted
	}
	if hi > ls.last.Index+1 {
		return nil, fmt.Errorf("multiraft: entries [%d, %d) beyond last index %d", lo, hi, ls.last.Index)
	}
	if ents, ok := ls.cache.slice(lo, hi, maxSize); ok {
		return ents, nil
	}
	var (
		ents    []*pb.Entry
		size    uint64
		scanErr error
	)
	start, end := storage.LogRange(ls.group, lo, hi)
	err := ls.engine.Scan(start, end, func(k, v []byte) bool {
		idx := storage.LogIndex(k)
		if idx != lo+uint64(len(ents)) {
			scanErr = fmt.Errorf("%w: group %d log gap at %d", errCorrupt, ls.group, idx)
			return false
		}
		e, err := decodeEntry(idx, append([]byte(nil), v...))
		if err != nil {
			scanErr = err
			return false
		}
		size += uint64(len(v))
		if len(ents) > 0 && size > maxSize {
			return false
		}
		ents = append(ents, e)
		return true
	})
	if err == nil {
		err = scanErr
	}
	if err == nil && len(ents) == 0 {
		err = fmt.Errorf("%w: group %d no entries in [%d, %d)", errCorrupt, ls.group, lo, hi)
	}
	return ents, err
}

// Snapshot describes the group's applied state. The data is not built here:
// the sender streams a consistent engine snapshot of the group's range when
// the MsgSnap goes out, and rewrites the metadata to that snapshot's applied
// position (see snapshot.go).
func (ls *logStore) Snapshot() (*pb.Snapshot, error) {
	return &pb.Snapshot{Metadata: &pb.SnapshotMetadata{
		Index:     new(ls.applied.Index),
		Term:      new(ls.applied.Term),
		ConfState: ls.applied.confState(),
	}}, nil
}

// appendEntries writes entries into b, removing any old entries past the new
// tail (raft may overwrite an uncommitted suffix).
func (ls *logStore) appendEntries(b *storage.Batch, ents []*pb.Entry) (logPosition, error) {
	if len(ents) == 0 {
		return ls.last, nil
	}
	for _, e := range ents {
		if err := b.Set(storage.LogKey(ls.group, e.GetIndex()), encodeEntry(e)); err != nil {
			return ls.last, err
		}
	}
	tail := ents[len(ents)-1]
	newLast := logPosition{tail.GetIndex(), tail.GetTerm()}
	if newLast.Index < ls.last.Index {
		start, end := storage.LogRange(ls.group, newLast.Index+1, ls.last.Index+1)
		if err := b.DeleteRange(start, end); err != nil {
			return ls.last, err
		}
	}
	return newLast, nil
}

// truncate removes log entries up to and including index from b.
func (ls *logStore) truncate(b *storage.Batch, index uint64) (logPosition, error) {
	term, err := ls.Term(index)
	if err != nil {
		return ls.truncated, err
	}
	start, end := storage.LogRange(ls.group, ls.truncated.Index+1, index+1)
	if err := b.DeleteRange(start, end); err != nil {
		return ls.truncated, err
	}
	pos := logPosition{index, term}
	return pos, b.Set(storage.TruncatedStateKey(ls.group), encodePosition(pos))
}
