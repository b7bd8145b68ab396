package resp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/kv"
	"github.com/redis/go-redis/v9"
)

// must fails the test if err is set, and returns v.
func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// wantErr checks that err is a Redis error reply starting with prefix.
func wantErr(t *testing.T, err error, prefix string) {
	t.Helper()
	if err == nil || !strings.HasPrefix(err.Error(), prefix) {
		t.Fatalf("err = %v, want an error starting with %q", err, prefix)
	}
}

func wantNil(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, redis.Nil) {
		t.Fatalf("err = %v, want a nil reply", err)
	}
}

func TestGetSet(t *testing.T) { eachProtocol(t, testGetSet) }

func testGetSet(t *testing.T, proto int) {
	ctx := context.Background()
	rc := startProto(t, Config{}, proto).client(t)
	str := must[string](t)

	wantNil(t, rc.Get(ctx, "k").Err())
	if got := str(rc.Set(ctx, "k", "v1", 0).Result()); got != "OK" {
		t.Fatalf("SET = %q", got)
	}
	if got := str(rc.Get(ctx, "k").Result()); got != "v1" {
		t.Fatalf("GET = %q", got)
	}
	wantNil(t, rc.SetArgs(ctx, "k", "v2", redis.SetArgs{Mode: "NX"}).Err())
	wantNil(t, rc.SetArgs(ctx, "missing", "v", redis.SetArgs{Mode: "XX"}).Err())
	wantNil(t, rc.Get(ctx, "missing").Err())
	str(rc.SetArgs(ctx, "k", "v3", redis.SetArgs{Mode: "XX"}).Result())
	if got := str(rc.SetArgs(ctx, "k", "v4", redis.SetArgs{Get: true}).Result()); got != "v3" {
		t.Fatalf("SET GET = %q, want the old value v3", got)
	}
	wantNil(t, rc.SetArgs(ctx, "new", "n1", redis.SetArgs{Get: true}).Err())
	if got := str(rc.Get(ctx, "new").Result()); got != "n1" {
		t.Fatalf("SET GET of a new key stored %q", got)
	}
	// NX GET on an existing key answers the current value and writes nothing.
	if got := str(rc.Do(ctx, "SET", "k", "x", "NX", "GET").Text()); got != "v4" {
		t.Fatalf("SET NX GET = %q", got)
	}
	wantNil(t, rc.Do(ctx, "SET", "missing", "x", "XX", "GET").Err())
	wantNil(t, rc.Get(ctx, "missing").Err())
	if got := str(rc.Get(ctx, "k").Result()); got != "v4" {
		t.Fatalf("GET after SET NX GET = %q", got)
	}

	wantErr(t, rc.Do(ctx, "SET", "k", "v", "NX", "XX").Err(), "ERR syntax error")
	wantErr(t, rc.Do(ctx, "SET", "k", "v", "BOGUS").Err(), "ERR syntax error")
	wantErr(t, rc.Do(ctx, "SET", "k", "v", "EX").Err(), "ERR syntax error")
	wantErr(t, rc.Set(ctx, "k", "v", time.Minute).Err(), errTTL)
	for _, opt := range [][]any{{"PX", 5}, {"EXAT", 5}, {"PXAT", 5}, {"KEEPTTL"}} {
		wantErr(t, rc.Do(ctx, append([]any{"SET", "k", "v"}, opt...)...).Err(), errTTL)
	}
	wantErr(t, rc.Set(ctx, "", "v", 0).Err(), "ERR invalid request: empty key")
}

func TestDelExists(t *testing.T) { eachProtocol(t, testDelExists) }

func testDelExists(t *testing.T, proto int) {
	ctx := context.Background()
	rc := startProto(t, Config{}, proto).client(t)
	n := must[int64](t)
	must[string](t)(rc.MSet(ctx, "a", "1", "b", "2").Result())
	if got := n(rc.Exists(ctx, "a", "b", "c", "a").Result()); got != 3 {
		t.Fatalf("EXISTS = %d, want 3 (a key named twice counts twice)", got)
	}
	if got := n(rc.Del(ctx, "a", "c").Result()); got != 1 {
		t.Fatalf("DEL = %d, want 1", got)
	}
	if got := n(rc.Del(ctx, "b", "b").Result()); got != 1 {
		t.Fatalf("DEL b b = %d, want 1", got)
	}
	if got := n(rc.Exists(ctx, "a", "b").Result()); got != 0 {
		t.Fatalf("EXISTS after DEL = %d", got)
	}
}

