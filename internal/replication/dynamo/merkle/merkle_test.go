package merkle

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed for the randomized tests (0: a new one per run)")

// seeds returns -seed alone if given, else n fresh seeds (1 under -short).
func seeds(n int) []uint64 {
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	if testing.Short() {
		n = 1
	}
	base := uint64(time.Now().UnixNano())
	out := make([]uint64, n)
	for i := range out {
		out[i] = base + uint64(i)
	}
	return out
}

// contents is the naive model: what a tree should summarize.
type contents map[string]uint64

// build returns a tree made from scratch out of c.
func (c contents) build(buckets int) *Tree {
	t := New(buckets)
	for k, d := range c {
		t.Set([]byte(k), 0, d, false)
	}
	return t
}

// diffBuckets returns, ascending, the buckets of the keys on which a and b
// disagree: the naive answer to DiffBuckets.
func diffBuckets(a, b contents, buckets int) []int {
	set := map[int]bool{}
	for k := range a {
		if d, ok := b[k]; !ok || d != a[k] {
			set[BucketOf([]byte(k), buckets)] = true
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			set[BucketOf([]byte(k), buckets)] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// randomDigest is often 0, the digest that is easy to get wrong.
func randomDigest(rng *rand.Rand) uint64 {
	if rng.IntN(5) == 0 {
		return 0
	}
	return rng.Uint64N(8)
}

// mutate applies one random insert, replace or remove to t and c.
func mutate(rng *rand.Rand, t *Tree, c contents, keys int) {
	k := fmt.Sprintf("key%d", rng.IntN(keys))
	old, had := c[k]
	switch {
	case had && rng.IntN(3) == 0:
		t.Remove([]byte(k), old)
		delete(c, k)
	default:
		d := randomDigest(rng)
		t.Set([]byte(k), old, d, had)
		c[k] = d
	}
}

func sameLevels(t *testing.T, seed uint64, got, want *Tree) {
	t.Helper()
	for i := range want.Levels() {
		if !slices.Equal(got.Level(i), want.Level(i)) {
			t.Fatalf("seed %d: level %d differs from a tree rebuilt from scratch", seed, i)
		}
	}
}

// TestIncrementalMatchesRebuild checks that any sequence of Set and Remove
// leaves the tree exactly as building it from scratch from what remains.
func TestIncrementalMatchesRebuild(t *testing.T) {
	for _, seed := range seeds(3) {
		rng := rand.New(rand.NewPCG(seed, 0))
		for _, buckets := range []int{1, 2, 16, 0} {
			tr, c := New(buckets), contents{}
			for i := range 5000 {
				mutate(rng, tr, c, 300)
				if i%250 == 0 {
					sameLevels(t, seed, tr, c.build(buckets))
				}
			}
			sameLevels(t, seed, tr, c.build(buckets))
		}
	}
}

// TestDiffFindsDifferingBuckets gives two trees the same random contents
// but for a few differences, and checks DiffBuckets and Diff name exactly
// the buckets holding the differing keys.
func TestDiffFindsDifferingBuckets(t *testing.T) {
	for _, seed := range seeds(3) {
		rng := rand.New(rand.NewPCG(seed, 1))
		for _, buckets := range []int{1, 4, 64, 1024} {
			for range 8 {
				a := contents{}
				for i := range 1000 {
					a[fmt.Sprintf("k%d", i)] = rng.Uint64()
				}
				b := maps.Clone(a)
				for range rng.IntN(6) {
					k := fmt.Sprintf("k%d", rng.IntN(1050)) // sometimes a key only b has
					switch rng.IntN(3) {
					case 0:
						delete(b, k)
					case 1:
						b[k] = 0
					default:
						b[k] = rng.Uint64()
					}
				}
				ta, tb := a.build(buckets), b.build(buckets)
				want := diffBuckets(a, b, buckets)
				if got := DiffBuckets(ta.Buckets(), tb.Buckets()); !slices.Equal(got, want) {
					t.Fatalf("seed %d, %d buckets: DiffBuckets = %v, want %v", seed, buckets, got, want)
				}
				if got := ta.Diff(tb); !slices.Equal(got, want) {
					t.Fatalf("seed %d, %d buckets: Diff = %v, want %v", seed, buckets, got, want)
				}
				if (ta.Root() == tb.Root()) != (len(want) == 0) {
					t.Fatalf("seed %d, %d buckets: roots equal %t with %d differing buckets", seed, buckets, ta.Root() == tb.Root(), len(want))
				}
			}
		}
	}
}

// TestRootEqualIffContentsEqual builds trees from many small random
// contents, drawn from few keys and digests so that equal ones recur, and
// checks that two roots are equal exactly when the contents are.
func TestRootEqualIffContentsEqual(t *testing.T) {
	for _, seed := range seeds(2) {
		rng := rand.New(rand.NewPCG(seed, 2))
		cs := make([]contents, 400)
		roots := make([]uint64, len(cs))
		for i := range cs {
			cs[i] = contents{}
			for range rng.IntN(4) {
				cs[i][fmt.Sprint(rng.IntN(4))] = rng.Uint64N(3)
			}
			roots[i] = cs[i].build(8).Root()
		}
		equal := 0
		for i := range cs {
			for j := i + 1; j < len(cs); j++ {
				same := maps.Equal(cs[i], cs[j])
				if same != (roots[i] == roots[j]) {
					t.Fatalf("seed %d: contents %v and %v equal %t, roots equal %t", seed, cs[i], cs[j], same, !same)
				}
				if same {
					equal++
				}
			}
		}
		if equal == 0 {
			t.Fatalf("seed %d: no equal contents drawn; the test proves nothing", seed)
		}
	}
}

func TestShape(t *testing.T) {
	for _, c := range []struct{ buckets, levels int }{{1, 1}, {2, 2}, {16, 5}, {0, 11}} {
		tr := New(c.buckets)
		if tr.Levels() != c.levels {
			t.Fatalf("New(%d).Levels() = %d, want %d", c.buckets, tr.Levels(), c.levels)
		}
		for i := range tr.Levels() {
			if n := len(tr.Level(i)); n != 1<<i {
				t.Fatalf("New(%d).Level(%d) has %d hashes, want %d", c.buckets, i, n, 1<<i)
			}
		}
		if tr.Level(0)[0] != tr.Root() {
			t.Fatalf("level 0 is not the root")
		}
	}
	for _, bad := range []int{-1, 3, 1000} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("New(%d) did not panic", bad)
				}
			}()
			New(bad)
		}()
	}
}

