package bench

import (
	"math"
	"math/rand/v2"
	"testing"
)

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

func TestUniformSpread(t *testing.T) {
	const n, draws, bins = 10000, 200000, 100
	r := seeded(1)
	counts := make([]float64, bins)
	for range draws {
		k := Uniform{N: n}.Next(r)
		if k >= n {
			t.Fatalf("key %d outside [0, %d)", k, n)
		}
		counts[k*bins/n]++
	}
	// Chi-square with 99 degrees of freedom: 99.9% of uniform samples
	// stay below 148.2. The seed is fixed, so this is deterministic.
	want := float64(draws) / bins
	var chi2 float64
	for _, c := range counts {
		chi2 += (c - want) * (c - want) / want
	}
	if chi2 > 148.2 {
		t.Errorf("uniform keys are not uniform: chi-square %.1f over %d bins", chi2, bins)
	}
}

func TestZipfianSkewMatchesTheory(t *testing.T) {
	const n, draws = 1000, 400000
	z := NewZipfian(n, ZipfTheta)
	r := seeded(2)
	counts := make([]float64, n)
	for range draws {
		k := z.Next(r)
		if k >= n {
			t.Fatalf("key %d outside [0, %d)", k, n)
		}
		counts[k]++
	}
	// Ranks 0 and 1 are drawn exactly: their frequencies match the Zipf
	// law to sampling error (σ ≈ 0.0005 here).
	for _, i := range []uint64{0, 1} {
		got, want := counts[i]/draws, z.Probability(i)
		if math.Abs(got-want) > 0.003 {
			t.Errorf("P(key %d) = %.4f, Zipf law says %.4f", i, got, want)
		}
	}
	// The rest follows an approximation: check the mass of the head.
	for _, top := range []int{10, 100} {
		var got, want float64
		for i := 0; i < top; i++ {
			got += counts[i] / draws
			want += z.Probability(uint64(i))
		}
		if math.Abs(got-want) > 0.03 {
			t.Errorf("mass of the top %d keys = %.3f, Zipf law says %.3f", top, got, want)
		}
	}
	// And the slope of log frequency against log rank is about -theta:
	// fit it by least squares over ranks 2..200.
	var sx, sy, sxx, sxy, m float64
	for i := 2; i < 200; i++ {
		x, y := math.Log(float64(i+1)), math.Log(counts[i]/draws)
		sx, sy, sxx, sxy, m = sx+x, sy+y, sxx+x*x, sxy+x*y, m+1
	}
	slope := (m*sxy - sx*sy) / (m*sxx - sx*sx)
	if math.Abs(slope+ZipfTheta) > 0.1 {
		t.Errorf("log-log slope %.3f, want about %.2f", slope, -ZipfTheta)
	}
}

func TestZipfianTinyKeySpaces(t *testing.T) {
	r := seeded(3)
	for _, n := range []uint64{1, 2, 3} {
		z := NewZipfian(n, ZipfTheta)
		for range 1000 {
			if k := z.Next(r); k >= n {
				t.Fatalf("n=%d: key %d", n, k)
			}
		}
	}
}

func TestWorkloadMixes(t *testing.T) {
	const draws = 100000
	for _, name := range []string{"a", "b", "c", "w"} {
		w, err := ParseWorkload(name)
		if err != nil {
			t.Fatal(err)
		}
		g := NewGenerator(w, 1000, Uniform{N: 1000})
		r := seeded(4)
		reads := 0
		for range draws {
			op, ok := g.Next(r)
			if !ok {
				t.Fatalf("workload %s ended", name)
			}
			if op.Kind == OpRead {
				reads++
			}
		}
		// σ of the read share is at most 0.0016 at 100k draws.
		if got := float64(reads) / draws; math.Abs(got-w.ReadFraction) > 0.01 {
			t.Errorf("workload %s: %.3f reads, want %.2f", name, got, w.ReadFraction)
		}
	}
	if _, err := ParseWorkload("z"); err == nil {
		t.Error("unknown workload accepted")
	}
}

func TestLoadInsertsEveryKeyOnce(t *testing.T) {
	w, _ := ParseWorkload("load")
	g := NewGenerator(w, 50, nil)
	r := seeded(5)
	for i := uint64(0); i < 50; i++ {
		op, ok := g.Next(r)
		if !ok || op.Kind != OpWrite || op.Key != i {
			t.Fatalf("op %d: %+v %v", i, op, ok)
		}
	}
	if _, ok := g.Next(r); ok {
		t.Error("load went past the last key")
	}
}

func TestKeys(t *testing.T) {
	if got := string(AppendKey(nil, 42, 16)); got != "k000000000000042" {
		t.Errorf("key 42 = %q", got)
	}
	if MinKeySize(100000) != 6 || MinKeySize(1) != 2 {
		t.Errorf("MinKeySize(100000)=%d MinKeySize(1)=%d", MinKeySize(100000), MinKeySize(1))
	}
	if got := string(AppendKey(nil, 99999, MinKeySize(100000))); got != "k99999" {
		t.Errorf("tightest key = %q", got)
	}
	if _, err := NewKeyChooser("pareto", 10); err == nil {
		t.Error("unknown distribution accepted")
	}
	v := NewValue(seeded(6), 100)
	if len(v) != 100 {
		t.Errorf("value of %d bytes", len(v))
	}
}
