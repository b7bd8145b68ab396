package ftp

import (
	"errors"
	"path"

	"github.com/distkv/distkv/internal/kv"
)

// rename moves the file from to the path to, replacing a file there. Only
// the manifest moves: both paths name the same generation until the old
// manifest is deleted. If from changes meanwhile, to is put back as it was
// and errConflict returned.
func (f *fsys) rename(from, to string) error {
	if from == to {
		_, err := f.stat(from)
		return err
	}
	m, ver, err := f.readManifest(from)
	if errors.Is(err, errNotFound) {
		if dir, derr := f.isDir(from); derr == nil && dir {
			return pathErr(from, errDirRename)
		}
	}
	if err != nil {
		return err
	}
	if to == "/" {
		return pathErr(to, errIsDir)
	}
	if err := f.needDir(path.Dir(to)); err != nil {
		return err
	}
	if dir, err := f.isDir(to); err != nil || dir {
		if err == nil {
			err = pathErr(to, errIsDir)
		}
		return err
	}
	old, oldVer, err := f.readManifest(to)
	hadOld := err == nil
	if err != nil && !errors.Is(err, errNotFound) {
		return err
	}
	opts := kv.WriteOptions{Condition: kv.IfAbsent}
	if hadOld {
		opts = kv.WriteOptions{Version: oldVer}
	}
	res, err := f.st.put(entryKey(kindManifest, to), mustJSON(m), opts)
	if errors.Is(err, kv.ErrExists) || errors.Is(err, kv.ErrVersionMismatch) {
		return pathErr(to, errConflict)
	}
	if err != nil {
		return err
	}
	if err := f.st.del(entryKey(kindManifest, from), ver); err != nil {
		if settled(err) {
			f.undoRename(to, res.Version, old, hadOld)
		}
		if errors.Is(err, kv.ErrVersionMismatch) || errors.Is(err, kv.ErrNotFound) {
			return pathErr(from, errConflict)
		}
		return err
	}
	if hadOld && old.Gen != m.Gen {
		f.dropChunks(old.Gen, old.Chunks)
	}
	f.healParents(to)
	f.changed(from, "rename", -1)
	f.changed(to, "rename", m.Size)
	return nil
}

// undoRename puts the destination of a failed rename back as it was, unless
// someone wrote it since.
func (f *fsys) undoRename(to string, ver uint64, old manifest, hadOld bool) {
	var err error
	if hadOld {
		_, err = f.st.put(entryKey(kindManifest, to), mustJSON(old), kv.WriteOptions{Version: ver})
	} else {
		err = f.st.del(entryKey(kindManifest, to), ver)
	}
	if err != nil {
		f.log.Warn("ftp: could not undo a failed rename; the sweep will separate the copies",
			"to", to, "err", err)
	}
}
