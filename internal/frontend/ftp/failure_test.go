package ftp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	ftpc "github.com/jlaffaye/ftp"

	"github.com/distkv/distkv/internal/kv"
)

func TestMaxFileSize(t *testing.T) {
	env := start(t, func(c *Config) { c.MaxFileSize = 1 << 20; c.ChunkSize = 64 << 10 })
	c := env.dial(t)
	old := []byte("the old content")
	put(t, c, "f", old)
	env.takeChanges()

	err := c.Stor("f", bytes.NewReader(randomBytes(1, 3<<20)))
	wantCode(t, "STOR past the limit", err, 552)
	if !strings.Contains(err.Error(), "size limit") {
		t.Fatalf("552 reply: %v", err)
	}
	if got := get(t, c, "f"); !bytes.Equal(got, old) {
		t.Fatalf("after a refused upload f = %q", got)
	}
	if gens := env.kv.gens(); len(gens) != 1 {
		t.Fatalf("generations after a refused upload = %v, want the old one only", gens)
	}
	wantCode(t, "APPE past the limit", c.Append("f", bytes.NewReader(make([]byte, 1<<20))), 552)
	put(t, c, "exact", make([]byte, 1<<20)) // exactly the limit is fine
	if got := env.takeChanges(); len(got) != 1 || got[0].path != "/exact" {
		t.Fatalf("OnChange calls = %v, want only /exact", got)
	}
}

func TestInterruptedUploadKeepsOldFile(t *testing.T) {
	env := start(t, func(c *Config) { c.ChunkSize = 4 << 10 })
	d := &abortingDialer{}
	c := env.dial(t, ftpc.DialWithDialFunc(d.dial))
	old := randomBytes(1, 10<<10)
	put(t, c, "f", old)
	env.takeChanges()

	next := randomBytes(2, 1<<20)
	err := c.Stor("f", &failingReader{data: next, cut: 600 << 10, abort: d.reset})
	wantCode(t, "interrupted STOR", err, 426)
	if got := get(t, c, "f"); !bytes.Equal(got, old) {
		t.Fatal("the old file changed after an interrupted upload")
	}
	if gens := env.kv.gens(); len(gens) != 1 {
		t.Fatalf("generations after an interrupted upload = %v, want the old one only", gens)
	}
	if got := env.takeChanges(); len(got) != 0 {
		t.Fatalf("OnChange calls for an interrupted upload: %v", got)
	}
}

