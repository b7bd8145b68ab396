package resp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/distkv/distkv/internal/kv"
)

// Error replies that more than one command gives.
const (
	errSyntax    = "ERR syntax error"
	errNotInt    = "ERR value is not an integer or out of range"
	errOutcome   = "ERR outcome unknown: the write may or may not have been applied"
	errNoSuchKey = "ERR no such key"
	// errWrongType is Redis's error for a command on a key of another
	// type (a string command on a hash, a hash command on a string).
	errWrongType = "WRONGTYPE Operation against a key holding the wrong kind of value"
)

// kvError translates an error from the kv service into an error reply.
// This is the one place kv's errors become Redis error codes. Commands for
// which a missing key or a failed condition is an ordinary answer (a nil
// reply, 0) test for those before calling it.
func kvError(err error) string {
	var vm *kv.VersionMismatchError
	var locked *kv.LockedError
	switch {
	case errors.As(err, &locked):
		return fmt.Sprintf("TRYAGAIN key %q is locked by transaction %s", locked.Key, locked.Txn)
	case errors.Is(err, kv.ErrTxnAborted):
		return "TRYAGAIN " + strings.TrimPrefix(err.Error(), "kv: ")
	case errors.As(err, &vm):
		return fmt.Sprintf("ERR version mismatch: expected %d, current %d", vm.Expected, vm.Current)
	case errors.Is(err, kv.ErrWrongType):
		return errWrongType
	case errors.Is(err, kv.ErrNotFound):
		return errNoSuchKey
	case errors.Is(err, kv.ErrExists):
		return "ERR key exists"
	case errors.Is(err, kv.ErrUnknownOutcome):
		return errOutcome
	case errors.Is(err, kv.ErrUnavailable):
		return "TRYAGAIN shard unavailable" + detail(err, kv.ErrUnavailable, ": ")
	case errors.Is(err, kv.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		if d := detail(err, kv.ErrTimeout, ": "); d != "" {
			return "ERR timeout" + d
		}
		return "ERR timeout: the request did not complete in time"
	case errors.Is(err, kv.ErrTooLarge):
		d := detail(err, kv.ErrTooLarge, "")
		if strings.HasPrefix(d, "key") {
			return "ERR key too large: " + d
		}
		return "ERR value too large" + detail(err, kv.ErrTooLarge, ": ")
	case errors.Is(err, kv.ErrNoNamespace):
		return "ERR no such namespace" + detail(err, kv.ErrNoNamespace, ": ")
	case errors.Is(err, kv.ErrWrongMode):
		return "ERR wrong namespace mode" + detail(err, kv.ErrWrongMode, ": ")
	case errors.Is(err, kv.ErrInvalid):
		return "ERR invalid request" + detail(err, kv.ErrInvalid, ": ")
	case errors.Is(err, context.Canceled):
		return "ERR request cancelled: the connection or the server is closing"
	}
	return "ERR internal error: " + err.Error()
}

// detail is what err says beyond its sentinel's own text, after sep, or ""
// when it says nothing more. kv builds its errors with errors.Join and
// fmt.Errorf("%w: ..."), so the extra text follows the sentinel's.
func detail(err, sentinel error, sep string) string {
	s := strings.Replace(err.Error(), sentinel.Error(), "", 1)
	s = strings.Trim(s, ":;\n ")
	if s == "" {
		return ""
	}
	return sep + oneLine(s)
}
