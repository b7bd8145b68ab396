package resp

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/distkv/distkv/internal/kv"
)

func TestHashCommands(t *testing.T) { eachProtocol(t, testHashCommands) }

func testHashCommands(t *testing.T, proto int) {
	ctx := context.Background()
	rc := startProto(t, Config{}, proto).client(t)
	n := must[int64](t)
	str := must[string](t)

	if got := n(rc.HSet(ctx, "h", "a", "1", "b", "2", "a", "3").Result()); got != 2 {
		t.Fatalf("HSET of 2 new fields (a named twice) = %d, want 2", got)
	}
	if got := n(rc.HSet(ctx, "h", "b", "20", "c", "30").Result()); got != 1 {
		t.Fatalf("HSET of an old and a new field = %d, want 1", got)
	}
	if got := str(rc.HGet(ctx, "h", "a").Result()); got != "3" {
		t.Fatalf("HGET h a = %q, want 3 (the last value of a field named twice)", got)
	}
	wantNil(t, rc.HGet(ctx, "h", "nope").Err())
	wantNil(t, rc.HGet(ctx, "missing", "a").Err())
	if got := must[[]any](t)(rc.HMGet(ctx, "h", "a", "nope", "c").Result()); !slices.Equal(got, []any{"3", nil, "30"}) {
		t.Fatalf("HMGET = %v", got)
	}
	if got := must[[]any](t)(rc.HMGet(ctx, "missing", "a").Result()); !slices.Equal(got, []any{nil}) {
		t.Fatalf("HMGET of a missing hash = %v", got)
	}
	if got := must[map[string]string](t)(rc.HGetAll(ctx, "h").Result()); !maps.Equal(got, map[string]string{"a": "3", "b": "20", "c": "30"}) {
		t.Fatalf("HGETALL = %v", got)
	}
	if got := must[map[string]string](t)(rc.HGetAll(ctx, "missing").Result()); len(got) != 0 {
		t.Fatalf("HGETALL of a missing hash = %v", got)
	}
	if got := n(rc.HLen(ctx, "h").Result()); got != 3 {
		t.Fatalf("HLEN = %d", got)
	}
	if got := n(rc.HLen(ctx, "missing").Result()); got != 0 {
		t.Fatalf("HLEN of a missing hash = %d", got)
	}
	if !must[bool](t)(rc.HExists(ctx, "h", "b").Result()) || must[bool](t)(rc.HExists(ctx, "h", "zz").Result()) ||
		must[bool](t)(rc.HExists(ctx, "missing", "b").Result()) {
		t.Fatal("HEXISTS answers wrong")
	}
	if got := n(rc.HDel(ctx, "h", "a", "nope", "a").Result()); got != 1 {
		t.Fatalf("HDEL a nope a = %d, want 1", got)
	}
	if got := n(rc.HDel(ctx, "missing", "a").Result()); got != 0 {
		t.Fatalf("HDEL on a missing hash = %d", got)
	}
	// The hash goes with its last field.
	if got := n(rc.HDel(ctx, "h", "b", "c").Result()); got != 2 {
		t.Fatalf("HDEL b c = %d", got)
	}
	if got := str(rc.Type(ctx, "h").Result()); got != "none" {
		t.Fatalf("TYPE of a hash without fields = %q, want none", got)
	}
	if got := n(rc.Exists(ctx, "h").Result()); got != 0 {
		t.Fatalf("EXISTS of a hash without fields = %d", got)
	}

	wantErr(t, rc.Do(ctx, "HSET", "h", "f").Err(), "ERR wrong number of arguments for 'hset' command")
	wantErr(t, rc.Do(ctx, "HSET", "h", "f", "v", "g").Err(), "ERR wrong number of arguments for 'hset' command")
	wantErr(t, rc.Do(ctx, "HGET", "h").Err(), "ERR wrong number of arguments for 'hget' command")
	wantErr(t, rc.Do(ctx, "HMGET", "h").Err(), "ERR wrong number of arguments for 'hmget' command")
	wantErr(t, rc.Do(ctx, "HDEL", "h").Err(), "ERR wrong number of arguments for 'hdel' command")
	wantErr(t, rc.Do(ctx, "HGETALL").Err(), "ERR wrong number of arguments for 'hgetall' command")
	wantErr(t, rc.Do(ctx, "HINCRBY", "h", "f").Err(), "ERR wrong number of arguments for 'hincrby' command")
	wantErr(t, rc.HSet(ctx, "", "f", "v").Err(), "ERR invalid request: empty key")
	wantErr(t, rc.HSet(ctx, "k", string(make([]byte, 5000)), "v").Err(), "ERR key too large")
	// Field names and values are binary safe; an empty field is a field.
	bin := "\x00\r\n\xff"
	n(rc.HSet(ctx, "bin", bin, bin, "", "empty").Result())
	if got := must[map[string]string](t)(rc.HGetAll(ctx, "bin").Result()); !maps.Equal(got, map[string]string{bin: bin, "": "empty"}) {
		t.Fatalf("HGETALL of binary fields = %q", got)
	}
}

