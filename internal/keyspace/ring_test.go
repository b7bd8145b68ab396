package keyspace

import (
	"cmp"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// seed drives the randomized tests. They are deterministic by default; a
// failure prints the seed, and -seed replays it or explores new cases.
var seed = flag.Uint64("seed", 1, "seed for the randomized keyspace tests")

// naiveTokens recomputes every token of nodes from scratch.
func naiveTokens(nodes []NodeID, vnodes int, hash HashFunc) []token {
	var all []token
	for _, id := range nodes {
		for v := range vnodes {
			all = append(all, token{pos: hash(fmt.Appendf(nil, "n%d#%d", id, v)), node: id})
		}
	}
	return all
}

// naiveSuccessors scans all tokens n times for the one nearest clockwise
// from point (distance pos-point mod 2^64, ties to the lower NodeID) whose
// node is not yet taken.
func naiveSuccessors(tokens []token, point uint64, n int) []NodeID {
	var out []NodeID
	for len(out) < n {
		best, found := token{}, false
		for _, tok := range tokens {
			d := token{pos: tok.pos - point, node: tok.node}
			if slices.Contains(out, d.node) {
				continue
			}
			if !found || cmp.Or(cmp.Compare(d.pos, best.pos), cmp.Compare(d.node, best.node)) < 0 {
				best, found = d, true
			}
		}
		if !found {
			break
		}
		out = append(out, best.node)
	}
	return out
}

// TestRingMatchesNaive drives random rings through random adds and removes
// and compares Successors, Walk, Nodes and Len with the naive scan. Half
// the rings use a hash with only 64 positions, so tokens collide often and
// tie-breaking and exact hits are exercised.
func TestRingMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(*seed, 1))
	for iter := 0; iter < 200; iter++ {
		vnodes := 1 + rng.IntN(8)
		hash := HashFunc(xxhash.Sum64)
		if iter%2 == 1 {
			hash = func(b []byte) uint64 { return xxhash.Sum64(b) % 64 }
		}
		r := NewRing(vnodes, hash)
		var members []NodeID
		for step := 0; step < 20; step++ {
			id := NodeID(1 + rng.IntN(12))
			if rng.IntN(3) == 0 {
				r.Remove(id)
				members = slices.DeleteFunc(members, func(m NodeID) bool { return m == id })
			} else if r.Add(id); !slices.Contains(members, id) {
				members = append(members, id)
			}
			slices.Sort(members)
			where := fmt.Sprintf("-seed=%d iter %d step %d (vnodes %d, nodes %v)", *seed, iter, step, vnodes, members)
			if !slices.Equal(r.Nodes(), members) || r.Len() != len(members) {
				t.Fatalf("%s: Nodes() = %v, Len() = %d", where, r.Nodes(), r.Len())
			}
			tokens := naiveTokens(members, vnodes, hash)
			for range 10 {
				checkPoint(t, r, tokens, len(members), randomPoint(rng, r), rng.IntN(len(members)+2), where)
			}
		}
	}
}

// randomPoint picks a point anywhere, at an extreme, or on or next to a
// token, where off-by-one mistakes live.
func randomPoint(rng *rand.Rand, r *Ring) uint64 {
	switch k := rng.IntN(5); {
	case k == 0:
		return 0
	case k == 1:
		return math.MaxUint64
	case k == 2 && len(r.tokens) > 0:
		return r.tokens[rng.IntN(len(r.tokens))].pos + uint64(rng.IntN(3)) - 1
	case k == 3:
		return uint64(rng.IntN(70))
	}
	return rng.Uint64()
}

func checkPoint(t *testing.T, r *Ring, tokens []token, nodes int, point uint64, n int, where string) {
	t.Helper()
	want := naiveSuccessors(tokens, point, n)
	if got := r.Successors(point, n); !slices.Equal(got, want) {
		t.Fatalf("%s: Successors(%d, %d) = %v, naive scan says %v", where, point, n, got, want)
	}
	all := naiveSuccessors(tokens, point, nodes)
	var walked []NodeID
	r.Walk(point, func(id NodeID) bool { walked = append(walked, id); return true })
	if !slices.Equal(walked, all) {
		t.Fatalf("%s: Walk(%d) visited %v, naive scan says %v", where, point, walked, all)
	}
	if len(all) > 0 {
		stop := all[len(all)/2]
		walked = walked[:0]
		r.Walk(point, func(id NodeID) bool { walked = append(walked, id); return id != stop })
		if want := all[:len(all)/2+1]; !slices.Equal(walked, want) {
			t.Fatalf("%s: Walk(%d) stopping at %v visited %v, want %v", where, point, stop, walked, want)
		}
	}
}

func TestZeroRingIsUsable(t *testing.T) {
	var r Ring
	if got := r.Successors(1, 3); got != nil {
		t.Fatalf("empty ring Successors = %v, want nil", got)
	}
	r.Add(1, 2, 3)
	if len(r.tokens) != 3*DefaultVNodes {
		t.Fatalf("zero ring made %d tokens for 3 nodes, want %d", len(r.tokens), 3*DefaultVNodes)
	}
	d := NewRing(0, nil)
	d.Add(3, 2, 1)
	for p := uint64(0); p < 1<<64-1<<60; p += 1 << 60 {
		if a, b := r.Successors(p, 3), d.Successors(p, 3); !slices.Equal(a, b) {
			t.Fatalf("zero ring and NewRing(0, nil) disagree at %d: %v vs %v", p, a, b)
		}
	}
	if r.ShardPoint(1, 2) != xxhash.Sum64([]byte{0, 0, 0, 1, 0, 0, 0, 2}) {
		t.Fatalf("ShardPoint(1, 2) is not xxhash of the big-endian pair")
	}
}
