package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// oracle is the value of rank ceil(q/100·n) (at least 1) in sorted vs.
func oracle(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

var testQuantiles = []float64{0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100}

// logUniform draws values spread evenly over 0..1e10 on a log scale, plus
// some tiny ones, so every bucket band is exercised.
func logUniform(r *rand.Rand, n int) []int64 {
	vs := make([]int64, n)
	for i := range vs {
		if r.IntN(10) == 0 {
			vs[i] = r.Int64N(50)
		} else {
			vs[i] = int64(math.Pow(10, r.Float64()*10))
		}
	}
	return vs
}

func TestHistogramAgainstSortedOracle(t *testing.T) {
	for digits := MinDigits; digits <= 4; digits++ {
		r := rand.New(rand.NewPCG(uint64(digits), 42))
		vs := logUniform(r, 20000)
		h := NewHistogram(digits)
		for _, v := range vs {
			h.Record(v)
		}
		sorted := slices.Sorted(slices.Values(vs))
		tol := math.Pow10(-digits)
		for _, q := range testQuantiles {
			want, got := oracle(sorted, q), h.ValueAt(q)
			if got < want || float64(got-want) > float64(want)*tol {
				t.Errorf("digits %d: p%v = %d, oracle %d (allowed %d..%d)", digits, q, got, want, want, want+int64(float64(want)*tol))
			}
		}
		if h.Count() != uint64(len(vs)) || h.Min() != sorted[0] || h.Max() != sorted[len(sorted)-1] {
			t.Errorf("digits %d: count %d min %d max %d, want %d %d %d", digits, h.Count(), h.Min(), h.Max(), len(vs), sorted[0], sorted[len(sorted)-1])
		}
		var sum float64
		for _, v := range vs {
			sum += float64(v)
		}
		if mean := sum / float64(len(vs)); math.Abs(h.Mean()-mean) > mean*1e-9 {
			t.Errorf("digits %d: mean %v, want %v", digits, h.Mean(), mean)
		}
	}
}

func TestHistogramSmallValuesExact(t *testing.T) {
	h := NewHistogram(2) // 256 exact buckets
	for v := int64(0); v < 256; v++ {
		h.Record(v)
	}
	for _, q := range []float64{1, 50, 99} {
		want := int64(math.Ceil(q/100*256)) - 1
		if got := h.ValueAt(q); got != want {
			t.Errorf("p%v = %d, want exactly %d", q, got, want)
		}
	}
}

func TestHistogramBucketsTileTheLine(t *testing.T) {
	h := NewHistogram(2)
	next := int64(0)
	for i := 0; i < 4000; i++ {
		lo, hi := h.bounds(i)
		if lo != next || hi < lo {
			t.Fatalf("bucket %d covers %d..%d, want it to start at %d", i, lo, hi, next)
		}
		if h.index(lo) != i || h.index(hi) != i {
			t.Fatalf("bucket %d: index(%d)=%d index(%d)=%d", i, lo, h.index(lo), hi, h.index(hi))
		}
		if lo > 0 && float64(hi-lo) > float64(lo)/100 {
			t.Fatalf("bucket %d (%d..%d) wider than 1%%", i, lo, hi)
		}
		next = hi + 1
	}
}

func TestHistogramMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	vs := logUniform(r, 10000)
	whole, a, b := NewHistogram(3), NewHistogram(3), NewHistogram(3)
	for i, v := range vs {
		whole.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	merged := NewHistogram(3)
	for _, part := range []*Histogram{a, NewHistogram(3), b} {
		if err := merged.Merge(part); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range testQuantiles {
		if merged.ValueAt(q) != whole.ValueAt(q) {
			t.Errorf("p%v: merged %d, whole %d", q, merged.ValueAt(q), whole.ValueAt(q))
		}
	}
	if merged.Count() != whole.Count() || merged.Min() != whole.Min() || merged.Max() != whole.Max() {
		t.Errorf("merged count/min/max %d/%d/%d, whole %d/%d/%d",
			merged.Count(), merged.Min(), merged.Max(), whole.Count(), whole.Min(), whole.Max())
	}
	if err := merged.Merge(NewHistogram(2)); err == nil {
		t.Error("merging histograms of different precision succeeded")
	}
}

func TestHistogramEmptyAndReset(t *testing.T) {
	h := NewHistogram(3)
	if h.ValueAt(50) != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Fatal("empty histogram reports values")
	}
	h.Record(-5)
	h.Record(1e9)
	if h.Min() != 0 || h.ValueAt(0) != 0 {
		t.Errorf("a negative value should count as 0: min %d", h.Min())
	}
	h.Reset()
	h.Record(42)
	if h.Count() != 1 || h.Min() != 42 || h.Max() != 42 || h.ValueAt(99) != 42 {
		t.Errorf("after reset: count %d min %d max %d p99 %d", h.Count(), h.Min(), h.Max(), h.ValueAt(99))
	}
}

func TestNewHistogramRejectsBadDigits(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewHistogram(0) did not panic")
		}
	}()
	NewHistogram(0)
}