// TestHashWrongType: string commands on a hash and hash commands on a
// string answer Redis's WRONGTYPE error and change nothing; the commands
// about keys (TYPE, EXISTS, DEL, MGET, SET, SETNX) treat a hash as a key.
func TestHashWrongType(t *testing.T) { eachProtocol(t, testHashWrongType) }

func testHashWrongType(t *testing.T, proto int) {
	ctx := context.Background()
	rc := startProto(t, Config{}, proto).client(t)
	n := must[int64](t)
	str := must[string](t)
	n(rc.HSet(ctx, "h", "f", "1").Result())
	str(rc.Set(ctx, "s", "x", 0).Result())
	const wrong = "WRONGTYPE Operation against a key holding the wrong kind of value"
	for _, cmd := range [][]any{
		{"GET", "h"}, {"STRLEN", "h"}, {"INCR", "h"}, {"DECRBY", "h", 2}, {"GETSET", "h", "v"}, {"SET", "h", "v", "GET"},
		{"HSET", "s", "f", "v"}, {"HGET", "s", "f"}, {"HMGET", "s", "f"}, {"HGETALL", "s"}, {"HDEL", "s", "f"},
		{"HEXISTS", "s", "f"}, {"HLEN", "s"}, {"HINCRBY", "s", "f", 1},
	} {
		err := rc.Do(ctx, cmd...).Err()
		if err == nil || err.Error() != wrong {
			t.Errorf("%v: %v, want %q", cmd, err, wrong)
		}
	}
	if got := str(rc.Get(ctx, "s").Result()); got != "x" {
		t.Fatalf("the string changed to %q", got)
	}
	if got := str(rc.HGet(ctx, "h", "f").Result()); got != "1" {
		t.Fatalf("the hash's field changed to %q", got)
	}
	for k, want := range map[string]string{"h": "hash", "s": "string", "none": "none"} {
		if got := str(rc.Type(ctx, k).Result()); got != want {
			t.Errorf("TYPE %s = %q, want %q", k, got, want)
		}
	}
	if got := n(rc.Exists(ctx, "h", "s", "none", "h").Result()); got != 3 {
		t.Fatalf("EXISTS h s none h = %d, want 3", got)
	}
	if got := must[[]any](t)(rc.MGet(ctx, "h", "s").Result()); !slices.Equal(got, []any{nil, "x"}) {
		t.Fatalf("MGET h s = %v, want a nil for the hash, as Redis answers", got)
	}
	if ok := must[bool](t)(rc.SetNX(ctx, "h", "v", 0).Result()); ok {
		t.Fatal("SETNX over a hash wrote")
	}
	// SET replaces a hash; DEL deletes one; a new hash after DEL starts
	// empty.
	str(rc.Set(ctx, "h", "now a string", 0).Result())
	if got := str(rc.Get(ctx, "h").Result()); got != "now a string" {
		t.Fatalf("GET after SET over a hash = %q", got)
	}
	n(rc.HSet(ctx, "h2", "old", "1").Result())
	if got := n(rc.Del(ctx, "h2", "s").Result()); got != 2 {
		t.Fatalf("DEL of a hash and a string = %d", got)
	}
	n(rc.HSet(ctx, "h2", "new", "1").Result())
	if got := must[map[string]string](t)(rc.HGetAll(ctx, "h2").Result()); !maps.Equal(got, map[string]string{"new": "1"}) {
		t.Fatalf("HGETALL after DEL and HSET = %v, want only the new field", got)
	}
	wantErr(t, rc.Do(ctx, "TYPE").Err(), "ERR wrong number of arguments for 'type' command")
}

