package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/shardsm"
)

// The router's part in transactions (package txn coordinates them): it
// carries transaction commands to a shard's leader like any write, and
// when a read or write meets a key a transaction has locked it asks the
// LockResolver to settle the lock before trying again.

// LockResolver settles a lock a request met: it waits while the holder may
// still decide, and resolves a holder judged gone. nil means the caller may
// try again; an error ends the request.
type LockResolver interface {
	ResolveLock(ctx context.Context, l *LockedError) error
}

// SetLockResolver installs the resolver of locks requests meet (without
// one they fail with *LockedError).
func (s *Service) SetLockResolver(r LockResolver) { s.resolver.Store(&r) }

// resolved reports whether err is a lock that the resolver settled, so the
// request should go again. A request waits on locks for half its time at
// most: the rest is for a last attempt, so that a lock that stays answers
// as the conflict it is, not as a timeout of unknown outcome.
func (s *Service) resolved(ctx context.Context, err error) bool {
	var l *LockedError
	if !errors.As(err, &l) {
		return false
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < s.cfg.Timeout/2 {
		return false
	}
	r := s.resolver.Load()
	if r == nil || *r == nil {
		return false
	}
	return (*r).ResolveLock(ctx, l) == nil
}

// ProposeTxn proposes transaction command op carrying t to shard sh and
// returns its result. Transaction commands are idempotent, so the caller
// may send one again after an unknown outcome.
func (s *Service) ProposeTxn(ctx context.Context, sh membership.Shard, op shardsm.Op, t *shardsm.Txn) (*shardsm.TxnResult, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.inflight.Done()
	p, err := s.route(ctx, sh, &request{kind: reqWrite, group: uint64(sh.Group), cmd: t.Encode(op)})
	if err != nil {
		return nil, err
	}
	var res shardsm.TxnResult
	if err := json.Unmarshal(p.value, &res); err != nil {
		return nil, fmt.Errorf("kv: undecodable transaction result from %s: %w", sh.Group, err)
	}
	return &res, nil
}

// ShardOfGroup finds the strong shard of group g in this node's map, in
// either layout during a reshard (a transaction's record may be on a shard
// the new layout drops; it lives until the reshard ends).
func (s *Service) ShardOfGroup(g keyspace.GroupID) (membership.Shard, bool) {
	for _, ns := range s.cfg.Meta.Current().Namespaces {
		if ns.Mode != keyspace.ModeStrong {
			continue
		}
		for _, sh := range ns.AllShards() {
			if sh.Group == g {
				return sh, true
			}
		}
	}
	return membership.Shard{}, false
}

// LocalLocks lists the locks held in the shards this node leads.
func (s *Service) LocalLocks() []LockedError {
	var out []LockedError
	s.sms.Range(func(k, v any) bool {
		g := k.(uint64)
		if l, hosted := s.cfg.Host.Leader(g); hosted && l == uint64(s.cfg.NodeID) {
			out = append(out, v.(*shardsm.SM).Locks()...)
		}
		return true
	})
	return out
}

// CheckTxn checks a transaction's keys and values against the limits.
func (s *Service) CheckTxn(t *shardsm.Txn) error {
	if err := t.Validate(); err != nil {
		return invalidf("%v", err)
	}
	for _, k := range t.Keys() {
		if err := s.checkKey(k); err != nil {
			return err
		}
	}
	for _, br := range [][]shardsm.TxnOp{t.Success, t.Failure} {
		for _, o := range br {
			if len(o.Value) > s.cfg.Limits.MaxValue {
				return errors.Join(ErrTooLarge, fmt.Errorf("the value of %q is larger than the limit", o.Key))
			}
		}
	}
	return nil
}

// scanBounds is the range of user keys scan q may return: [from, to), to
// nil for no upper bound.
func scanBounds(q *request) (from, to []byte) {
	from = q.prefix
	if len(q.after) > 0 && bytes.Compare(q.after, from) >= 0 {
		from = append(bytes.Clone(q.after), 0)
	}
	if len(q.prefix) > 0 {
		to = bytes.Clone(q.prefix)
		for len(to) > 0 && to[len(to)-1] == 0xff {
			to = to[:len(to)-1]
		}
		if len(to) == 0 {
			return from, nil
		}
		to[len(to)-1]++
	}
	return from, to
}
