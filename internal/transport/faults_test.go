package transport

import (
	"math"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clock"
)

func TestFaultsCuts(t *testing.T) {
	f := NewFaults(1, nil)
	blocked := func(from, to uint64, want bool) {
		t.Helper()
		if got := f.Blocked(from, to); got != want {
			t.Fatalf("Blocked(%d,%d) = %v, want %v (rules %+v)", from, to, got, want, f.Rules())
		}
		if got := f.Decide(from, to).Drop; got != want {
			t.Fatalf("Decide(%d,%d).Drop = %v, want %v", from, to, got, want)
		}
	}

	p := must(f.Partition([][]uint64{{1, 2}, {3}}, 0))
	blocked(1, 2, false)
	blocked(1, 3, true)
	blocked(3, 2, true)
	blocked(4, 3, false) // not listed: unaffected
	blocked(1, 4, false)
	if !f.Remove(p) || f.Remove(p) {
		t.Fatal("Remove should succeed once")
	}

	must(f.Cut(1, 2, 0))
	blocked(1, 2, true)
	blocked(2, 1, false)
	f.Heal()

	must(f.Isolate(2, 0))
	blocked(2, 5, true)
	blocked(5, 2, true)
	blocked(1, 3, false)
	blocked(2, 2, false) // a node always reaches itself
	if f.Frozen(2) {
		t.Fatal("isolated node reported frozen")
	}
	f.Heal()

	must(f.Freeze(3, 0))
	if !f.Frozen(3) || f.Frozen(1) {
		t.Fatal("Frozen wrong")
	}
	blocked(1, 3, true)
	f.Unfreeze(3)
	if f.Frozen(3) || len(f.Rules()) != 0 {
		t.Fatalf("Unfreeze left %+v", f.Rules())
	}
	blocked(1, 3, false)
}

func TestFaultsExpireByClock(t *testing.T) {
	clk := clock.NewManual(time.Unix(100, 0))
	f := NewFaults(1, clk)
	must(f.Isolate(1, 10*time.Second))
	must(f.Freeze(2, 20*time.Second))
	forever := must(f.Cut(3, 4, 0))
	if !f.Blocked(1, 9) || !f.Frozen(2) {
		t.Fatal("rules not active")
	}
	clk.Advance(10 * time.Second)
	if f.Blocked(1, 9) {
		t.Fatal("isolation outlived its duration")
	}
	if !f.Frozen(2) {
		t.Fatal("freeze expired early")
	}
	clk.Advance(time.Hour)
	rules := f.Rules()
	if len(rules) != 1 || rules[0].ID != forever || !rules[0].Until.IsZero() {
		t.Fatalf("rules after expiry %+v", rules)
	}
}

func TestFaultsValidate(t *testing.T) {
	f := NewFaults(1, nil)
	bad := []struct {
		name string
		err  error
	}{
		{"negative duration", second(f.Isolate(1, -1))},
		{"cut to self", second(f.Cut(1, 1, 0))},
		{"node in two groups", second(f.Partition([][]uint64{{1, 2}, {2, 3}}, 0))},
		{"prob > 1", second(f.Drop(0, 1.5, 0))},
		{"prob < 0", second(f.Duplicate(-0.1, 0))},
		{"prob NaN", second(f.Reorder(math.NaN(), 0))},
		{"negative delay", second(f.Delay(0, -time.Second, 0, 0))},
		{"negative jitter", second(f.Delay(0, 0, -time.Second, 0))},
	}
	for _, b := range bad {
		if b.err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
	if n := len(f.Rules()); n != 0 {
		t.Fatalf("rejected input added %d rules", n)
	}
}

func second(_ uint64, err error) error { return err }

func TestFaultsDecide(t *testing.T) {
	f := NewFaults(testSeed(t), nil)
	must(f.Delay(2, 10*time.Millisecond, 5*time.Millisecond, 0))
	must(f.Delay(0, time.Millisecond, 0, 0))
	for range 200 {
		v := f.Decide(1, 2)
		if v.Delay < 11*time.Millisecond || v.Delay > 16*time.Millisecond || v.Drop || v.Duplicate || v.Reorder {
			t.Fatalf("verdict %+v", v)
		}
		if v := f.Decide(1, 3); v.Delay != time.Millisecond {
			t.Fatalf("delay on an unrelated link: %+v", v)
		}
	}
	f.Heal()
	must(f.Drop(5, 1, 0))
	must(f.Duplicate(1, 0))
	if v := f.Decide(5, 1); !v.Drop || v.Duplicate {
		t.Fatalf("dropped message must carry no other verdict: %+v", v)
	}
	if v := f.Decide(1, 2); v.Drop || !v.Duplicate {
		t.Fatalf("verdict %+v", v)
	}
}

func TestFaultsReplaySameSeed(t *testing.T) {
	seed := testSeed(t)
	run := func(seed int64) []Verdict {
		f := NewFaults(seed, nil)
		must(f.Drop(0, 0.3, 0))
		must(f.Delay(0, 0, time.Second, 0))
		must(f.Duplicate(0.2, 0))
		must(f.Reorder(0.1, 0))
		var out []Verdict
		for i := range 1000 {
			out = append(out, f.Decide(uint64(i%3+1), uint64(i%5+1)))
		}
		return out
	}
	a, b, c := run(seed), run(seed), run(seed+1)
	drops := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("decision %d differs for the same seed: %+v vs %+v", i, a[i], b[i])
		}
		if a[i].Drop {
			drops++
		}
	}
	if drops < 200 || drops > 400 {
		t.Fatalf("%d drops of 1000 at p=0.3", drops)
	}
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(a) {
		t.Fatal("a different seed made identical decisions")
	}
}

func TestFaultsRulesAreCopies(t *testing.T) {
	f := NewFaults(1, nil)
	groups := [][]uint64{{1}, {2}}
	must(f.Partition(groups, 0))
	groups[0][0] = 2 // the caller's slice is not the rule's
	r := f.Rules()
	r[0].Groups[1][0] = 1
	if !f.Blocked(1, 2) {
		t.Fatal("rule changed through an aliased slice")
	}
}
