package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/shardsm"
)

// Hashes (Redis's hash type): a key holds a string or a hash of fields,
// never both. Each field is a key of its own in the key's shard (see
// keyspace.InternalPrefix for the layout), so writing a field is one
// replicated write of that field, and reading a hash reads one shard. A
// string put (Put) over a hash replaces it; Delete deletes either; Get of
// a key holding a hash is ErrWrongType, and so is a field operation on a
// key holding a string. Strong namespaces only: a hash's generation comes
// from the shard's log order, which leaderless namespaces do not have.

// HashScanResult is one page of a hash's fields, in field order.
type HashScanResult struct {
	// Fields are the fields read: Key is the field's name.
	Fields []Entry
	// More is true when fields past the last one remain.
	More bool
	// Generation identifies the hash the page was read from (0: the key
	// holds no hash). A hash deleted and created again has another one,
	// so a reader of several pages can tell it read one hash throughout.
	Generation uint64
}

// HashGet returns one field of the hash under key (Entry.Key is the
// field), ErrNotFound if the key holds no hash or the hash no such field,
// ErrWrongType if the key holds a string.
func (s *Service) HashGet(ctx context.Context, nsName string, key, field []byte, opts ReadOptions) (Entry, error) {
	if err := s.enter(); err != nil {
		return Entry{}, err
	}
	defer s.inflight.Done()
	ns, err := s.hashNamespace(nsName, key, field)
	if err != nil {
		return Entry{}, err
	}
	fk := keyspace.HashFieldKey(key, 0, field)
	p, err := s.routeKey(ctx, ns, fk, func(sh membership.Shard) *request {
		return &request{kind: reqGet, group: uint64(sh.Group), consistency: opts.Consistency, key: fk}
	})
	if err != nil {
		return Entry{}, err
	}
	if !p.found {
		return Entry{}, ErrNotFound
	}
	return Entry{Key: field, Value: p.value, Version: p.version}, nil
}

// HashPut writes one field of the hash under key, creating the hash if
// the key holds nothing; ErrWrongType if it holds a string. The options'
// conditions apply to the field (IfAbsent: create the field only; a
// Version: compare-and-set of the field's version). Created reports a new
// field.
func (s *Service) HashPut(ctx context.Context, nsName string, key, field, value []byte, opts WriteOptions) (WriteResult, error) {
	if err := s.enter(); err != nil {
		return WriteResult{}, err
	}
	defer s.inflight.Done()
	if len(value) > s.cfg.Limits.MaxValue {
		return WriteResult{}, errors.Join(ErrTooLarge, errors.New("value is larger than the limit"))
	}
	ns, err := s.hashNamespace(nsName, key, field)
	if err != nil {
		return WriteResult{}, err
	}
	c := shardsm.Command{Op: shardsm.OpPut, Cond: opts.Condition, Version: opts.Version, Key: keyspace.HashFieldKey(key, 0, field), Value: value}
	return s.writeStrong(ctx, ns, &c)
}

// HashField is a field of a HashSet.
type HashField = shardsm.Field

// HashSet sets several fields of the hash under key in one write (all or
// none; a field named twice takes its last value), creating the hash if
// the key holds nothing; ErrWrongType if it holds a string. Added is how
// many of the fields were new.
func (s *Service) HashSet(ctx context.Context, nsName string, key []byte, fields []HashField) (res WriteResult, added int, err error) {
	if err := s.enter(); err != nil {
		return WriteResult{}, 0, err
	}
	defer s.inflight.Done()
	if len(fields) == 0 {
		return WriteResult{}, 0, errors.Join(ErrInvalid, errors.New("a hash set needs at least one field"))
	}
	var longest, total int
	for _, f := range fields {
		longest = max(longest, len(f.Name))
		total += len(f.Name) + len(f.Value)
	}
	if total > s.cfg.Limits.MaxValue {
		return WriteResult{}, 0, errors.Join(ErrTooLarge, fmt.Errorf("the fields and values of one hash set add up to %d bytes, more than the value limit (%d)", total, s.cfg.Limits.MaxValue))
	}
	ns, err := s.hashNamespace(nsName, key, make([]byte, longest))
	if err != nil {
		return WriteResult{}, 0, err
	}
	c := shardsm.Command{Op: shardsm.OpHashSet, Key: key, Fields: fields}
	cmd := c.Encode()
	p, err := s.routeKey(ctx, ns, key, func(sh membership.Shard) *request {
		return &request{kind: reqWrite, group: uint64(sh.Group), cmd: cmd}
	})
	if err != nil {
		return WriteResult{}, 0, err
	}
	return WriteResult{Version: p.version, Created: p.created}, p.added, nil
}

