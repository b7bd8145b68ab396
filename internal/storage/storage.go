// Package storage is distkv's single on-disk engine: one Pebble database per
// node holding every group's Raft log and state and every shard's data under
// typed key prefixes, so a node syncs once per cycle for all its shards.
//
// It is the only package that imports Pebble. Tests pass a memory or
// crashable file system (NewMemFS, NewCrashableMemFS) to run without a disk
// and to simulate power loss.
package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrClosed is returned by operations on a closed engine.
var ErrClosed = errors.New("storage: engine closed")

// FS is a file system the engine runs on.
type FS = vfs.FS

// MemFS is an in-memory file system; a crashable one can be cloned to what
// was last synced (CrashClone), which is how tests simulate power loss.
type MemFS = vfs.MemFS

// CrashCloneCfg configures MemFS.CrashClone.
type CrashCloneCfg = vfs.CrashCloneCfg

// NewMemFS returns an empty in-memory file system in which sync is a no-op.
func NewMemFS() *MemFS { return vfs.NewMem() }

// NewCrashableMemFS returns an in-memory file system that tracks which data
// was synced, for crash tests.
func NewCrashableMemFS() *MemFS { return vfs.NewCrashableMem() }

// Config configures an Engine. The zero value opens an in-memory engine.
type Config struct {
	// Dir is the data directory. Empty with a nil FS means in memory.
	Dir string
	// FS is the file system; nil means the OS file system, or memory when Dir
	// is empty.
	FS FS
	// Logger receives Pebble's log lines; nil discards them.
	Logger *slog.Logger
	// CacheSize is the block cache size in bytes; 0 means 64 MiB.
	CacheSize int64
	// OnSync, if set, is called with the duration of every synced commit.
	OnSync func(time.Duration)
}

// Engine is a node's storage. It is safe for concurrent use.
type Engine struct {
	db     *pebble.DB
	onSync func(time.Duration)
}

// Open opens (creating if needed) the engine described by cfg.
func Open(cfg Config) (*Engine, error) {
	fs, dir := cfg.FS, cfg.Dir
	if fs == nil {
		if dir == "" {
			fs = vfs.NewMem()
		} else {
			fs = vfs.Default
		}
	}
	if dir == "" {
		dir = "data"
	}
	size := cfg.CacheSize
	if size <= 0 {
		size = 64 << 20
	}
	cache := pebble.NewCache(size)
	defer cache.Unref()
	opts := &pebble.Options{
		FS:                 fs,
		Cache:              cache,
		FormatMajorVersion: pebble.FormatValueSeparation,
		Logger:             slogAdapter{l: orDiscard(cfg.Logger)},
		MemTableSize:       32 << 20,
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	return &Engine{db: db, onSync: cfg.OnSync}, nil
}

// Close flushes nothing extra (every acknowledged write was already synced)
// and releases the database.
func (e *Engine) Close() error { return e.db.Close() }

// Get returns a copy of key's value, or found=false.
func (e *Engine) Get(key []byte) (value []byte, found bool, err error) {
	return get(e.db, key)
}

// Scan calls fn for each key in [lower, upper) in order until fn returns
// false. The slices passed to fn are valid only during the call.
func (e *Engine) Scan(lower, upper []byte, fn func(k, v []byte) bool) error {
	return scan(e.db, lower, upper, fn)
}

// NewBatch returns an indexed batch: reads through it see its own writes
// layered over the engine.
func (e *Engine) NewBatch() *Batch {
	return &Batch{b: e.db.NewIndexedBatch(), e: e}
}

// NewWriteBatch returns a write-only batch, cheaper than NewBatch; its Get
// and Scan read the engine only.
func (e *Engine) NewWriteBatch() *Batch {
	return &Batch{b: e.db.NewBatch(), e: e, writeOnly: true}
}

// NewSnapshot returns a consistent read-only view of the engine at this
// moment. It must be closed.
func (e *Engine) NewSnapshot() *Snapshot { return &Snapshot{s: e.db.NewSnapshot()} }

// Reader is what Engine, Batch and Snapshot have in common.
type Reader interface {
	Get(key []byte) ([]byte, bool, error)
	Scan(lower, upper []byte, fn func(k, v []byte) bool) error
}

// Batch accumulates writes that commit atomically. Not safe for concurrent
// use.
type Batch struct {
	b         *pebble.Batch
	e         *Engine
	writeOnly bool
}

func (b *Batch) Set(key, value []byte) error { return b.b.Set(key, value, nil) }
func (b *Batch) Delete(key []byte) error     { return b.b.Delete(key, nil) }

// DeleteRange deletes every key in [start, end).
func (b *Batch) DeleteRange(start, end []byte) error { return b.b.DeleteRange(start, end, nil) }

// Get reads key through the batch (or the engine for a write-only batch).
func (b *Batch) Get(key []byte) ([]byte, bool, error) {
	if b.writeOnly {
		return b.e.Get(key)
	}
	return get(b.b, key)
}

// Scan iterates [lower, upper) through the batch (or the engine for a
// write-only batch).
func (b *Batch) Scan(lower, upper []byte, fn func(k, v []byte) bool) error {
	if b.writeOnly {
		return b.e.Scan(lower, upper, fn)
	}
	return scan(b.b, lower, upper, fn)
}

// Empty reports whether the batch holds no writes.
func (b *Batch) Empty() bool { return b.b.Empty() }

// Len is the size of the batch's encoded representation in bytes.
func (b *Batch) Len() int { return b.b.Len() }

// Commit applies the batch atomically; with sync it returns only after the
// write-ahead log is on stable storage (and with it everything committed
// before).
func (b *Batch) Commit(sync bool) error {
	if !sync {
		return b.b.Commit(pebble.NoSync)
	}
	start := time.Now()
	err := b.b.Commit(pebble.Sync)
	if err == nil && b.e.onSync != nil {
		b.e.onSync(time.Since(start))
	}
	return err
}

// SyncWAL makes every batch committed so far durable, with one fsync of
// the write-ahead log. Batches committed without sync become as durable as
// synced ones once a later SyncWAL (or synced commit) returns.
func (e *Engine) SyncWAL() error {
	start := time.Now()
	err := e.db.LogData(nil, pebble.Sync)
	if err == nil && e.onSync != nil {
		e.onSync(time.Since(start))
	}
	return err
}

// Close releases the batch; an uncommitted batch is discarded.
func (b *Batch) Close() { _ = b.b.Close() }

// Snapshot is a consistent point-in-time view.
type Snapshot struct{ s *pebble.Snapshot }

func (s *Snapshot) Get(key []byte) ([]byte, bool, error) { return get(s.s, key) }

func (s *Snapshot) Scan(lower, upper []byte, fn func(k, v []byte) bool) error {
	return scan(s.s, lower, upper, fn)
}

// Close releases the snapshot.
func (s *Snapshot) Close() { _ = s.s.Close() }

type pebbleReader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

func get(r pebbleReader, key []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	_ = closer.Close()
	return out, true, nil
}

func scan(r pebbleReader, lower, upper []byte, fn func(k, v []byte) bool) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return err
		}
		if !fn(it.Key(), v) {
			break
		}
	}
	return it.Close()
}
