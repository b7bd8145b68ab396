package multiraft

import (
	"errors"
	"fmt"
)

var (
	// ErrUnknownOutcome means a proposal was handed to Raft but its fate is
	// not known: it may or may not be applied. Callers must not assume
	// either; retrying a non-idempotent command is unsafe.
	ErrUnknownOutcome = errors.New("multiraft: outcome unknown")
	// ErrDropped means a proposal was definitely not applied (Raft refused it
	// or a different entry took its place in the log). Safe to retry.
	ErrDropped = errors.New("multiraft: proposal dropped")
	// ErrGroupNotFound means this node hosts no replica of the group.
	ErrGroupNotFound = errors.New("multiraft: group not on this node")
	// ErrStopped means the host is shutting down.
	ErrStopped = errors.New("multiraft: stopped")
	// ErrBusy means the host's queue is full; retry later.
	ErrBusy = errors.New("multiraft: overloaded")
	// ErrTimeout means a read barrier did not complete in time. Reads have
	// no side effects, so it is safe to retry.
	ErrTimeout = errors.New("multiraft: timed out")
	// ErrConfChangePending means a configuration change is already in the
	// log and not yet applied; Raft takes one at a time. Nothing was done.
	ErrConfChangePending = errors.New("multiraft: a configuration change is pending")
	// ErrBadConfChange means a configuration change would break Raft's
	// rules for the current configuration; nothing was done.
	ErrBadConfChange = errors.New("multiraft: configuration change refused")
	// ErrTombstoned means the replica was removed from this node before;
	// a replica ID is never reused on a node.
	ErrTombstoned = errors.New("multiraft: replica was removed here")
)

// NotLeaderError means this replica is not the group's leader. Nothing was
// done, so the request can be sent to Leader (0 when unknown).
type NotLeaderError struct {
	Group  uint64
	Leader uint64
}

func (e *NotLeaderError) Error() string {
	if e.Leader == 0 {
		return fmt.Sprintf("multiraft: group %d has no known leader", e.Group)
	}
	return fmt.Sprintf("multiraft: not the leader of group %d; leader is node %d", e.Group, e.Leader)
}
