package kv

import (
	"context"
	"errors"
	"fmt"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/replication/dynamo"
	"github.com/distkv/distkv/internal/shardsm"
)

// Eventual and causal namespaces go to the leaderless engine. Their
// guarantees differ from strong ones: no conditional writes, and versions
// are causal contexts rather than numbers.

// ErrCausalDeps: the serving node had not applied the client's causal
// dependencies within the wait bound; nothing was read or written.
var ErrCausalDeps = errors.New("kv: causal dependencies not yet available on this node")

func (s *Service) engine(ns *membership.NamespaceMap) (*dynamo.Engine, error) {
	if s.cfg.Dynamo == nil {
		return nil, fmt.Errorf("%w: %s namespaces are not served by this node", ErrWrongMode, ns.Mode)
	}
	return s.cfg.Dynamo, nil
}

func (s *Service) leaderlessGet(ctx context.Context, ns *membership.NamespaceMap, key []byte, opts ReadOptions) (Entry, error) {
	eng, err := s.engine(ns)
	if err != nil {
		return Entry{}, err
	}
	res, err := eng.Get(ctx, ns, key, dynamo.ReadOptions{R: opts.R, Token: opts.Token, Local: opts.Consistency == Stale})
	if err != nil {
		return Entry{}, leaderlessErr(err)
	}
	e := Entry{Key: key, Context: res.Context, Token: res.Token}
	if !res.Found {
		return e, notFoundWith(e)
	}
	e.Value = res.Values[0]
	if len(res.Values) > 1 {
		e.Siblings = res.Values
	}
	return e, nil
}

// NotFoundError is ErrNotFound carrying the causal context and token a
// leaderless read returned with it (a tombstone's context lets the next
// write supersede the delete).
type NotFoundError struct{ Entry Entry }

func (e *NotFoundError) Error() string        { return ErrNotFound.Error() }
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

func notFoundWith(e Entry) error {
	if e.Context == "" && e.Token == "" {
		return ErrNotFound
	}
	return &NotFoundError{Entry: e}
}

func (s *Service) leaderlessWrite(ctx context.Context, ns *membership.NamespaceMap, c *shardsm.Command, opts WriteOptions) (WriteResult, error) {
	eng, err := s.engine(ns)
	if err != nil {
		return WriteResult{}, err
	}
	if c.Cond != Always || c.Version != 0 {
		return WriteResult{}, fmt.Errorf("%w: conditional writes (if=, version=) need a strong namespace; %s is %s", ErrWrongMode, ns.Name, ns.Mode)
	}
	res, err := eng.Write(ctx, ns, c.Key, c.Value, c.Op == shardsm.OpDelete, dynamo.WriteOptions{W: opts.W, Context: opts.Context, Token: opts.Token})
	if err != nil {
		return WriteResult{}, leaderlessErr(err)
	}
	return WriteResult{Context: res.Context, Token: res.Token}, nil
}

func (s *Service) leaderlessScan(ctx context.Context, ns *membership.NamespaceMap, opts ScanOptions) (ScanResult, error) {
	eng, err := s.engine(ns)
	if err != nil {
		return ScanResult{}, err
	}
	ents, more, err := eng.Scan(ctx, ns, opts.Prefix, opts.After, opts.Limit)
	if err != nil {
		return ScanResult{}, leaderlessErr(err)
	}
	out := ScanResult{More: more}
	for _, e := range ents {
		en := Entry{Key: e.Key}
		if opts.Values && len(e.Values) > 0 {
			en.Value = e.Values[0]
			if len(e.Values) > 1 {
				en.Siblings = e.Values
			}
		}
		out.Entries = append(out.Entries, en)
	}
	return out, nil
}

// leaderlessErr translates the engine's errors into this package's.
func leaderlessErr(err error) error {
	switch {
	case errors.Is(err, dynamo.ErrUnavailable):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, dynamo.ErrUnknownOutcome):
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	case errors.Is(err, dynamo.ErrCausalDeps):
		return fmt.Errorf("%w: %w", ErrCausalDeps, err)
	case errors.Is(err, dynamo.ErrBadToken), errors.Is(err, dynamo.ErrInvalid):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// Plant places a divergent value on one replica of a leaderless key (fault
// injection).
func (s *Service) Plant(ctx context.Context, nsName string, node keyspace.NodeID, key, value []byte) error {
	ns, err := s.Namespace(nsName)
	if err != nil {
		return err
	}
	eng, err := s.engine(ns)
	if err != nil {
		return err
	}
	return leaderlessErr(eng.Plant(ctx, ns.Name, node, key, value))
}
