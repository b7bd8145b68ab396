package keyspace

import "strings"

const (
	// DefaultNamespace is the namespace a request without one uses. It
	// exists from cluster bootstrap with ID 1.
	DefaultNamespace = "default"
	// DefaultShards is the shard count of a namespace created without one.
	DefaultShards = 16
	// DefaultReplicas is the replication factor of a namespace created
	// without one.
	DefaultReplicas = 3
	// MaxShards bounds a namespace's shard count, which bounds the number
	// of replication groups a namespace can add to the cluster.
	MaxShards = 1024
	// maxNameLen is the longest namespace name ValidateName accepts.
	maxNameLen = 63
)

// Namespace is a namespace's configuration as stored in cluster metadata.
// Its shard count and scheme (its Layout) decide which shard holds a key;
// changing them is a reshard, which moves the keys whose shard changes.
type Namespace struct {
	// Name is the user-facing name; see ValidateName.
	Name string `json:"name"`
	// ID is assigned by the metadata group when the namespace is created
	// and is never reused; the default namespace is 1. Validate does not
	// check it, since a namespace is validated before it has one.
	ID uint32 `json:"id"`
	// Mode is the consistency mode and so the engine. Required.
	Mode Mode `json:"mode"`
	// Replicas is how many nodes hold each shard.
	Replicas Replication `json:"replicas"`
	// Shards is the number of shards, 1..MaxShards.
	Shards int `json:"shards"`
	// Sharding is how keys map to shards. New namespaces get ShardingJump;
	// ShardingUnset in a stored map means the legacy ShardingMod.
	Sharding Sharding `json:"sharding,omitempty"`
	// R and W are the leaderless engine's read and write quorums; 0 means
	// a majority of the replicas. Only eventual and causal namespaces may
	// set them.
	R int `json:"r,omitempty"`
	W int `json:"w,omitempty"`
	// Conflicts is the leaderless engine's conflict policy; 0 means LWW.
	// Only eventual and causal namespaces may set it.
	Conflicts Conflicts `json:"conflicts,omitempty"`
	// AllReplicas makes a strong namespace mode ca (seed 001's CA): every
	// write is a two-phase commit that every replica of its shard must
	// acknowledge, so one unreachable replica makes writes fail.
	AllReplicas bool `json:"all_replicas,omitempty"`
	// Pinned, if set, fixes each shard's nodes (see Pinning); Replicas is
	// then only what the shards were sized for.
	Pinned Pinning `json:"pinned,omitempty"`
}

// ValidateName reports whether name is a valid namespace name: 1 to 63
// characters from a-z, 0-9, '-' and '_', starting with a letter or digit.
// Names go in URLs and storage keys unescaped, hence the narrow alphabet.
func ValidateName(name string) error {
	switch {
	case name == "":
		return invalidf("namespace name is empty")
	case len(name) > maxNameLen:
		return invalidf("namespace name %q is %d characters long; the limit is %d", name, len(name), maxNameLen)
	case name[0] == '-' || name[0] == '_':
		return invalidf("namespace name %q must start with a lowercase letter or digit", name)
	}
	if i := strings.IndexFunc(name, func(c rune) bool { return !nameChar(c) }); i >= 0 {
		return invalidf("namespace name %q contains %q; use lowercase letters, digits, '-' and '_'", name, []rune(name[i:])[0])
	}
	return nil
}

func nameChar(c rune) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// Validate reports the first problem with ns, as an error matching
// ErrInvalid whose text names the offending field. A nil error means the
// configuration can be created as is; it says nothing about whether the
// cluster currently has enough nodes for it.
func (ns Namespace) Validate() error {
	if err := ValidateName(ns.Name); err != nil {
		return err
	}
	if ns.Mode == 0 {
		return invalidf("mode is missing; use strong, eventual or causal")
	}
	if !ns.Mode.valid() {
		return invalidf("mode must be strong, eventual or causal, got %d", uint8(ns.Mode))
	}
	if ns.Shards < 1 || ns.Shards > MaxShards {
		return invalidf("shards must be between 1 and %d, got %d", MaxShards, ns.Shards)
	}
	if !ns.Replicas.All && ns.Replicas.N == 0 {
		return invalidf("replicas is missing; use a number of at least 1 or \"all\"")
	}
	if !ns.Replicas.All && ns.Replicas.N < 1 {
		return invalidf("replicas must be at least 1 or \"all\", got %d", ns.Replicas.N)
	}
	if !ns.Sharding.valid() {
		return invalidf("sharding must be jump or mod")
	}
	if ns.AllReplicas && ns.Mode != ModeStrong {
		return invalidf("mode ca runs on Raft groups: it is a strong namespace whose writes every replica acknowledges")
	}
	if err := ns.validateQuorums(); err != nil {
		return err
	}
	if err := ns.validatePinning(); err != nil {
		return err
	}
	return ns.validateConflicts()
}

func (ns Namespace) validateQuorums() error {
	for _, q := range []struct {
		name string
		v    int
	}{{"r", ns.R}, {"w", ns.W}} {
		switch {
		case q.v < 0:
			return invalidf("%s must not be negative, got %d", q.name, q.v)
		case q.v > 0 && ns.Mode == ModeStrong:
			return invalidf("%s applies only to eventual and causal namespaces; strong namespaces use Raft majorities", q.name)
		case !ns.Replicas.All && q.v > ns.Replicas.N:
			return invalidf("%s must not exceed replicas (%d), got %d", q.name, ns.Replicas.N, q.v)
		}
	}
	return nil
}

func (ns Namespace) validateConflicts() error {
	switch {
	case ns.Conflicts == 0:
		return nil
	case !ns.Conflicts.valid():
		return invalidf("conflicts must be lww or siblings")
	case ns.Mode == ModeStrong:
		return invalidf("conflicts applies only to eventual and causal namespaces; strong namespaces have no conflicting writes")
	}
	return nil
}

// ModeName is the mode as users name it: strong, eventual, causal, or ca
// (a strong namespace with AllReplicas).
func (ns Namespace) ModeName() string {
	if ns.AllReplicas {
		return "ca"
	}
	return ns.Mode.String()
}

// Layout returns how the namespace maps keys to shards.
func (ns Namespace) Layout() Layout { return Layout{Shards: ns.Shards, Sharding: ns.Sharding} }
