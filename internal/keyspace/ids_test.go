package keyspace

import (
	"errors"
	"math"
	"testing"
)

func TestParseNodeID(t *testing.T) {
	for in, want := range map[string]NodeID{"n3": 3, "N3": 3, "3": 3, "n1099511627775": MaxNodeID} {
		got, err := ParseNodeID(in)
		if err != nil || got != want {
			t.Errorf("ParseNodeID(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, _ := ParseNodeID(got.String()); back != got {
			t.Errorf("ParseNodeID(%q.String()) = %v", got, back)
		}
	}
	for _, in := range []string{"", "n", "0", "n0", "nn3", "nN3", "x3", "-3", "+3", "n-3", " n3", "3.0", "n18446744073709551616", "n1099511627776"} {
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
		gen   uint16
	}{{1, 0, "ns1/s0", 0}, {1, 3, "ns1/s3", 0}, {7, MaxShards - 1, "ns7/s1023", 0}, {math.MaxUint32, 5, "ns4294967295/s5", 0},
		{1, 3, "ns1/s3.g2", 2}, {9, MaxShards - 1, "ns9/s1023.g65535", math.MaxUint16}} {
		g := ShardGroupGen(tc.ns, tc.shard, tc.gen)
		if g.Gen() != tc.gen {
			t.Errorf("ShardGroupGen(%d, %d, %d).Gen() = %d", tc.ns, tc.shard, tc.gen, g.Gen())
		}
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

func TestReplicaID(t *testing.T) {
	for _, tc := range []struct {
		node NodeID
		gen  uint32
		str  string
	}{{3, 0, "n3"}, {3, 2, "n3.r2"}, {MaxNodeID, 1<<24 - 1, "n1099511627775.r16777215"}} {
		r := MakeReplicaID(tc.node, tc.gen)
		if r.Node() != tc.node || r.Gen() != tc.gen || r.String() != tc.str {
			t.Errorf("MakeReplicaID(%v, %d) = %#x: node %v gen %d %q; want %q", tc.node, tc.gen, uint64(r), r.Node(), r.Gen(), r, tc.str)
		}
	}
	if MakeReplicaID(7, 0) != 7 {
		t.Errorf("generation 0 replica ID of n7 = %d, want 7 (the node ID)", MakeReplicaID(7, 0))
	}
}
