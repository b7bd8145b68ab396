package bench

import (
	"fmt"
	"math"
	"math/bits"
)

// Histogram counts non-negative int64 values (latencies in nanoseconds,
// here) in log-linear buckets, HDR style, so that every value is kept to
// a fixed number of significant decimal digits whatever its magnitude.
//
// # Buckets
//
// With d significant digits the histogram uses sub = 2^s linear
// sub-buckets, the smallest power of two with sub >= 2·10^d, and
// half = sub/2. Values below sub are counted exactly, one bucket each.
// A larger value v of bit length L is shifted right by k = L - s bits,
// which leaves v>>k in [half, sub); its bucket index is half·k + v>>k.
// Every bucket of shift k therefore covers 2^k consecutive values whose
// lowest is at least half·2^k: the relative width of a bucket is at most
// 1/half < 10^-d.
//
// The count slice grows only as far as the largest value recorded, so a
// histogram of microsecond-to-second latencies costs a few hundred KiB at
// three digits. A Histogram is not safe for concurrent use; give each
// goroutine its own and Merge them.
type Histogram struct {
	digits int
	shift  uint  // s: log2 of the number of linear sub-buckets
	half   int64 // 2^(s-1)
	counts []uint64
	total  uint64
	min    int64
	max    int64
	sum    float64
}

// Limits of the significant digits a Histogram keeps.
const (
	MinDigits = 1
	MaxDigits = 5
)

// NewHistogram returns an empty histogram keeping digits significant
// decimal digits (MinDigits..MaxDigits). It panics on other values: the
// precision is chosen by code, never by input.
func NewHistogram(digits int) *Histogram {
	if digits < MinDigits || digits > MaxDigits {
		panic(fmt.Sprintf("bench: histogram digits %d outside %d..%d", digits, MinDigits, MaxDigits))
	}
	need := 2 * int64(math.Pow10(digits))
	s := uint(bits.Len64(uint64(need - 1))) // smallest s with 2^s >= need
	return &Histogram{digits: digits, shift: s, half: 1 << (s - 1)}
}

// Digits is the number of significant decimal digits h keeps.
func (h *Histogram) Digits() int { return h.digits }

// index is the bucket of v >= 0.
func (h *Histogram) index(v int64) int {
	if v < 2*h.half {
		return int(v)
	}
	k := uint(bits.Len64(uint64(v))) - h.shift
	return int(h.half*int64(k) + v>>k)
}

// bounds are the lowest and highest values counted in bucket i.
func (h *Histogram) bounds(i int) (lo, hi int64) {
	if int64(i) < 2*h.half {
		return int64(i), int64(i)
	}
	k := int64(i)/h.half - 1
	lo = (int64(i) - h.half*k) << k
	return lo, lo + (1 << k) - 1
}

// Record counts v; a negative v counts as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	i := h.index(v)
	if i >= len(h.counts) {
		h.grow(i)
	}
	h.counts[i]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

// grow extends counts to hold index i, with some headroom.
func (h *Histogram) grow(i int) {
	n := max(i+1, 2*len(h.counts), int(2*h.half))
	c := make([]uint64, n)
	copy(c, h.counts)
	h.counts = c
}

// Merge adds every value counted in o to h. Both must keep the same
// number of digits.
func (h *Histogram) Merge(o *Histogram) error {
	if o.digits != h.digits {
		return fmt.Errorf("bench: merging a %d-digit histogram into a %d-digit one", o.digits, h.digits)
	}
	if o.total == 0 {
		return nil
	}
	if len(o.counts) > len(h.counts) {
		h.grow(len(o.counts) - 1)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
	return nil
}

// Reset empties h, keeping its memory.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.total, h.min, h.max, h.sum = 0, 0, 0, 0
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Min is the smallest value recorded, exactly (0 when empty).
func (h *Histogram) Min() int64 { return h.min }

// Max is the largest value recorded, exactly (0 when empty).
func (h *Histogram) Max() int64 { return h.max }

// Mean is the mean of the values recorded, exactly up to float rounding
// (0 when empty).
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// ValueAt returns the q-th percentile (q in [0, 100]): the highest value
// of the bucket holding the value of rank ceil(q/100·Count) in sorted
// order (rank 1 for q = 0), capped by Max. The true value v at that rank
// satisfies v <= ValueAt(q) <= v·(1 + 10^-digits). It returns 0 when h is
// empty.
func (h *Histogram) ValueAt(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	q = min(max(q, 0), 100)
	rank := uint64(math.Ceil(q / 100 * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := h.bounds(i)
			return min(hi, h.max)
		}
	}
	return h.max
}
