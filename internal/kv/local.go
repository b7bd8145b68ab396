package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/distkv/distkv/internal/keyspace"
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
	case reqWriteAll:
		return s.proposeAll(ctx, q)
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
			if err := sm.Locked(q.key); err != nil {
				return nil, err // a prepared transaction's key: its value is being decided
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
			from, to := scanBounds(q)
			if err := sm.LockedIn(from, to, filter); err != nil {
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
	p := &response{version: o.Version, created: o.Created, added: o.Added}
	if o.Txn != nil {
		if p.value, err = json.Marshal(o.Txn); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// readLocal reads a key of this node's replica: a string, or — for the
// key of a hash field with generation 0 — that field of the hash the key
// holds now (see keyspace.InternalPrefix). A plain key holding a hash is
// ErrWrongType.
func (s *Service) readLocal(q *request) (*response, error) {
	if keyspace.IsInternal(q.key) {
		return s.readField(q)
	}
	p, err := readValue(s.cfg.Engine, q.group, q.key)
	if err != nil || p.found {
		return p, err
	}
	if sm := s.sm(q.group); sm != nil && !sm.MayHoldHashes() {
		return p, nil
	}
	// Missing as a string: a hash, if the key holds one. Both are read
	// from one snapshot, as one state (a string can replace a hash between
	// two reads of the engine).
	snap := s.cfg.Engine.NewSnapshot()
	defer snap.Close()
	if p, err = readValue(snap, q.group, q.key); err != nil || p.found {
		return p, err
	}
	m, err := readValue(snap, q.group, keyspace.HashMarkerKey(q.key))
	if err != nil {
		return nil, err
	}
	if m.found {
		return nil, ErrWrongType
	}
	return &response{}, nil
}

// readField reads one field of the hash under a key, from one snapshot:
// ErrWrongType if the key holds a string, not found if it holds no hash
// or the hash no such field.
func (s *Service) readField(q *request) (*response, error) {
	ik, ok := keyspace.ParseInternal(q.key)
	if !ok || ik.Form != keyspace.FormHashField || ik.Gen != 0 {
		return nil, invalidf("internal key %q is not a field of a hash's current generation", q.key)
	}
	snap := s.cfg.Engine.NewSnapshot()
	defer snap.Close()
	gen, err := hashGeneration(snap, q.group, ik.Key)
	if err != nil || gen == 0 {
		return &response{}, err
	}
	return readValue(snap, q.group, keyspace.HashFieldKey(ik.Key, gen, ik.Field))
}

// hashGeneration returns the generation of the hash under key as r (one
// state of the shard) holds it (0: none), or ErrWrongType if key holds a
// string. A key holding a hash holds no string, so the string is looked
// for only when there is no hash.
func hashGeneration(r storage.Reader, group uint64, key []byte) (uint64, error) {
	m, err := readValue(r, group, keyspace.HashMarkerKey(key))
	switch {
	case err != nil:
		return 0, err
	case m.found:
		return m.version, nil
	}
	str, err := readValue(r, group, key)
	switch {
	case err != nil:
		return 0, err
	case str.found:
		return 0, ErrWrongType
	}
	return 0, nil
}

func readValue(r storage.Reader, group uint64, key []byte) (*response, error) {
	raw, found, err := r.Get(storage.DataKey(group, key))
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
// of two layouts). A scan of user keys never shows internal keys; with
// q.hashes it lists the keys holding hashes among the strings, both read
// from one snapshot. A scan whose prefix is a hash's fields (generation
// 0) lists the fields of the hash the key holds now.
func (s *Service) scanLocal(q *request, filter func([]byte) bool) (*response, error) {
	if keyspace.IsInternal(q.prefix) {
		return s.scanFields(q, filter)
	}
	var r storage.Reader = s.cfg.Engine
	if q.hashes {
		snap := s.cfg.Engine.NewSnapshot()
		defer snap.Close()
		r = snap
	}
	p := &response{}
	// User keys, around the internal range.
	is, ie := keyspace.InternalRange()
	start, end := storage.DataRange(q.group, q.prefix)
	start = scanStart(q.group, start, q.after)
	below, above := storage.DataKey(q.group, is), storage.DataKey(q.group, ie)
	if bytes.Compare(start, below) < 0 {
		if err := scanInto(r, p, start, minKey(end, below), q, filter, false); err != nil {
			return nil, err
		}
	}
	if bytes.Compare(end, above) > 0 && !p.more {
		if err := scanInto(r, p, maxKey(start, above), end, q, filter, false); err != nil {
			return nil, err
		}
	}
	if !q.hashes {
		return p, nil
	}
	hp := &response{}
	ms, me := storage.DataRange(q.group, keyspace.HashMarkerPrefix(q.prefix))
	if len(q.after) > 0 { // (decoding makes an absent one empty)
		ms = scanStart(q.group, ms, keyspace.HashMarkerKey(q.after))
	}
	if err := scanInto(r, hp, ms, me, q, filter, true); err != nil {
		return nil, err
	}
	// The first q.limit of both lists in key order: every key not listed
	// sorts after every key listed, since each list holds its own first
	// q.limit keys.
	p.entries = append(p.entries, hp.entries...)
	sortEntries(p.entries)
	p.more = p.more || hp.more
	if len(p.entries) > q.limit {
		p.entries, p.more = p.entries[:q.limit], true
	}
	return p, nil
}

// scanFields lists fields of the hash under the key of q.prefix (a field
// key of generation 0, its field part a prefix of field names), after
// q.after (a field key of generation 0 too). Entries carry the field keys
// with the hash's generation, so a caller reading page after page sees if
// the hash was replaced between pages.
func (s *Service) scanFields(q *request, filter func([]byte) bool) (*response, error) {
	ik, ok := keyspace.ParseInternal(q.prefix)
	if !ok || ik.Form != keyspace.FormHashField || ik.Gen != 0 {
		return nil, invalidf("internal prefix %q is not of a hash's current fields", q.prefix)
	}
	snap := s.cfg.Engine.NewSnapshot()
	defer snap.Close()
	gen, err := hashGeneration(snap, q.group, ik.Key)
	if err != nil || gen == 0 {
		return &response{}, err
	}
	start, end := storage.DataRange(q.group, keyspace.HashFieldKey(ik.Key, gen, ik.Field))
	if len(q.after) > 0 { // (decoding makes an absent one empty)
		ia, ok := keyspace.ParseInternal(q.after)
		if !ok || ia.Form != keyspace.FormHashField || ia.Gen != 0 || !bytes.Equal(ia.Key, ik.Key) {
			return nil, invalidf("scan of hash %q resumes after %q, not one of its fields", ik.Key, q.after)
		}
		start = scanStart(q.group, start, keyspace.HashFieldKey(ik.Key, gen, ia.Field))
	}
	p := &response{}
	return p, scanInto(snap, p, start, end, q, filter, false)
}

// scanStart is where a scan of [start, ...) resumes after user key after.
func scanStart(group uint64, start, after []byte) []byte {
	if len(after) == 0 {
		return start
	}
	a := storage.DataKey(group, append(append([]byte(nil), after...), 0))
	return maxKey(start, a)
}

// scanInto appends to p the entries of [start, end) that filter passes,
// until p holds q.limit entries (then p.more is set if any remain).
// Marker keys (markers) are listed as the user keys of their hashes.
func scanInto(r storage.Reader, p *response, start, end []byte, q *request, filter func([]byte) bool, markers bool) error {
	if bytes.Compare(start, end) >= 0 {
		return nil
	}
	var decErr error
	err := r.Scan(start, end, func(k, v []byte) bool {
		if len(p.entries) == q.limit {
			p.more = true
			return false
		}
		key := storage.UserKey(k)
		if filter != nil && !filter(key) {
			return true
		}
		ver, val, err := shardsm.DecodeValue(v)
		if err != nil {
			decErr = err
			return false
		}
		e := Entry{Key: append([]byte(nil), key...), Version: ver}
		switch {
		case markers:
			e.Key, e.Hash = append([]byte(nil), key[len(keyspace.HashMarkerKey(nil)):]...), true
		case q.values:
			e.Value = append([]byte(nil), val...)
		}
		p.entries = append(p.entries, e)
		return true
	})
	return errors.Join(err, decErr)
}

func minKey(a, b []byte) []byte {
	if bytes.Compare(a, b) < 0 {
		return a
	}
	return b
}

func maxKey(a, b []byte) []byte {
	if bytes.Compare(a, b) > 0 {
		return a
	}
	return b
}
