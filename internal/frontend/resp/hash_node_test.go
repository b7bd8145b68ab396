package resp_test

// Hashes through go-redis v9 against a real node of an in-process
// cluster: every hash command and TYPE, WRONGTYPE both ways, and hashes
// that live through reshards while they are written.

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
)

const wrongType = "WRONGTYPE Operation against a key holding the wrong kind of value"

// TestNodeHashCommands runs every hash command and TYPE through go-redis
// against a node whose kv service routes, forwards and replicates.
func TestNodeHashCommands(t *testing.T) {
	f := newNodeFixture(t)
	ctx := ctxFor(t)
	rc := f.rc
	fields := map[string]string{}
	var args []any
	for i := range 10 {
		k, v := fmt.Sprintf("f%d", i), fmt.Sprintf("v%d", i)
		fields[k] = v
		args = append(args, k, v)
	}
	if n, err := rc.HSet(ctx, "user:1", args...).Result(); err != nil || n != 10 {
		t.Fatalf("HSET of 10 fields = %d, %v", n, err)
	}
	if n, err := rc.HSet(ctx, "user:1", "f3", "new", "extra", "x").Result(); err != nil || n != 1 {
		t.Fatalf("HSET of an old and a new field = %d, %v", n, err)
	}
	fields["f3"], fields["extra"] = "new", "x"
	if got, err := rc.HGetAll(ctx, "user:1").Result(); err != nil || !maps.Equal(got, fields) {
		t.Fatalf("HGETALL = %v, %v; want %v", got, err, fields)
	}
	if v, err := rc.HGet(ctx, "user:1", "f3").Result(); err != nil || v != "new" {
		t.Fatalf("HGET f3 = %q, %v", v, err)
	}
	if err := rc.HGet(ctx, "user:1", "nope").Err(); err != redis.Nil {
		t.Fatalf("HGET of a missing field: %v", err)
	}
	if vs, err := rc.HMGet(ctx, "user:1", "f0", "nope", "extra").Result(); err != nil || !slices.Equal(vs, []any{"v0", nil, "x"}) {
		t.Fatalf("HMGET = %v, %v", vs, err)
	}
	if n, err := rc.HLen(ctx, "user:1").Result(); err != nil || n != 11 {
		t.Fatalf("HLEN = %d, %v", n, err)
	}
	if ok, err := rc.HExists(ctx, "user:1", "extra").Result(); err != nil || !ok {
		t.Fatalf("HEXISTS extra = %v, %v", ok, err)
	}
	if n, err := rc.HDel(ctx, "user:1", "extra", "nope").Result(); err != nil || n != 1 {
		t.Fatalf("HDEL = %d, %v", n, err)
	}
	if ok, err := rc.HExists(ctx, "user:1", "extra").Result(); err != nil || ok {
		t.Fatalf("HEXISTS after HDEL = %v, %v", ok, err)
	}
	for want := int64(1); want <= 3; want++ {
		if n, err := rc.HIncrBy(ctx, "user:1", "visits", 1).Result(); err != nil || n != want {
			t.Fatalf("HINCRBY = %d, %v; want %d", n, err, want)
		}
	}
	if typ, err := rc.Type(ctx, "user:1").Result(); err != nil || typ != "hash" {
		t.Fatalf("TYPE = %q, %v", typ, err)
	}
	if err := rc.Set(ctx, "plain", "p", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if typ, err := rc.Type(ctx, "plain").Result(); err != nil || typ != "string" {
		t.Fatalf("TYPE plain = %q, %v", typ, err)
	}
	if typ, err := rc.Type(ctx, "ghost").Result(); err != nil || typ != "none" {
		t.Fatalf("TYPE ghost = %q, %v", typ, err)
	}
	for _, cmd := range []redis.Cmder{rc.Get(ctx, "user:1"), rc.Incr(ctx, "user:1"), rc.HGet(ctx, "plain", "f"), rc.HSet(ctx, "plain", "f", "v"), rc.HGetAll(ctx, "plain")} {
		if err := cmd.Err(); err == nil || err.Error() != wrongType {
			t.Errorf("%v: %v, want %q", cmd.Args(), err, wrongType)
		}
	}
	// One key to EXISTS, SCAN, KEYS and DBSIZE; none of the keys that
	// store it shows.
	if n, err := rc.Exists(ctx, "user:1", "plain", "ghost").Result(); err != nil || n != 2 {
		t.Fatalf("EXISTS = %d, %v", n, err)
	}
	if got := f.scanAll(t, ctx, "*", 5); !sameSet(got, []string{"user:1", "plain"}) {
		t.Fatalf("SCAN = %q", got)
	}
	if keys, err := rc.Keys(ctx, "*").Result(); err != nil || !sameSet(keys, []string{"user:1", "plain"}) {
		t.Fatalf("KEYS * = %q, %v", keys, err)
	}
	if n, err := rc.DBSize(ctx).Result(); err != nil || n != 2 {
		t.Fatalf("DBSIZE = %d, %v; want 2", n, err)
	}
	// DEL, then HSET: the old fields stay gone.
	if n, err := rc.Del(ctx, "user:1").Result(); err != nil || n != 1 {
		t.Fatalf("DEL = %d, %v", n, err)
	}
	if err := rc.HSet(ctx, "user:1", "fresh", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := rc.HGetAll(ctx, "user:1").Result(); err != nil || !maps.Equal(got, map[string]string{"fresh": "1"}) {
		t.Fatalf("HGETALL after DEL and HSET = %v, %v", got, err)
	}
	// SET replaces a hash.
	if err := rc.Set(ctx, "user:1", "s", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if typ, err := rc.Type(ctx, "user:1").Result(); err != nil || typ != "string" {
		t.Fatalf("TYPE after SET over a hash = %q, %v", typ, err)
	}
	// A key with the reserved internal prefix is refused, not forged.
	if err := rc.Set(ctx, keyspace.InternalPrefix+"h"+"plain", "x", 0).Err(); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("SET of an internal key: %v, want a refusal", err)
	}
}

// TestNodeHashesLeaderless: an eventual namespace refuses hashes with a
// clear error, and TYPE still tells its strings.
func TestNodeHashesLeaderless(t *testing.T) {
	f := newNodeFixture(t)
	ctx := ctxFor(t)
	f.c.CreateNamespace(api.Namespace{Name: "ev", Mode: "eventual", Replicas: "3", Shards: 2})
	conn := f.rc.Conn()
	defer conn.Close()
	if err := conn.Do(ctx, "NS", "ev").Err(); err != nil {
		t.Fatal(err)
	}
	want := "ERR wrong namespace mode: hashes need a strong namespace; ev is eventual"
	for _, cmd := range []redis.Cmder{conn.HSet(ctx, "h", "f", "v"), conn.HGet(ctx, "h", "f"), conn.HGetAll(ctx, "h"), conn.HIncrBy(ctx, "h", "f", 1)} {
		if err := cmd.Err(); err == nil || err.Error() != want {
			t.Errorf("%v: %v, want %q", cmd.Args(), err, want)
		}
	}
	if err := conn.Set(ctx, "s", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if typ, err := conn.Type(ctx, "s").Result(); err != nil || typ != "string" {
		t.Fatalf("TYPE in an eventual namespace = %q, %v", typ, err)
	}
}

// TestNodeHashesThroughReshards writes 10-field records, then reshards
// the namespace (4 -> 6 -> 3 shards) while clients update one field of
// each record with HSET and count with HINCRBY: afterwards every record
// reads whole through HGETALL, with every acknowledged update, the
// counters count every acknowledged HINCRBY, and a record deleted during
// the reshard stays deleted.
func TestNodeHashesThroughReshards(t *testing.T) {
	f := newNodeFixture(t)
	ctx := ctxFor(t)
	const records = 20
	want := map[string]map[string]string{}
	for i := range records {
		key := fmt.Sprintf("rec:%02d", i)
		want[key] = map[string]string{}
		var args []any
		for j := range 10 {
			want[key][fmt.Sprint("f", j)] = "v0"
			args = append(args, fmt.Sprint("f", j), "v0")
		}
		if err := retry(func() error { return f.rc.HSet(ctx, key, args...).Err() }); err != nil {
			t.Fatalf("HSET %s: %v", key, err)
		}
	}
	var mu sync.Mutex
	unsure := map[string]bool{} // record.field written with an unknown outcome
	counted, unknown := 0, 0
	for _, shards := range []int{6, 3} {
		if _, err := f.node.UpdateNamespace(ctx, "default", api.NamespaceUpdate{Shards: shards}); err != nil {
			t.Fatalf("reshard to %d: %v", shards, err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, records)
		for i := 1; i < records; i++ {
			wg.Go(func() {
				key := fmt.Sprintf("rec:%02d", i)
				for round := range 4 {
					field, val := fmt.Sprint("f", (i+round)%10), fmt.Sprintf("s%d-%d", shards, round)
					err := f.rc.HSet(ctx, key, field, val).Err()
					mu.Lock()
					switch {
					case err == nil:
						want[key][field] = val
						delete(unsure, key+"."+field)
					case isUnknown(err):
						unsure[key+"."+field] = true
					case strings.HasPrefix(err.Error(), "TRYAGAIN"): // nothing was written
					default:
						mu.Unlock()
						errs <- fmt.Errorf("HSET %s %s: %w", key, field, err)
						return
					}
					mu.Unlock()
					err = f.rc.HIncrBy(ctx, "counters", "hits", 1).Err()
					mu.Lock()
					switch {
					case err == nil:
						counted++
					case isUnknown(err):
						unknown++
					case strings.HasPrefix(err.Error(), "TRYAGAIN"): // nothing was written
					default:
						mu.Unlock()
						errs <- fmt.Errorf("HINCRBY: %w", err)
						return
					}
					mu.Unlock()
				}
			})
		}
		if shards == 6 {
			if err := retry(func() error { return f.rc.Del(ctx, "rec:00").Err() }); err != nil {
				t.Fatalf("DEL rec:00 during the reshard: %v", err)
			}
			mu.Lock()
			delete(want, "rec:00")
			mu.Unlock()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		f.c.WaitMap(90*time.Second, fmt.Sprintf("%d shards, settled", shards), func(m *membership.Map) bool {
			ns := m.Namespace("default")
			return ns.Shards == shards && ns.Reshard == nil && len(m.Moves) == 0
		})
		f.c.WaitReady(30 * time.Second)
		for i := range records {
			key := fmt.Sprintf("rec:%02d", i)
			var got map[string]string
			if err := retry(func() (err error) { got, err = f.rc.HGetAll(ctx, key).Result(); return err }); err != nil {
				t.Fatalf("HGETALL %s: %v", key, err)
			}
			w := want[key]
			if len(got) != len(w) {
				t.Fatalf("after resharding to %d: %s = %v, want %v", shards, key, got, w)
			}
			for fl, v := range w {
				if got[fl] != v && !unsure[key+"."+fl] {
					t.Fatalf("after resharding to %d: %s.%s = %q, want %q", shards, key, fl, got[fl], v)
				}
			}
		}
		var hits int
		if err := retry(func() (err error) { hits, err = f.rc.HGet(ctx, "counters", "hits").Int(); return err }); err != nil {
			t.Fatal(err)
		}
		if hits < counted || hits > counted+unknown {
			t.Fatalf("hits = %d, want %d acknowledged HINCRBYs (+ up to %d unsure)", hits, counted, unknown)
		}
		if n, err := f.rc.DBSize(ctx).Result(); err != nil || n != records {
			t.Fatalf("DBSIZE = %d, %v; want %d (19 records and the counters)", n, err, records)
		}
	}
}

func isUnknown(err error) bool { return err != nil && strings.Contains(err.Error(), "outcome unknown") }

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
