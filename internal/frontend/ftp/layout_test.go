package ftp

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"a", "/a"},
		{"/a/b/", "/a/b"},
		{"a//b", "/a/b"},
		{"..", "/"},
		{"/../../etc/passwd", "/etc/passwd"},
		{"a/../../b", "/b"},
		{"./a/./b", "/a/b"},
		{"with space/ünïcode", "/with space/ünïcode"},
	} {
		got, err := cleanPath(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("cleanPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"a\x00b", "a\nb", "a\rb", "\x7f", "/" + strings.Repeat("x", maxPathLen)} {
		if _, err := cleanPath(bad); !errors.Is(err, errBadName) {
			t.Errorf("cleanPath(%q) = %v, want errBadName", bad, err)
		}
	}
}

func TestKeys(t *testing.T) {
	for _, tc := range []struct{ path, key, parentPrefix string }{
		{"/a.txt", "m//a.txt", "m//"},
		{"/docs/a.txt", "m/docs//a.txt", "m/docs//"},
		{"/docs/sub/a b", "m/docs/sub//a b", "m/docs/sub//"},
	} {
		key := string(entryKey(kindManifest, tc.path))
		if key != tc.key {
			t.Errorf("entryKey(%q) = %q, want %q", tc.path, key, tc.key)
		}
		if back := pathOfKey([]byte(key)); back != tc.path {
			t.Errorf("pathOfKey(%q) = %q, want %q", key, back, tc.path)
		}
		parent := tc.path[:strings.LastIndex(tc.path, "/")]
		if parent == "" {
			parent = "/"
		}
		prefix := string(childPrefix(kindManifest, parent))
		if prefix != tc.parentPrefix || !strings.HasPrefix(key, prefix) {
			t.Errorf("childPrefix(%q) = %q, want %q, a prefix of %q", parent, prefix, tc.parentPrefix, key)
		}
	}
	// Direct children only: nothing deeper, nothing from a sibling whose
	// name extends the directory's.
	for _, other := range []string{"/docs/sub/a", "/docsx/a", "/a"} {
		if strings.HasPrefix(string(entryKey(kindManifest, other)), string(childPrefix(kindManifest, "/docs"))) {
			t.Errorf("%s is listed as a child of /docs", other)
		}
	}
}

func TestChunkKeysAndGenerations(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	gen := newGen(now)
	if len(gen) != genLen || gen == newGen(now) {
		t.Fatalf("newGen = %q (length %d); generations must be unique", gen, len(gen))
	}
	if at, ok := genTime(gen); !ok || !at.Equal(now) {
		t.Fatalf("genTime = %v, %v; want %v", at, ok, now)
	}
	key := chunkKey(gen, 300)
	if string(key) != "c"+gen+"/0000012c" {
		t.Fatalf("chunkKey = %q", key)
	}
	g, i, ok := parseChunkKey(key)
	if !ok || g != gen || i != 300 {
		t.Fatalf("parseChunkKey(%q) = %q, %d, %v", key, g, i, ok)
	}
	if string(chunkKey(gen, 9)) > string(chunkKey(gen, 10)) {
		t.Fatal("chunk keys do not sort by index")
	}
	for _, bad := range []string{"c", "c" + gen, "m" + gen + "/00000000", "c" + gen + "/0000000z"} {
		if _, _, ok := parseChunkKey([]byte(bad)); ok {
			t.Errorf("parseChunkKey(%q) accepted it", bad)
		}
	}
}

func TestManifestValidation(t *testing.T) {
	gen := newGen(time.Unix(0, 0))
	for _, tc := range []struct {
		m    manifest
		want bool
	}{
		{manifest{Size: 0, Chunks: 0, ChunkSize: 10, Gen: gen}, true},
		{manifest{Size: 10, Chunks: 1, ChunkSize: 10, Gen: gen}, true},
		{manifest{Size: 11, Chunks: 2, ChunkSize: 10, Gen: gen}, true},
		{manifest{Size: 10, Chunks: 2, ChunkSize: 10, Gen: gen}, false},
		{manifest{Size: 21, Chunks: 2, ChunkSize: 10, Gen: gen}, false},
		{manifest{Size: 5, Chunks: 0, ChunkSize: 10, Gen: gen}, false},
		{manifest{Size: 5, Chunks: 1, ChunkSize: 10, Gen: "short"}, false},
	} {
		if got := tc.m.valid(); got != tc.want {
			t.Errorf("%+v.valid() = %v, want %v", tc.m, got, tc.want)
		}
	}
	if _, err := decodeManifest([]byte("{not json")); !errors.Is(err, errCorrupt) {
		t.Fatalf("decodeManifest of garbage: %v", err)
	}
}

func TestFileOfKey(t *testing.T) {
	for _, tc := range []struct {
		key  []byte
		path string
		dir  bool
		ok   bool
	}{
		{entryKey(kindManifest, "/a.txt"), "/a.txt", false, true},
		{entryKey(kindManifest, "/docs/sub/a.txt"), "/docs/sub/a.txt", false, true},
		{entryKey(kindDir, "/docs"), "/docs", true, true},
		{chunkKey(newGen(time.Unix(1, 0)), 3), "", false, false},
		{[]byte("m"), "", false, false},
	} {
		p, dir, ok := FileOfKey(tc.key)
		if p != tc.path || dir != tc.dir || ok != tc.ok {
			t.Errorf("FileOfKey(%q) = %q %v %v, want %q %v %v", tc.key, p, dir, ok, tc.path, tc.dir, tc.ok)
		}
	}
}
