package ftp

import (
	"errors"
	"time"

	"github.com/distkv/distkv/internal/kv"
)

// sweepGrace is how old a generation no manifest names must be before the
// sweep deletes its chunks: a younger one may be an upload in progress.
const sweepGrace = 24 * time.Hour

// sweepStats counts what a sweep did.
type sweepStats struct {
	files, chunks int // manifests seen, orphaned chunks deleted
	unshared      int // manifests given their own copy of a shared generation
}

// sweep collects what crashes leave behind: it gives a private copy of the
// chunks to every manifest that shares its generation with an earlier one (a
// rename cut short), then deletes the chunks of generations that no
// manifest names and that started more than grace ago. It stops at the first
// failed scan, before deleting anything it could not prove unused.
func (f *fsys) sweep(grace time.Duration) (sweepStats, error) {
	var st sweepStats
	owners := make(map[string]bool)
	var shared []string
	err := f.st.scanAll([]byte{kindManifest}, true, func(e kv.Entry) error {
		m, err := decodeManifest(e.Value)
		if err != nil {
			// Its generation is unknown, so nothing can be proven unused.
			return errors.Join(errors.New("sweep: "+string(e.Key)), err)
		}
		st.files++
		if owners[m.Gen] {
			shared = append(shared, pathOfKey(e.Key))
		}
		owners[m.Gen] = true
		return nil
	})
	if err != nil {
		return st, err
	}
	for _, p := range shared {
		if err := f.unshare(p); err != nil {
			f.log.Warn("ftp: sweep could not separate a file sharing its chunks", "path", p, "err", err)
			continue
		}
		st.unshared++
	}
	cutoff := f.now().Add(-grace)
	err = f.st.scanAll([]byte{kindChunk}, false, func(e kv.Entry) error {
		gen, _, ok := parseChunkKey(e.Key)
		if !ok || owners[gen] {
			return nil
		}
		if t, ok := genTime(gen); !ok || t.After(cutoff) {
			return nil
		}
		if err := f.st.del(e.Key, 0); err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		st.chunks++
		return nil
	})
	return st, err
}

// unshare copies the chunks of p's generation into a fresh one and points
// p's manifest at the copy.
func (f *fsys) unshare(p string) error {
	m, ver, err := f.readManifest(p)
	if err != nil {
		return err
	}
	n := m
	n.Gen = newGen(f.now())
	copied := 0
	for i := range m.Chunks {
		e, err := f.st.get(chunkKey(m.Gen, i))
		if err == nil {
			copied++
			_, err = f.st.put(chunkKey(n.Gen, i), e.Value, kv.WriteOptions{})
		}
		if err != nil {
			f.dropChunks(n.Gen, copied)
			return err
		}
	}
	if _, err := f.st.put(entryKey(kindManifest, p), mustJSON(n), kv.WriteOptions{Version: ver}); err != nil {
		if settled(err) {
			f.dropChunks(n.Gen, copied)
		}
		return err
	}
	f.log.Info("ftp: sweep gave a file its own copy of a shared generation", "path", p, "from", m.Gen, "to", n.Gen)
	return nil
}
