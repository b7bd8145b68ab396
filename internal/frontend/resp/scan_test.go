package resp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/distkv/distkv/internal/kv"
)

// fill writes n keys named prefix0000... directly into the fake.
func (ts *testServer) fill(ns, prefix string, n int) []string {
	var keys []string
	for i := range n {
		k := fmt.Sprintf("%s%04d", prefix, i)
		if _, err := ts.kv.Put(context.Background(), ns, []byte(k), []byte("v"), kv.WriteOptions{}); err != nil {
			panic(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func TestScan(t *testing.T) { eachProtocol(t, testScan) }

func testScan(t *testing.T, proto int) {
	ctx := context.Background()
	ts := startProto(t, Config{}, proto)
	rc := ts.client(t)
	keys := ts.fill("", "key:", 1000)
	all := append(slices.Clone(keys), ts.fill("", "other:", 100)...)
	ts.fill("other", "key:", 10) // another namespace: never seen

	scan := func(match string, count int64) []string {
		t.Helper()
		var got []string
		var cursor uint64
		calls := 0
		for {
			page, next, err := rc.Scan(ctx, cursor, match, count).Result()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			calls++
			if cursor = next; cursor == 0 {
				break
			}
		}
		if count > 0 && calls < len(got)/int(count) {
			t.Fatalf("%d calls returned %d keys with COUNT %d", calls, len(got), count)
		}
		return got
	}
	for _, tc := range []struct {
		match string
		count int64
		want  []string
	}{
		{"", 0, all},
		{"key:*", 37, keys},
		{"*", 1000, all},
		{"*", 5000, all},
		{"key:00[1-2]?", 7, keys[10:30]},
		{"*:0999", 100, []string{"key:0999"}},
		{"nothing*", 10, nil},
	} {
		got := scan(tc.match, tc.count)
		if !slices.Equal(got, tc.want) {
			t.Errorf("SCAN MATCH %q COUNT %d: %d keys, want %d (no duplicates, no misses)", tc.match, tc.count, len(got), len(tc.want))
		}
	}
	// go-redis's iterator works too.
	var it []string
	for iter := rc.Scan(ctx, 0, "other:*", 9).Iterator(); iter.Next(ctx); {
		it = append(it, iter.Val())
	}
	if !slices.Equal(it, all[1000:]) {
		t.Errorf("ScanIterator: %d keys", len(it))
	}
	// Each iteration keeps at most two cursors alive.
	if n := ts.cursors.mu.lru.Len(); n > 2*8 {
		t.Errorf("%d cursors remembered after 8 scans", n)
	}
	page, next, err := rc.ScanType(ctx, 0, "", 100, "hash").Result()
	if err != nil || len(page) != 0 || next == 0 {
		t.Errorf("SCAN TYPE hash: %d keys, cursor %d, %v; want none and a cursor", len(page), next, err)
	}
	wantErr(t, rc.Scan(ctx, 12345, "", 10).Err(), "ERR invalid cursor")
	wantErr(t, rc.Do(ctx, "SCAN", "abc").Err(), "ERR invalid cursor")
	wantErr(t, rc.Do(ctx, "SCAN", "0", "COUNT", "0").Err(), errSyntax)
	wantErr(t, rc.Do(ctx, "SCAN", "0", "COUNT", "x").Err(), errNotInt)
	wantErr(t, rc.Do(ctx, "SCAN", "0", "MATCH").Err(), errSyntax)
	wantErr(t, rc.Do(ctx, "SCAN", "0", "BOGUS", "1").Err(), errSyntax)
}

// A cursor resumes the scan even if keys are deleted and added meanwhile,
// on any connection.
func TestScanCursorAcrossChanges(t *testing.T) { eachProtocol(t, testScanCursorAcrossChanges) }

func testScanCursorAcrossChanges(t *testing.T, proto int) {
	ctx := context.Background()
	ts := startProto(t, Config{}, proto)
	keys := ts.fill("", "k", 20)
	a, b := ts.client(t).Conn(), ts.client(t).Conn()
	defer a.Close()
	defer b.Close()
	page, cur := must2(t)(a.Scan(ctx, 0, "", 5).Result())
	if !slices.Equal(page, keys[:5]) {
		t.Fatalf("first page %q", page)
	}
	must[int64](t)(a.Del(ctx, keys[4], keys[5]).Result())
	must[string](t)(a.Set(ctx, "k0002x", "v", 0).Result())
	page, _ = must2(t)(b.Scan(ctx, cur, "", 5).Result())
	if want := []string{"k0006", "k0007", "k0008", "k0009", "k0010"}; !slices.Equal(page, want) {
		t.Fatalf("second page %q, want %q", page, want)
	}
	// A retried call gets the same page.
	again, _ := must2(t)(b.Scan(ctx, cur, "", 5).Result())
	if !slices.Equal(again, page) {
		t.Fatalf("retried page %q, want %q", again, page)
	}
}

func must2(t *testing.T) func(page []string, cursor uint64, err error) ([]string, uint64) {
	return func(page []string, cursor uint64, err error) ([]string, uint64) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return page, cursor
	}
}

func TestKeys(t *testing.T) { eachProtocol(t, testKeys) }

func testKeys(t *testing.T, proto int) {
	ctx := context.Background()
	ts := startProto(t, Config{}, proto)
	rc := ts.client(t)
	keys := ts.fill("", "key:", 1000)
	ts.fill("", "x", 5)
	got := must[[]string](t)(rc.Keys(ctx, "key:00*").Result())
	if !slices.Equal(got, keys[:100]) {
		t.Fatalf("KEYS key:00* = %d keys", len(got))
	}
	if got := must[[]string](t)(rc.Keys(ctx, "*").Result()); len(got) != 1005 {
		t.Fatalf("KEYS * = %d keys", len(got))
	}
	if got := must[[]string](t)(rc.Keys(ctx, "nope*").Result()); len(got) != 0 {
		t.Fatalf("KEYS nope* = %q", got)
	}
	ts.fill("", "many:", maxKeys-1000) // now maxKeys+5 keys in all
	wantErr(t, rc.Keys(ctx, "*").Err(), "ERR KEYS would return more than 100000 keys; use SCAN")
	if got := must[[]string](t)(rc.Keys(ctx, "key:*").Result()); len(got) != 1000 {
		t.Fatalf("KEYS key:* among many = %d keys", len(got))
	}
}

func TestDBSize(t *testing.T) { eachProtocol(t, testDBSize) }

func testDBSize(t *testing.T, proto int) {
	ctx := context.Background()
	ts := startProto(t, Config{}, proto)
	cn := ts.client(t).Conn()
	defer cn.Close()
	ts.fill("", "k", 123)
	ts.fill("other", "k", 7)
	size := func() int64 { t.Helper(); return must[int64](t)(cn.DBSize(ctx).Result()) }
	if got := size(); got != 123 {
		t.Fatalf("DBSIZE = %d", got)
	}
	ts.node.unknownKeys.Store(true)
	if got := size(); got != 123 {
		t.Fatalf("DBSIZE by scanning = %d", got)
	}
	must[string](t)(cn.Do(ctx, "NS", "other").Text())
	if got := size(); got != 7 {
		t.Fatalf("DBSIZE in other = %d", got)
	}
	err := errors.New("status unavailable")
	ts.node.statusErr.Store(&err)
	if got := size(); got != 7 {
		t.Fatalf("DBSIZE without status = %d", got)
	}
}

func TestScanErrors(t *testing.T) { eachProtocol(t, testScanErrors) }

func testScanErrors(t *testing.T, proto int) {
	ctx := context.Background()
	ts := startProto(t, Config{}, proto)
	rc := ts.client(t)
	ts.kv.setHook(func(_ context.Context, op string, _ []byte) error {
		if op == "scan" {
			return errors.Join(kv.ErrUnavailable, errors.New("no leader for shard 2"))
		}
		return nil
	})
	for _, err := range []error{rc.Scan(ctx, 0, "", 0).Err(), rc.Keys(ctx, "*").Err()} {
		wantErr(t, err, "TRYAGAIN shard unavailable: no leader for shard 2")
	}
}
