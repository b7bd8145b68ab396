package ftp

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Key kinds; see the package documentation for the layout.
const (
	kindManifest = 'm'
	kindDir      = 'd'
	kindChunk    = 'c'
)

// maxPathLen bounds a cleaned path, well inside the kv key limit.
const maxPathLen = 1024

// genLen is the length of a generation ID: 16 bytes in hex.
const genLen = 32

// cleanPath turns a client-supplied path into a rooted, cleaned one. ".."
// stops at the root. Control characters (NUL included) are refused with
// errBadName, as are paths longer than maxPathLen.
func cleanPath(p string) (string, error) {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%w: control character in %q", errBadName, p)
		}
	}
	cp := path.Clean("/" + p)
	if len(cp) > maxPathLen {
		return "", fmt.Errorf("%w: path longer than %d bytes", errBadName, maxPathLen)
	}
	return cp, nil
}

// entryKey is the key of the manifest (kindManifest) or directory marker
// (kindDir) of the cleaned path p, which must not be the root.
func entryKey(kind byte, p string) []byte {
	dir, name := path.Split(p)
	return []byte(string(kind) + strings.TrimSuffix(dir, "/") + "//" + name)
}

// childPrefix is the prefix shared by the keys of kind of every direct
// child of the cleaned directory dir.
func childPrefix(kind byte, dir string) []byte {
	if dir == "/" {
		dir = ""
	}
	return []byte(string(kind) + dir + "//")
}

// pathOfKey inverts entryKey.
func pathOfKey(key []byte) string {
	k := string(key[1:])
	i := strings.LastIndex(k, "//")
	if i < 0 {
		return "/" + k
	}
	return k[:i] + "/" + k[i+2:]
}

// chunkKey is the key of chunk i of generation gen. The fixed-width index
// keeps a generation's chunks in order.
func chunkKey(gen string, i int) []byte {
	return fmt.Appendf(nil, "%c%s/%08x", kindChunk, gen, i)
}

// parseChunkKey returns the generation and index of a chunk key.
func parseChunkKey(key []byte) (gen string, i int, ok bool) {
	if len(key) != 1+genLen+1+8 || key[0] != kindChunk || key[1+genLen] != '/' {
		return "", 0, false
	}
	n, err := strconv.ParseUint(string(key[2+genLen:]), 16, 32)
	if err != nil {
		return "", 0, false
	}
	return string(key[1 : 1+genLen]), int(n), true
}

// newGen returns a fresh generation ID: now in Unix nanoseconds, then 8
// random bytes, in hex.
func newGen(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(b[8:]) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b[:])
}

// genTime returns the time a generation was started.
func genTime(gen string) (time.Time, bool) {
	b, err := hex.DecodeString(gen)
	if err != nil || len(b) != 16 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))), true
}

// manifest describes one stored file; it is the value of its m key.
type manifest struct {
	Size      int64     `json:"size"`
	Chunks    int       `json:"chunks"`
	ChunkSize int       `json:"chunk_size"`
	SHA256    string    `json:"sha256"`
	ModTime   time.Time `json:"mtime"`
	Gen       string    `json:"gen"`
}

// chunkLen is the length chunk i must have.
func (m *manifest) chunkLen(i int) int {
	if i < m.Chunks-1 {
		return m.ChunkSize
	}
	return int(m.Size - int64(m.Chunks-1)*int64(m.ChunkSize))
}

func (m *manifest) valid() bool {
	if len(m.Gen) != genLen || m.Size < 0 || m.Chunks < 0 || m.ChunkSize <= 0 {
		return false
	}
	if m.Chunks == 0 {
		return m.Size == 0
	}
	last := m.Size - int64(m.Chunks-1)*int64(m.ChunkSize)
	return last > 0 && last <= int64(m.ChunkSize)
}

func decodeManifest(b []byte) (manifest, error) {
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: manifest: %v", errCorrupt, err)
	}
	if !m.valid() {
		return m, fmt.Errorf("%w: manifest is inconsistent", errCorrupt)
	}
	return m, nil
}

// dirMarker is the value of a directory's d key.
type dirMarker struct {
	ModTime time.Time `json:"mtime"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are encoded
	}
	return b
}

// FileOfKey tells what a key of the files namespace stands for, so the
// namespace's replicated change events can be shown as file events on
// every node: the file or directory path, and whether it is a directory.
// Chunk keys are internal (ok is false).
func FileOfKey(key []byte) (path string, dir bool, ok bool) {
	if len(key) < 2 {
		return "", false, false
	}
	switch key[0] {
	case kindManifest:
		return pathOfKey(key), false, true
	case kindDir:
		return pathOfKey(key), true, true
	}
	return "", false, false
}
