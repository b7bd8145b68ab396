package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
)

// ErrNamespaceExists: a namespace of that name exists with other settings.
var ErrNamespaceExists = membership.ErrNamespaceExists

// CreateNamespace creates a namespace through the metadata group (on its
// leader, the cluster coordinator) and returns once this node's shard map
// has it. Creating a namespace that exists with the same settings succeeds.
func (s *Service) CreateNamespace(ctx context.Context, ns keyspace.Namespace) (*membership.NamespaceMap, error) {
	if err := ns.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.inflight.Done()
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	m := s.cfg.Meta.Current()
	sh := membership.Shard{Group: keyspace.MetaGroup, Replicas: m.MetaVoters}
	cmd := membership.EncodeCommand(membership.Command{Op: "create_namespace", Namespace: &ns})
	p, err := s.route(ctx, sh, &request{kind: reqMeta, group: uint64(keyspace.MetaGroup), cmd: cmd})
	if err != nil {
		return nil, err
	}
	var created keyspace.Namespace
	if err := json.Unmarshal(p.value, &created); err != nil {
		return nil, fmt.Errorf("kv: decoding created namespace: %w", err)
	}
	// Wait for the change to reach this node's map, so the caller's next
	// request here sees the namespace.
	for {
		if nm := s.cfg.Meta.Current().Namespace(created.Name); nm != nil && nm.ID == created.ID {
			return nm, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: namespace created but not yet known here: %w", ErrTimeout, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *Service) proposeMeta(ctx context.Context, q *request) (*response, error) {
	res, err := s.cfg.Host.Propose(ctx, q.group, q.cmd)
	if err != nil {
		return nil, err
	}
	r, ok := res.(membership.Result)
	if !ok {
		return nil, fmt.Errorf("kv: unexpected metadata result %T", res)
	}
	if r.Err != nil {
		if errors.Is(r.Err, membership.ErrNamespaceExists) {
			return nil, r.Err
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, r.Err)
	}
	b, err := json.Marshal(r.Namespace.Namespace)
	if err != nil {
		return nil, err
	}
	return &response{value: b, found: true}, nil
}
