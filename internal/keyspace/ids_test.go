package keyspace

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestParseNodeID(t *testing.T) {
	for in, want := range map[string]NodeID{"n3": 3, "N3": 3, "3": 3, "n18446744073709551615": math.MaxUint64} {
		got, err := ParseNodeID(in)
		if err != nil || got != want {
			t.Errorf("ParseNodeID(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, _ := ParseNodeID(got.String()); back != got {
			t.Errorf("ParseNodeID(%q.String()) = %v", got, back)
		}
	}
	for _, in := range []string{"", "n", "0", "n0", "nn3", "nN3", "x3", "-3", "+3", "n-3", " n3", "3.0", "n18446744073709551616"} {
		if got, err := ParseNodeID(in); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseNodeID(%q) = %v, %v; want an ErrInvalid error", in, got, err)
		}
	}
	if s := NodeID(42).String(); s != "n42" {
		t.Errorf("NodeID(42).String() = %q", s)
	}
}

func TestGroupID(t *testing.T) {
	for _, tc := range []struct {
		ns    uint32
		shard int
		str   string
	}{{1, 0, "ns1/s0"}, {1, 3, "ns1/s3"}, {7, MaxShards - 1, "ns7/s1023"}, {math.MaxUint32, 5, "ns4294967295/s5"}} {
		g := ShardGroup(tc.ns, tc.shard)
		if g.Namespace() != tc.ns || g.Shard() != tc.shard || g.String() != tc.str {
			t.Errorf("ShardGroup(%d, %d) = %d: Namespace %d, Shard %d, String %q; want %q",
				tc.ns, tc.shard, uint64(g), g.Namespace(), g.Shard(), g, tc.str)
		}
		if g == MetaGroup {
			t.Errorf("ShardGroup(%d, %d) collides with MetaGroup", tc.ns, tc.shard)
		}
	}
	if ShardGroup(2, 3) != 2<<32|3 {
		t.Errorf("ShardGroup(2, 3) = %#x, want 0x200000003", uint64(ShardGroup(2, 3)))
	}
	if s := MetaGroup.String(); s != "meta" {
		t.Errorf("MetaGroup.String() = %q", s)
	}
}

// TestShardOfUniform hashes 100k keys into 16 and into 1000 shards and
// requires every shard's count within 6 standard deviations of the mean (a
// shard's count is binomial): a uniform hash passes with overwhelming
// probability, while a biased hash or modulus fails. The keys are fixed,
// so the test is deterministic.
func TestShardOfUniform(t *testing.T) {
	const keys = 100_000
	for _, shards := range []int{16, 1000} {
		counts := make([]int, shards)
		for i := range keys {
			s := ShardOf(fmt.Appendf(nil, "user:%d", i), shards)
			if s < 0 || s >= shards {
				t.Fatalf("ShardOf(user:%d, %d) = %d, out of range", i, shards, s)
			}
			counts[s]++
		}
		mean := float64(keys) / float64(shards)
		sd := math.Sqrt(mean * (1 - 1/float64(shards)))
		lo, hi := keys, 0
		for _, c := range counts {
			lo, hi = min(lo, c), max(hi, c)
		}
		t.Logf("%d keys into %d shards: min %d max %d (mean %.0f, sd %.1f)", keys, shards, lo, hi, mean, sd)
		if float64(lo) < mean-6*sd || float64(hi) > mean+6*sd {
			t.Errorf("%d shards: counts range %d..%d, want within %.0f of %.0f", shards, lo, hi, 6*sd, mean)
		}
	}
}

func TestShardOfPanicsOnNoShards(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("ShardOf with 0 shards did not panic")
		}
	}()
	ShardOf([]byte("k"), 0)
}
