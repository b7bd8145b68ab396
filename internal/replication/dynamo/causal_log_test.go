package dynamo

import (
	"fmt"
	"testing"

	"github.com/distkv/distkv/internal/replication/dynamo/dvv"
	"github.com/distkv/distkv/internal/storage"
)

// clobberingReader honours the letter of storage.Reader's Scan contract
// and nothing more: once the callback returns, the slices it was given
// are overwritten, as an engine may do when its iterator moves on or a
// cached block is evicted.
type clobberingReader struct{ storage.Reader }

func (r clobberingReader) Scan(lower, upper []byte, fn func(k, v []byte) bool) error {
	return r.Reader.Scan(lower, upper, func(k, v []byte) bool {
		kb, vb := append([]byte(nil), k...), append([]byte(nil), v...)
		more := fn(kb, vb)
		for i := range kb {
			kb[i] = 0xff
		}
		for i := range vb {
			vb[i] = 0xff
		}
		return more
	})
}

// A restarted origin resends its unacknowledged writes from the log it
// loaded, so what it loads must not alias the scan's memory: it once did,
// and a node back from a crash resent garbage keys under real sequence
// numbers, so peers counted the real writes as applied and never stored
// them.
func TestCausalLogLoadOwnsItsWrites(t *testing.T) {
	eng, err := storage.Open(storage.Config{FS: storage.NewMemFS()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	const ns = 7
	var want []*cwrite
	b := eng.NewWriteBatch()
	for seq := uint64(1); seq <= 50; seq++ {
		key := []byte(fmt.Sprintf("key-%03d", seq))
		dot := dvv.Dot{Node: 3, Counter: seq}
		w := &cwrite{ns: ns, origin: 3, seq: seq, deps: dvv.VV{1: seq / 2}, group: 9, key: key,
			set: dvv.Set{}.UpdateDot(dot, dvv.VV{1: seq / 2}, []byte("value-"+string(key)), false, dvv.Timestamp{Wall: int64(seq)})}
		want = append(want, w)
		if err := b.Set(logKey(ns, seq), w.encode()); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	b.Close()

	got, err := loadLog(clobberingReader{eng}, ns)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("loaded %d logged writes, want %d", len(got), len(want))
	}
	for i, w := range got {
		if string(w.encode()) != string(want[i].encode()) {
			t.Fatalf("logged write %d came back as origin %d seq %d key %q, want seq %d key %q",
				i, w.origin, w.seq, w.key, want[i].seq, want[i].key)
		}
	}
}

// A logged write that does not decode is an error, not a silent gap in
// what the origin resends.
func TestCausalLogLoadRefusesCorruptEntry(t *testing.T) {
	eng, err := storage.Open(storage.Config{FS: storage.NewMemFS()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	b := eng.NewWriteBatch()
	if err := b.Set(logKey(7, 1), []byte{msgWrite, 0x80}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := loadLog(eng, 7); err == nil {
		t.Fatal("a truncated logged write loaded without error")
	}
}
