package ftp

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"

	"github.com/distkv/distkv/internal/kv"
)

// keepAll, as beginUpload's keep, appends to the current content.
const keepAll = -1

// upload is one STOR or APPE in progress. Its bytes go into chunks of a
// fresh generation; commit switches the manifest to them, abort deletes
// them. It is used by one goroutine.
type upload struct {
	f    *fsys
	path string
	gen  string
	// base is the manifest being replaced (nil: none) and baseVer the
	// version of its key, for the compare-and-set of the switch.
	base    *manifest
	baseVer uint64
	keep    int64 // bytes of base kept in front of the new data

	buf       []byte // the chunk being filled
	attempted int    // chunk writes started, successful or not
	size      int64
	hash      hash.Hash
	werr      error // first failure of Write
	// unsure is set when the manifest write may still take effect: the
	// chunks must then stay, for the sweep to judge.
	unsure bool
}

// beginUpload checks that p can be written and prepares an upload. keep
// bytes of the current content are kept in front of the new data: 0 replaces
// the file, keepAll appends, anything else is a REST offset, which must not
// be past the end of the current content.
func (f *fsys) beginUpload(p string, keep int64) (*upload, error) {
	if p == "/" {
		return nil, pathErr(p, errIsDir)
	}
	if err := f.needDir(path.Dir(p)); err != nil {
		return nil, err
	}
	if dir, err := f.isDir(p); err != nil || dir {
		if err == nil {
			err = pathErr(p, errIsDir)
		}
		return nil, err
	}
	u := &upload{f: f, path: p, gen: newGen(f.now()), hash: sha256.New()}
	m, ver, err := f.readManifest(p)
	switch {
	case err == nil:
		u.base, u.baseVer = &m, ver
	case !errors.Is(err, errNotFound):
		return nil, err
	}
	switch {
	case keep == keepAll && u.base != nil:
		keep = u.base.Size
	case keep == keepAll:
		keep = 0
	case keep > 0 && (u.base == nil || keep > u.base.Size):
		return nil, pathErr(p, errBadOffset)
	}
	u.keep = keep
	u.buf = make([]byte, 0, f.chunkSize)
	return u, nil
}

// copyFrom stores the kept prefix of the old content, then everything r
// yields until EOF. It returns how many bytes came from r. A failure to
// read r is an errTransfer.
func (u *upload) copyFrom(r io.Reader) (int64, error) {
	if u.keep > 0 {
		old := u.f.reader(u.path, *u.base, 0)
		if _, err := io.CopyN(u, old, u.keep); err != nil {
			return 0, err
		}
	}
	n, err := io.Copy(u, r)
	if err != nil && u.werr == nil {
		err = fmt.Errorf("%w: %v", errTransfer, err)
	}
	return n, err
}

// Write adds b to the file, storing each chunk as it fills.
func (u *upload) Write(b []byte) (int, error) {
	if u.werr != nil {
		return 0, u.werr
	}
	if u.size+int64(len(b)) > u.f.maxSize {
		u.werr = pathErr(u.path, fmt.Errorf("%w of %d bytes", errTooLarge, u.f.maxSize))
		return 0, u.werr
	}
	n := 0
	for n < len(b) {
		k := min(len(b)-n, cap(u.buf)-len(u.buf))
		u.buf = append(u.buf, b[n:n+k]...)
		u.hash.Write(b[n : n+k])
		u.size += int64(k)
		n += k
		if len(u.buf) == cap(u.buf) {
			if err := u.flush(); err != nil {
				u.werr = err
				return n, err
			}
		}
	}
	return n, nil
}

// flush stores the chunk being filled, if it holds anything.
func (u *upload) flush() error {
	if len(u.buf) == 0 {
		return nil
	}
	u.attempted++
	if _, err := u.f.st.put(chunkKey(u.gen, u.attempted-1), u.buf, kv.WriteOptions{}); err != nil {
		return err
	}
	u.buf = u.buf[:0]
	return nil
}

// commit stores the last chunk and switches p's manifest to the new
// generation, then drops the replaced generation. Concurrent uploads of p
// are last-writer-wins, unless this one keeps part of the old content: it
// then fails with errConflict rather than lose the other writer's data.
// After a failure the caller must call abort.
func (u *upload) commit() error {
	if err := u.flush(); err != nil {
		return err
	}
	m := manifest{Size: u.size, Chunks: u.attempted, ChunkSize: u.f.chunkSize, SHA256: hex.EncodeToString(u.hash.Sum(nil)),
		ModTime: u.f.now().UTC(), Gen: u.gen}
	val := mustJSON(m)
	for range 5 {
		opts := kv.WriteOptions{Condition: kv.IfAbsent}
		if u.base != nil {
			opts = kv.WriteOptions{Version: u.baseVer}
		}
		_, err := u.f.st.put(entryKey(kindManifest, u.path), val, opts)
		switch {
		case err == nil:
			u.switched(m)
			return nil
		case errors.Is(err, kv.ErrExists) || errors.Is(err, kv.ErrVersionMismatch):
			if u.keep > 0 {
				return pathErr(u.path, errConflict)
			}
			if err := u.rebase(); err != nil {
				return err
			}
		case errors.Is(err, kv.ErrUnknownOutcome):
			if cur, _, rerr := u.f.readManifest(u.path); rerr == nil && cur.Gen == u.gen {
				u.switched(m)
				return nil
			}
			u.unsure = true
			return err
		default:
			u.unsure = !settled(err)
			return err
		}
	}
	return pathErr(u.path, errConflict)
}

// rebase makes whatever manifest p has now the one to replace.
func (u *upload) rebase() error {
	cur, ver, err := u.f.readManifest(u.path)
	switch {
	case errors.Is(err, errNotFound):
		u.base, u.baseVer = nil, 0
	case err != nil:
		return err
	default:
		u.base, u.baseVer = &cur, ver
	}
	return nil
}

func (u *upload) switched(m manifest) {
	if u.base != nil && u.base.Gen != u.gen {
		u.f.dropChunks(u.base.Gen, u.base.Chunks)
	}
	u.f.healParents(u.path)
	u.f.changed(u.path, "stor", m.Size)
}

// abort deletes the chunks of a failed upload, unless its manifest write
// may still take effect.
func (u *upload) abort() {
	if u.unsure {
		u.f.log.Warn("ftp: upload outcome unknown; leaving its chunks to the sweep", "path", u.path, "gen", u.gen)
		return
	}
	u.f.dropChunks(u.gen, u.attempted)
}
