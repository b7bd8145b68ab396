package ftp

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"

	"github.com/distkv/distkv/internal/kv"
)

// fileReader streams one generation of a file, a chunk at a time. Read from
// the start, it checks the content's SHA-256 at the end and reports a
// mismatch (errChecksum) instead of io.EOF.
type fileReader struct {
	f    *fsys
	path string
	m    manifest
	next int    // next chunk to fetch
	skip int    // bytes to drop from the next chunk (a REST offset)
	buf  []byte // unread part of the current chunk
	hash hash.Hash
	err  error // sticky: io.EOF or the first failure
}

// open returns a reader of the file p from offset, and how many bytes it
// will yield.
func (f *fsys) open(p string, offset int64) (*fileReader, int64, error) {
	m, _, err := f.readManifest(p)
	if errors.Is(err, errNotFound) {
		if dir, derr := f.isDir(p); derr == nil && dir {
			return nil, 0, pathErr(p, errIsDir)
		}
	}
	if err != nil {
		return nil, 0, err
	}
	if offset > m.Size {
		return nil, 0, pathErr(p, errBadOffset)
	}
	return f.reader(p, m, offset), m.Size - offset, nil
}

// reader reads the content m describes from offset, which must not be past
// its end.
func (f *fsys) reader(p string, m manifest, offset int64) *fileReader {
	r := &fileReader{f: f, path: p, m: m,
		next: int(offset / int64(m.ChunkSize)), skip: int(offset % int64(m.ChunkSize))}
	if offset == 0 {
		r.hash = sha256.New()
	}
	return r
}

// Read implements io.Reader.
func (r *fileReader) Read(b []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.fill()
	}
	n := copy(b, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// failed reports whether the reader stopped on an error of its own (not
// io.EOF).
func (r *fileReader) failed() bool { return r.err != nil && r.err != io.EOF }

func (r *fileReader) fill() error {
	if r.next >= r.m.Chunks {
		return r.finish()
	}
	e, err := r.f.st.get(chunkKey(r.m.Gen, r.next))
	if errors.Is(err, kv.ErrNotFound) {
		return pathErr(r.path, errChanged)
	}
	if err != nil {
		return err
	}
	if want := r.m.chunkLen(r.next); len(e.Value) != want {
		r.f.log.Error("ftp: chunk has the wrong length", "path", r.path, "gen", r.m.Gen,
			"chunk", r.next, "len", len(e.Value), "want", want)
		return pathErr(r.path, errCorrupt)
	}
	if r.hash != nil {
		r.hash.Write(e.Value)
	}
	r.buf, r.skip = e.Value[r.skip:], 0
	r.next++
	return nil
}

func (r *fileReader) finish() error {
	if r.hash == nil {
		return io.EOF
	}
	if got := hex.EncodeToString(r.hash.Sum(nil)); got != r.m.SHA256 {
		r.f.log.Error("ftp: checksum mismatch on download", "path", r.path, "gen", r.m.Gen,
			"sha256", got, "manifest", r.m.SHA256)
		return pathErr(r.path, errChecksum)
	}
	return io.EOF
}