// HashDelete deletes one field of the hash under key (the hash, with its
// last field); ErrNotFound if there is no such field, ErrWrongType if the
// key holds a string.
func (s *Service) HashDelete(ctx context.Context, nsName string, key, field []byte, opts WriteOptions) (WriteResult, error) {
	if err := s.enter(); err != nil {
		return WriteResult{}, err
	}
	defer s.inflight.Done()
	ns, err := s.hashNamespace(nsName, key, field)
	if err != nil {
		return WriteResult{}, err
	}
	c := shardsm.Command{Op: shardsm.OpDelete, Cond: opts.Condition, Version: opts.Version, Key: keyspace.HashFieldKey(key, 0, field)}
	return s.writeStrong(ctx, ns, &c)
}

// HashScan returns fields of the hash under key, in field order: those
// whose names begin with opts.Prefix, after the field opts.After, at most
// opts.Limit of them, with their values if opts.Values. It reads the one
// shard of key, from one snapshot of one replica. ErrWrongType if the key
// holds a string; no fields and Generation 0 if it holds nothing.
func (s *Service) HashScan(ctx context.Context, nsName string, key []byte, opts ScanOptions) (HashScanResult, error) {
	if err := s.enter(); err != nil {
		return HashScanResult{}, err
	}
	defer s.inflight.Done()
	ns, err := s.hashNamespace(nsName, key, opts.Prefix)
	if err != nil {
		return HashScanResult{}, err
	}
	if opts.Limit <= 0 || opts.Limit > s.cfg.Limits.MaxScan {
		opts.Limit = s.cfg.Limits.MaxScan
	}
	prefix := keyspace.HashFieldKey(key, 0, opts.Prefix)
	var after []byte
	if opts.After != nil {
		after = keyspace.HashFieldKey(key, 0, opts.After)
	}
	p, err := s.routeKey(ctx, ns, prefix, func(sh membership.Shard) *request {
		return &request{kind: reqScan, group: uint64(sh.Group), consistency: opts.Consistency,
			prefix: prefix, after: after, limit: opts.Limit, values: opts.Values, layout: sh.Namespace.Layout(), index: sh.Index}
	})
	if err != nil {
		return HashScanResult{}, err
	}
	res := HashScanResult{More: p.more}
	for _, e := range p.entries {
		ik, ok := keyspace.ParseInternal(e.Key)
		if !ok || ik.Form != keyspace.FormHashField || !bytes.Equal(ik.Key, key) || (res.Generation != 0 && ik.Gen != res.Generation) {
			return HashScanResult{}, fmt.Errorf("kv: scan of hash %q returned the key %q", key, e.Key)
		}
		res.Generation = ik.Gen
		res.Fields = append(res.Fields, Entry{Key: ik.Field, Value: e.Value, Version: e.Version})
	}
	return res, nil
}

// hashNamespace checks a hash operation's key and field and returns its
// namespace, which must be strong.
func (s *Service) hashNamespace(nsName string, key, field []byte) (*membership.NamespaceMap, error) {
	if err := s.checkKey(key); err != nil {
		return nil, err
	}
	if len(key)+len(field) > s.cfg.Limits.MaxKey {
		return nil, errors.Join(ErrTooLarge, errors.New("key and field together are longer than the key limit"))
	}
	ns, err := s.Namespace(nsName)
	if err != nil {
		return nil, err
	}
	if ns.Mode != keyspace.ModeStrong || ns.AllReplicas {
		return nil, fmt.Errorf("%w: hashes need a strong namespace; %s is %s", ErrWrongMode, ns.Name, ns.ModeName())
	}
	return ns, nil
}

// writeStrong proposes c on its key's shard of strong namespace ns.
func (s *Service) writeStrong(ctx context.Context, ns *membership.NamespaceMap, c *shardsm.Command) (WriteResult, error) {
	cmd := c.Encode()
	p, err := s.routeKey(ctx, ns, c.Key, func(sh membership.Shard) *request {
		return &request{kind: reqWrite, group: uint64(sh.Group), cmd: cmd}
	})
	if err != nil {
		return WriteResult{}, err
	}
	return WriteResult{Version: p.version, Created: p.created}, nil
}
