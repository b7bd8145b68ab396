package keyspace

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// DefaultVNodes is the number of tokens (virtual nodes) each node gets when
// NewRing is given none.
const DefaultVNodes = 128

// HashFunc maps bytes to a position on the ring. It must be deterministic
// and the same on every node; tests inject readable ones.
type HashFunc func(data []byte) uint64

// Ring is a consistent-hash ring: each node owns several tokens (virtual
// nodes) on a circle of uint64 positions, and a point on the circle is
// served by the nodes whose tokens follow it clockwise.
//
// A Ring is not safe for concurrent mutation. Build it, then share it
// read-only (Successors, Walk, Place and the other readers only read), or
// guard it with a lock. The zero value is an empty ring using
// DefaultVNodes and xxhash.
type Ring struct {
	vnodes int
	hash   HashFunc
	tokens []token  // sorted by (pos, node)
	nodes  []NodeID // sorted
}

// token is one virtual node: node owns the arc that ends at pos.
type token struct {
	pos  uint64
	node NodeID
}

// NewRing returns an empty ring giving each node vnodes tokens placed by
// hash. vnodes <= 0 means DefaultVNodes; a nil hash means xxhash64.
func NewRing(vnodes int, hash HashFunc) *Ring {
	return &Ring{vnodes: vnodes, hash: hash}
}

func (r *Ring) sum(data []byte) uint64 {
	if r.hash == nil {
		return xxhash.Sum64(data)
	}
	return r.hash(data)
}

// Add puts nodes on the ring. Token i of node n sits at hash("n<id>#<i>"),
// so a node's tokens depend only on its ID and the ring's settings, and
// two tokens at the same position are ordered by NodeID. Adding a node
// that is already on the ring does nothing.
func (r *Ring) Add(nodes ...NodeID) {
	vnodes := r.vnodes
	if vnodes <= 0 {
		vnodes = DefaultVNodes
	}
	var key []byte
	for _, n := range nodes {
		i, found := slices.BinarySearch(r.nodes, n)
		if found {
			continue
		}
		r.nodes = slices.Insert(r.nodes, i, n)
		for v := range vnodes {
			key = strconv.AppendUint(append(key[:0], 'n'), uint64(n), 10)
			key = strconv.AppendInt(append(key, '#'), int64(v), 10)
			r.tokens = append(r.tokens, token{pos: r.sum(key), node: n})
		}
	}
	slices.SortFunc(r.tokens, func(a, b token) int {
		return cmp.Or(cmp.Compare(a.pos, b.pos), cmp.Compare(a.node, b.node))
	})
}

// Remove takes node n and its tokens off the ring. Removing a node that is
// not on the ring does nothing.
func (r *Ring) Remove(n NodeID) {
	i, found := slices.BinarySearch(r.nodes, n)
	if !found {
		return
	}
	r.nodes = slices.Delete(r.nodes, i, i+1)
	r.tokens = slices.DeleteFunc(r.tokens, func(t token) bool { return t.node == n })
}

// Nodes returns the nodes on the ring in increasing order. The slice is the
// caller's.
func (r *Ring) Nodes() []NodeID { return slices.Clone(r.nodes) }

// Len returns the number of nodes on the ring.
func (r *Ring) Len() int { return len(r.nodes) }

// Successors returns up to n distinct nodes found walking clockwise from
// point: the owner of the first token at or after point, wrapping past the
// top of the circle, then the next node not yet seen, and so on. It returns
// fewer than n only when the ring has fewer than n nodes.
func (r *Ring) Successors(point uint64, n int) []NodeID {
	n = min(n, len(r.nodes))
	if n <= 0 {
		return nil
	}
	out := make([]NodeID, 0, n)
	r.Walk(point, func(id NodeID) bool {
		out = append(out, id)
		return len(out) < n
	})
	return out
}

// Walk calls fn with each distinct node in the order Successors lists them,
// until fn returns false or every node has been visited. The leaderless
// engine's sloppy quorum uses it to continue past the preference list.
func (r *Ring) Walk(point uint64, fn func(NodeID) bool) {
	start, _ := slices.BinarySearchFunc(r.tokens, point, func(t token, p uint64) int {
		return cmp.Compare(t.pos, p)
	})
	seen := make(map[NodeID]struct{}, len(r.nodes))
	for k := 0; k < len(r.tokens) && len(seen) < len(r.nodes); k++ {
		n := r.tokens[(start+k)%len(r.tokens)].node
		if _, ok := seen[n]; ok {
			continue
		}
		seen[n] = struct{}{}
		if !fn(n) {
			return
		}
	}
}

// ShardPoint returns where shard shard of namespace nsID sits on the ring:
// the ring's hash of nsID and shard as two big-endian uint32s.
func (r *Ring) ShardPoint(nsID uint32, shard int) uint64 {
	var b [8]byte
	binary.BigEndian.PutUint32(b[:4], nsID)
	binary.BigEndian.PutUint32(b[4:], uint32(shard))
	return r.sum(b[:])
}
