package keyspace

import (
	"fmt"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Sharding is how a namespace maps a key to one of its shards.
type Sharding uint8

const (
	// ShardingUnset is a namespace that does not say: a stored map written
	// before the scheme was recorded (which used ShardingMod), or a create
	// request that takes the default (ShardingJump).
	ShardingUnset Sharding = iota
	// ShardingMod is xxhash64(key) mod shards. Changing the shard count
	// moves most keys (growing 16 to 24 moves two thirds of them), so only
	// namespaces created before jump hashing use it; resharding one
	// converts it to ShardingJump.
	ShardingMod
	// ShardingJump is Lamping and Veach's jump consistent hash of
	// xxhash64(key): growing from n to m shards moves exactly the keys
	// that land in the new shards, (m-n)/m of them, and shrinking from n
	// to m moves only the keys of the removed shards, (n-m)/n — the least
	// any scheme can move.
	ShardingJump
)

var shardingNames = [...]string{ShardingMod: "mod", ShardingJump: "jump"}

func (s Sharding) String() string {
	switch s {
	case ShardingUnset:
		return ""
	case ShardingMod, ShardingJump:
		return shardingNames[s]
	}
	return fmt.Sprintf("Sharding(%d)", uint8(s))
}

func (s Sharding) valid() bool { return s <= ShardingJump }

// ParseSharding parses "mod" or "jump" ("" is ShardingUnset).
func ParseSharding(v string) (Sharding, error) {
	t := strings.ToLower(strings.TrimSpace(v))
	switch t {
	case "":
		return ShardingUnset, nil
	case "mod":
		return ShardingMod, nil
	case "jump":
		return ShardingJump, nil
	}
	return 0, invalidf("sharding %q is not one of jump or mod", v)
}

// MarshalText encodes the scheme's name.
func (s Sharding) MarshalText() ([]byte, error) {
	if !s.valid() {
		return nil, invalidf("sharding %d is not a known scheme", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a scheme's name.
func (s *Sharding) UnmarshalText(b []byte) error {
	v, err := ParseSharding(string(b))
	if err == nil {
		*s = v
	}
	return err
}

// Layout is how one namespace's keys are spread over its shards: a shard
// count and a scheme. Two layouts of a namespace (before and after a
// reshard) say which keys move: those whose shard differs.
type Layout struct {
	Shards   int
	Sharding Sharding
}

// ShardOf returns the shard, in [0, Shards), that key belongs to. The
// answer depends only on the key and the layout, so every node (and every
// client that routes by itself) computes the same one. An internal key
// goes where the user key it belongs to goes (see RoutingKey): every
// caller — routing, reshards' copies and filters, the leaderless
// engine — places a hash's keys with its user key by calling this. It
// panics if Shards is not positive; Namespace.Validate rules that out.
func (l Layout) ShardOf(key []byte) int {
	if l.Shards <= 0 {
		panic(fmt.Sprintf("keyspace: ShardOf with %d shards", l.Shards))
	}
	h := xxhash.Sum64(RoutingKey(key))
	if l.Sharding == ShardingJump {
		return JumpHash(h, l.Shards)
	}
	return int(h % uint64(l.Shards)) // ShardingMod, and unset (legacy)
}

// JumpHash is the jump consistent hash of Lamping and Veach ("A Fast,
// Minimal Memory, Consistent Hash Algorithm", 2014): it maps key to a
// bucket in [0, buckets) so that going from n to n+1 buckets moves only
// the keys that land in the new bucket. buckets must be positive.
func JumpHash(key uint64, buckets int) int {
	var b, j int64 = -1, 0
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}
