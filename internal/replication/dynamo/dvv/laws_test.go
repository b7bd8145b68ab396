package dvv

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomSet returns a well-formed Set over nodes 1..nodes with counters up
// to maxCounter: a random context and a random subset of the dots it covers
// as siblings. A dot's contents are a function of the dot, except now and
// then, to exercise Merge's tie-break for one dot with two contents.
func randomSet(rng *rand.Rand, nodes, maxCounter int) Set {
	s := Set{Context: VV{}}
	for n := uint64(1); n <= uint64(nodes); n++ {
		c := rng.Uint64N(uint64(maxCounter) + 1)
		if c == 0 {
			continue
		}
		s.Context[n] = c
		for i := uint64(1); i <= c; i++ {
			if rng.IntN(3) != 0 {
				continue
			}
			x := Sibling{Dot: Dot{n, i}, Value: fmt.Appendf(nil, "v%d.%d", n, i), Stamp: Timestamp{Wall: int64(10 * i)}}
			if rng.IntN(10) == 0 {
				x.Value, x.Deleted = nil, true
			}
			if rng.IntN(20) == 0 {
				x.Value, x.Deleted, x.Stamp.Logical = fmt.Appendf(nil, "other%d", rng.IntN(3)), false, uint32(rng.IntN(3))
			}
			s.Siblings = append(s.Siblings, x)
		}
	}
	return s
}

// TestMergeLaws checks that Merge is commutative, associative and
// idempotent, and that it keeps Sets well-formed (Decode accepts them).
func TestMergeLaws(t *testing.T) {
	for _, seed := range seeds(t, 2) {
		rng := rand.New(rand.NewPCG(seed, 1))
		for range 5000 {
			a, b, c := randomSet(rng, 3, 4), randomSet(rng, 3, 4), randomSet(rng, 3, 4)
			ab := Merge(a, b)
			check := func(law string, x, y Set) {
				t.Helper()
				if !x.Equal(y) {
					t.Fatalf("seed %d: %s fails for\na: %sb: %sc: %s\ngot  %s\nwant %s", seed, law,
						showSet("a", a), showSet("b", b), showSet("c", c), showSet("", x), showSet("", y))
				}
			}
			check("commutativity", ab, Merge(b, a))
			check("associativity", Merge(ab, c), Merge(a, Merge(b, c)))
			check("idempotence", Merge(a, a), a)
			check("absorption", Merge(ab, b), ab)
			if _, err := Decode(ab.Encode()); err != nil {
				t.Fatalf("seed %d: merge is not well-formed: %v\n%s", seed, err, showSet("ab", ab))
			}
		}
	}
}

// TestEncodeRoundTrip checks Decode(Encode(s)) == s, and that Hash agrees
// with Equal: over many small random Sets, two hash alike exactly when they
// are equal.
func TestEncodeRoundTrip(t *testing.T) {
	for _, seed := range seeds(t, 2) {
		rng := rand.New(rand.NewPCG(seed, 2))
		sets := make([]Set, 600)
		for i := range sets {
			sets[i] = randomSet(rng, 2, 2)
			if rng.IntN(2) == 0 { // a second path to equal Sets
				sets[i] = Merge(sets[i], randomSet(rng, 2, 2))
			}
			back, err := Decode(sets[i].Encode())
			if err != nil || !back.Equal(sets[i]) {
				t.Fatalf("seed %d: round trip of %s gave %s, %v", seed, showSet("s", sets[i]), showSet("back", back), err)
			}
		}
		equalPairs := 0
		for i := range sets {
			for j := i + 1; j < len(sets); j++ {
				eq := sets[i].Equal(sets[j])
				if eq != (sets[i].Hash() == sets[j].Hash()) {
					t.Fatalf("seed %d: Equal %t but hashes %x, %x:\n%s%s", seed, eq, sets[i].Hash(), sets[j].Hash(),
						showSet("a", sets[i]), showSet("b", sets[j]))
				}
				if eq {
					equalPairs++
				}
			}
		}
		if equalPairs == 0 {
			t.Fatalf("seed %d: no equal pairs generated; the test proves nothing", seed)
		}
	}
}

// TestTokenRoundTrip checks DecodeToken(EncodeToken(v)) == v.
func TestTokenRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		v := VV{}
		for range rng.IntN(5) {
			v[rng.Uint64()>>rng.IntN(64)] = rng.Uint64() >> rng.IntN(64)
		}
		back, err := DecodeToken(EncodeToken(v))
		if err != nil || !back.Equal(v) {
			t.Fatalf("token round trip of %v gave %v, %v", v, back, err)
		}
	}
}

// TestResolveLWW checks ResolveLWW against sorting the siblings.
func TestResolveLWW(t *testing.T) {
	for _, seed := range seeds(t, 2) {
		rng := rand.New(rand.NewPCG(seed, 3))
		for range 2000 {
			s := randomSet(rng, 3, 4)
			for i := range s.Siblings {
				s.Siblings[i].Stamp = Timestamp{Wall: rng.Int64N(4), Logical: rng.Uint32N(2)}
			}
			got, n := s.ResolveLWW()
			if !got.Context.Equal(s.Context) {
				t.Fatalf("seed %d: context changed from %v to %v", seed, s.Context, got.Context)
			}
			if len(s.Siblings) == 0 {
				if n != 0 || len(got.Siblings) != 0 {
					t.Fatalf("seed %d: resolving nothing gave %s, %d", seed, showSet("", got), n)
				}
				continue
			}
			sorted := slices.SortedFunc(slices.Values(s.Siblings), func(x, y Sibling) int {
				if x.lwwLess(y) {
					return -1
				}
				return 1
			})
			want := sorted[len(sorted)-1]
			if n != len(s.Siblings)-1 || len(got.Siblings) != 1 || !got.Siblings[0].Equal(want) {
				t.Fatalf("seed %d: ResolveLWW of %s gave %s discarding %d; want only %v", seed, showSet("s", s), showSet("got", got), n, want.Dot)
			}
		}
	}
}
