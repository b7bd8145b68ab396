package kv

import (
	"errors"
	"fmt"

	"github.com/distkv/distkv/internal/shardsm"
)

// Errors returned by the Service. Front ends translate them into their
// protocol's codes; test with errors.Is.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = shardsm.ErrNotFound
	// ErrExists: a create-only write found the key present.
	ErrExists = shardsm.ErrExists
	// ErrVersionMismatch: a compare-and-set found another version; see
	// *VersionMismatchError for the current one.
	ErrVersionMismatch = shardsm.ErrVersionMismatch
	// ErrWrongType: the key holds a hash where a string is read, or a
	// string where a hash field is read or written.
	ErrWrongType = shardsm.ErrWrongType
	// ErrNoNamespace: the namespace does not exist.
	ErrNoNamespace = errors.New("kv: no such namespace")
	// ErrUnavailable: the shard has no reachable leader with a quorum;
	// nothing was done, retry later.
	ErrUnavailable = errors.New("kv: shard unavailable")
	// ErrTimeout: a read did not complete in time (nothing changed).
	ErrTimeout = errors.New("kv: timed out")
	// ErrUnknownOutcome: a write reached its shard's leader but its fate is
	// not known; it may or may not have been applied.
	ErrUnknownOutcome = errors.New("kv: write outcome unknown")
	// ErrInvalid: the request is malformed.
	ErrInvalid = errors.New("kv: invalid request")
	// ErrTooLarge: a key or value exceeds its limit.
	ErrTooLarge = errors.New("kv: too large")
	// ErrConflict: a change to the cluster's shape contradicts its state
	// (a duplicate node, removing the last node, a second reshard).
	ErrConflict = errors.New("kv: conflicting change")
	// ErrUnknownMember: a change names a member, namespace or move that
	// does not exist.
	ErrUnknownMember = errors.New("kv: no such member or move")
	// ErrWrongMode: the operation does not apply to the namespace's mode.
	ErrWrongMode = errors.New("kv: operation not supported by the namespace's mode")
	// ErrLocked: the key is locked by a transaction that is still being
	// decided; see *LockedError for the key and the holder.
	ErrLocked = shardsm.ErrLocked
	// ErrTxnAborted: a transaction was rolled back (a conflict, or its
	// coordinator was judged gone); nothing of it was applied.
	ErrTxnAborted = errors.New("kv: transaction aborted")
	// ErrNoTxn: no interactive transaction of that ID is open on this node.
	ErrNoTxn = errors.New("kv: no such transaction")
	// ErrNotAllReplicas: a ca namespace's write was rolled back because a
	// replica of its shard did not acknowledge it. Nothing was done, and
	// another node would answer the same: it is an ErrUnavailable that
	// clients should not fail over on.
	ErrNotAllReplicas = fmt.Errorf("%w: mode ca needs every replica", ErrUnavailable)
)

// LockedError names a key locked by a transaction and its holder.
type LockedError = shardsm.LockedError

// VersionMismatchError reports the version a compare-and-set found (0 when
// the key is missing).
type VersionMismatchError = shardsm.VersionMismatchError

// Condition restricts a write.
type Condition = shardsm.Condition

// Write conditions.
const (
	// Always writes unconditionally.
	Always = shardsm.Always
	// IfAbsent writes only if the key does not exist (create-only).
	IfAbsent = shardsm.IfAbsent
	// IfPresent writes only if the key exists (update-only).
	IfPresent = shardsm.IfPresent
)

// Change is one applied write, reported after it is durable.
type Change = shardsm.Change

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
