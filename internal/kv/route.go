package kv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/replication/multiraft"
	"github.com/distkv/distkv/internal/shardsm"
	"github.com/distkv/distkv/internal/transport"
)

// route executes q on the shard's leader: locally if that is this node,
// else by one forwarded call. It retries only what certainly did not
// happen — a replica that is not the leader, a replica that does not host
// the group yet, a proposal Raft dropped — and gives up at the deadline.
// A write whose fate became unknown is never retried.
func (s *Service) route(ctx context.Context, sh membership.Shard, q *request) (*response, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if q.consistency == Stale || (!q.isWrite() && s.cfg.TestingUnsafeLocalReads) {
		if p, err := s.tryLocalReplica(ctx, sh, q); err == nil || !retryable(q, err) {
			return p, err
		}
	}
	if !q.isWrite() && s.hosts(sh) && slices.Contains(sh.Replicas, s.cfg.NodeID) {
		// A replica serves a linearizable read itself: Raft's ReadIndex
		// from a follower asks the leader to confirm the index, so the
		// request and its value need not travel to the leader.
		p, err := s.execLocal(ctx, q, false)
		if err == nil || !retryable(q, err) {
			return p, s.final(q, err)
		}
	}
	var lastErr error
	skip := map[keyspace.NodeID]bool{}
	for attempt := 0; ; attempt++ {
		target := s.pickTarget(sh, skip, attempt)
		p, err := s.exec(ctx, target, q)
		if err == nil || !retryable(q, err) {
			return p, s.final(q, err)
		}
		lastErr = err
		if errors.Is(err, multiraft.ErrGroupNotFound) && s.relocated(sh) {
			return nil, &shardsm.MovedError{} // the map moved on: locate again
		}
		var nl *multiraft.NotLeaderError
		wait := false
		switch {
		case errors.Is(err, shardsm.ErrMoving):
			wait = true // a reshard's last copy is under way: pause, same target
		case errors.As(err, &nl) && nl.Leader != 0 && keyspace.NodeID(nl.Leader) != target && s.alive(keyspace.NodeID(nl.Leader)):
			s.setLeader(sh.Group, keyspace.NodeID(nl.Leader))
			delete(skip, keyspace.NodeID(nl.Leader))
		default:
			// No leader known there, or the node cannot serve the group:
			// try the other replicas, and pause once all were tried.
			s.forgetLeader(sh.Group, target)
			skip[target] = true
			if len(skip) >= len(sh.Replicas) {
				clear(skip)
				wait = true
			}
		}
		if wait || attempt >= 2*len(sh.Replicas) {
			t := time.NewTimer(s.cfg.RetryBackoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, s.gaveUp(q, lastErr, ctx.Err())
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return nil, s.gaveUp(q, lastErr, ctx.Err())
		}
	}
}

// routeKey executes the request build makes for key's shard, locating the
// shard anew whenever a reshard moved the key: a shard that no longer
// serves it answers *shardsm.MovedError (nothing done), and the request
// goes again, to the shard the newer map names, once this node has that
// map.
func (s *Service) routeKey(ctx context.Context, ns *membership.NamespaceMap, key []byte, build func(membership.Shard) *request) (*response, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	for {
		sh := ns.Locate(key)
		p, err := s.route(ctx, sh, build(sh))
		if s.resolved(ctx, err) {
			continue // a transaction's lock was in the way, and is resolved or waited on
		}
		var moved *shardsm.MovedError
		if !errors.As(err, &moved) {
			return p, err
		}
		if ns, err = s.awaitMoved(ctx, ns, moved); err != nil {
			return nil, err
		}
	}
}

// awaitMoved waits until this node's map is newer than the one ns came
// from — at least at the epoch the moved error names — and returns the
// namespace from it.
func (s *Service) awaitMoved(ctx context.Context, ns *membership.NamespaceMap, moved *shardsm.MovedError) (*membership.NamespaceMap, error) {
	start := ns
	for {
		m := s.cfg.Meta.Current()
		cur := m.Namespace(ns.Name)
		if cur == nil {
			return nil, errors.Join(ErrNoNamespace, errors.New("namespace "+quote(ns.Name)+" no longer exists"))
		}
		if m.Epoch >= moved.Epoch && cur != start {
			return cur, nil
		}
		t := time.NewTimer(s.cfg.RetryBackoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: the key moved to another shard and this node's shard map did not catch up in time (%v): %w", ErrUnavailable, moved, ctx.Err())
		case <-t.C:
		}
	}
}

// relocated reports whether the current map no longer has sh's group in
// its namespace's current layout (a reshard dropped or replaced it).
func (s *Service) relocated(sh membership.Shard) bool {
	if sh.Namespace == nil {
		return false
	}
	cur := s.cfg.Meta.Current().Namespace(sh.Namespace.Name)
	if cur == nil || cur == sh.Namespace {
		return false
	}
	_, ok := cur.ShardOfGroup(sh.Group)
	return !ok
}

// hosts reports whether this node has a replica of the shard.
func (s *Service) hosts(sh membership.Shard) bool {
	_, hosted := s.cfg.Host.Leader(uint64(sh.Group))
	return hosted
}

// tryLocalReplica serves a stale read from this node's replica when it has
// one.
func (s *Service) tryLocalReplica(ctx context.Context, sh membership.Shard, q *request) (*response, error) {
	for _, r := range sh.Replicas {
		if r == s.cfg.NodeID {
			return s.execLocal(ctx, q, true)
		}
	}
	// Not a replica: any replica can answer a stale read.
	return s.exec(ctx, sh.Replicas[0], q)
}

// retryable reports whether err proves q had no effect, so another attempt
// is safe.
func retryable(q *request, err error) bool {
	var nl *multiraft.NotLeaderError
	switch {
	case errors.As(err, &nl),
		errors.Is(err, multiraft.ErrGroupNotFound),
		errors.Is(err, multiraft.ErrDropped),
		errors.Is(err, multiraft.ErrBusy),
		errors.Is(err, multiraft.ErrStopped),
		errors.Is(err, shardsm.ErrMoving),
		errors.Is(err, errNotSent):
		return true
	case errors.Is(err, multiraft.ErrTimeout) && errors.Is(err, context.DeadlineExceeded):
		return false // our own deadline passed
	case !q.isWrite():
		// Reads change nothing: anything short of our deadline is worth
		// another try.
		return !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !isDefinite(err)
	}
	return false
}

// isDefinite reports errors that are answers, not failures.
func isDefinite(err error) bool {
	var moved *shardsm.MovedError
	return errors.As(err, &moved) || errors.Is(err, ErrLocked) || errors.Is(err, shardsm.ErrTxnFinished) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrWrongType) || errors.Is(err, ErrConflict) || errors.Is(err, ErrUnknownMember) || errors.Is(err, ErrExists) || errors.Is(err, ErrVersionMismatch) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrNamespaceExists)
}

