package ftp

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	ftpc "github.com/jlaffaye/ftp"
)

func TestUploadListDownload(t *testing.T) {
	env := start(t, nil)
	c := env.dial(t)
	data := []byte("hello, distkv\n")
	put(t, c, "hello.txt", data)

	if got := get(t, c, "/hello.txt"); !bytes.Equal(got, data) {
		t.Fatalf("RETR = %q, want %q", got, data)
	}
	entries, err := c.List("/")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name != "hello.txt" || entries[0].Type != ftpc.EntryTypeFile ||
		entries[0].Size != uint64(len(data)) || !entries[0].Time.Equal(fixedTime) {
		t.Fatalf("MLSD / = %+v", entries)
	}
	names, err := c.NameList("/")
	if err != nil || !slices.Equal(names, []string{"hello.txt"}) {
		t.Fatalf("NLST / = %v, %v", names, err)
	}
	if got := env.kv.keys("m"); !slices.Equal(got, []string{"m//hello.txt"}) {
		t.Fatalf("manifest keys = %v", got)
	}
	if got := env.takeChanges(); !slices.Equal(got, []change{{"/hello.txt", "stor", int64(len(data))}}) {
		t.Fatalf("OnChange calls = %v", got)
	}
}

func TestListWithoutMLSD(t *testing.T) {
	env := start(t, nil)
	c := env.dial(t, ftpc.DialWithDisabledMLSD(true))
	if err := c.MakeDir("docs"); err != nil {
		t.Fatal(err)
	}
	put(t, c, "a.txt", []byte("12345"))
	entries, err := c.List("")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Name != "docs" || entries[0].Type != ftpc.EntryTypeFolder ||
		entries[1].Name != "a.txt" || entries[1].Size != 5 {
		t.Fatalf("LIST = %+v %+v", entries[0], entries[1])
	}
}

func TestLargeFileSpansManyChunks(t *testing.T) {
	env := start(t, nil)
	c := env.dial(t)
	data := randomBytes(1, 3<<20+12345)
	put(t, c, "big.bin", data)

	if got := get(t, c, "big.bin"); !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes differ from the %d uploaded", len(got), len(data))
	}
	gens := env.kv.gens()
	if len(gens) != 1 {
		t.Fatalf("chunk generations = %v, want one", gens)
	}
	for _, n := range gens {
		if want := len(data)/(256<<10) + 1; n != want {
			t.Fatalf("%d chunks, want %d", n, want)
		}
	}
	size, err := c.FileSize("big.bin")
	if err != nil || size != int64(len(data)) {
		t.Fatalf("SIZE = %d, %v", size, err)
	}
}

func TestReplaceDropsOldChunks(t *testing.T) {
	env := start(t, func(c *Config) { c.ChunkSize = 1000 })
	c := env.dial(t)
	put(t, c, "f", randomBytes(1, 5500))
	second := randomBytes(2, 2500)
	put(t, c, "f", second)
	if got := get(t, c, "f"); !bytes.Equal(got, second) {
		t.Fatal("RETR after replace returned the wrong content")
	}
	if gens := env.kv.gens(); len(gens) != 1 {
		t.Fatalf("chunk generations after replace = %v, want only the new one", gens)
	}
}

func TestEmptyFile(t *testing.T) {
	env := start(t, nil)
	c := env.dial(t)
	put(t, c, "empty", nil)
	if got := get(t, c, "empty"); len(got) != 0 {
		t.Fatalf("RETR = %q", got)
	}
	if size, err := c.FileSize("empty"); err != nil || size != 0 {
		t.Fatalf("SIZE = %d, %v", size, err)
	}
}

func TestRename(t *testing.T) {
	env := start(t, func(c *Config) { c.ChunkSize = 1000 })
	c := env.dial(t)
	a, b := randomBytes(1, 3000), randomBytes(2, 1500)
	put(t, c, "a", a)
	put(t, c, "b", b)
	env.takeChanges()

	if err := c.Rename("a", "renamed"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, "renamed"); !bytes.Equal(got, a) {
		t.Fatal("renamed file has the wrong content")
	}
	_, err := c.Retr("a")
	wantCode(t, "RETR of the old name", err, 550)
	if got := env.takeChanges(); !slices.Equal(got, []change{{"/a", "rename", -1}, {"/renamed", "rename", 3000}}) {
		t.Fatalf("OnChange calls = %v", got)
	}

	// Onto an existing file: it is replaced and its chunks go.
	if err := c.Rename("renamed", "b"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, "b"); !bytes.Equal(got, a) {
		t.Fatal("rename over a file left the wrong content")
	}
	if gens := env.kv.gens(); len(gens) != 1 {
		t.Fatalf("generations after rename over a file = %v, want one", gens)
	}

	if err := c.MakeDir("dir"); err != nil {
		t.Fatal(err)
	}
	err = c.Rename("dir", "dir2")
	wantCode(t, "rename of a directory", err, 550)
	if !strings.Contains(err.Error(), "renaming directories is not supported") {
		t.Fatalf("rename of a directory: %v", err)
	}
	wantCode(t, "rename into a missing directory", c.Rename("b", "nowhere/b"), 550)
	wantCode(t, "rename onto a directory", c.Rename("b", "dir"), 550)
	wantCode(t, "rename of a missing file", c.Rename("missing", "x"), 550)
}

