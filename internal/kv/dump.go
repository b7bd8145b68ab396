package kv

import (
	"context"

	"github.com/distkv/distkv/internal/shardsm"
	"github.com/distkv/distkv/internal/storage"
)

// DumpLocal calls fn with every key of this node's replica of group, in
// key order, read from the local engine (no consistency guarantee: this is
// what the replica holds right now).
func (s *Service) DumpLocal(ctx context.Context, group uint64, fn func(Entry) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	snap := s.cfg.Engine.NewSnapshot()
	defer snap.Close()
	start, end := storage.DataRange(group, nil)
	var ferr error
	err := snap.Scan(start, end, func(k, v []byte) bool {
		if ferr = ctx.Err(); ferr != nil {
			return false
		}
		ver, val, err := shardsm.DecodeValue(v)
		if err != nil {
			ferr = err
			return false
		}
		ferr = fn(Entry{Key: append([]byte(nil), storage.UserKey(k)...), Value: append([]byte(nil), val...), Version: ver})
		return ferr == nil
	})
	if err != nil {
		return err
	}
	return ferr
}
