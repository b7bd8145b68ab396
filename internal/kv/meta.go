package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
)

// ErrNamespaceExists: a namespace of that name exists with other settings.
var ErrNamespaceExists = membership.ErrNamespaceExists

// MetaOutcome is what a shard map change did, as the metadata group's
// leader reports it.
type MetaOutcome struct {
	Epoch     uint64              `json:"epoch"`
	ClusterID uint64              `json:"cluster_id"`
	Namespace *keyspace.Namespace `json:"namespace,omitempty"`
	Move      *membership.Move    `json:"move,omitempty"`
	Members   []membership.Member `json:"members,omitempty"`
	Reshard   *membership.Reshard `json:"-"`
	changed   bool
}

// ProposeMeta applies a shard map change through the metadata group (on
// its leader, the cluster coordinator) and returns once this node's map
// has it (epoch at least the change's). Errors are this package's:
// ErrInvalid, ErrConflict, ErrUnknownMember, ErrNamespaceExists, and the
// routing ones.
func (s *Service) ProposeMeta(ctx context.Context, c membership.Command) (MetaOutcome, error) {
	if err := s.enter(); err != nil {
		return MetaOutcome{}, err
	}
	defer s.inflight.Done()
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	m := s.cfg.Meta.Current()
	sh := membership.Shard{Group: keyspace.MetaGroup, Replicas: m.MetaVoters}
	p, err := s.route(ctx, sh, &request{kind: reqMeta, group: uint64(keyspace.MetaGroup), cmd: membership.EncodeCommand(c)})
	if err != nil {
		return MetaOutcome{}, err
	}
	var out MetaOutcome
	if err := json.Unmarshal(p.value, &out); err != nil {
		return MetaOutcome{}, fmt.Errorf("kv: decoding a metadata outcome: %w", err)
	}
	// Wait for the change to reach this node's map, so the caller's next
	// request here sees it.
	for s.cfg.Meta.Current().Epoch < out.Epoch {
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("%w: the change was made (epoch %d) but this node has not applied it yet: %w", ErrTimeout, out.Epoch, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return out, nil
}

// CreateNamespace creates a namespace through the metadata group and
// returns once this node's shard map has it. Creating a namespace that
// exists with the same settings succeeds.
func (s *Service) CreateNamespace(ctx context.Context, ns keyspace.Namespace) (*membership.NamespaceMap, error) {
	if err := ns.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	out, err := s.ProposeMeta(ctx, membership.Command{Op: membership.OpCreateNamespace, Namespace: &ns})
	if err != nil {
		return nil, err
	}
	if out.Namespace == nil {
		return nil, fmt.Errorf("kv: namespace %s: the coordinator answered without it", ns.Name)
	}
	nm := s.cfg.Meta.Current().Namespace(out.Namespace.Name)
	if nm == nil || nm.ID != out.Namespace.ID {
		return nil, fmt.Errorf("%w: namespace %s was created but this node's map lacks it", ErrTimeout, ns.Name)
	}
	return nm, nil
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
		return nil, metaErr(r.Err)
	}
	out := MetaOutcome{Epoch: r.Map.Epoch, ClusterID: r.Map.ClusterID(), Move: r.Move, Members: r.Map.Members}
	if r.Namespace != nil {
		ns := r.Namespace.Namespace
		out.Namespace = &ns
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return &response{value: b, found: true}, nil
}

// metaErr translates the metadata group's errors into this package's.
func metaErr(err error) error {
	switch {
	case errors.Is(err, membership.ErrNamespaceExists):
		return err
	case errors.Is(err, membership.ErrConflict):
		return reword(ErrConflict, strings.TrimPrefix(err.Error(), membership.ErrConflict.Error()+": "), err)
	case errors.Is(err, membership.ErrUnknown):
		return reword(ErrUnknownMember, strings.TrimPrefix(err.Error(), membership.ErrUnknown.Error()+": "), err)
	case errors.Is(err, membership.ErrInvalid):
		return reword(ErrInvalid, strings.TrimPrefix(err.Error(), membership.ErrInvalid.Error()+": "), err)
	}
	return reword(ErrInvalid, err.Error(), err)
}

// ProposeStep proposes a shard state machine command (a reshard step) to
// sh's leader and returns once it applied. A step that cannot be applied
// fails with its error; steps are idempotent, so an unknown outcome may be
// retried by the caller.
func (s *Service) ProposeStep(ctx context.Context, sh membership.Shard, cmd []byte) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	_, err := s.route(ctx, sh, &request{kind: reqWrite, group: uint64(sh.Group), cmd: cmd})
	return err
}