func TestConcurrentUploads(t *testing.T) {
	env := start(t, func(c *Config) { c.ChunkSize = 16 << 10 })
	const n = 8
	clients := make([]*ftpc.ServerConn, n)
	for i := range clients {
		clients[i] = env.dial(t)
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			if err := c.Stor(fmt.Sprintf("f%d", i), bytes.NewReader(randomBytes(uint64(i), 100<<10+i))); err != nil {
				t.Errorf("STOR f%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	c := clients[0]
	for i := range n {
		if got := get(t, c, fmt.Sprintf("f%d", i)); !bytes.Equal(got, randomBytes(uint64(i), 100<<10+i)) {
			t.Errorf("f%d has the wrong content", i)
		}
	}
	if got := len(env.takeChanges()); got != n {
		t.Fatalf("%d OnChange calls, want %d", got, n)
	}
}

func TestConcurrentUploadsOfOneFile(t *testing.T) {
	env := start(t, func(c *Config) { c.ChunkSize = 16 << 10 })
	const n = 6
	clients := make([]*ftpc.ServerConn, n)
	for i := range clients {
		clients[i] = env.dial(t)
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			if err := c.Stor("same", bytes.NewReader(randomBytes(uint64(i), 50<<10))); err != nil {
				t.Errorf("STOR #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got := get(t, clients[0], "same")
	winner := -1
	for i := range n {
		if bytes.Equal(got, randomBytes(uint64(i), 50<<10)) {
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("the file matches none of the uploads")
	}
	if gens := env.kv.gens(); len(gens) != 1 {
		t.Fatalf("generations = %v, want only the winner's", gens)
	}
}

// failOn makes the fake fail op on keys with prefix, with err; apply says
// whether the operation happens anyway.
func failOn(op, prefix string, apply bool, err error) func(string, []byte) (bool, error) {
	return func(o string, key []byte) (bool, error) {
		if o == op && strings.HasPrefix(string(key), prefix) {
			return apply, err
		}
		return false, nil
	}
}

func TestStorageErrorsBecomeReplies(t *testing.T) {
	env := start(t, nil)
	c := env.dial(t)
	old := []byte("old")
	put(t, c, "f", old)

	env.kv.setInject(failOn("put", "c", false, kv.ErrUnavailable))
	err := c.Stor("f", strings.NewReader("new"))
	wantCode(t, "STOR while unavailable", err, 450)
	if !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("450 reply: %v", err)
	}

	env.kv.setInject(failOn("get", "m", false, errors.Join(kv.ErrUnavailable, errors.New("node is shutting down"))))
	_, err = c.Retr("f")
	wantCode(t, "RETR while unavailable", err, 450)
	env.kv.setInject(failOn("scan", "", false, errors.Join(kv.ErrUnavailable, errors.New("node is shutting down"))))
	_, err = c.List("/")
	wantCode(t, "LIST while unavailable", err, 550)
	if !strings.Contains(err.Error(), "storage unavailable") {
		t.Fatalf("LIST reply: %v", err)
	}

	// A chunk fails after the 150 reply: the error comes with the final one.
	env.kv.setInject(failOn("get", "c", false, kv.ErrTimeout))
	r, err := c.Retr("f")
	if err == nil {
		_, _ = io.Copy(io.Discard, r)
		err = r.Close()
	}
	wantCode(t, "RETR timing out", err, 451)

	env.kv.setInject(failOn("delete", "m", false, kv.ErrUnknownOutcome))
	err = c.Delete("f")
	wantCode(t, "DELE with an unknown outcome", err, 451)
	if !strings.Contains(err.Error(), "may or may not") {
		t.Fatalf("451 reply: %v", err)
	}

	env.kv.setInject(nil)
	if got := get(t, c, "f"); !bytes.Equal(got, old) {
		t.Fatalf("f = %q after failed changes", got)
	}
	if gens := env.kv.gens(); len(gens) != 1 {
		t.Fatalf("generations = %v, want the old one only", gens)
	}
}

func TestManifestWriteOutcomeUnknown(t *testing.T) {
	env := start(t, nil)
	c := env.dial(t)
	put(t, c, "f", []byte("old"))

	// The switch happened after all: the upload succeeds.
	env.kv.setInject(failOn("put", "m", true, kv.ErrUnknownOutcome))
	put(t, c, "f", []byte("new"))
	if gens := env.kv.gens(); len(gens) != 1 {
		t.Fatalf("generations = %v, want the new one only", gens)
	}

	// It did not happen (yet): 451, and the new chunks stay for the sweep
	// since the switch might still apply.
	env.kv.setInject(failOn("put", "m", false, kv.ErrUnknownOutcome))
	wantCode(t, "STOR with an unknown outcome", c.Stor("f", strings.NewReader("newer")), 451)
	env.kv.setInject(nil)
	if got := get(t, c, "f"); string(got) != "new" {
		t.Fatalf("f = %q", got)
	}
	if gens := env.kv.gens(); len(gens) != 2 {
		t.Fatalf("generations = %v, want the current one and the unconfirmed one", gens)
	}
}

func TestRenameUndoneWhenSourceChanges(t *testing.T) {
	env := start(t, nil)
	c := env.dial(t)
	put(t, c, "a", []byte("aaa"))
	put(t, c, "b", []byte("bbb"))
	// Another client replaces a between the copy and the delete.
	env.kv.setInject(failOn("delete", "m//a", false, &kv.VersionMismatchError{Expected: 1, Current: 2}))
	wantCode(t, "RNTO racing an upload", c.Rename("a", "b"), 450)
	env.kv.setInject(nil)
	if got := get(t, c, "a"); string(got) != "aaa" {
		t.Fatalf("a = %q", got)
	}
	if got := get(t, c, "b"); string(got) != "bbb" {
		t.Fatalf("b = %q, want it restored", got)
	}
}

func TestChecksumMismatchIsReported(t *testing.T) {
	env := start(t, func(c *Config) { c.ChunkSize = 1000 })
	c := env.dial(t)
	data := randomBytes(1, 2500)
	put(t, c, "f", data)
	key := env.kv.keys("c")[1]
	bad, _ := env.kv.value(key)
	bad = bytes.Clone(bad)
	bad[10] ^= 0xff
	env.kv.set(key, bad)

	r, err := c.Retr("f")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || len(got) != len(data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	err = r.Close()
	wantCode(t, "RETR of a corrupt file", err, 451)
	if !strings.Contains(err.Error(), "SHA-256") || !strings.Contains(env.logText(), "checksum mismatch") {
		t.Fatalf("reply %v; logs:\n%s", err, env.logText())
	}
}

func TestCloseEndsSessions(t *testing.T) {
	env := start(t, nil)
	c := env.dial(t)
	put(t, c, "f", []byte("x"))
	if err := env.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FileSize("f"); err == nil {
		t.Fatal("a command succeeded after Close")
	}
	if _, err := ftpc.Dial(env.srv.Addr().String()); err == nil {
		t.Fatal("dialing succeeded after Close")
	}
}
