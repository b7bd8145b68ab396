package keyspace

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
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
// It prints as "n3". IDs are at most MaxNodeID, so that a Raft replica ID
// can carry the node ID and a replica generation in one uint64.
type NodeID uint64

// MaxNodeID is the largest node ID (2^40 - 1).
const MaxNodeID NodeID = 1<<40 - 1

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
	if NodeID(v) > MaxNodeID {
		return 0, invalidf("node ID %q is larger than the limit n%d", s, uint64(MaxNodeID))
	}
	return NodeID(v), nil
}

// GroupID names a replication group: the metadata group, or one shard of
// one namespace. The namespace ID sits in the high 32 bits, the shard's
// generation in the next 16 and the shard index in the low 16; namespace
// IDs start at 1, so no shard group is MetaGroup. A reshard gives the
// shards it creates a new generation, so a shard index that is dropped and
// later created again never reuses the old group's ID (whose stale replicas
// or messages might still be about).
type GroupID uint64

// MetaGroup is the replication group that holds cluster metadata:
// members, namespaces and the shard map.
const MetaGroup GroupID = 0

// ShardGroup returns the group of shard shard (generation 0) of namespace
// nsID.
func ShardGroup(nsID uint32, shard int) GroupID { return ShardGroupGen(nsID, shard, 0) }

// ShardGroupGen returns the group of shard shard of namespace nsID created
// in generation gen. shard must be below 65536 (MaxShards is far lower).
func ShardGroupGen(nsID uint32, shard int, gen uint16) GroupID {
	return GroupID(uint64(nsID)<<32 | uint64(gen)<<16 | uint64(uint16(shard)))
}

// Namespace returns the namespace ID of a shard group; 0 for MetaGroup.
func (g GroupID) Namespace() uint32 { return uint32(g >> 32) }

// Shard returns the shard index of a shard group; 0 for MetaGroup.
func (g GroupID) Shard() int { return int(uint16(g)) }

// Gen returns the generation of a shard group.
func (g GroupID) Gen() uint16 { return uint16(g >> 16) }

// String returns "meta" for MetaGroup, "ns<id>/s<shard>" for a
// generation-0 shard and "ns<id>/s<shard>.g<gen>" otherwise.
func (g GroupID) String() string {
	if g == MetaGroup {
		return "meta"
	}
	if g.Gen() != 0 {
		return fmt.Sprintf("ns%d/s%d.g%d", g.Namespace(), g.Shard(), g.Gen())
	}
	return fmt.Sprintf("ns%d/s%d", g.Namespace(), g.Shard())
}

// ReplicaID identifies one replica of one group in Raft: the node that
// holds it in the low 40 bits and the replica's generation above. A node
// that leaves a group and later joins it again does so with a new
// generation, so messages and votes meant for its old replica (whose state
// was deleted) can never be mistaken for the new one's.
type ReplicaID uint64

// MakeReplicaID returns the ID of node's replica of generation gen.
func MakeReplicaID(node NodeID, gen uint32) ReplicaID {
	return ReplicaID(uint64(gen)<<40 | uint64(node))
}

// Node returns the node that holds the replica.
func (r ReplicaID) Node() NodeID { return NodeID(uint64(r) & uint64(MaxNodeID)) }

// Gen returns the replica's generation.
func (r ReplicaID) Gen() uint32 { return uint32(uint64(r) >> 40) }

// String returns "n3" for generation 0 and "n3.r2" otherwise.
func (r ReplicaID) String() string {
	if r.Gen() == 0 {
		return r.Node().String()
	}
	return fmt.Sprintf("%s.r%d", r.Node(), r.Gen())
}
