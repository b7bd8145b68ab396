// Package merkle summarizes a shard's (key, digest) pairs in a fixed-shape
// hash tree so two replicas can find the keys they disagree on by exchanging
// a few kilobytes of hashes.
package merkle

import (
	"fmt"
	"hash/fnv"
	"math/bits"
	"sync"
)

// DefaultBuckets is the number of buckets New uses when given 0.
const DefaultBuckets = 1024

// Tree summarizes a set of (key, digest) pairs. Each key falls in bucket
// BucketOf(key, Buckets); a bucket's hash is the XOR of mix(FNV-1a(key),
// digest) over its pairs, so inserting, replacing and removing a pair are
// O(1) updates of the bucket followed by rehashing its log2(buckets)
// ancestors. Internal nodes hash their two children in order. The tree
// does not remember which keys it holds: callers must pass the digest a
// key currently has when replacing or removing it, or the summary is
// wrong. A Tree is safe for concurrent use.
type Tree struct {
	buckets int

	mu struct {
		sync.Mutex
		// nodes is the tree in heap order: nodes[1] is the root, node i
		// has children 2i and 2i+1, and the buckets are
		// nodes[buckets:2*buckets]. nodes[0] is unused.
		nodes []uint64
	}
}

// New returns an empty tree with the given number of buckets, which must
// be a power of two; 0 means DefaultBuckets. New panics on other values.
func New(buckets int) *Tree {
	if buckets == 0 {
		buckets = DefaultBuckets
	}
	if buckets < 0 || bits.OnesCount(uint(buckets)) != 1 {
		panic(fmt.Sprintf("merkle: bucket count %d is not a power of two", buckets))
	}
	t := &Tree{buckets: buckets}
	t.mu.nodes = make([]uint64, 2*buckets)
	for i := buckets - 1; i >= 1; i-- {
		t.mu.nodes[i] = combine(t.mu.nodes[2*i], t.mu.nodes[2*i+1])
	}
	return t
}

// BucketOf returns the bucket of key in a tree of the given number of
// buckets: FNV-1a-64(key) mod buckets.
func BucketOf(key []byte, buckets int) int {
	return int(keyHash(key) % uint64(buckets))
}

// Set records that key's digest changed from oldDigest to newDigest; with
// hadOld false the key is new and oldDigest is ignored. Any digest,
// including 0, is a valid digest.
func (t *Tree) Set(key []byte, oldDigest, newDigest uint64, hadOld bool) {
	kh := keyHash(key)
	delta := mix(kh, newDigest)
	if hadOld {
		delta ^= mix(kh, oldDigest)
	}
	t.xor(int(kh%uint64(t.buckets)), delta)
}

// Remove records that key, whose digest was digest, is gone.
func (t *Tree) Remove(key []byte, digest uint64) {
	kh := keyHash(key)
	t.xor(int(kh%uint64(t.buckets)), mix(kh, digest))
}

// xor flips delta into bucket b's hash and rehashes its ancestors.
func (t *Tree) xor(b int, delta uint64) {
	if delta == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.mu.nodes
	i := t.buckets + b
	n[i] ^= delta
	for i /= 2; i >= 1; i /= 2 {
		n[i] = combine(n[2*i], n[2*i+1])
	}
}

// Root returns the root hash: equal trees have equal roots, and different
// contents give different roots except with negligible probability.
func (t *Tree) Root() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.nodes[1]
}

// Levels returns the number of levels, log2(buckets)+1.
func (t *Tree) Levels() int { return bits.Len(uint(t.buckets)) }

// Level returns a copy of the hashes of level i, left to right: level 0 is
// the root alone, level Levels()-1 the buckets. It panics if i is out of
// range.
func (t *Tree) Level(i int) []uint64 {
	if i < 0 || i >= t.Levels() {
		panic(fmt.Sprintf("merkle: level %d out of range [0,%d)", i, t.Levels()))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]uint64(nil), t.mu.nodes[1<<i:2<<i]...)
}

// Buckets returns a copy of the bucket hashes, the last level: what a
// replica sends its peer for DiffBuckets (8 bytes per bucket).
func (t *Tree) Buckets() []uint64 { return t.Level(t.Levels() - 1) }

// Diff returns, ascending, the buckets whose hashes differ between t and
// remote, walking both trees top-down and skipping equal subtrees. The
// trees must have the same number of buckets; if they do not, every bucket
// of the larger is returned, as the summaries are not comparable.
func (t *Tree) Diff(remote *Tree) []int {
	if t.buckets != remote.buckets {
		return allBuckets(max(t.buckets, remote.buckets))
	}
	a, b := t.snapshot(), remote.snapshot()
	var out []int
	var walk func(i int)
	walk = func(i int) {
		switch {
		case a[i] == b[i]:
		case i >= t.buckets:
			out = append(out, i-t.buckets)
		default:
			walk(2 * i)
			walk(2*i + 1)
		}
	}
	walk(1)
	return out
}

// snapshot returns a copy of all node hashes in heap order.
func (t *Tree) snapshot() []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]uint64(nil), t.mu.nodes...)
}

// DiffBuckets returns, ascending, the indices at which the bucket hashes a
// and b (from Buckets on two replicas) differ. If their lengths differ the
// trees are not comparable and every index of the longer is returned.
func DiffBuckets(a, b []uint64) []int {
	if len(a) != len(b) {
		return allBuckets(max(len(a), len(b)))
	}
	var out []int
	for i := range a {
		if a[i] != b[i] {
			out = append(out, i)
		}
	}
	return out
}

func allBuckets(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func keyHash(key []byte) uint64 {
	h := fnv.New64a()
	h.Write(key)
	return h.Sum64()
}

// mix hashes one (key hash, digest) pair for XOR into a bucket. For a fixed
// key it is a bijection of digest, so a changed digest always changes the
// bucket, and digest 0 maps to a value as random as any other, so a pair
// with digest 0 still shows.
func mix(kh, digest uint64) uint64 {
	return fmix(kh ^ fmix(digest+0x9e3779b97f4a7c15))
}

// combine hashes two children into their parent; order matters.
func combine(l, r uint64) uint64 {
	return fmix(l ^ fmix(r^0xc2b2ae3d27d4eb4f)*0x9e3779b97f4a7c15)
}

// fmix is the 64-bit finalizer of MurmurHash3: a bijection that spreads
// every input bit over the output.
func fmix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