func TestLevelIsACopy(t *testing.T) {
	tr := New(4)
	b := tr.Buckets()
	b[0] = 42
	if tr.Buckets()[0] == 42 {
		t.Fatal("Buckets exposes the tree's own storage")
	}
}

func TestDiffIncomparable(t *testing.T) {
	if got := DiffBuckets(make([]uint64, 2), make([]uint64, 4)); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("DiffBuckets of different lengths = %v, want every bucket", got)
	}
	if got := New(2).Diff(New(4)); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("Diff of different shapes = %v, want every bucket", got)
	}
}

// TestConcurrentUpdates has goroutines update disjoint keys at once (run
// with -race); the result must match a rebuild.
func TestConcurrentUpdates(t *testing.T) {
	const goroutines = 4
	tr := New(64)
	parts := make([]contents, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		parts[g] = contents{}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 3))
			for range 2000 {
				k := fmt.Sprintf("g%d-%d", g, rng.IntN(100))
				old, had := parts[g][k]
				d := rng.Uint64()
				tr.Set([]byte(k), old, d, had)
				parts[g][k] = d
				_ = tr.Root()
			}
		})
	}
	wg.Wait()
	all := contents{}
	for _, p := range parts {
		maps.Copy(all, p)
	}
	sameLevels(t, 0, tr, all.build(64))
}
