package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/distkv/distkv/internal/replication/multiraft"
	"github.com/distkv/distkv/internal/shardsm"
	"github.com/distkv/distkv/internal/storage"
)

// HandleCall serves a request forwarded by a peer (the payload after the
// CallKV byte). It executes only here — never forwards again — so a
// request costs at most one hop; a peer that picked the wrong node gets
// *NotLeaderError with a hint and tries again itself.
func (s *Service) HandleCall(ctx context.Context, payload []byte) ([]byte, error) {
	if err := s.enter(); err != nil {
		return encodeError(multiraft.ErrStopped), nil
	}
	defer s.inflight.Done()
	q, err := decodeRequest(payload)
	if err != nil {
		return nil, err
	}
	p, err := s.execLocal(ctx, q, q.consistency == Stale)
	return encodeResponse(q, p, err), nil
}

// execLocal runs q against this node's replica of q.group. local allows a
// read without a ReadIndex round (stale reads, or the testing switch).
func (s *Service) execLocal(ctx context.Context, q *request, local bool) (*response, error) {
	rid, hosted := s.cfg.Host.Replica(q.group)
	if !hosted {
		return nil, multiraft.ErrGroupNotFound
	}
	local = local || s.cfg.TestingUnsafeLocalReads
	switch q.kind {
	case reqWrite:
		return s.propose(ctx, q)
	case reqMeta:
		return s.proposeMeta(ctx, q)
	case reqGet:
		if !local {
			if err := s.cfg.Host.ReadBarrier(ctx, q.group); err != nil {
				return nil, err
			}
		}
		if sm := s.sm(q.group); sm != nil {
			if err := sm.AdmitRead(q.key); err != nil {
				return nil, err
			}
		}
		p, err := s.readLocal(q)
		return s.sameReplica(q.group, rid, p, err)
	case reqScan:
		if !local {
			if err := s.cfg.Host.ReadBarrier(ctx, q.group); err != nil {
				return nil, err
			}
		}
		var filter func([]byte) bool
		if sm := s.sm(q.group); sm != nil {
			var err error
			if filter, err = sm.AdmitScan(q.layout, q.index); err != nil {
				return nil, err
			}
		}
		p, err := s.scanLocal(q, filter)
		return s.sameReplica(q.group, rid, p, err)
	}
	return nil, invalidf("unknown request kind %d", q.kind)
}

// sameReplica passes on what a read of the engine found only if replica
// rid of group is still hosted here: a replica removed meanwhile has its
// data deleted, and the missing keys are not an answer.
func (s *Service) sameReplica(group, rid uint64, p *response, err error) (*response, error) {
	if now, hosted := s.cfg.Host.Replica(group); !hosted || now != rid {
		return nil, fmt.Errorf("%w: the replica here was removed during the read", multiraft.ErrGroupNotFound)
	}
	return p, err
}

func (s *Service) propose(ctx context.Context, q *request) (*response, error) {
	res, err := s.cfg.Host.Propose(ctx, q.group, q.cmd)
	if err != nil {
		return nil, err
	}
	o, ok := res.(shardsm.Outcome)
	if !ok {
		return nil, fmt.Errorf("kv: unexpected apply result %T", res)
	}
	if o.Err != nil {
		return nil, o.Err
	}
	return &response{version: o.Version, created: o.Created}, nil
}

func (s *Service) readLocal(q *request) (*response, error) {
	raw, found, err := s.cfg.Engine.Get(storage.DataKey(q.group, q.key))
	if err != nil || !found {
		return &response{}, err
	}
	v, val, err := shardsm.DecodeValue(raw)
	if err != nil {
		return nil, err
	}
	return &response{found: true, version: v, value: val}, nil
}

// scanLocal scans this node's replica; filter, if set, passes the keys the
// scan's layout puts in this shard (during a reshard a shard holds keys
// of two layouts).
func (s *Service) scanLocal(q *request, filter func([]byte) bool) (*response, error) {
	start, end := storage.DataRange(q.group, q.prefix)
	if len(q.after) > 0 {
		after := storage.DataKey(q.group, append(append([]byte(nil), q.after...), 0))
		if bytes.Compare(after, start) > 0 {
			start = after
		}
	}
	p := &response{}
	var decErr error
	err := s.cfg.Engine.Scan(start, end, func(k, v []byte) bool {
		if len(p.entries) == q.limit {
			p.more = true
			return false
		}
		if filter != nil && !filter(storage.UserKey(k)) {
			return true
		}
		ver, val, err := shardsm.DecodeValue(v)
		if err != nil {
			decErr = err
			return false
		}
		e := Entry{Key: append([]byte(nil), storage.UserKey(k)...), Version: ver}
		if q.values {
			e.Value = append([]byte(nil), val...)
		}
		p.entries = append(p.entries, e)
		return true
	})
	return p, errors.Join(err, decErr)
}
