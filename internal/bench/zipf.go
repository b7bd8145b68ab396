package bench

import (
	"math"
	"math/rand/v2"
)

// ZipfTheta is the skew of --dist zipfian, YCSB's default: the item of
// rank i (from 0) is chosen with probability proportional to 1/(i+1)^0.99.
const ZipfTheta = 0.99

// KeyChooser picks the index, in [0, n), of the key an operation touches.
// Implementations are read-only after construction, so one chooser serves
// every worker; the randomness comes from the worker's own r.
type KeyChooser interface {
	Next(r *rand.Rand) uint64
}

// Uniform chooses every key of [0, N) with the same probability.
type Uniform struct{ N uint64 }

// Next returns a key index uniformly distributed over [0, N).
func (u Uniform) Next(r *rand.Rand) uint64 { return r.Uint64N(u.N) }

// Zipfian chooses keys of [0, n) with a Zipf distribution of skew theta:
// key i, the item of rank i, has probability 1/((i+1)^theta·zeta(n)),
// where zeta(n) = Σ_{j=1..n} 1/j^theta. Key 0 is the most popular.
//
// It is the rejection-free method of Gray et al., "Quickly Generating
// Billion-Record Synthetic Databases" (SIGMOD 1994), which YCSB uses: the
// two most popular items are drawn exactly, the rest by inverting an
// approximation of the distribution function. Construction computes
// zeta(n) in O(n) (a few milliseconds per million keys); each Next is
// O(1).
type Zipfian struct {
	n          uint64
	theta      float64
	alpha      float64 // 1/(1-theta)
	zetaN      float64
	eta        float64
	twoCutoff  float64 // 1 + 0.5^theta: u·zeta(n) below it picks rank 1
	firstProba float64 // 1/zeta(n), the probability of rank 0
}

// NewZipfian returns a Zipfian over [0, n) with skew theta, 0 < theta < 1.
// n must be at least 1.
func NewZipfian(n uint64, theta float64) *Zipfian {
	if n < 1 {
		panic("bench: zipfian over no items")
	}
	if !(theta > 0 && theta < 1) {
		panic("bench: zipfian theta must be in (0, 1)")
	}
	z := &Zipfian{n: n, theta: theta, alpha: 1 / (1 - theta), zetaN: zeta(n, theta)}
	zeta2 := 1 + math.Pow(0.5, theta)
	z.twoCutoff = zeta2
	z.firstProba = 1 / z.zetaN
	if n > 2 {
		z.eta = (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta2/z.zetaN)
	}
	return z
}

// zeta is Σ_{i=1..n} 1/i^theta.
func zeta(n uint64, theta float64) float64 {
	var s float64
	for i := uint64(1); i <= n; i++ {
		s += math.Pow(float64(i), -theta)
	}
	return s
}

// Probability returns the exact probability of key i under the Zipf law
// the generator approximates (exact for keys 0 and 1).
func (z *Zipfian) Probability(i uint64) float64 {
	return math.Pow(float64(i+1), -z.theta) / z.zetaN
}

// Next returns a key index in [0, n).
func (z *Zipfian) Next(r *rand.Rand) uint64 {
	u := r.Float64()
	uz := u * z.zetaN
	switch {
	case uz < 1 || z.n == 1:
		return 0
	case uz < z.twoCutoff || z.n == 2:
		return 1
	}
	v := uint64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(v, z.n-1)
}
