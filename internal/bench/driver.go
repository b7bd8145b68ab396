package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Driver connects a run to one store. Drivers are built by NewDriver.
type Driver interface {
	// Session returns what worker i (0-based) sends its operations
	// through. Sessions may share connections; each is used by one worker
	// at a time.
	Session(i int) Session
	// Close releases every connection.
	Close() error
}

// Session runs single operations. Its errors are classified: see KindOf.
type Session interface {
	// Get reads key; found is false when the key does not exist, which
	// is not an error.
	Get(ctx context.Context, key []byte) (found bool, err error)
	// Put writes value at key unconditionally.
	Put(ctx context.Context, key, value []byte) error
}

// HashSession runs the hash workloads' operations; a Session of a
// driver that speaks a protocol with hashes implements it.
type HashSession interface {
	// HSetRecord writes every field of the record at key (one HSET).
	HSetRecord(ctx context.Context, key []byte, fields [][]byte, value []byte) error
	// HSet writes one field of the record at key.
	HSet(ctx context.Context, key, field, value []byte) error
	// HGetAll reads the whole record at key; found is false when it has
	// no fields.
	HGetAll(ctx context.Context, key []byte) (found bool, err error)
}

// TxnSession runs the transaction workloads' operations: one atomic
// transaction writing value at every key.
type TxnSession interface {
	Txn(ctx context.Context, keys [][]byte, value []byte) error
}

// Error kinds, the columns of the errors in a report.
const (
	// KindTimeout: a read got no answer in time, or the store said it
	// timed out without applying anything.
	KindTimeout = "timeout"
	// KindUnavailable: the store refused the operation without doing it
	// (no leader, no quorum, TRYAGAIN) or could not be reached.
	KindUnavailable = "unavailable"
	// KindOutcomeUnknown: a write was sent and its fate is not known (its
	// deadline passed, or the connection broke after sending).
	KindOutcomeUnknown = "outcome_unknown"
	// KindOther: anything else.
	KindOther = "other"
)

// ErrorKinds lists the kinds in report order.
var ErrorKinds = []string{KindTimeout, KindUnavailable, KindOutcomeUnknown, KindOther}

// OpError is a failed operation with its kind.
type OpError struct {
	Kind string
	Err  error
}

func (e *OpError) Error() string { return e.Kind + ": " + e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

// KindOf returns the kind of an operation's error: the kind of an
// *OpError in its chain; else timeout for a passed deadline; else other.
func KindOf(err error) string {
	var oe *OpError
	switch {
	case errors.As(err, &oe):
		return oe.Kind
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	}
	return KindOther
}

// classified wraps err with kind, leaving nil alone.
func classified(kind string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Kind: kind, Err: err}
}

// transportKind classifies a failure below the store's protocol (a
// deadline, a refused or broken connection) for an operation that was a
// write or not. ok is false when err is none of those.
func transportKind(err error, write bool) (kind string, ok bool) {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		if write {
			return KindOutcomeUnknown, true
		}
		return KindTimeout, true
	case errors.As(err, &op) && op.Op == "dial":
		return KindUnavailable, true
	case errors.As(err, &op):
		if write {
			return KindOutcomeUnknown, true
		}
		return KindUnavailable, true
	}
	return "", false
}

// NewDriver connects to o's target (o as returned by Validate). It does
// not check that the endpoints are on loopback: see CheckLoopback.
func NewDriver(ctx context.Context, o Options) (Driver, error) {
	switch o.Target {
	case TargetDistkv:
		return newDistkvDriver(o)
	case TargetEtcd:
		return newEtcdDriver(ctx, o)
	case TargetRedis:
		return newRedisDriver(o)
	}
	return nil, fmt.Errorf("unknown target %q", o.Target)
}
