package storage

import (
	"bytes"
	"fmt"
	"testing"
)

func TestBatchReadsOwnWritesAndCommitsAtomically(t *testing.T) {
	e, err := Open(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	b := e.NewBatch()
	if err := b.Set([]byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := b.Get([]byte("a")); !ok || string(v) != "1" {
		t.Fatalf("batch Get = %q %v, want 1 true", v, ok)
	}
	if _, ok, _ := e.Get([]byte("a")); ok {
		t.Fatal("uncommitted write visible in engine")
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if v, ok, _ := e.Get([]byte("a")); !ok || string(v) != "1" {
		t.Fatalf("engine Get after commit = %q %v", v, ok)
	}
}

func TestKeyRangesAreDisjointAndOrdered(t *testing.T) {
	g := uint64(7)
	type check struct {
		name       string
		key        []byte
		start, end []byte
	}
	rs, re := RaftRange(g)
	ss, se := StateRange(g)
	checks := []check{
		{"hardstate in raft range", HardStateKey(g), rs, re},
		{"log in raft range", LogKey(g, 5), rs, re},
		{"applied in state range", AppliedStateKey(g), ss, se},
		{"data in state range", DataKey(g, []byte("k")), ss, se},
	}
	for _, c := range checks {
		if bytes.Compare(c.key, c.start) < 0 || bytes.Compare(c.key, c.end) >= 0 {
			t.Errorf("%s: %x not in [%x, %x)", c.name, c.key, c.start, c.end)
		}
	}
	// Neighbouring groups do not overlap.
	if ns, _ := StateRange(g + 1); bytes.Compare(se, ns) > 0 {
		t.Errorf("state ranges of %d and %d overlap", g, g+1)
	}
	// Log keys sort by index.
	if bytes.Compare(LogKey(g, 9), LogKey(g, 10)) >= 0 || bytes.Compare(LogKey(g, 255), LogKey(g, 256)) >= 0 {
		t.Error("log keys do not sort by index")
	}
	if LogIndex(LogKey(g, 123456)) != 123456 {
		t.Error("LogIndex does not invert LogKey")
	}
	if string(UserKey(DataKey(g, []byte("user/key")))) != "user/key" {
		t.Error("UserKey does not invert DataKey")
	}
}

func TestScanPrefixAndDeleteRange(t *testing.T) {
	e, err := Open(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	b := e.NewWriteBatch()
	for g := uint64(1); g <= 2; g++ {
		for _, k := range []string{"a/1", "a/2", "b/1"} {
			if err := b.Set(DataKey(g, []byte(k)), []byte(fmt.Sprint(g))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Commit(false); err != nil {
		t.Fatal(err)
	}
	b.Close()
	var got []string
	start, end := DataRange(1, []byte("a/"))
	if err := e.Scan(start, end, func(k, v []byte) bool {
		got = append(got, string(UserKey(k))+"="+string(v))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[a/1=1 a/2=1]" {
		t.Fatalf("scan = %v", got)
	}
	b = e.NewWriteBatch()
	s, en := StateRange(1)
	_ = b.DeleteRange(s, en)
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	b.Close()
	n := 0
	all1, all1end := StateRange(1)
	_ = e.Scan(all1, all1end, func(k, v []byte) bool { n++; return true })
	all2, all2end := StateRange(2)
	m := 0
	_ = e.Scan(all2, all2end, func(k, v []byte) bool { m++; return true })
	if n != 0 || m != 3 {
		t.Fatalf("after DeleteRange of group 1: group1 %d keys, group2 %d keys; want 0, 3", n, m)
	}
}

func TestCrashLosesOnlyUnsyncedWrites(t *testing.T) {
	fs := NewCrashableMemFS()
	e, err := Open(Config{FS: fs, Dir: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	synced := e.NewWriteBatch()
	_ = synced.Set([]byte("synced"), []byte("yes"))
	if err := synced.Commit(true); err != nil {
		t.Fatal(err)
	}
	unsynced := e.NewWriteBatch()
	_ = unsynced.Set([]byte("unsynced"), []byte("maybe"))
	if err := unsynced.Commit(false); err != nil {
		t.Fatal(err)
	}
	e2 := crashAndReopen(t, fs, e)
	if _, ok, _ := e2.Get([]byte("synced")); !ok {
		t.Fatal("synced write lost in crash")
	}
	if _, ok, _ := e2.Get([]byte("unsynced")); ok {
		t.Fatal("unsynced write survived a crash that keeps only synced data")
	}
}

// A batch committed without sync survives a crash once SyncWAL returned.
func TestSyncWALMakesEarlierCommitsDurable(t *testing.T) {
	fs := NewCrashableMemFS()
	e, err := Open(Config{FS: fs, Dir: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	b := e.NewWriteBatch()
	_ = b.Set([]byte("k"), []byte("v"))
	if err := b.Commit(false); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := e.SyncWAL(); err != nil {
		t.Fatal(err)
	}
	e2 := crashAndReopen(t, fs, e)
	if _, ok, _ := e2.Get([]byte("k")); !ok {
		t.Fatal("a write committed before SyncWAL was lost in a crash")
	}
}

// crashAndReopen crashes e (only synced data survives on fs's clone) and
// opens the engine again from the clone, closing it when the test ends.
func crashAndReopen(t *testing.T, fs *MemFS, e *Engine) *Engine {
	t.Helper()
	crashed := fs.CrashClone(CrashCloneCfg{})
	_ = e.Close()
	e2, err := Open(Config{FS: crashed, Dir: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e2.Close() })
	return e2
}
