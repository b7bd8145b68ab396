package resp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/kv"
)

// MSET and MSETNX over keys of every shard are one transaction each: all
// the keys or none, and MSETNX refuses whole when any key exists.
func TestMSetAtomicAcrossShards(t *testing.T) {
	f := newNodeFixture(t)
	f.c.WaitReady(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := f.node.Map().Namespace("default")
	var pairs []any
	shards := map[int]bool{}
	for i := range 12 {
		k := fmt.Sprintf("m%d", i)
		shards[ns.Locate([]byte(k)).Index] = true
		pairs = append(pairs, k, fmt.Sprintf("v%d", i))
	}
	if len(shards) < 2 {
		t.Fatalf("the keys are on %d shard(s); the test needs several", len(shards))
	}
	if err := f.rc.MSet(ctx, pairs...).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		e, err := f.c.Node(1).KV().Get(ctx, "", []byte(fmt.Sprintf("m%d", i)), kv.ReadOptions{})
		if err != nil || string(e.Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("m%d after MSET: %q, %v", i, e.Value, err)
		}
	}
	// m3 exists: MSETNX of m3 and new keys sets none of them.
	n, err := f.rc.MSetNX(ctx, "n1", "x", "m3", "x", "n2", "x").Result()
	if err != nil || n {
		t.Fatalf("MSETNX over an existing key: %v, %v; want false", n, err)
	}
	for _, k := range []string{"n1", "n2"} {
		if err := f.rc.Get(ctx, k).Err(); err == nil {
			t.Fatalf("%s was set by a refused MSETNX", k)
		}
	}
	if v := f.rc.Get(ctx, "m3").Val(); v != "v3" {
		t.Fatalf("m3 = %q after a refused MSETNX", v)
	}
	n, err = f.rc.MSetNX(ctx, "n1", "x", "n2", "y").Result()
	if err != nil || !n || f.rc.Get(ctx, "n2").Val() != "y" {
		t.Fatalf("MSETNX of new keys: %v, %v", n, err)
	}
	if err := f.rc.Do(ctx, "MSETNX", "odd").Err(); err == nil {
		t.Fatal("MSETNX with a key and no value was accepted")
	}
}