func TestDelete(t *testing.T) {
	env := start(t, nil)
	c := env.dial(t)
	put(t, c, "f", randomBytes(1, 600<<10))
	env.takeChanges()
	if err := c.Delete("f"); err != nil {
		t.Fatal(err)
	}
	if got := env.takeChanges(); !slices.Equal(got, []change{{"/f", "dele", 600 << 10}}) {
		t.Fatalf("OnChange calls = %v", got)
	}
	if keys := env.kv.keys(""); len(keys) != 0 {
		t.Fatalf("keys left after DELE: %v", keys)
	}
	wantCode(t, "DELE of a missing file", c.Delete("f"), 550)
	if err := c.MakeDir("d"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "DELE of a directory", c.Delete("d"), 550)
}

func TestDirectories(t *testing.T) {
	env := start(t, nil)
	c := env.dial(t)
	for _, d := range []string{"a", "a/b"} {
		if err := c.MakeDir(d); err != nil {
			t.Fatalf("MKD %s: %v", d, err)
		}
	}
	wantCode(t, "MKD of an existing directory", c.MakeDir("a"), 550)
	wantCode(t, "MKD in a missing directory", c.MakeDir("x/y"), 550)
	if err := c.ChangeDir("a"); err != nil {
		t.Fatal(err)
	}
	if dir, err := c.CurrentDir(); err != nil || dir != "/a" {
		t.Fatalf("PWD = %q, %v", dir, err)
	}
	put(t, c, "f.txt", []byte("in a"))
	if got := get(t, c, "/a/f.txt"); string(got) != "in a" {
		t.Fatalf("RETR /a/f.txt = %q", got)
	}
	entries, err := c.List("")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"b", "f.txt"}) {
		t.Fatalf("LIST /a = %v", names)
	}
	wantCode(t, "RMD of a non-empty directory", c.RemoveDir("/a"), 550)
	wantCode(t, "RMD of a file", c.RemoveDir("f.txt"), 550)
	wantCode(t, "CWD to a file", c.ChangeDir("f.txt"), 550)
	wantCode(t, "CWD to a missing directory", c.ChangeDir("zzz"), 550)
	wantCode(t, "STOR into a missing directory", c.Stor("/nope/f", strings.NewReader("x")), 550)
	wantCode(t, "STOR onto a directory", c.Stor("b", strings.NewReader("x")), 550)
	if err := c.RemoveDir("b"); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeDirToParent(); err != nil {
		t.Fatal(err)
	}
	if dir, _ := c.CurrentDir(); dir != "/" {
		t.Fatalf("PWD after CDUP = %q", dir)
	}
	wantCode(t, "RMD of the root", c.RemoveDir("/"), 550)
	got := env.takeChanges()
	want := []change{{"/a", "mkd", 0}, {"/a/b", "mkd", 0}, {"/a/f.txt", "stor", 4}, {"/a/b", "rmd", 0}}
	if !slices.Equal(got, want) {
		t.Fatalf("OnChange calls = %v, want %v", got, want)
	}
}

func TestSizeAndModTime(t *testing.T) {
	env := start(t, nil)
	c := env.dial(t)
	put(t, c, "f", []byte("twelve bytes"))
	if size, err := c.FileSize("f"); err != nil || size != 12 {
		t.Fatalf("SIZE = %d, %v", size, err)
	}
	if mt, err := c.GetTime("f"); err != nil || !mt.Equal(fixedTime) {
		t.Fatalf("MDTM = %v, %v; want %v", mt, err, fixedTime)
	}
	_, err := c.FileSize("missing")
	wantCode(t, "SIZE of a missing file", err, 550)
	if err := c.MakeDir("d"); err != nil {
		t.Fatal(err)
	}
	_, err = c.FileSize("d")
	wantCode(t, "SIZE of a directory", err, 550)
}

