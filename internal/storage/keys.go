package storage

import "encoding/binary"

// The key layout. Every key starts with a one-byte kind; group-scoped kinds
// follow it with the group ID (8 bytes, big endian) so one group's keys are
// one contiguous range:
//
//	'r' group 'h'            Raft HardState           (not replicated)
//	'r' group 't'            truncated log state      (not replicated)
//	'r' group 'l' index      Raft log entry           (not replicated)
//	's' group 'a'            applied state            (replicated: travels in snapshots)
//	's' group 'd' userkey    user data of the group   (replicated)
//	's' group 'm'            the shard's own record   (replicated: version offset, layout, reshard state)
//	's' group 'r' userkey    keys deleted while moving out in a reshard (replicated)
//	's' group 'i' userkey    a transaction's intent: the key is locked (replicated)
//	's' group 't' txnid      a transaction's part on this shard, or its record (replicated)
//	'x' group ...            leaderless engine state of the group
//	'm' name                 node-local metadata (identity, bootstrap marker)
//
// A Raft snapshot of a group is exactly its 's' range; dropping a replica is
// deleting its 'r' and 's' ranges.
const (
	kindRaft       = 'r'
	kindState      = 's'
	kindLeaderless = 'x'
	kindLocal      = 'm'
)

func groupKey(kind byte, group uint64, suffix byte, extra int) []byte {
	k := make([]byte, 10, 10+extra)
	k[0] = kind
	binary.BigEndian.PutUint64(k[1:9], group)
	k[9] = suffix
	return k
}

// HardStateKey is where a group's Raft HardState lives.
func HardStateKey(group uint64) []byte { return groupKey(kindRaft, group, 'h', 0) }

// TruncatedStateKey is where a group records the index and term of the last
// entry removed from its log.
func TruncatedStateKey(group uint64) []byte { return groupKey(kindRaft, group, 't', 0) }

// LogKey is the key of a group's log entry at index.
func LogKey(group, index uint64) []byte {
	k := groupKey(kindRaft, group, 'l', 8)
	return binary.BigEndian.AppendUint64(k, index)
}

// LogIndex decodes the index from a LogKey.
func LogIndex(key []byte) uint64 { return binary.BigEndian.Uint64(key[len(key)-8:]) }

// LogRange returns [start, end) covering a group's log entries with index in
// [lo, hi).
func LogRange(group, lo, hi uint64) (start, end []byte) {
	return LogKey(group, lo), LogKey(group, hi)
}

// RaftRange returns [start, end) covering all of a group's Raft keys.
func RaftRange(group uint64) (start, end []byte) {
	return groupKey(kindRaft, group, 0, 0)[:9], upperBound(groupKey(kindRaft, group, 0, 0)[:9])
}

// AppliedStateKey is where a group records what it has applied.
func AppliedStateKey(group uint64) []byte { return groupKey(kindState, group, 'a', 0) }

// ShardRecordKey is where a strong shard keeps its own replicated record
// (version offset, layout, reshard state).
func ShardRecordKey(group uint64) []byte { return groupKey(kindState, group, 'm', 0) }

// MovedDeleteKey records that user key k of a group was deleted while a
// reshard was moving it out.
func MovedDeleteKey(group uint64, k []byte) []byte {
	return append(groupKey(kindState, group, 'r', len(k)), k...)
}

// MovedDeleteRange returns [start, end) covering a group's MovedDeleteKeys.
func MovedDeleteRange(group uint64) (start, end []byte) {
	start = groupKey(kindState, group, 'r', 0)
	return start, upperBound(start)
}

// IntentKey is where a prepared transaction's lock on user key k of a
// group lives.
func IntentKey(group uint64, k []byte) []byte {
	return append(groupKey(kindState, group, 'i', len(k)), k...)
}

// IntentRange returns [start, end) covering a group's IntentKeys.
func IntentRange(group uint64) (start, end []byte) {
	start = groupKey(kindState, group, 'i', 0)
	return start, upperBound(start)
}

// TxnKey is where a group keeps transaction id's state: its part on this
// shard (sub 'p') or, on the shard holding it, its record (sub 'r').
func TxnKey(group uint64, sub byte, id string) []byte {
	k := groupKey(kindState, group, 't', 1+len(id))
	k = append(k, sub)
	return append(k, id...)
}

// DataKey is the key holding user key k of a group.
func DataKey(group uint64, k []byte) []byte {
	return append(groupKey(kindState, group, 'd', len(k)), k...)
}

// DataPrefixLen is the length of the prefix DataKey adds to a user key.
const DataPrefixLen = 10

// UserKey strips the DataKey prefix.
func UserKey(dataKey []byte) []byte { return dataKey[DataPrefixLen:] }

// DataRange returns [start, end) covering a group's user keys that begin
// with prefix.
func DataRange(group uint64, prefix []byte) (start, end []byte) {
	start = DataKey(group, prefix)
	return start, upperBound(start)
}

// StateRange returns [start, end) covering a group's replicated state: its
// applied state and all its data. This is what a snapshot carries.
func StateRange(group uint64) (start, end []byte) {
	start = groupKey(kindState, group, 0, 0)[:9]
	return start, upperBound(start)
}

// LeaderlessKey returns a key in a group's leaderless-engine range.
func LeaderlessKey(group uint64, sub byte, k []byte) []byte {
	return append(groupKey(kindLeaderless, group, sub, len(k)), k...)
}

// LeaderlessRange returns [start, end) of a group's leaderless keys under
// sub and prefix.
func LeaderlessRange(group uint64, sub byte, prefix []byte) (start, end []byte) {
	start = LeaderlessKey(group, sub, prefix)
	return start, upperBound(start)
}

// LocalKey is a node-local metadata key.
func LocalKey(name string) []byte { return append([]byte{kindLocal}, name...) }

// upperBound returns the smallest key greater than every key with prefix p.
func upperBound(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil // p was all 0xff: no upper bound
}
