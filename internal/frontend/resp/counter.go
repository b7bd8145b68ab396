package resp

import (
	"context"
	"errors"
	"math"
	"strconv"

	"github.com/distkv/distkv/internal/kv"
)

// maxCASAttempts bounds a compare-and-set loop: past it the command fails
// with errContended rather than spin while other clients keep winning.
const maxCASAttempts = 100

var errContended = errors.New("ERR the key changed under " + strconv.Itoa(maxCASAttempts) + " consecutive attempts to update it; retry")

// casLoop is a read-modify-write of key: it reads the key, calls next with
// the value found, and writes the value next returns only if the key still
// has the version read (or is still missing), starting over when it does
// not. next returning write=false ends the loop without writing. It
// returns the value and presence the successful round read.
//
// A write whose outcome is unknown is never retried: it may have been
// applied.
func (c *conn) casLoop(ctx context.Context, key []byte, next func(cur []byte, found bool) (value []byte, write bool)) ([]byte, bool, error) {
	return casRounds(
		func() (kv.Entry, bool, error) { return c.get(ctx, key) },
		func(value []byte, opts kv.WriteOptions) error {
			_, err := c.srv.cfg.KV.Put(ctx, c.ns, key, value, opts)
			return err
		}, next)
}

// casRounds is casLoop's loop over any versioned value: read returns it
// (and whether it exists), write writes a new one under the condition it
// is given (the version read, or create-only).
func casRounds(read func() (kv.Entry, bool, error), write func(value []byte, opts kv.WriteOptions) error,
	next func(cur []byte, found bool) (value []byte, write bool)) ([]byte, bool, error) {
	for range maxCASAttempts {
		e, found, err := read()
		if err != nil {
			return nil, false, err
		}
		value, ok := next(e.Value, found)
		if !ok {
			return e.Value, found, nil
		}
		opts := kv.WriteOptions{Version: e.Version}
		if !found {
			opts = kv.WriteOptions{Condition: kv.IfAbsent}
		}
		err = write(value, opts)
		switch {
		case err == nil:
			return e.Value, found, nil
		case !errors.Is(err, kv.ErrExists) && !errors.Is(err, kv.ErrVersionMismatch) && !errors.Is(err, kv.ErrNotFound):
			return nil, false, err
		}
	}
	return nil, false, errContended
}

// casError is the reply for an error from casLoop.
func casError(err error) string {
	if errors.Is(err, errContended) {
		return err.Error()
	}
	return kvError(err)
}

func (c *conn) cmdIncr(ctx context.Context, args [][]byte) { c.incrBy(ctx, args[1], 1) }
func (c *conn) cmdDecr(ctx context.Context, args [][]byte) { c.incrBy(ctx, args[1], -1) }

func (c *conn) cmdIncrBy(ctx context.Context, args [][]byte) {
	if d, ok := parseInt(args[2]); ok {
		c.incrBy(ctx, args[1], d)
		return
	}
	c.w.error(errNotInt)
}

func (c *conn) cmdDecrBy(ctx context.Context, args [][]byte) {
	d, ok := parseInt(args[2])
	switch {
	case !ok:
		c.w.error(errNotInt)
	case d == math.MinInt64:
		c.w.error("ERR decrement would overflow")
	default:
		c.incrBy(ctx, args[1], -d)
	}
}

// incrBy adds delta to the integer stored at key (a missing key counts as
// 0) with a compare-and-set on the key's version, and replies with the
// new value.
func (c *conn) incrBy(ctx context.Context, key []byte, delta int64) {
	var result int64
	var bad string // an error reply that ends the loop without writing
	_, _, err := c.casLoop(ctx, key, func(cur []byte, found bool) ([]byte, bool) {
		n := int64(0)
		if found {
			var ok bool
			if n, ok = parseInt(cur); !ok {
				bad = errNotInt
				return nil, false
			}
		}
		if delta > 0 && n > math.MaxInt64-delta || delta < 0 && n < math.MinInt64-delta {
			bad = "ERR increment or decrement would overflow"
			return nil, false
		}
		result = n + delta
		return strconv.AppendInt(nil, result, 10), true
	})
	switch {
	case err != nil:
		c.w.error(casError(err))
	case bad != "":
		c.w.error(bad)
	default:
		c.w.int(result)
	}
}

// parseInt parses a signed 64-bit integer in Redis's strict form: decimal,
// no '+', no leading zeros, no spaces.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, false
	}
	var buf [20]byte
	return n, string(strconv.AppendInt(buf[:0], n, 10)) == string(b)
}