func TestDotDotStaysInRoot(t *testing.T) {
	env := start(t, nil)
	c := env.dial(t)
	if err := c.ChangeDir("../../.."); err != nil {
		t.Fatal(err)
	}
	if dir, _ := c.CurrentDir(); dir != "/" {
		t.Fatalf("PWD after CWD ../../.. = %q", dir)
	}
	put(t, c, "../../etc/../x.txt", []byte("x"))
	if got := env.kv.keys("m"); !slices.Equal(got, []string{"m//x.txt"}) {
		t.Fatalf("manifests = %v, want m//x.txt", got)
	}
	if got := get(t, c, "/../../../x.txt"); string(got) != "x" {
		t.Fatalf("RETR /../../../x.txt = %q", got)
	}
	if err := c.MakeDir("../../d"); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeDir("d/../../../d"); err != nil {
		t.Fatal(err)
	}
	if dir, _ := c.CurrentDir(); dir != "/d" {
		t.Fatalf("PWD = %q, want /d", dir)
	}
	names, err := c.NameList("../..")
	if err != nil || !slices.Equal(names, []string{"d", "x.txt"}) {
		t.Fatalf("NLST ../.. = %v, %v", names, err)
	}
}

func TestBadNames(t *testing.T) {
	env := start(t, nil)
	c := env.dial(t)
	wantCode(t, "STOR with a control character", c.Stor("a\x01b", strings.NewReader("x")), 553)
	wantCode(t, "MKD with a control character", c.MakeDir("a\tb"), 553)
	wantCode(t, "STOR of a too long path", c.Stor(strings.Repeat("n", maxPathLen+1), strings.NewReader("x")), 553)
	if keys := env.kv.keys(""); len(keys) != 0 {
		t.Fatalf("keys written: %v", keys)
	}
}

func TestAppendAndRest(t *testing.T) {
	env := start(t, func(c *Config) { c.ChunkSize = 100 })
	c := env.dial(t)
	first, more := randomBytes(1, 250), randomBytes(2, 180)
	if err := c.Append("f", bytes.NewReader(first)); err != nil {
		t.Fatal(err)
	}
	if err := c.Append("f", bytes.NewReader(more)); err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(first), more...)
	if got := get(t, c, "f"); !bytes.Equal(got, all) {
		t.Fatal("APPE did not concatenate")
	}
	// REST + RETR resumes a download; REST + STOR resumes an upload.
	r, err := c.RetrFrom("f", 123)
	if err != nil {
		t.Fatal(err)
	}
	tail, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil || !bytes.Equal(tail, all[123:]) {
		t.Fatalf("RETR from 123: %v", err)
	}
	if err := c.StorFrom("f", bytes.NewReader([]byte("END")), 200); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, "f"); !bytes.Equal(got, append(slices.Clone(all[:200]), "END"...)) {
		t.Fatal("REST + STOR did not keep the first 200 bytes")
	}
	wantCode(t, "REST past the end + STOR", c.StorFrom("f", strings.NewReader("x"), 10000), 554)
	if gens := env.kv.gens(); len(gens) != 1 {
		t.Fatalf("generations = %v, want one", gens)
	}
}

func TestAuth(t *testing.T) {
	env := start(t, func(c *Config) { c.User, c.Password = "alice", "secret" })
	c, err := ftpc.Dial(env.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	wantCode(t, "wrong password", c.Login("alice", "wrong"), 530)
	if err := c.Login("alice", "secret"); err != nil {
		t.Fatal(err)
	}

	if _, err := New(Config{Addr: "0.0.0.0:0", KV: newFakeKV()}); err == nil {
		t.Fatal("New without credentials on a non-loopback address succeeded")
	}
	s, err := New(Config{Addr: "0.0.0.0:0", KV: newFakeKV(), User: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, bad := range []Config{
		{KV: newFakeKV()},
		{Addr: "127.0.0.1:0"},
		{Addr: "127.0.0.1:0", KV: newFakeKV(), User: "u"},
		{Addr: "127.0.0.1:0", KV: newFakeKV(), ChunkSize: 2 << 20},
		{Addr: "127.0.0.1:0", KV: newFakeKV(), PassivePorts: "3000-3000"},
	} {
		if s, err := New(bad); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded", bad)
		}
	}
}

func TestNamespaceCreatedOnFirstUse(t *testing.T) {
	fake := newFakeKV()
	fake.missing = true
	var calls atomic.Int32
	env := startKV(t, fake, func(c *Config) {
		c.EnsureNamespace = func(ctx context.Context, name string) error {
			calls.Add(1)
			return fake.ensure(ctx, name)
		}
	})
	c := env.dial(t)
	if n := calls.Load(); n != 0 {
		t.Fatalf("EnsureNamespace called %d times before any file operation", n)
	}
	put(t, c, "f", []byte("x"))
	get(t, c, "f")
	if n := calls.Load(); n != 1 {
		t.Fatalf("EnsureNamespace called %d times, want 1", n)
	}
}