// TestHashScanKeys: SCAN, KEYS and DBSIZE count a hash as one key, TYPE
// filters by it, and no key that stores a hash's fields ever shows.
func TestHashScanKeys(t *testing.T) { eachProtocol(t, testHashScanKeys) }

func testHashScanKeys(t *testing.T, proto int) {
	ctx := context.Background()
	ts := startProto(t, Config{}, proto)
	rc := ts.client(t)
	for i := range 5 {
		must[int64](t)(rc.HSet(ctx, fmt.Sprint("h", i), "a", "1", "b", "2", "c", "3").Result())
		must[string](t)(rc.Set(ctx, fmt.Sprint("s", i), "v", 0).Result())
	}
	scanAll := func(typ string) []string {
		var out []string
		var cursor uint64
		for {
			keys, next, err := rc.ScanType(ctx, cursor, "", 3, typ).Result()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, keys...)
			if cursor = next; cursor == 0 {
				return out
			}
		}
	}
	want := []string{"h0", "h1", "h2", "h3", "h4", "s0", "s1", "s2", "s3", "s4"}
	if got := scanAll(""); !slices.Equal(got, want) {
		t.Fatalf("SCAN = %v, want %v", got, want)
	}
	if got := scanAll("hash"); !slices.Equal(got, want[:5]) {
		t.Fatalf("SCAN TYPE hash = %v", got)
	}
	if got := scanAll("STRING"); !slices.Equal(got, want[5:]) {
		t.Fatalf("SCAN TYPE string = %v", got)
	}
	if got := scanAll("list"); len(got) != 0 {
		t.Fatalf("SCAN TYPE list = %v", got)
	}
	keys := must[[]string](t)(rc.Keys(ctx, "h*").Result())
	if slices.Sort(keys); !slices.Equal(keys, want[:5]) {
		t.Fatalf("KEYS h* = %v", keys)
	}
	if got := must[int64](t)(rc.DBSize(ctx).Result()); got != 10 {
		t.Fatalf("DBSIZE = %d, want 10", got)
	}
	ts.node.unknownKeys.Store(true) // DBSIZE counts by scanning
	if got := must[int64](t)(rc.DBSize(ctx).Result()); got != 10 {
		t.Fatalf("DBSIZE by scanning = %d, want 10", got)
	}
}

func TestHIncrBy(t *testing.T) { eachProtocol(t, testHIncrBy) }

func testHIncrBy(t *testing.T, proto int) {
	ctx := context.Background()
	rc := startProto(t, Config{}, proto).client(t)
	n := must[int64](t)
	if got := n(rc.HIncrBy(ctx, "h", "n", 5).Result()); got != 5 {
		t.Fatalf("HINCRBY of a missing hash = %d", got)
	}
	if got := n(rc.HIncrBy(ctx, "h", "n", -7).Result()); got != -2 {
		t.Fatalf("HINCRBY -7 = %d", got)
	}
	if got := n(rc.HIncrBy(ctx, "h", "m", 1).Result()); got != 1 {
		t.Fatalf("HINCRBY of a new field = %d", got)
	}
	n(rc.HSet(ctx, "h", "text", "abc", "big", strconv.FormatInt(math.MaxInt64, 10), "padded", "01").Result())
	wantErr(t, rc.HIncrBy(ctx, "h", "text", 1).Err(), "ERR hash value is not an integer")
	wantErr(t, rc.HIncrBy(ctx, "h", "padded", 1).Err(), "ERR hash value is not an integer")
	wantErr(t, rc.HIncrBy(ctx, "h", "big", 1).Err(), "ERR increment or decrement would overflow")
	wantErr(t, rc.Do(ctx, "HINCRBY", "h", "n", "1.5").Err(), "ERR value is not an integer or out of range")
	wantErr(t, rc.Do(ctx, "HINCRBY", "h", "n", "x").Err(), "ERR value is not an integer or out of range")
	if got := must[string](t)(rc.HGet(ctx, "h", "n").Result()); got != "-2" {
		t.Fatalf("field n = %q after refused increments", got)
	}
}

