package keyspace

import (
	"fmt"
	"math"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// TestShardOfUniform hashes 100k keys into 16 and into 1000 shards with
// each scheme and requires every shard's count within 6 standard
// deviations of the mean (a shard's count is binomial): a uniform hash
// passes with overwhelming probability, a biased one does not.
func TestShardOfUniform(t *testing.T) {
	const keys = 100_000
	for _, sch := range []Sharding{ShardingMod, ShardingJump} {
		for _, shards := range []int{16, 1000} {
			l := Layout{Shards: shards, Sharding: sch}
			counts := make([]int, shards)
			for i := range keys {
				s := l.ShardOf(fmt.Appendf(nil, "user:%d", i))
				if s < 0 || s >= shards {
					t.Fatalf("%v ShardOf(user:%d) = %d, out of range", l, i, s)
				}
				counts[s]++
			}
			mean := float64(keys) / float64(shards)
			sd := math.Sqrt(mean * (1 - 1/float64(shards)))
			lo, hi := keys, 0
			for _, c := range counts {
				lo, hi = min(lo, c), max(hi, c)
			}
			if float64(lo) < mean-6*sd || float64(hi) > mean+6*sd {
				t.Errorf("%v: counts range %d..%d, want within %.0f of %.0f", l, lo, hi, 6*sd, mean)
			}
		}
	}
}

func TestShardOfPanicsOnNoShards(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("ShardOf with 0 shards did not panic")
		}
	}()
	Layout{}.ShardOf([]byte("k"))
}

// TestUnsetShardingIsMod: maps stored before the scheme was recorded used
// xxhash mod shards, and must keep finding their keys.
func TestUnsetShardingIsMod(t *testing.T) {
	for i := range 1000 {
		k := fmt.Appendf(nil, "k%d", i)
		if a, b := (Layout{Shards: 7}).ShardOf(k), int(xxhash.Sum64(k)%7); a != b {
			t.Fatalf("unset sharding put %q in shard %d, mod gives %d", k, a, b)
		}
	}
}

// TestJumpMovesOnlyWhatMust checks jump hashing's defining property for
// every pair of bucket counts up to 40, over 2,000 keys: growing from n to
// m buckets, a key either stays or moves to one of the new buckets;
// shrinking, only keys of removed buckets move.
func TestJumpMovesOnlyWhatMust(t *testing.T) {
	keys := make([]uint64, 2000)
	for i := range keys {
		keys[i] = xxhash.Sum64(fmt.Appendf(nil, "key-%d", i))
	}
	for n := 1; n <= 40; n++ {
		for m := 1; m <= 40; m++ {
			for _, k := range keys {
				a, b := JumpHash(k, n), JumpHash(k, m)
				if a == b {
					continue
				}
				if m > n && b < n {
					t.Fatalf("growing %d->%d moved a key from %d to old bucket %d", n, m, a, b)
				}
				if m < n && a < m {
					t.Fatalf("shrinking %d->%d moved a key from kept bucket %d to %d", n, m, a, b)
				}
			}
		}
	}
}

// TestReshardMovement measures the fraction of keys a reshard moves, for
// the changes README reports, against the optimum: growing n to m must
// move at least (m-n)/m of the keys (the new shards' share), shrinking at
// least (n-m)/n (the removed shards' share). Jump hashing must be within
// 2% of it; mod is shown for comparison.
func TestReshardMovement(t *testing.T) {
	const keys = 100_000
	for _, c := range []struct{ from, to int }{{2, 3}, {16, 24}, {16, 8}, {3, 2}, {16, 17}} {
		opt := float64(c.to-c.from) / float64(c.to)
		if c.to < c.from {
			opt = float64(c.from-c.to) / float64(c.from)
		}
		for _, sch := range []Sharding{ShardingJump, ShardingMod} {
			a, b := Layout{c.from, sch}, Layout{c.to, sch}
			moved := 0
			for i := range keys {
				k := fmt.Appendf(nil, "user:%d", i)
				if a.ShardOf(k) != b.ShardOf(k) {
					moved++
				}
			}
			frac := float64(moved) / keys
			t.Logf("%-4s %2d -> %2d shards: moved %.4f of keys (optimum %.4f, ratio %.3f)", sch, c.from, c.to, frac, opt, frac/opt)
			if sch == ShardingJump && math.Abs(frac-opt) > 0.02 {
				t.Errorf("jump %d -> %d moved %.4f of keys, optimum %.4f", c.from, c.to, frac, opt)
			}
		}
	}
}

func TestParseSharding(t *testing.T) {
	for in, want := range map[string]Sharding{"": ShardingUnset, "jump": ShardingJump, "MOD": ShardingMod, " jump ": ShardingJump} {
		if got, err := ParseSharding(in); err != nil || got != want {
			t.Errorf("ParseSharding(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseSharding("ring"); err == nil {
		t.Error("ParseSharding(ring) succeeded")
	}
}
