package ftp

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/distkv/distkv/internal/kv"
)

// scanPage is how many keys one Scan call asks for.
const scanPage = 1000

// store is the kv service seen through one namespace: every call gets its
// own timeout and is refused once the server's context is done; the
// namespace is created on first use.
type store struct {
	kv      KV
	ns      string
	timeout time.Duration
	ensure  func(ctx context.Context, name string) error
	ctx     context.Context // canceled by Server.Close
	// onReady, if set, is called once, when the namespace is first known
	// to exist.
	onReady   func()
	readyOnce sync.Once

	mu struct {
		sync.Mutex
		ready bool // the namespace is known to exist
	}
}

// call runs op with a per-call deadline after making sure the namespace
// exists. If the namespace turns out to be missing it is ensured again next
// time.
func (s *store) call(op func(ctx context.Context) error) error {
	if s.ctx.Err() != nil {
		return errClosing
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	if err := s.ensureNamespace(ctx); err != nil {
		return err
	}
	err := op(ctx)
	if errors.Is(err, kv.ErrNoNamespace) {
		s.mu.Lock()
		s.mu.ready = false
		s.mu.Unlock()
	}
	if err != nil && s.ctx.Err() != nil {
		return errors.Join(errClosing, err)
	}
	return err
}

func (s *store) ensureNamespace(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.ready {
		return nil
	}
	if s.ensure != nil {
		if err := s.ensure(ctx, s.ns); err != nil {
			return err
		}
	}
	s.mu.ready = true
	if s.onReady != nil {
		s.readyOnce.Do(s.onReady)
	}
	return nil
}

func (s *store) get(key []byte) (e kv.Entry, err error) {
	err = s.call(func(ctx context.Context) error {
		e, err = s.kv.Get(ctx, s.ns, key, kv.ReadOptions{})
		return err
	})
	return e, err
}

func (s *store) put(key, value []byte, opts kv.WriteOptions) (r kv.WriteResult, err error) {
	err = s.call(func(ctx context.Context) error {
		r, err = s.kv.Put(ctx, s.ns, key, value, opts)
		return err
	})
	return r, err
}

func (s *store) del(key []byte, version uint64) error {
	return s.call(func(ctx context.Context) error {
		_, err := s.kv.Delete(ctx, s.ns, key, kv.WriteOptions{Version: version})
		return err
	})
}

// exists reports whether key is present.
func (s *store) exists(key []byte) (bool, error) {
	_, err := s.get(key)
	if errors.Is(err, kv.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// nonEmpty reports whether some key starts with prefix.
func (s *store) nonEmpty(prefix []byte) (bool, error) {
	var found bool
	err := s.call(func(ctx context.Context) error {
		res, err := s.kv.Scan(ctx, s.ns, kv.ScanOptions{Prefix: prefix, Limit: 1})
		found = len(res.Entries) > 0
		return err
	})
	return found, err
}

// scanAll calls fn for every key with prefix, in key order, a page at a
// time, until fn returns an error.
func (s *store) scanAll(prefix []byte, values bool, fn func(kv.Entry) error) error {
	var after []byte
	for {
		var res kv.ScanResult
		err := s.call(func(ctx context.Context) (err error) {
			res, err = s.kv.Scan(ctx, s.ns, kv.ScanOptions{Prefix: prefix, After: after, Limit: scanPage, Values: values})
			return err
		})
		if err != nil {
			return err
		}
		for _, e := range res.Entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		if !res.More || len(res.Entries) == 0 {
			return nil
		}
		after = res.Entries[len(res.Entries)-1].Key
	}
}
