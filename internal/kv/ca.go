package kv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/replication/multiraft"
	"github.com/distkv/distkv/internal/shardsm"
)

// Mode ca (seed 001's CA): a strong namespace whose every write is a
// two-phase commit across all the replicas of its shard, run by the
// shard's leader:
//
//  1. Prepare: propose the write as a transaction's prepare (the key is
//     locked, the write recorded). Each replica that appends the entry to
//     its log has voted yes: its copy is durable there.
//  2. Wait, for a bounded time, until the leader knows every voter has the
//     entry (its Raft match index has reached it).
//  3. Every replica voted: commit (resolve the prepare, applying the
//     write). One did not: roll back (resolve it as an abort) and answer
//     ErrUnavailable, naming the replicas that did not answer.
//
// So one frozen or dead replica makes writes fail, quickly and with
// nothing applied, where a strong namespace would carry on with its
// majority: consistency and availability of writes are bought by giving
// up partition tolerance, the CAP lesson of seed 001. Reads need only what
// strong reads need (a quorum, or one replica with consistency=stale).
// A leader that dies mid-protocol leaves a lock that whoever meets it
// resolves as an abort once its holder is past the lock timeout, since no
// commit was recorded; a commit that was proposed but not confirmed is an
// unknown outcome, like any write's.

// caVoteWait bounds how long a ca write waits for every replica's vote.
const caVoteWait = time.Second

// caPrepare builds the prepare of a ca namespace's write c: its condition
// becomes the transaction's comparison.
func caPrepare(c *shardsm.Command, group uint64, now time.Time) (*shardsm.Txn, error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	t := &shardsm.Txn{ID: "ca-" + hex.EncodeToString(b[:]), Record: group, Start: now.UnixNano()}
	switch c.Op {
	case shardsm.OpPut:
		t.Success = []shardsm.TxnOp{{Kind: shardsm.TxnPut, Key: c.Key, Value: c.Value}}
	case shardsm.OpDelete:
		t.Success = []shardsm.TxnOp{{Kind: shardsm.TxnDelete, Key: c.Key}}
	default:
		return nil, fmt.Errorf("%w: mode ca takes puts and deletes of string keys; hashes live in strong namespaces", ErrWrongMode)
	}
	// The comparison is evaluated by the leader over the locked read
	// (caCheck); recording it keeps the prepare self-describing.
	if c.Version != 0 {
		t.Compares = append(t.Compares, shardsm.Compare{Key: c.Key, Target: shardsm.TargetVersion, Op: shardsm.OpEqual, Version: c.Version})
	}
	return t, nil
}

// caCheck is c's condition against the key's state read under the lock.
func caCheck(c *shardsm.Command, st shardsm.KeyState) error {
	switch {
	case c.Version != 0 && (!st.Found || st.Version != c.Version):
		cur := st.Version
		if !st.Found {
			cur = 0
		}
		return &VersionMismatchError{Expected: c.Version, Current: cur}
	case c.Cond == IfAbsent && st.Found:
		return ErrExists
	case (c.Cond == IfPresent || c.Op == shardsm.OpDelete) && !st.Found:
		return ErrNotFound
	}
	return nil
}

// caWrite routes write c of ca namespace ns to its shard's leader, which
// runs it (proposeAll).
func (s *Service) caWrite(ctx context.Context, ns *membership.NamespaceMap, c *shardsm.Command) (WriteResult, error) {
	cmd := c.Encode()
	p, err := s.routeKey(ctx, ns, c.Key, func(sh membership.Shard) *request {
		return &request{kind: reqWriteAll, group: uint64(sh.Group), cmd: cmd}
	})
	if err != nil {
		return WriteResult{}, err
	}
	return WriteResult{Version: p.version, Created: p.created}, nil
}

