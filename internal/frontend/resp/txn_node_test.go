package resp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

// MULTI/EXEC runs its queue as one transaction across shards; WATCH makes
// EXEC apply nothing (a null reply) when a watched key was written since;
// a command refused while queueing aborts the EXEC.
func TestMultiExecAcrossShards(t *testing.T) {
	f := newNodeFixture(t)
	f.c.WaitReady(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.rc.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	cmds, err := f.rc.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "b", "2", 0)
		p.Get(ctx, "a")
		p.MSet(ctx, "c", "3", "d", "4")
		p.Del(ctx, "a", "nope")
		p.MGet(ctx, "b", "c", "a")
		p.Exists(ctx, "b", "d", "a")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := cmds[1].(*redis.StringCmd).Val(); got != "1" {
		t.Fatalf("GET a inside MULTI = %q", got)
	}
	if got := cmds[3].(*redis.IntCmd).Val(); got != 1 {
		t.Fatalf("DEL a nope = %d, want 1", got)
	}
	if got := cmds[4].(*redis.SliceCmd).Val(); len(got) != 3 || got[0] != "2" || got[1] != "3" || got[2] != nil {
		t.Fatalf("MGET b c a = %v", got)
	}
	if got := cmds[5].(*redis.IntCmd).Val(); got != 2 {
		t.Fatalf("EXISTS b d a = %d, want 2", got)
	}

	// WATCH: a write by another connection between WATCH and EXEC.
	err = f.rc.Watch(ctx, func(tx *redis.Tx) error {
		if err := f.rc.Set(ctx, "b", "changed", 0).Err(); err != nil { // another connection
			return err
		}
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "b", "mine", 0)
			p.Set(ctx, "e", "mine", 0)
			return nil
		})
		return err
	}, "b")
	if err != redis.TxFailedErr {
		t.Fatalf("EXEC after a watched key changed: %v, want redis.TxFailedErr", err)
	}
	if v := f.rc.Get(ctx, "b").Val(); v != "changed" || f.rc.Exists(ctx, "e").Val() != 0 {
		t.Fatalf("after the failed EXEC: b=%q, e exists %d", v, f.rc.Exists(ctx, "e").Val())
	}
	// WATCH with nothing in between: EXEC applies.
	err = f.rc.Watch(ctx, func(tx *redis.Tx) error {
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error { p.Set(ctx, "b", "mine", 0); return nil })
		return err
	}, "b")
	if err != nil || f.rc.Get(ctx, "b").Val() != "mine" {
		t.Fatalf("EXEC with an unchanged watched key: %v", err)
	}

	// Errors, on one connection.
	conn := f.rc.Conn()
	defer conn.Close()
	if err := conn.Do(ctx, "EXEC").Err(); err == nil || err.Error() != "ERR EXEC without MULTI" {
		t.Fatalf("EXEC without MULTI: %v", err)
	}
	if err := conn.Do(ctx, "MULTI").Err(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Do(ctx, "MULTI").Err(); err == nil {
		t.Fatal("nested MULTI accepted")
	}
	if err := conn.Do(ctx, "INCR", "x").Err(); err == nil {
		t.Fatal("INCR queued inside MULTI")
	}
	if err := conn.Do(ctx, "SET", "f", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Do(ctx, "EXEC").Err(); err == nil || !strings.HasPrefix(err.Error(), "EXECABORT") {
		t.Fatalf("EXEC after a refused command: %v, want EXECABORT", err)
	}
	if f.rc.Exists(ctx, "f").Val() != 0 {
		t.Fatal("an aborted EXEC applied its queue")
	}
	if err := conn.Do(ctx, "DISCARD").Err(); err == nil || err.Error() != "ERR DISCARD without MULTI" {
		t.Fatalf("DISCARD without MULTI: %v", err)
	}
}