// TestHIncrByConcurrent: HINCRBY is a compare-and-set loop on the
// field's version, so concurrent increments from many connections all
// count.
func TestHIncrByConcurrent(t *testing.T) {
	ctx := context.Background()
	rc := start(t, Config{}).client(t)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				if err := rc.HIncrBy(ctx, "counters", "hits", 1).Err(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := must[string](t)(rc.HGet(ctx, "counters", "hits").Result()); got != strconv.Itoa(workers*each) {
		t.Fatalf("hits = %s, want %d", got, workers*each)
	}
}

// TestHashErrors: a kv error fails the command with that error (an HSET
// of several fields is one write, so there is one); an eventual namespace's refusal reaches the client as it is.
func TestHashErrors(t *testing.T) {
	ctx := context.Background()
	ts := start(t, Config{})
	rc := ts.client(t)
	ts.kv.setHook(func(_ context.Context, op string, key []byte) error {
		switch {
		case (op == "hput" || op == "hset") && string(key) == "unknown":
			return fmt.Errorf("%w: the leader went away", kv.ErrUnknownOutcome)
		case op[0] == 'h' && string(key) == "ev":
			return fmt.Errorf("%w: hashes need a strong namespace; ev is eventual", kv.ErrWrongMode)
		}
		return nil
	})
	wantErr(t, rc.HSet(ctx, "unknown", "a", "1", "b", "2").Err(), errOutcome)
	for _, cmd := range [][]any{{"HSET", "ev", "f", "v"}, {"HGET", "ev", "f"}, {"HGETALL", "ev"}, {"HLEN", "ev"}, {"HDEL", "ev", "f"}, {"HINCRBY", "ev", "f", 1}} {
		wantErr(t, rc.Do(ctx, cmd...).Err(), "ERR wrong namespace mode: hashes need a strong namespace; ev is eventual")
	}
}

// TestHGetAllPages: a hash larger than a kv scan page is read page by
// page; if it is replaced between two pages, the read starts again, so
// the reply never mixes two hashes.
func TestHGetAllPages(t *testing.T) {
	ctx := context.Background()
	f := newFakeKV()
	f.limits.MaxScan = 3
	ts := start(t, Config{KV: f})
	rc := ts.client(t)
	for i := range 10 {
		must[int64](t)(rc.HSet(ctx, "h", fmt.Sprintf("f%02d", i), "old").Result())
	}
	// After the first page is read, the hash is replaced (the hook runs
	// before the fake takes its lock, so it may call the fake).
	var scans atomic.Int32
	var replaced atomic.Bool
	f.setHook(func(ctx context.Context, op string, _ []byte) error {
		if op != "hscan" || scans.Add(1) != 2 {
			return nil
		}
		replaced.Store(true)
		if _, err := f.Delete(ctx, "", []byte("h"), kv.WriteOptions{}); err != nil {
			return err
		}
		for _, fl := range []string{"new1", "new2"} {
			if _, err := f.HashPut(ctx, "", []byte("h"), []byte(fl), []byte("x"), kv.WriteOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	got := must[map[string]string](t)(rc.HGetAll(ctx, "h").Result())
	if !replaced.Load() {
		t.Fatal("the hash was never replaced during the read")
	}
	if want := map[string]string{"new1": "x", "new2": "x"}; !maps.Equal(got, want) {
		t.Fatalf("HGETALL across a replacement = %v, want %v", got, want)
	}
	if n := must[int64](t)(rc.HLen(ctx, "h").Result()); n != 2 {
		t.Fatalf("HLEN = %d", n)
	}
	// A hash of many pages, unchanged, is read whole.
	for i := range 10 {
		must[int64](t)(rc.HSet(ctx, "big", fmt.Sprintf("f%02d", i), strconv.Itoa(i)).Result())
	}
	if got := must[map[string]string](t)(rc.HGetAll(ctx, "big").Result()); len(got) != 10 || got["f09"] != "9" {
		t.Fatalf("HGETALL of 10 fields over pages of 3 = %v", got)
	}
	if n := must[int64](t)(rc.HLen(ctx, "big").Result()); n != 10 {
		t.Fatalf("HLEN over pages of 3 = %d", n)
	}
}

// TestHGetAllRaw checks HGETALL's RESP2 reply bytes: a flat array of
// field, value, in field order.
func TestHGetAllRaw(t *testing.T) {
	ts := start(t, Config{})
	r := ts.dial(t)
	r.send("HSET h b 2 a 1\r\n")
	r.expect(":2\r\n")
	r.send("HGETALL h\r\n")
	r.expect("*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n")
	r.send("TYPE h\r\nTYPE nope\r\n")
	r.expect("+hash\r\n+none\r\n")
}
