package keyspace

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// ErrInvalid is matched, via errors.Is, by every error this package returns
// for bad input (a parse failure or a namespace that does not validate).
// The error's text is a sentence fit to show a user; front ends map
// ErrInvalid to the API's "invalid" code.
var ErrInvalid = errors.New("invalid")

// invalidError carries a user-facing sentence and matches ErrInvalid.
type invalidError string

func (e invalidError) Error() string        { return string(e) }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return invalidError(fmt.Sprintf(format, args...))
}

// NodeID identifies a node. IDs start at 1 and are never reused, so a
// NodeID names one incarnation of one machine for the cluster's lifetime.
// It prints as "n3".
type NodeID uint64

// String returns the ID as "n<id>", the form ParseNodeID accepts.
func (id NodeID) String() string { return "n" + strconv.FormatUint(uint64(id), 10) }

// ParseNodeID parses "n3", "N3" or "3". Zero is not a node ID and is an
// error, as is anything that is not such a number.
func ParseNodeID(s string) (NodeID, error) {
	digits := s
	if strings.HasPrefix(s, "n") || strings.HasPrefix(s, "N") {
		digits = s[1:]
	}
	v, err := strconv.ParseUint(digits, 10, 64) // rejects signs and ""
	if err != nil {
		return 0, invalidf("node ID %q is not of the form n3 or 3", s)
	}
	if v == 0 {
		return 0, invalidf("node ID %q is zero; node IDs start at 1", s)
	}
	return NodeID(v), nil
}

// ShardOf returns the shard, in [0, shards), that key belongs to:
// xxhash64(key) mod shards. The answer depends only on the key and the
// shard count, so every node computes the same one. It panics if shards
// is not positive; Namespace.Validate rules that out.
func ShardOf(key []byte, shards int) int {
	if shards <= 0 {
		panic(fmt.Sprintf("keyspace: ShardOf with %d shards", shards))
	}
	return int(xxhash.Sum64(key) % uint64(shards))
}

// GroupID names a replication group: the metadata group, or one shard of
// one namespace. The namespace ID sits in the high 32 bits and the shard in
// the low 32; namespace IDs start at 1, so no shard group is MetaGroup.
type GroupID uint64

// MetaGroup is the replication group that holds cluster metadata:
// members, namespaces and the shard map.
const MetaGroup GroupID = 0

// ShardGroup returns the group of shard shard of namespace nsID.
func ShardGroup(nsID uint32, shard int) GroupID {
	return GroupID(uint64(nsID)<<32 | uint64(uint32(shard)))
}

// Namespace returns the namespace ID of a shard group; 0 for MetaGroup.
func (g GroupID) Namespace() uint32 { return uint32(g >> 32) }

// Shard returns the shard index of a shard group; 0 for MetaGroup.
func (g GroupID) Shard() int { return int(uint32(g)) }

// String returns "meta" for MetaGroup and "ns<id>/s<shard>" otherwise.
func (g GroupID) String() string {
	if g == MetaGroup {
		return "meta"
	}
	return fmt.Sprintf("ns%d/s%d", g.Namespace(), g.Shard())
}