// proposeAll runs a ca write on this node, its shard's leader (see the
// top of the file).
func (s *Service) proposeAll(ctx context.Context, q *request) (*response, error) {
	cmd, err := shardsm.DecodeCommand(q.cmd)
	if err != nil {
		return nil, invalidf("ca write: %v", err)
	}
	c := &cmd
	t, err := caPrepare(c, q.group, time.Now())
	if err != nil {
		return nil, err
	}
	prep, err := s.proposeTxnLocal(ctx, q.group, shardsm.OpTxnPrepare, t)
	if err != nil {
		return nil, err // nothing was prepared: the router may try again
	}
	var st shardsm.KeyState
	for _, r := range prep.Reads {
		st = r
	}
	if err := caCheck(c, st); err != nil {
		s.caAbort(ctx, q.group, t.ID)
		return nil, err
	}
	if missing, err := s.awaitVotes(ctx, q.group); err != nil || len(missing) > 0 {
		s.caAbort(ctx, q.group, t.ID)
		if err == nil {
			err = fmt.Errorf("replica(s) %s did not acknowledge the prepare within %v", strings.Join(missing, ", "), caVoteWait)
		}
		return nil, fmt.Errorf("%w of shard %s and did not get it: %v; the write was rolled back",
			ErrNotAllReplicas, keyspace.GroupID(q.group), err)
	}
	res, err := s.proposeTxnLocal(ctx, q.group, shardsm.OpTxnResolve, &shardsm.Txn{ID: t.ID, Commit: true, Succeeded: true})
	if err != nil {
		return nil, fmt.Errorf("%w: every replica voted for the write but its commit was not confirmed: %v", ErrUnknownOutcome, err)
	}
	v, ok := res.Versions[string(c.Key)]
	if !ok {
		// A resolver judged the prepare abandoned and rolled it back first.
		return nil, fmt.Errorf("%w: the write's prepare was rolled back before it could commit", ErrUnavailable)
	}
	return &response{version: v, created: !st.Found && c.Op == shardsm.OpPut}, nil
}

// caAbort rolls back prepare id, through the group's current leader (it
// may have moved); if that fails, the lock is resolved as an abort by
// whoever meets it once the lock timeout passes.
func (s *Service) caAbort(ctx context.Context, group uint64, id string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	t := &shardsm.Txn{ID: id}
	if _, err := s.proposeTxnLocal(actx, group, shardsm.OpTxnResolve, t); err == nil {
		return
	}
	if sh, ok := s.ShardOfGroup(keyspace.GroupID(group)); ok {
		if _, err := s.ProposeTxn(actx, sh, shardsm.OpTxnResolve, t); err != nil {
			s.cfg.Logger.Warn("kv: rolling back a ca write failed; its lock resolves when met", "group", group, "txn", id, "err", err)
		}
	}
}

// proposeTxnLocal proposes a transaction command on this node's replica
// of group and decodes its result.
func (s *Service) proposeTxnLocal(ctx context.Context, group uint64, op shardsm.Op, t *shardsm.Txn) (*shardsm.TxnResult, error) {
	p, err := s.propose(ctx, &request{kind: reqWrite, group: group, cmd: t.Encode(op)})
	if err != nil {
		return nil, err
	}
	var res shardsm.TxnResult
	if err := json.Unmarshal(p.value, &res); err != nil {
		return nil, fmt.Errorf("kv: undecodable transaction result from group %d: %w", group, err)
	}
	return &res, nil
}

// awaitVotes waits until every voter of group has the log up to the index
// applied here now (the prepare just applied), and returns those that did
// not get there within caVoteWait.
func (s *Service) awaitVotes(ctx context.Context, group uint64) ([]string, error) {
	d, err := s.cfg.Host.Detail(ctx, group)
	if err != nil {
		return nil, err
	}
	if !d.IsLeader {
		return nil, &multiraft.NotLeaderError{Group: group, Leader: d.Leader}
	}
	want := d.Applied
	deadline := time.Now().Add(caVoteWait)
	for {
		var missing []string
		voters := slices.Concat(d.Conf.Voters, d.Conf.VotersOutgoing)
		slices.Sort(voters)
		for _, v := range slices.Compact(voters) {
			if pr, ok := d.Progress[v]; !ok || pr.Match < want {
				missing = append(missing, keyspace.ReplicaID(v).Node().String())
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing, nil
		}
		t := time.NewTimer(2 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return missing, ctx.Err()
		case <-t.C:
		}
		if d, err = s.cfg.Host.Detail(ctx, group); err != nil {
			return nil, err
		}
		if !d.IsLeader {
			return nil, errors.New("this node lost the shard's leadership")
		}
	}
}
