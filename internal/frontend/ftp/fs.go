package ftp

import (
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"path"
	"time"

	"github.com/distkv/distkv/internal/kv"
)

// fsys is the file system kept in the namespace. Every method takes cleaned
// paths (see cleanPath) and is safe for concurrent use; consistency between
// clients comes from the kv service's compare-and-set, not from locks here.
type fsys struct {
	st        *store
	log       *slog.Logger
	now       func() time.Time
	rootTime  time.Time // the root directory's modification time
	maxSize   int64
	chunkSize int
	onChange  func(path, op string, size int64)
}

// fileInfo describes a file or directory; it implements fs.FileInfo.
type fileInfo struct {
	name  string
	size  int64
	mtime time.Time
	dir   bool
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) ModTime() time.Time { return fi.mtime }
func (fi *fileInfo) IsDir() bool        { return fi.dir }
func (fi *fileInfo) Sys() any           { return nil }

func (fi *fileInfo) Mode() fs.FileMode {
	if fi.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

func (f *fsys) changed(p, op string, size int64) {
	if f.onChange != nil {
		f.onChange(p, op, size)
	}
}

// readManifest returns p's manifest and the version of its key, or
// errNotFound.
func (f *fsys) readManifest(p string) (manifest, uint64, error) {
	e, err := f.st.get(entryKey(kindManifest, p))
	if errors.Is(err, kv.ErrNotFound) {
		return manifest{}, 0, pathErr(p, errNotFound)
	}
	if err != nil {
		return manifest{}, 0, err
	}
	m, err := decodeManifest(e.Value)
	if err != nil {
		return manifest{}, 0, pathErr(p, err)
	}
	return m, e.Version, nil
}

// stat describes p, or returns errNotFound.
func (f *fsys) stat(p string) (*fileInfo, error) {
	if p == "/" {
		return &fileInfo{name: "/", mtime: f.rootTime, dir: true}, nil
	}
	m, _, err := f.readManifest(p)
	if err == nil {
		return &fileInfo{name: path.Base(p), size: m.Size, mtime: m.ModTime, dir: false}, nil
	}
	if !errors.Is(err, errNotFound) {
		return nil, err
	}
	e, err := f.st.get(entryKey(kindDir, p))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, pathErr(p, errNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &fileInfo{name: path.Base(p), mtime: decodeMarker(e.Value).ModTime, dir: true}, nil
}

func decodeMarker(b []byte) dirMarker {
	var d dirMarker
	_ = json.Unmarshal(b, &d) // a damaged marker still marks a directory
	return d
}

// isDir reports whether p is an existing directory.
func (f *fsys) isDir(p string) (bool, error) {
	if p == "/" {
		return true, nil
	}
	return f.st.exists(entryKey(kindDir, p))
}

// needDir fails unless dir is an existing directory.
func (f *fsys) needDir(dir string) error {
	ok, err := f.isDir(dir)
	if err != nil || ok {
		return err
	}
	return f.notDirErr(dir)
}

// list calls fn for every entry directly inside dir: directories first,
// then files, each in name order.
func (f *fsys) list(dir string, fn func(*fileInfo) error) error {
	err := f.st.scanAll(childPrefix(kindDir, dir), true, func(e kv.Entry) error {
		return fn(&fileInfo{name: path.Base(pathOfKey(e.Key)), mtime: decodeMarker(e.Value).ModTime, dir: true})
	})
	if err != nil {
		return err
	}
	return f.st.scanAll(childPrefix(kindManifest, dir), true, func(e kv.Entry) error {
		fi := &fileInfo{name: path.Base(pathOfKey(e.Key))}
		if m, err := decodeManifest(e.Value); err != nil {
			f.log.Warn("ftp: listing a file with a damaged manifest", "key", string(e.Key), "err", err)
		} else {
			fi.size, fi.mtime = m.Size, m.ModTime
		}
		return fn(fi)
	})
}

// mkdir creates the directory p inside an existing directory.
func (f *fsys) mkdir(p string) error {
	if p == "/" {
		return pathErr(p, errExists)
	}
	if err := f.needDir(path.Dir(p)); err != nil {
		return err
	}
	file, err := f.st.exists(entryKey(kindManifest, p))
	if err != nil {
		return err
	}
	if file {
		return pathErr(p, errExists)
	}
	val := mustJSON(dirMarker{ModTime: f.now().UTC()})
	_, err = f.st.put(entryKey(kindDir, p), val, kv.WriteOptions{Condition: kv.IfAbsent})
	if errors.Is(err, kv.ErrExists) {
		return pathErr(p, errExists)
	}
	if err != nil {
		return err
	}
	f.changed(p, "mkd", 0)
	return nil
}

// rmdir removes the empty directory p.
func (f *fsys) rmdir(p string) error {
	if p == "/" {
		return errRoot
	}
	e, err := f.st.get(entryKey(kindDir, p))
	if errors.Is(err, kv.ErrNotFound) {
		return f.notDirErr(p)
	}
	if err != nil {
		return err
	}
	for _, kind := range []byte{kindDir, kindManifest} {
		full, err := f.st.nonEmpty(childPrefix(kind, p))
		if err != nil {
			return err
		}
		if full {
			return pathErr(p, errNotEmpty)
		}
	}
	if err := f.st.del(entryKey(kindDir, p), e.Version); err != nil {
		if errors.Is(err, kv.ErrVersionMismatch) || errors.Is(err, kv.ErrNotFound) {
			return pathErr(p, errConflict)
		}
		return err
	}
	f.changed(p, "rmd", 0)
	return nil
}

// notDirErr explains why p, which has no directory marker, is not a
// directory.
func (f *fsys) notDirErr(p string) error {
	file, err := f.st.exists(entryKey(kindManifest, p))
	if err != nil {
		return err
	}
	if file {
		return pathErr(p, errNotDir)
	}
	return pathErr(p, errNotFound)
}

// remove deletes the file p, then its chunks.
func (f *fsys) remove(p string) error {
	for range 3 {
		m, ver, err := f.readManifest(p)
		if errors.Is(err, errNotFound) {
			if dir, derr := f.isDir(p); derr == nil && dir {
				return pathErr(p, errIsDir)
			}
		}
		if err != nil {
			return err
		}
		err = f.st.del(entryKey(kindManifest, p), ver)
		if errors.Is(err, kv.ErrVersionMismatch) || errors.Is(err, kv.ErrNotFound) {
			continue // replaced meanwhile: delete what is there now
		}
		if err != nil {
			return err
		}
		f.dropChunks(m.Gen, m.Chunks)
		f.changed(p, "dele", m.Size)
		return nil
	}
	return pathErr(p, errConflict)
}

// dropChunks deletes the chunks of a generation no manifest names any more.
// Failures are logged and left to the sweep.
func (f *fsys) dropChunks(gen string, n int) {
	for i := range n {
		err := f.st.del(chunkKey(gen, i), 0)
		if err != nil && !errors.Is(err, kv.ErrNotFound) {
			f.log.Warn("ftp: could not delete unused chunks; the sweep will", "gen", gen, "chunk", i, "err", err)
			return
		}
	}
}

// healParents re-creates the directory markers above p that a concurrent
// RMD removed after an upload or rename checked them, so that p stays
// reachable.
func (f *fsys) healParents(p string) {
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		ok, err := f.isDir(dir)
		if err != nil || ok {
			return
		}
		f.log.Info("ftp: re-creating a directory removed while a file was written into it", "dir", dir)
		val := mustJSON(dirMarker{ModTime: f.now().UTC()})
		if _, err := f.st.put(entryKey(kindDir, dir), val, kv.WriteOptions{Condition: kv.IfAbsent}); err != nil && !errors.Is(err, kv.ErrExists) {
			f.log.Warn("ftp: could not re-create a directory", "dir", dir, "err", err)
			return
		}
		f.changed(dir, "mkd", 0)
	}
}
