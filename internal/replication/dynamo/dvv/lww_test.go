package dvv

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestLWWConverges runs replicas that stamp writes with skewed, sometimes
// backwards-jumping HLC clocks, resolve LWW after every write and merge,
// and take contexts from their own state or none (the rule in the package
// doc). No replica that has seen a write may ever be left without a
// sibling, and after a full exchange every replica must hold exactly the
// write with the greatest (Stamp, Dot) ever made. With rawWall the stamps
// are raw skewed wall readings, so only Update's raising of stamps keeps
// them consistent with causality.
func TestLWWConverges(t *testing.T) {
	for _, seed := range seeds(t, 3) {
		for _, rawWall := range []bool{false, true} {
			testLWWConverges(t, seed, rawWall)
		}
	}
}

func testLWWConverges(t *testing.T, seed uint64, rawWall bool) {
	rng := rand.New(rand.NewPCG(seed, 4))
	n := 3 + rng.IntN(3)
	var now int64 = 1e12 // shared true time, in nanoseconds
	skew := make([]int64, n)
	reps := make([]Set, n)
	clocks := make([]*Clock, n)
	for r := range reps {
		skew[r] = rng.Int64N(100e6) - 50e6
		clocks[r] = NewClock(func() time.Time { return time.Unix(0, now+skew[r]) }, 0)
	}
	type msg struct {
		to  int
		set Set
	}
	var inflight []msg
	var best *Sibling // the greatest write so far
	resolve := func(r int) {
		reps[r], _ = reps[r].ResolveLWW()
		if len(reps[r].Context) > 0 && len(reps[r].Siblings) != 1 {
			t.Fatalf("seed %d rawWall %t: replica %d resolved to %s", seed, rawWall, r, showSet(fmt.Sprint(r), reps[r]))
		}
	}
	deliver := func(to int, in Set) {
		for _, x := range in.Siblings {
			clocks[to].Update(x.Stamp)
		}
		reps[to] = Merge(reps[to], in)
		resolve(to)
	}
	for i := range 6000 {
		now += rng.Int64N(2e6)
		r := rng.IntN(n)
		if rng.IntN(100) == 0 {
			skew[r] -= rng.Int64N(100e6) // this replica's wall clock jumps back
		}
		switch p := rng.IntN(10); {
		case p < 4:
			var ctx VV
			if rng.IntN(2) == 0 {
				ctx = reps[r].Context
			}
			ts := clocks[r].Now()
			if rawWall {
				ts = Timestamp{Wall: now + skew[r]}
			}
			var dot Dot
			reps[r], dot = reps[r].Update(uint64(r+1), ctx, fmt.Appendf(nil, "w%d", i), rng.IntN(10) == 0, ts)
			for _, x := range reps[r].Siblings {
				if x.Dot == dot && (best == nil || best.lwwLess(x)) {
					best = &x
				}
			}
			resolve(r)
			for to := range reps {
				if to != r && rng.IntN(2) == 0 {
					inflight = append(inflight, msg{to, reps[r]})
				}
			}
		case p < 8 && len(inflight) > 0:
			j := rng.IntN(len(inflight))
			m := inflight[j]
			inflight = append(inflight[:j], inflight[j+1:]...)
			deliver(m.to, m.set)
		default:
			deliver(r, reps[rng.IntN(n)])
		}
	}
	for _, m := range inflight {
		deliver(m.to, m.set)
	}
	for range 2 {
		for a := range reps {
			for b := range reps {
				deliver(a, reps[b])
			}
		}
	}
	for r := range reps {
		if len(reps[r].Siblings) != 1 || !reps[r].Siblings[0].Equal(*best) || !reps[r].Equal(reps[0]) {
			t.Fatalf("seed %d rawWall %t: replica %d converged to %s, want only %v", seed, rawWall, r, showSet(fmt.Sprint(r), reps[r]), best.Dot)
		}
	}
}