func TestMGetMSet(t *testing.T) { eachProtocol(t, testMGetMSet) }

func testMGetMSet(t *testing.T, proto int) {
	ctx := context.Background()
	rc := startProto(t, Config{}, proto).client(t)
	must[string](t)(rc.MSet(ctx, "a", "1", "b", "2", "a", "3").Result())
	got := must[[]any](t)(rc.MGet(ctx, "a", "b", "c").Result())
	if want := []any{"3", "2", nil}; !slices.Equal(got, want) {
		t.Fatalf("MGET = %v, want %v (the last of a repeated key wins)", got, want)
	}
	wantErr(t, rc.Do(ctx, "MSET", "a").Err(), "ERR wrong number of arguments for 'mset' command")
	wantErr(t, rc.Do(ctx, "MSET", "a", "1", "b").Err(), "ERR wrong number of arguments for 'mset' command")
	// Many keys, more than run at once.
	var kvs []any
	var keys []string
	for i := range 100 {
		kvs = append(kvs, fmt.Sprint("m", i), fmt.Sprint(i))
		keys = append(keys, fmt.Sprint("m", i))
	}
	must[string](t)(rc.MSet(ctx, kvs...).Result())
	vals := must[[]any](t)(rc.MGet(ctx, keys...).Result())
	for i, v := range vals {
		if v != fmt.Sprint(i) {
			t.Fatalf("MGET[%d] = %v", i, v)
		}
	}
}

func TestIncr(t *testing.T) { eachProtocol(t, testIncr) }

func testIncr(t *testing.T, proto int) {
	ctx := context.Background()
	rc := startProto(t, Config{}, proto).client(t)
	n := must[int64](t)
	for _, step := range []struct {
		cmd  *redis.IntCmd
		want int64
	}{
		{rc.Incr(ctx, "n"), 1},
		{rc.IncrBy(ctx, "n", 10), 11},
		{rc.Decr(ctx, "n"), 10},
		{rc.DecrBy(ctx, "n", 20), -10},
		{rc.Decr(ctx, "fresh"), -1},
	} {
		if got := n(step.cmd.Result()); got != step.want {
			t.Fatalf("%v = %d, want %d", step.cmd.Args(), got, step.want)
		}
	}
	for _, bad := range []string{"abc", " 1", "01", "+1", "1.5", "", "99999999999999999999"} {
		must[string](t)(rc.Set(ctx, "s", bad, 0).Result())
		wantErr(t, rc.Incr(ctx, "s").Err(), errNotInt)
	}
	must[string](t)(rc.Set(ctx, "big", "9223372036854775807", 0).Result())
	wantErr(t, rc.Incr(ctx, "big").Err(), "ERR increment or decrement would overflow")
	must[string](t)(rc.Set(ctx, "small", "-9223372036854775808", 0).Result())
	wantErr(t, rc.Decr(ctx, "small").Err(), "ERR increment or decrement would overflow")
	wantErr(t, rc.Do(ctx, "INCRBY", "n", "x").Err(), errNotInt)
	wantErr(t, rc.Do(ctx, "DECRBY", "n", "-9223372036854775808").Err(), "ERR decrement would overflow")
	if got := must[string](t)(rc.Get(ctx, "big").Result()); got != "9223372036854775807" {
		t.Fatalf("a failed INCR changed the value to %q", got)
	}
}

// TestIncrConcurrent runs INCRs from 8 goroutines: every increment is
// applied exactly once, so the replies are exactly 1..N.
func TestIncrConcurrent(t *testing.T) {
	ctx := context.Background()
	rc := start(t, Config{}).client(t)
	const workers, each = 8, 200
	var mu sync.Mutex
	var seen []int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				v, err := rc.Incr(ctx, "counter").Result()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen = append(seen, v)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(seen)
	for i, v := range seen {
		if v != int64(i+1) {
			t.Fatalf("replies sorted: position %d holds %d", i, v)
		}
	}
	if got := must[string](t)(rc.Get(ctx, "counter").Result()); got != fmt.Sprint(workers*each) {
		t.Fatalf("counter = %s, want %d", got, workers*each)
	}
}

