package kv_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
)

// TestHashes runs the hash operations through every node of a 3-node
// cluster: fields are written and read from anywhere, a key holds a
// string or a hash (never both), a string replaces a hash, a delete of
// the key deletes the hash and a new hash under it starts empty, and
// deleting a hash's last field deletes the hash.
func TestHashes(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 4})
	nodes := c.Running()
	a, b := nodes[0].KV(), nodes[2].KV()
	key := []byte("user:1")
	for i, f := range []string{"name", "age", "city"} {
		res, err := nodes[i].KV().HashPut(ctx(t), "", key, []byte(f), []byte("v-"+f), kv.WriteOptions{})
		if err != nil || !res.Created {
			t.Fatalf("HashPut %s: %+v, %v; want a new field", f, res, err)
		}
	}
	if res, err := a.HashPut(ctx(t), "", key, []byte("age"), []byte("37"), kv.WriteOptions{}); err != nil || res.Created {
		t.Fatalf("HashPut of an existing field: %+v, %v; want an update", res, err)
	}
	e, err := b.HashGet(ctx(t), "", key, []byte("age"), kv.ReadOptions{})
	if err != nil || string(e.Value) != "37" || string(e.Key) != "age" {
		t.Fatalf("HashGet age = %+v, %v", e, err)
	}
	if _, err := b.HashGet(ctx(t), "", key, []byte("nope"), kv.ReadOptions{}); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("HashGet of a missing field: %v, want ErrNotFound", err)
	}
	res, err := b.HashScan(ctx(t), "", key, kv.ScanOptions{Values: true})
	if err != nil || res.Generation == 0 || res.More || fieldNames(res) != "age=37,city=v-city,name=v-name" {
		t.Fatalf("HashScan = %+v (%s), %v", res, fieldNames(res), err)
	}
	page, err := a.HashScan(ctx(t), "", key, kv.ScanOptions{After: []byte("age"), Limit: 1})
	if err != nil || !page.More || fieldNames(page) != "city=" || page.Generation != res.Generation {
		t.Fatalf("HashScan after age, limit 1 = %+v (%s), %v", page, fieldNames(page), err)
	}
	// The key is a hash: string reads are refused, scans show it as one
	// key, and never the keys that store it.
	if _, err := a.Get(ctx(t), "", key, kv.ReadOptions{}); !errors.Is(err, kv.ErrWrongType) {
		t.Fatalf("Get of a hash: %v, want ErrWrongType", err)
	}
	if _, err := a.Put(ctx(t), "", key, []byte("x"), kv.WriteOptions{Condition: kv.IfAbsent}); !errors.Is(err, kv.ErrExists) {
		t.Fatalf("create-only Put over a hash: %v, want ErrExists", err)
	}
	if _, err := a.Put(ctx(t), "", []byte("plain"), []byte("p"), kv.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	sc, err := a.Scan(ctx(t), "", kv.ScanOptions{Hashes: true})
	if err != nil || scanned(sc) != "plain,user:1(hash)" {
		t.Fatalf("Scan with hashes = %s, %v", scanned(sc), err)
	}
	if sc, err := a.Scan(ctx(t), "", kv.ScanOptions{}); err != nil || scanned(sc) != "plain" {
		t.Fatalf("Scan of strings = %s, %v", scanned(sc), err)
	}
	if sc, err := a.Scan(ctx(t), "", kv.ScanOptions{Hashes: true, Limit: 1}); err != nil || scanned(sc) != "plain" || !sc.More {
		t.Fatalf("Scan with hashes, limit 1 = %s more %v, %v", scanned(sc), sc.More, err)
	}
	if sc, err := a.Scan(ctx(t), "", kv.ScanOptions{Hashes: true, After: []byte("plain")}); err != nil || scanned(sc) != "user:1(hash)" {
		t.Fatalf("Scan with hashes after plain = %s, %v", scanned(sc), err)
	}
	// A field write on a string is refused.
	if _, err := a.HashPut(ctx(t), "", []byte("plain"), []byte("f"), []byte("v"), kv.WriteOptions{}); !errors.Is(err, kv.ErrWrongType) {
		t.Fatalf("HashPut on a string: %v, want ErrWrongType", err)
	}
	if _, err := a.HashGet(ctx(t), "", []byte("plain"), []byte("f"), kv.ReadOptions{}); !errors.Is(err, kv.ErrWrongType) {
		t.Fatalf("HashGet on a string: %v, want ErrWrongType", err)
	}
	if _, err := a.HashScan(ctx(t), "", []byte("plain"), kv.ScanOptions{}); !errors.Is(err, kv.ErrWrongType) {
		t.Fatalf("HashScan on a string: %v, want ErrWrongType", err)
	}
	// DEL, then a new hash: no old field comes back.
	if _, err := b.Delete(ctx(t), "", key, kv.WriteOptions{}); err != nil {
		t.Fatalf("Delete of a hash: %v", err)
	}
	if _, err := b.Delete(ctx(t), "", key, kv.WriteOptions{}); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
	if _, err := a.HashPut(ctx(t), "", key, []byte("fresh"), []byte("1"), kv.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	again, err := b.HashScan(ctx(t), "", key, kv.ScanOptions{Values: true})
	if err != nil || fieldNames(again) != "fresh=1" || again.Generation <= res.Generation {
		t.Fatalf("after DEL and a new field: %+v (%s), %v; want only the new field, generation above %d", again, fieldNames(again), err, res.Generation)
	}
	// A string replaces the hash; deleting the string leaves nothing.
	if _, err := a.Put(ctx(t), "", key, []byte("s"), kv.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if e, err := b.Get(ctx(t), "", key, kv.ReadOptions{}); err != nil || string(e.Value) != "s" {
		t.Fatalf("Get after a string replaced the hash: %q, %v", e.Value, err)
	}
	if _, err := b.Delete(ctx(t), "", key, kv.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, err := b.HashScan(ctx(t), "", key, kv.ScanOptions{}); err != nil || len(res.Fields) != 0 || res.Generation != 0 {
		t.Fatalf("HashScan after the string went: %+v, %v; want nothing", res, err)
	}
	// Deleting the last field deletes the hash.
	if _, err := a.HashPut(ctx(t), "", key, []byte("only"), []byte("1"), kv.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.HashDelete(ctx(t), "", key, []byte("only"), kv.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.HashDelete(ctx(t), "", key, []byte("only"), kv.WriteOptions{}); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("HashDelete of a deleted field: %v, want ErrNotFound", err)
	}
	if _, err := a.Get(ctx(t), "", key, kv.ReadOptions{}); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get after the last field went: %v, want ErrNotFound", err)
	}
	// Conditions apply to the field: compare-and-set on its version.
	w1, err := a.HashPut(ctx(t), "", key, []byte("n"), []byte("1"), kv.WriteOptions{Condition: kv.IfAbsent})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.HashPut(ctx(t), "", key, []byte("n"), []byte("2"), kv.WriteOptions{Condition: kv.IfAbsent}); !errors.Is(err, kv.ErrExists) {
		t.Fatalf("create-only field write of an existing field: %v", err)
	}
	var vm *kv.VersionMismatchError
	if _, err := b.HashPut(ctx(t), "", key, []byte("n"), []byte("2"), kv.WriteOptions{Version: w1.Version + 1}); !errors.As(err, &vm) || vm.Current != w1.Version {
		t.Fatalf("field CAS with a wrong version: %v, want a mismatch naming %d", err, w1.Version)
	}
	if _, err := b.HashPut(ctx(t), "", key, []byte("n"), []byte("2"), kv.WriteOptions{Version: w1.Version}); err != nil {
		t.Fatalf("field CAS with the right version: %v", err)
	}
	// The key counts are per user key: the hash is one key.
	c.WaitConverged(20 * time.Second)
	st, err := nodes[0].Status(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var keys int64
	for _, sh := range st.Shards {
		if sh.Namespace == keyspace.DefaultNamespace {
			keys += sh.Keys
		}
	}
	if keys != 2 {
		t.Fatalf("shard key counts add up to %d, want 2 (plain and %s)", keys, key)
	}
}

// TestHashesForwarded: with one replica per shard, most nodes hold no
// replica of a hash's shard, so every operation travels to another node
// and back: fields, pages of fields and hash keys in scans survive the
// trip.
func TestHashesForwarded(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 2, Replicas: 1})
	nodes := c.Running()
	for i := range 5 {
		if _, err := nodes[i%3].KV().HashPut(ctx(t), "", []byte("fw"), fmt.Appendf(nil, "f%d", i), []byte("v"), kv.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nodes[0].KV().Put(ctx(t), "", []byte("str"), []byte("s"), kv.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		s := n.KV()
		if e, err := s.HashGet(ctx(t), "", []byte("fw"), []byte("f3"), kv.ReadOptions{}); err != nil || string(e.Value) != "v" {
			t.Fatalf("%s: HashGet = %+v, %v", n.ID(), e, err)
		}
		var names []string
		var after []byte
		for range 10 {
			res, err := s.HashScan(ctx(t), "", []byte("fw"), kv.ScanOptions{After: after, Limit: 2})
			if err != nil {
				t.Fatalf("%s: HashScan after %q: %v", n.ID(), after, err)
			}
			for _, f := range res.Fields {
				names = append(names, string(f.Key))
			}
			if !res.More {
				break
			}
			after = res.Fields[len(res.Fields)-1].Key
		}
		if joinComma(names) != "f0,f1,f2,f3,f4" {
			t.Fatalf("%s: HashScan pages = %v", n.ID(), names)
		}
		if _, err := s.HashGet(ctx(t), "", []byte("str"), []byte("f"), kv.ReadOptions{}); !errors.Is(err, kv.ErrWrongType) {
			t.Fatalf("%s: HashGet of a string: %v, want ErrWrongType", n.ID(), err)
		}
		if _, err := s.Get(ctx(t), "", []byte("fw"), kv.ReadOptions{}); !errors.Is(err, kv.ErrWrongType) {
			t.Fatalf("%s: Get of a hash: %v, want ErrWrongType", n.ID(), err)
		}
		if res, err := s.Scan(ctx(t), "", kv.ScanOptions{Hashes: true}); err != nil || scanned(res) != "fw(hash),str" {
			t.Fatalf("%s: Scan with hashes = %s, %v", n.ID(), scanned(res), err)
		}
	}
	for _, n := range nodes {
		s := n.KV()
		// Several fields in one write, through a node with or without a
		// replica: the count of new fields comes back across the hop.
		hk := []byte("multi-" + n.ID().String())
		fields := []kv.HashField{{Name: []byte("a"), Value: []byte("1")}, {Name: []byte("b"), Value: []byte("2")}}
		if _, added, err := s.HashSet(ctx(t), "", hk, fields); err != nil || added != 2 {
			t.Fatalf("%s: HashSet of a new hash: added %d, %v; want 2", n.ID(), added, err)
		}
		fields = append(fields, kv.HashField{Name: []byte("c"), Value: []byte("3")})
		if _, added, err := s.HashSet(ctx(t), "", hk, fields); err != nil || added != 1 {
			t.Fatalf("%s: HashSet adding c: added %d, %v; want 1", n.ID(), added, err)
		}
		if e, err := s.HashGet(ctx(t), "", hk, []byte("c"), kv.ReadOptions{}); err != nil || string(e.Value) != "3" {
			t.Fatalf("%s: HashGet c = %+v, %v", n.ID(), e, err)
		}
		if _, _, err := s.HashSet(ctx(t), "", []byte("str"), fields); !errors.Is(err, kv.ErrWrongType) {
			t.Fatalf("%s: HashSet on a string: %v, want ErrWrongType", n.ID(), err)
		}
	}
}

// TestScanMergesHashesInOneShard: in one shard, a page of a scan with
// hashes is the first keys of strings and hashes together, in key order,
// however many strings follow (a page full of strings must not hide a
// hash that sorts before them), and the internal keys between them never
// show.
func TestScanMergesHashesInOneShard(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 1})
	s := c.Running()[0].KV()
	for _, k := range []string{"b1", "b2", "b3", "\xff\x01after"} {
		if _, err := s.Put(ctx(t), "", []byte(k), []byte("v"), kv.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"a", "b2x", "c"} {
		if _, err := s.HashPut(ctx(t), "", []byte(k), []byte("f"), []byte("v"), kv.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var after []byte
	for range 20 {
		res, err := s.Scan(ctx(t), "", kv.ScanOptions{Hashes: true, Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, scanned(res))
		if !res.More {
			break
		}
		after = res.Entries[len(res.Entries)-1].Key
	}
	if want := "a(hash),b1 | b2,b2x(hash) | b3,c(hash) | \xff\x01after"; joinPages(got) != want {
		t.Fatalf("pages %s, want %s", joinPages(got), want)
	}
	res, err := s.Scan(ctx(t), "", kv.ScanOptions{})
	if err != nil || scanned(res) != "b1,b2,b3,\xff\x01after" {
		t.Fatalf("scan of strings = %s, %v", scanned(res), err)
	}
}

func joinPages(ps []string) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += " | "
		}
		s += p
	}
	return s
}

// TestHashInputsRefused: internal keys cannot be sent as keys, oversized
// fields are refused with the limit named, and leaderless namespaces
// refuse hashes.
func TestHashInputsRefused(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 2})
	s := c.Running()[0].KV()
	forged := keyspace.HashMarkerKey([]byte("k"))
	if _, err := s.Put(ctx(t), "", forged, []byte("x"), kv.WriteOptions{}); !errors.Is(err, kv.ErrInvalid) {
		t.Fatalf("Put of an internal key: %v, want ErrInvalid", err)
	}
	if _, err := s.Get(ctx(t), "", forged, kv.ReadOptions{}); !errors.Is(err, kv.ErrInvalid) {
		t.Fatalf("Get of an internal key: %v, want ErrInvalid", err)
	}
	if _, err := s.HashPut(ctx(t), "", forged, []byte("f"), []byte("x"), kv.WriteOptions{}); !errors.Is(err, kv.ErrInvalid) {
		t.Fatalf("HashPut under an internal key: %v, want ErrInvalid", err)
	}
	big := make([]byte, s.Limits().MaxKey)
	if _, err := s.HashPut(ctx(t), "", []byte("k"), big, []byte("x"), kv.WriteOptions{}); !errors.Is(err, kv.ErrTooLarge) {
		t.Fatalf("HashPut of a field over the key limit: %v, want ErrTooLarge", err)
	}
	c.CreateNamespace(api.Namespace{Name: "ev", Mode: "eventual", Replicas: "3", Shards: 2})
	if _, err := s.HashPut(ctx(t), "ev", []byte("k"), []byte("f"), []byte("x"), kv.WriteOptions{}); !errors.Is(err, kv.ErrWrongMode) {
		t.Fatalf("HashPut in an eventual namespace: %v, want ErrWrongMode", err)
	}
}

// TestHashesAcrossReshards: hashes written before and during reshards
// (4 -> 7 -> 3 shards) keep every acknowledged field, each hash's keys
// stay together on its key's shard, and a hash deleted during a reshard
// stays deleted.
func TestHashesAcrossReshards(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 4, RequestTimeout: 5 * time.Second})
	nodes := c.Running()
	const hashes, fields = 24, 10
	// ok[hash][field] are the values a field may hold: the last
	// acknowledged one, and those of later writes of unknown outcome.
	ok := map[string]map[string][]string{}
	var mu sync.Mutex
	put := func(n int, h, f, v string) error {
		cx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for {
			_, err := nodes[n%len(nodes)].KV().HashPut(cx, "", []byte(h), []byte(f), []byte(v), kv.WriteOptions{})
			if errors.Is(err, kv.ErrUnavailable) && cx.Err() == nil {
				time.Sleep(10 * time.Millisecond) // nothing was done: retry
				continue
			}
			mu.Lock()
			defer mu.Unlock()
			if ok[h] == nil {
				ok[h] = map[string][]string{}
			}
			switch {
			case err == nil:
				ok[h][f] = []string{v}
			case errors.Is(err, kv.ErrUnknownOutcome):
				ok[h][f] = append(ok[h][f], v)
			}
			return err
		}
	}
	for i := range hashes {
		for f := range fields {
			if err := put(i+f, fmt.Sprintf("rec:%02d", i), fmt.Sprintf("f%d", f), "v0"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, shards := range []int{7, 3} {
		cx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := nodes[0].UpdateNamespace(cx, "default", api.NamespaceUpdate{Shards: shards})
		cancel()
		if err != nil {
			t.Fatalf("reshard to %d: %v", shards, err)
		}
		// Writers update fields of every record but rec:00 while the
		// reshard runs; rec:00 is deleted during the first one.
		var wg sync.WaitGroup
		errs := make(chan error, hashes)
		for i := 1; i < hashes; i++ {
			wg.Go(func() {
				for round := range 3 {
					h, f, v := fmt.Sprintf("rec:%02d", i), fmt.Sprintf("f%d", (i+round)%fields), fmt.Sprintf("s%d-r%d", shards, round)
					if err := put(i+round, h, f, v); err != nil && !errors.Is(err, kv.ErrUnknownOutcome) {
						errs <- fmt.Errorf("HashPut %s %s: %w", h, f, err)
						return
					}
				}
			})
		}
		if shards == 7 {
			cx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			for {
				_, err := nodes[1].KV().Delete(cx, "", []byte("rec:00"), kv.WriteOptions{})
				if errors.Is(err, kv.ErrUnavailable) && cx.Err() == nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if err != nil {
					t.Fatalf("Delete rec:00 during the reshard: %v", err)
				}
				break
			}
			cancel()
			mu.Lock()
			delete(ok, "rec:00")
			mu.Unlock()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		c.WaitMap(90*time.Second, fmt.Sprintf("%d shards, settled", shards), func(m *membership.Map) bool {
			return m.Namespace("default").Shards == shards && m.Namespace("default").Reshard == nil && len(m.Moves) == 0
		})
		c.WaitReady(30 * time.Second)
		checkHashes(t, c, ok, hashes)
		c.WaitConverged(30 * time.Second)
		checkHashesPlaced(t, c)
	}
}

// checkHashes reads every record through every node: each field holds a
// value it may hold, no other field exists, and the deleted record is
// gone.
func checkHashes(t *testing.T, c *clustertest.Cluster, ok map[string]map[string][]string, hashes int) {
	t.Helper()
	cx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, n := range c.Running() {
		for i := range hashes {
			h := fmt.Sprintf("rec:%02d", i)
			res, err := n.KV().HashScan(cx, "", []byte(h), kv.ScanOptions{Values: true})
			if err != nil {
				t.Fatalf("%s: HashScan %s: %v", n.ID(), h, err)
			}
			got := map[string]string{}
			for _, f := range res.Fields {
				got[string(f.Key)] = string(f.Value)
			}
			if len(got) != len(ok[h]) {
				t.Fatalf("%s: %s has fields %v, want %v", n.ID(), h, got, ok[h])
			}
			for f, vs := range ok[h] {
				if !slices.Contains(vs, got[f]) {
					t.Fatalf("%s: %s.%s = %q, want one of %q", n.ID(), h, f, got[f], vs)
				}
			}
		}
	}
}

// checkHashesPlaced verifies, on every replica, that each key is held by
// the group that holds its user key under the current layout.
func checkHashesPlaced(t *testing.T, c *clustertest.Cluster) {
	t.Helper()
	ns := c.Node(1).Map().Namespace("default")
	cx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range c.Running() {
		for _, g := range n.Host().Groups() {
			if keyspace.GroupID(g).Namespace() != ns.ID {
				continue
			}
			err := n.KV().DumpLocal(cx, g, func(e kv.Entry) error {
				if sh := ns.Locate(keyspace.RoutingKey(e.Key)); uint64(sh.Group) != g {
					return fmt.Errorf("%s: group %d holds %q, whose user key belongs to group %d", n.ID(), g, e.Key, sh.Group)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

func fieldNames(r kv.HashScanResult) string {
	var out []string
	for _, f := range r.Fields {
		out = append(out, string(f.Key)+"="+string(f.Value))
	}
	slices.Sort(out)
	return fmt.Sprint(joinComma(out))
}

func scanned(r kv.ScanResult) string {
	var out []string
	for _, e := range r.Entries {
		s := string(e.Key)
		if e.Hash {
			s += "(hash)"
		}
		out = append(out, s)
	}
	return joinComma(out)
}

func joinComma(ss []string) string {
	s := ""
	for i, x := range ss {
		if i > 0 {
			s += ","
		}
		s += x
	}
	return s
}
