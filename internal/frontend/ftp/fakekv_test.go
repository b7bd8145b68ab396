package ftp

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/distkv/distkv/internal/kv"
)

// fakeKV is an in-memory kv service for one namespace: a map whose versions
// come from one counter (like Raft indexes), with the service's conditions,
// errors and scan paging.
type fakeKV struct {
	mu      sync.Mutex
	ns      string
	missing bool // the namespace does not exist yet
	index   uint64
	data    map[string]fakeValue
	// inject, if set, is asked before each operation ("get", "put",
	// "delete", "scan"). A non-nil error is returned; apply says whether
	// the operation takes effect anyway (an ambiguous failure).
	inject func(op string, key []byte) (apply bool, err error)
}

type fakeValue struct {
	value   []byte
	version uint64
}

func newFakeKV() *fakeKV {
	return &fakeKV{ns: "files", data: make(map[string]fakeValue)}
}

// ensure creates the namespace, as Config.EnsureNamespace would.
func (f *fakeKV) ensure(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if name == f.ns {
		f.missing = false
	}
	return nil
}

// begin checks the namespace and the injected faults; it returns with f.mu
// held when the operation should proceed (err may still be set: apply it,
// then fail).
func (f *fakeKV) begin(ctx context.Context, ns, op string, key []byte) (proceed bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	f.mu.Lock()
	if ns != f.ns || f.missing {
		f.mu.Unlock()
		return false, kv.ErrNoNamespace
	}
	inject := f.inject
	f.mu.Unlock()
	if inject != nil {
		apply, err := inject(op, key)
		if err != nil && !apply {
			return false, err
		}
		f.mu.Lock()
		return true, err
	}
	f.mu.Lock()
	return true, nil
}

func (f *fakeKV) Get(ctx context.Context, ns string, key []byte, _ kv.ReadOptions) (kv.Entry, error) {
	ok, err := f.begin(ctx, ns, "get", key)
	if !ok {
		return kv.Entry{}, err
	}
	defer f.mu.Unlock()
	v, found := f.data[string(key)]
	if err != nil {
		return kv.Entry{}, err
	}
	if !found {
		return kv.Entry{}, kv.ErrNotFound
	}
	return kv.Entry{Key: key, Value: bytes.Clone(v.value), Version: v.version}, nil
}

func (f *fakeKV) check(key []byte, opts kv.WriteOptions, del bool) (fakeValue, error) {
	cur, found := f.data[string(key)]
	switch {
	case del && !found:
		return cur, kv.ErrNotFound
	case opts.Condition == kv.IfAbsent && found:
		return cur, kv.ErrExists
	case opts.Condition == kv.IfPresent && !found:
		return cur, kv.ErrNotFound
	case opts.Version != 0 && opts.Version != cur.version:
		return cur, &kv.VersionMismatchError{Expected: opts.Version, Current: cur.version}
	}
	return cur, nil
}

func (f *fakeKV) Put(ctx context.Context, ns string, key, value []byte, opts kv.WriteOptions) (kv.WriteResult, error) {
	ok, err := f.begin(ctx, ns, "put", key)
	if !ok {
		return kv.WriteResult{}, err
	}
	defer f.mu.Unlock()
	cur, cerr := f.check(key, opts, false)
	if cerr != nil {
		return kv.WriteResult{}, cerr
	}
	f.index++
	f.data[string(key)] = fakeValue{value: bytes.Clone(value), version: f.index}
	if err != nil {
		return kv.WriteResult{}, err
	}
	return kv.WriteResult{Version: f.index, Created: cur.version == 0}, nil
}

func (f *fakeKV) Delete(ctx context.Context, ns string, key []byte, opts kv.WriteOptions) (kv.WriteResult, error) {
	ok, err := f.begin(ctx, ns, "delete", key)
	if !ok {
		return kv.WriteResult{}, err
	}
	defer f.mu.Unlock()
	if _, cerr := f.check(key, opts, true); cerr != nil {
		return kv.WriteResult{}, cerr
	}
	f.index++
	delete(f.data, string(key))
	return kv.WriteResult{Version: f.index}, err
}

func (f *fakeKV) Scan(ctx context.Context, ns string, opts kv.ScanOptions) (kv.ScanResult, error) {
	ok, err := f.begin(ctx, ns, "scan", opts.Prefix)
	if !ok {
		return kv.ScanResult{}, err
	}
	defer f.mu.Unlock()
	if err != nil {
		return kv.ScanResult{}, err
	}
	limit := opts.Limit
	if limit <= 0 || limit > 10000 {
		limit = 10000
	}
	var res kv.ScanResult
	for _, k := range f.sortedKeysLocked(string(opts.Prefix)) {
		if opts.After != nil && k <= string(opts.After) {
			continue
		}
		if len(res.Entries) == limit {
			res.More = true
			break
		}
		e := kv.Entry{Key: []byte(k), Version: f.data[k].version}
		if opts.Values {
			e.Value = bytes.Clone(f.data[k].value)
		}
		res.Entries = append(res.Entries, e)
	}
	return res, nil
}

func (f *fakeKV) sortedKeysLocked(prefix string) []string {
	var keys []string
	for k := range f.data {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// keys returns the keys with prefix, sorted.
func (f *fakeKV) keys(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sortedKeysLocked(prefix)
}

// gens returns the generations that have chunks.
func (f *fakeKV) gens() map[string]int {
	out := make(map[string]int)
	for _, k := range f.keys("c") {
		gen, _, ok := parseChunkKey([]byte(k))
		if ok {
			out[gen]++
		}
	}
	return out
}

// set writes a key directly, bypassing everything.
func (f *fakeKV) set(key string, value []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	f.data[key] = fakeValue{value: bytes.Clone(value), version: f.index}
}

func (f *fakeKV) value(key string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.data[key]
	return v.value, ok
}

func (f *fakeKV) setInject(fn func(op string, key []byte) (bool, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject = fn
}