// TestIncrGivesUp: a key that changes under every attempt makes INCR fail
// after a bounded number of attempts instead of spinning.
func TestIncrGivesUp(t *testing.T) {
	ctx := context.Background()
	ts := start(t, Config{})
	rc := ts.client(t)
	var puts atomic.Int64
	ts.kv.setHook(func(_ context.Context, op string, _ []byte) error {
		if op != "put" {
			return nil
		}
		puts.Add(1)
		return &kv.VersionMismatchError{Expected: 1, Current: 2}
	})
	wantErr(t, rc.Incr(ctx, "n").Err(), "ERR the key changed under 100 consecutive attempts")
	if puts := puts.Load(); puts != maxCASAttempts {
		t.Fatalf("%d attempts, want %d", puts, maxCASAttempts)
	}
}

func TestSetNXGetSetStrlenUpd(t *testing.T) { eachProtocol(t, testSetNXGetSetStrlenUpd) }

func testSetNXGetSetStrlenUpd(t *testing.T, proto int) {
	ctx := context.Background()
	rc := startProto(t, Config{}, proto).client(t)
	b := must[bool](t)
	str := must[string](t)
	if !b(rc.SetNX(ctx, "a", "1", 0).Result()) || b(rc.SetNX(ctx, "a", "2", 0).Result()) {
		t.Fatal("SETNX: want true then false")
	}
	if got := str(rc.GetSet(ctx, "a", "22").Result()); got != "1" {
		t.Fatalf("GETSET = %q", got)
	}
	wantNil(t, rc.GetSet(ctx, "b", "x").Err())
	if got := must[int64](t)(rc.StrLen(ctx, "a").Result()); got != 2 {
		t.Fatalf("STRLEN = %d", got)
	}
	if got := must[int64](t)(rc.StrLen(ctx, "nope").Result()); got != 0 {
		t.Fatalf("STRLEN of a missing key = %d", got)
	}
	wantErr(t, rc.Do(ctx, "UPD", "nope", "v").Err(), "ERR no such key")
	wantNil(t, rc.Get(ctx, "nope").Err())
	if got := str(rc.Do(ctx, "UPD", "a", "updated").Text()); got != "OK" {
		t.Fatalf("UPD = %q", got)
	}
	if got := str(rc.Get(ctx, "a").Result()); got != "updated" {
		t.Fatalf("GET after UPD = %q", got)
	}
}

func TestNamespacesAndSelect(t *testing.T) { eachProtocol(t, testNamespacesAndSelect) }

func testNamespacesAndSelect(t *testing.T, proto int) {
	ctx := context.Background()
	cn := startProto(t, Config{}, proto).client(t).Conn()
	defer cn.Close()
	str := must[string](t)
	if got := str(cn.Do(ctx, "NS").Text()); got != "default" {
		t.Fatalf("NS = %q", got)
	}
	str(cn.Set(ctx, "k", "in default", 0).Result())
	str(cn.Do(ctx, "NS", "other").Text())
	if got := str(cn.Do(ctx, "NS").Text()); got != "other" {
		t.Fatalf("NS after NS other = %q", got)
	}
	wantNil(t, cn.Get(ctx, "k").Err())
	str(cn.Set(ctx, "k", "in other", 0).Result())
	wantErr(t, cn.Do(ctx, "NS", "nope").Err(), "ERR no such namespace 'nope'")
	str(cn.Do(ctx, "NS", "default").Text())
	if got := str(cn.Get(ctx, "k").Result()); got != "in default" {
		t.Fatalf("GET in default = %q", got)
	}
	str(cn.Select(ctx, 0).Result())
	wantErr(t, cn.Select(ctx, 1).Err(), "ERR distkv has no numbered databases; use NS <namespace>")
	wantErr(t, cn.Do(ctx, "SELECT", "x").Err(), errNotInt)
}

// HGETALL answers a map in RESP3, the flat array of its pairs in RESP2,
// as Redis does; an empty hash is an empty map.
func TestHGetAllProtocols(t *testing.T) {
	r := start(t, Config{}).dial(t)
	r.send("HSET h b 2 a 1\r\nHGETALL h\r\nHGETALL nope\r\nHELLO 3\r\n")
	r.expect(":2\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n*0\r\n")
	r.reply()
	r.send("HGETALL h\r\nHGETALL nope\r\n")
	r.expect("%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n%0\r\n")
}
