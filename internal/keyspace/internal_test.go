package keyspace

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestInternalKeysRoundTrip(t *testing.T) {
	for _, key := range [][]byte{[]byte("k"), []byte("user:1"), {0}, {0xff, 0x00, 'h'}, bytes.Repeat([]byte("x"), 300)} {
		for _, field := range [][]byte{nil, []byte("f"), {0, 0xff}} {
			for _, gen := range []uint64{0, 1, 1 << 40} {
				fk := HashFieldKey(key, gen, field)
				ik, ok := ParseInternal(fk)
				if !ok || ik.Form != FormHashField || !bytes.Equal(ik.Key, key) || ik.Gen != gen || !bytes.Equal(ik.Field, field) {
					t.Fatalf("ParseInternal(HashFieldKey(%q, %d, %q)) = %+v, %v", key, gen, field, ik, ok)
				}
				if got, ok := HashFieldOf(fk, key, gen); !ok || !bytes.Equal(got, field) {
					t.Fatalf("HashFieldOf = %q, %v", got, ok)
				}
				if !bytes.HasPrefix(fk, HashFieldPrefix(key, gen)) || !bytes.HasPrefix(fk, HashFieldsPrefix(key)) {
					t.Fatalf("field key %q lacks its prefixes", fk)
				}
				if !bytes.Equal(RoutingKey(fk), key) {
					t.Fatalf("RoutingKey(%q) = %q, want %q", fk, RoutingKey(fk), key)
				}
			}
		}
		mk := HashMarkerKey(key)
		if ik, ok := ParseInternal(mk); !ok || ik.Form != FormHashMarker || !bytes.Equal(ik.Key, key) {
			t.Fatalf("ParseInternal(HashMarkerKey(%q)) = %+v, %v", key, ik, ok)
		}
		if !bytes.Equal(RoutingKey(mk), key) {
			t.Fatalf("RoutingKey(marker of %q) = %q", key, RoutingKey(mk))
		}
	}
}

// TestInternalKeysMalformed: keys with the reserved prefix that no form
// describes are not parsed, and route by themselves.
func TestInternalKeysMalformed(t *testing.T) {
	for _, k := range [][]byte{
		[]byte(InternalPrefix), []byte(InternalPrefix + "h"), []byte(InternalPrefix + "x1"),
		[]byte(InternalPrefix + "f"), []byte(InternalPrefix + "f\x05abc"), []byte(InternalPrefix + "f\x00"),
		append([]byte(InternalPrefix+"f\x01k"), 1, 2, 3), // a generation cut short
	} {
		if ik, ok := ParseInternal(k); ok {
			t.Errorf("ParseInternal(%q) = %+v, want not ok", k, ik)
		}
		if !bytes.Equal(RoutingKey(k), k) {
			t.Errorf("RoutingKey(%q) = %q, want itself", k, RoutingKey(k))
		}
	}
	for _, k := range [][]byte{[]byte("\xff"), []byte("\xff\x01"), []byte("a\xff\x00"), nil} {
		if IsInternal(k) {
			t.Errorf("IsInternal(%q)", k)
		}
	}
}

// TestHashKeysShareTheirKeysShard: a hash's marker and fields land in
// the shard of its user key under every layout, so HGETALL reads one
// shard and a reshard moves a hash whole.
func TestHashKeysShareTheirKeysShard(t *testing.T) {
	const seed = 20
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range 2000 {
		key := fmt.Appendf(nil, "h%d-%d", i, r.Uint32())
		field := fmt.Appendf(nil, "f%d", r.Uint32())
		for _, l := range []Layout{{Shards: 16, Sharding: ShardingJump}, {Shards: 24, Sharding: ShardingJump}, {Shards: 7, Sharding: ShardingMod}, {Shards: 7}} {
			want := l.ShardOf(key)
			for _, k := range [][]byte{HashMarkerKey(key), HashFieldKey(key, 0, field), HashFieldKey(key, r.Uint64(), field)} {
				if got := l.ShardOf(k); got != want {
					t.Fatalf("seed %d: %v puts %q in shard %d, its user key %q in %d", seed, l, k, got, key, want)
				}
			}
		}
	}
}

// TestInternalRangeOrder: every internal key sorts inside InternalRange
// and markers sort by their user key, so a scan of markers under a
// prefix lists hashes in user-key order.
func TestInternalRangeOrder(t *testing.T) {
	start, end := InternalRange()
	keys := [][]byte{[]byte("a"), []byte("a\x00"), []byte("ab"), []byte("b"), {0xff}, {0}}
	var markers [][]byte
	for _, k := range keys {
		for _, ik := range [][]byte{HashMarkerKey(k), HashFieldKey(k, 3, []byte("f"))} {
			if bytes.Compare(ik, start) < 0 || bytes.Compare(ik, end) >= 0 {
				t.Fatalf("%q is outside the internal range [%q, %q)", ik, start, end)
			}
		}
		markers = append(markers, HashMarkerKey(k))
	}
	slices.SortFunc(keys, bytes.Compare)
	slices.SortFunc(markers, bytes.Compare)
	for i := range keys {
		if ik, _ := ParseInternal(markers[i]); !bytes.Equal(ik.Key, keys[i]) {
			t.Fatalf("markers sort differently from their keys: %q at %d, want %q", ik.Key, i, keys[i])
		}
	}
	if !bytes.HasPrefix(HashMarkerKey([]byte("abc")), HashMarkerPrefix([]byte("ab"))) {
		t.Fatal("a marker does not start with the marker prefix of its key's prefix")
	}
}