// final translates a non-retryable error into this package's sentinels.
func (s *Service) final(q *request, err error) error {
	switch {
	case err == nil || isDefinite(err):
		return err
	case errors.Is(err, multiraft.ErrUnknownOutcome), errors.Is(err, ErrUnknownOutcome):
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	case errors.Is(err, ErrNotAllReplicas):
		// The leader's answer that nothing was done (a ca write rolled
		// back for want of a replica).
		return err
	case q.isWrite() && errors.Is(err, multiraft.ErrTimeout):
		// Timed out before the command was proposed.
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case q.isWrite():
		// The call may have reached the leader: the write may have happened.
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, multiraft.ErrTimeout):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// gaveUp is the error when the deadline passes between attempts, all of
// which certainly had no effect.
func (s *Service) gaveUp(q *request, last, ctxErr error) error {
	if errors.Is(last, shardsm.ErrMoving) {
		return fmt.Errorf("%w: the key is moving to another shard (a reshard is making its last copy); retry: %w", ErrUnavailable, ctxErr)
	}
	var nl *multiraft.NotLeaderError
	if last == nil || errors.As(last, &nl) || errors.Is(last, multiraft.ErrGroupNotFound) || errors.Is(last, errNotSent) || q.isWrite() {
		return fmt.Errorf("%w: no leader with a quorum answered before the deadline (last: %v): %w", ErrUnavailable, last, ctxErr)
	}
	return fmt.Errorf("%w: %v: %w", ErrTimeout, last, ctxErr)
}

// pickTarget chooses where to send the next attempt: the known leader, or
// else a replica not tried yet, this node first.
func (s *Service) pickTarget(sh membership.Shard, skip map[keyspace.NodeID]bool, attempt int) keyspace.NodeID {
	if l := s.leaderOf(sh.Group); l != 0 && !skip[l] && s.alive(l) {
		return l
	}
	for _, r := range sh.Replicas {
		if !s.alive(r) {
			skip[r] = true
		}
	}
	for _, r := range sh.Replicas {
		if r == s.cfg.NodeID && !skip[r] {
			return r
		}
	}
	n := len(sh.Replicas)
	for i := 0; i < n; i++ {
		r := sh.Replicas[(attempt+i)%n]
		if !skip[r] {
			return r
		}
	}
	return sh.Replicas[attempt%n]
}

// alive reports whether n is worth sending to (this node always is).
func (s *Service) alive(n keyspace.NodeID) bool {
	return n == s.cfg.NodeID || s.cfg.Alive == nil || s.cfg.Alive(n)
}

func (s *Service) leaderOf(g keyspace.GroupID) keyspace.NodeID {
	if l, hosted := s.cfg.Host.Leader(uint64(g)); hosted {
		return keyspace.NodeID(l)
	}
	s.leaders.RLock()
	defer s.leaders.RUnlock()
	return s.leaders.m[uint64(g)]
}

func (s *Service) setLeader(g keyspace.GroupID, n keyspace.NodeID) {
	s.leaders.Lock()
	s.leaders.m[uint64(g)] = n
	s.leaders.Unlock()
}

func (s *Service) forgetLeader(g keyspace.GroupID, n keyspace.NodeID) {
	s.leaders.Lock()
	if s.leaders.m[uint64(g)] == n {
		delete(s.leaders.m, uint64(g))
	}
	s.leaders.Unlock()
}

// errNotSent marks a forwarded request that certainly never left this node.
var errNotSent = errors.New("kv: request not sent")

// exec runs q on node target.
func (s *Service) exec(ctx context.Context, target keyspace.NodeID, q *request) (*response, error) {
	if target == s.cfg.NodeID {
		return s.execLocal(ctx, q, false)
	}
	out, err := s.cfg.Transport.Call(ctx, uint64(target), append([]byte{CallKV}, q.encode()...))
	if err != nil {
		if errors.Is(err, transport.ErrNotSent) {
			return nil, fmt.Errorf("%w: %w", errNotSent, err)
		}
		return nil, err
	}
	return decodeResponse(q, out)
}

// CallKV is the first byte of a transport Call carrying a kv request.
const CallKV byte = 1
