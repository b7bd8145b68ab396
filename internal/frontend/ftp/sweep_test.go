package ftp

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// newTestFS returns the file system over fake, without a server, with its
// clock at *now.
func newTestFS(fake *fakeKV, now *time.Time) *fsys {
	st := &store{kv: fake, ns: "files", timeout: 10 * time.Second, ctx: context.Background()}
	return &fsys{st: st, log: slog.New(slog.DiscardHandler), now: func() time.Time { return *now },
		maxSize: 64 << 20, chunkSize: 100}
}

func writeFile(t *testing.T, f *fsys, p string, data []byte) {
	t.Helper()
	u, err := f.beginUpload(p, 0)
	if err == nil {
		_, err = u.copyFrom(bytes.NewReader(data))
	}
	if err == nil {
		err = u.commit()
	}
	if err != nil {
		t.Fatalf("writing %s: %v", p, err)
	}
}

func readFile(t *testing.T, f *fsys, p string) []byte {
	t.Helper()
	r, _, err := f.open(p, 0)
	if err != nil {
		t.Fatalf("opening %s: %v", p, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	return b
}

func TestSweep(t *testing.T) {
	fake := newFakeKV()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f := newTestFS(fake, &now)
	a, b := randomBytes(1, 250), randomBytes(2, 150)
	writeFile(t, f, "/a", a)
	writeFile(t, f, "/b", b)

	// Leftovers: an old upload that never switched, a recent one (maybe
	// still in progress), and a rename cut between its two writes.
	old := newGen(now.Add(-sweepGrace - time.Hour))
	young := newGen(now.Add(-time.Hour))
	for i := range 3 {
		fake.set(string(chunkKey(old, i)), []byte("old"))
		fake.set(string(chunkKey(young, i)), []byte("young"))
	}
	m, _ := fake.value("m//a")
	fake.set("m//c", m)

	st, err := f.sweep(sweepGrace)
	if err != nil {
		t.Fatal(err)
	}
	if st != (sweepStats{files: 3, chunks: 3, unshared: 1}) {
		t.Fatalf("sweep = %+v", st)
	}
	gens := fake.gens()
	if _, ok := gens[old]; ok {
		t.Fatal("the old orphaned generation survived")
	}
	if gens[young] != 3 {
		t.Fatal("the sweep deleted a recent generation")
	}
	if len(gens) != 4 { // a, b, c's own copy, young
		t.Fatalf("generations = %v", gens)
	}
	for p, want := range map[string][]byte{"/a": a, "/b": b, "/c": a} {
		if got := readFile(t, f, p); !bytes.Equal(got, want) {
			t.Errorf("%s has the wrong content after the sweep", p)
		}
	}
	// c no longer shares: deleting a leaves c readable.
	if err := f.remove("/a"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, f, "/c"); !bytes.Equal(got, a) {
		t.Fatal("/c lost its content when /a was deleted")
	}
}

func TestSweepStopsOnDamagedManifest(t *testing.T) {
	fake := newFakeKV()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f := newTestFS(fake, &now)
	old := newGen(now.Add(-48 * time.Hour))
	fake.set(string(chunkKey(old, 0)), []byte("data"))
	fake.set("m//broken", []byte("{"))
	if _, err := f.sweep(sweepGrace); err == nil || !strings.Contains(err.Error(), "m//broken") {
		t.Fatalf("sweep = %v, want an error naming the damaged manifest", err)
	}
	if len(fake.gens()) != 1 {
		t.Fatal("the sweep deleted chunks without knowing every manifest")
	}
}

func TestRmdirRacingUploadHealsParent(t *testing.T) {
	fake := newFakeKV()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f := newTestFS(fake, &now)
	if err := f.mkdir("/d"); err != nil {
		t.Fatal(err)
	}
	u, err := f.beginUpload("/d/f", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.copyFrom(strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}
	if err := f.rmdir("/d"); err != nil { // empty so far
		t.Fatal(err)
	}
	if err := u.commit(); err != nil {
		t.Fatal(err)
	}
	if fi, err := f.stat("/d"); err != nil || !fi.IsDir() {
		t.Fatalf("stat /d = %v, %v; the upload should have re-created it", fi, err)
	}
}
