package resp

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/distkv/distkv/internal/kv"
)

// The fake kv's hashes, with kv.Service's semantics: a key holds a string
// or a hash (fakeEntry.hash), a field write creates the hash and refuses
// a string, the hash goes with its last field, a string put replaces a
// hash, and a hash's generation is the version that created it. Hook ops:
// "hget", "hput", "hdelete", "hscan".

func (f *fakeKV) checkField(key, field []byte) error {
	if len(key)+len(field) > f.limits.MaxKey {
		return errors.Join(kv.ErrTooLarge, errors.New("key and field together are longer than the key limit"))
	}
	return nil
}

func (f *fakeKV) HashGet(ctx context.Context, ns string, key, field []byte, _ kv.ReadOptions) (kv.Entry, error) {
	if err := f.checkField(key, field); err != nil {
		return kv.Entry{}, err
	}
	m, err := f.begin(ctx, "hget", ns, key, true)
	if err != nil {
		return kv.Entry{}, err
	}
	defer f.mu.Unlock()
	e, ok := m[string(key)]
	switch {
	case !ok:
		return kv.Entry{}, kv.ErrNotFound
	case e.hash == nil:
		return kv.Entry{}, kv.ErrWrongType
	}
	fe, ok := e.hash[string(field)]
	if !ok {
		return kv.Entry{}, kv.ErrNotFound
	}
	return kv.Entry{Key: bytes.Clone(field), Value: bytes.Clone(fe.value), Version: fe.version}, nil
}

func (f *fakeKV) HashPut(ctx context.Context, ns string, key, field, value []byte, opts kv.WriteOptions) (kv.WriteResult, error) {
	if len(value) > f.limits.MaxValue {
		return kv.WriteResult{}, errors.Join(kv.ErrTooLarge, errors.New("value is larger than the limit"))
	}
	if err := f.checkField(key, field); err != nil {
		return kv.WriteResult{}, err
	}
	m, err := f.begin(ctx, "hput", ns, key, true)
	if err != nil {
		return kv.WriteResult{}, err
	}
	defer f.mu.Unlock()
	e, ok := m[string(key)]
	if ok && e.hash == nil {
		return kv.WriteResult{}, kv.ErrWrongType
	}
	cur, found := e.hash[string(field)]
	if err := check(false, opts, found, cur.version); err != nil {
		return kv.WriteResult{}, err
	}
	f.mu.version++
	if !ok {
		e = fakeEntry{version: f.mu.version, hash: map[string]fakeEntry{}}
		delete(f.mu.sorted, displayNS(ns))
	}
	e.hash[string(field)] = fakeEntry{value: bytes.Clone(value), version: f.mu.version}
	m[string(key)] = e
	return kv.WriteResult{Version: f.mu.version, Created: !found}, nil
}

func (f *fakeKV) HashSet(ctx context.Context, ns string, key []byte, fields []kv.HashField) (kv.WriteResult, int, error) {
	total := 0
	for _, fl := range fields {
		if err := f.checkField(key, fl.Name); err != nil {
			return kv.WriteResult{}, 0, err
		}
		total += len(fl.Name) + len(fl.Value)
	}
	if total > f.limits.MaxValue {
		return kv.WriteResult{}, 0, errors.Join(kv.ErrTooLarge, errors.New("the fields are larger than the value limit"))
	}
	m, err := f.begin(ctx, "hset", ns, key, true)
	if err != nil {
		return kv.WriteResult{}, 0, err
	}
	defer f.mu.Unlock()
	e, ok := m[string(key)]
	if ok && e.hash == nil {
		return kv.WriteResult{}, 0, kv.ErrWrongType
	}
	f.mu.version++
	if !ok {
		e = fakeEntry{version: f.mu.version, hash: map[string]fakeEntry{}}
		delete(f.mu.sorted, displayNS(ns))
	}
	added := 0
	for _, fl := range fields {
		if _, found := e.hash[string(fl.Name)]; !found {
			added++
		}
		e.hash[string(fl.Name)] = fakeEntry{value: bytes.Clone(fl.Value), version: f.mu.version}
	}
	m[string(key)] = e
	return kv.WriteResult{Version: f.mu.version, Created: !ok}, added, nil
}

func (f *fakeKV) HashDelete(ctx context.Context, ns string, key, field []byte, opts kv.WriteOptions) (kv.WriteResult, error) {
	if err := f.checkField(key, field); err != nil {
		return kv.WriteResult{}, err
	}
	m, err := f.begin(ctx, "hdelete", ns, key, true)
	if err != nil {
		return kv.WriteResult{}, err
	}
	defer f.mu.Unlock()
	e, ok := m[string(key)]
	if ok && e.hash == nil {
		return kv.WriteResult{}, kv.ErrWrongType
	}
	cur, found := e.hash[string(field)]
	if err := check(true, opts, found, cur.version); err != nil {
		return kv.WriteResult{}, err
	}
	f.mu.version++
	delete(e.hash, string(field))
	if len(e.hash) == 0 {
		delete(m, string(key))
		delete(f.mu.sorted, displayNS(ns))
	}
	return kv.WriteResult{Version: f.mu.version}, nil
}

func (f *fakeKV) HashScan(ctx context.Context, ns string, key []byte, opts kv.ScanOptions) (kv.HashScanResult, error) {
	if err := f.checkField(key, opts.Prefix); err != nil {
		return kv.HashScanResult{}, err
	}
	m, err := f.begin(ctx, "hscan", ns, key, true)
	if err != nil {
		return kv.HashScanResult{}, err
	}
	defer f.mu.Unlock()
	if opts.Limit <= 0 || opts.Limit > f.limits.MaxScan {
		opts.Limit = f.limits.MaxScan
	}
	e, ok := m[string(key)]
	switch {
	case !ok:
		return kv.HashScanResult{}, nil
	case e.hash == nil:
		return kv.HashScanResult{}, kv.ErrWrongType
	}
	res := kv.HashScanResult{Generation: e.version}
	for _, name := range slices.Sorted(maps.Keys(e.hash)) {
		if !strings.HasPrefix(name, string(opts.Prefix)) || opts.After != nil && name <= string(opts.After) {
			continue
		}
		if len(res.Fields) == opts.Limit {
			res.More = true
			break
		}
		fe := kv.Entry{Key: []byte(name), Version: e.hash[name].version}
		if opts.Values {
			fe.Value = bytes.Clone(e.hash[name].value)
		}
		res.Fields = append(res.Fields, fe)
	}
	return res, nil
}
