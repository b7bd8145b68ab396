package keyspace

import (
	"slices"
	"strings"
)

// Pinning fixes which nodes hold each shard of a namespace, instead of the
// ring: shard s's replicas are the s-th group's nodes, so the groups
// partition the nodes (seed 004's shards, each a set of nodes holding the
// same keys). It is written "n1,n2,n3;n4,n5,n6", one group per shard in
// shard order; "" means the namespace is placed on the ring. It is a
// string so that Namespace stays comparable.
type Pinning string

// MakePinning writes groups as a Pinning.
func MakePinning(groups [][]NodeID) Pinning {
	var b strings.Builder
	for s, g := range groups {
		if s > 0 {
			b.WriteByte(';')
		}
		for i, id := range g {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(id.String())
		}
	}
	return Pinning(b.String())
}

// Groups parses the pinning: one node list per shard (nil for "").
func (p Pinning) Groups() ([][]NodeID, error) {
	if p == "" {
		return nil, nil
	}
	var out [][]NodeID
	seen := map[NodeID]bool{}
	for _, part := range strings.Split(string(p), ";") {
		var g []NodeID
		if part != "" {
			for _, f := range strings.Split(part, ",") {
				id, err := ParseNodeID(f)
				if err != nil {
					return nil, invalidf("pinning %q: %v", string(p), err)
				}
				if seen[id] {
					return nil, invalidf("pinning %q: %s is in two shards", string(p), id)
				}
				seen[id] = true
				g = append(g, id)
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// ShardOf returns the shard whose group holds node id.
func (p Pinning) ShardOf(id NodeID) (int, bool) {
	gs, _ := p.Groups()
	for s, g := range gs {
		if slices.Contains(g, id) {
			return s, true
		}
	}
	return 0, false
}

func (ns Namespace) validatePinning() error {
	if ns.Pinned == "" {
		return nil
	}
	gs, err := ns.Pinned.Groups()
	if err != nil {
		return err
	}
	if len(gs) != ns.Shards {
		return invalidf("pinning names %d shards' nodes, the namespace has %d shards", len(gs), ns.Shards)
	}
	return nil
}

// placePinned is Place for a pinned namespace: each shard's group, less
// the nodes not on the ring (not active). A group may be empty: its shard
// keeps whatever replicas it has until a node is pinned to it.
func placePinned(r *Ring, ns Namespace) [][]NodeID {
	gs, err := ns.Pinned.Groups()
	if err != nil || len(gs) != ns.Shards {
		return nil
	}
	on := r.Nodes()
	out := make([][]NodeID, len(gs))
	for s, g := range gs {
		for _, id := range g {
			if slices.Contains(on, id) {
				out[s] = append(out[s], id)
			}
		}
	}
	return out
}

// CutIntoShards cuts nodes, in order, into shards runs of consecutive
// nodes whose sizes differ by at most one (the first ones larger): seed
// 004's shards from its VIEW.
func CutIntoShards(nodes []NodeID, shards int) [][]NodeID {
	out := make([][]NodeID, shards)
	at := 0
	for s := range shards {
		n := len(nodes) / shards
		if s < len(nodes)%shards {
			n++
		}
		out[s] = slices.Clone(nodes[at : at+n])
		at += n
	}
	return out
}
