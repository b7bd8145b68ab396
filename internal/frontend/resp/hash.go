package resp

import (
	"context"
	"errors"
	"math"
	"strconv"

	"github.com/distkv/distkv/internal/kv"
)

// Hashes. A hash is stored by the kv service as one key per field in its
// key's shard (see package kv and keyspace.InternalPrefix), so HSET of
// one field is one replicated write of that field, and HGETALL and HLEN
// read one shard. The kv service keeps a key a string or a hash, never
// both, and answers kv.ErrWrongType across the kinds, which kvError
// turns into Redis's WRONGTYPE error. Strong namespaces only: in an
// eventual or causal namespace every hash command fails with the kv
// service's "hashes need a strong namespace".
//
// Like MSET, a command naming several fields writes (or deletes) each on
// its own, concurrently: it is not atomic, and after an error some of its
// fields may have been written.

// maxHashReply and maxHashReplyBytes bound the fields HGETALL returns and
// their size (names and values); past either HGETALL fails rather than
// build an unbounded reply.
const (
	maxHashReply      = 100000
	maxHashReplyBytes = 256 << 20
)

// maxHashRereads bounds how often HGETALL and HLEN start again because the
// hash was replaced (deleted and created anew) between two of their pages.
const maxHashRereads = 10

var errHashReplaced = replyError("ERR the hash was replaced " + strconv.Itoa(maxHashRereads) + " times while it was being read; retry")

// replyError is an error that is its own error reply.
type replyError string

func (e replyError) Error() string { return string(e) }

// cmdHSet answers HSET key field value [field value ...] with the number
// of fields that did not exist. A field named twice gets its last value.
func (c *conn) cmdHSet(ctx context.Context, args [][]byte) {
	if len(args)%2 != 0 {
		c.w.error("ERR wrong number of arguments for 'hset' command")
		return
	}
	key := args[1]
	last := make(map[string]int, (len(args)-2)/2)
	for i := 2; i < len(args); i += 2 {
		last[string(args[i])] = i
	}
	idx := make([]int, 0, len(last))
	for i := 2; i < len(args); i += 2 {
		if last[string(args[i])] == i {
			idx = append(idx, i)
		}
	}
	fields := make([]kv.HashField, len(idx))
	for j, i := range idx {
		fields[j] = kv.HashField{Name: args[i], Value: args[i+1]}
	}
	// One write: every field or, on an error, none (as in Redis).
	_, added, err := c.srv.cfg.KV.HashSet(ctx, c.ns, key, fields)
	if err != nil {
		c.w.error(kvError(err))
		return
	}
	c.w.int(int64(added))
}

// hget reads one field; found is false for a missing field or hash.
func (c *conn) hget(ctx context.Context, key, field []byte) (kv.Entry, bool, error) {
	e, err := c.srv.cfg.KV.HashGet(ctx, c.ns, key, field, kv.ReadOptions{})
	if errors.Is(err, kv.ErrNotFound) {
		return kv.Entry{}, false, nil
	}
	return e, err == nil, err
}

func (c *conn) cmdHGet(ctx context.Context, args [][]byte) {
	e, found, err := c.hget(ctx, args[1], args[2])
	switch {
	case err != nil:
		c.w.error(kvError(err))
	case !found:
		c.w.null()
	default:
		c.w.bulk(e.Value)
	}
}

func (c *conn) cmdHExists(ctx context.Context, args [][]byte) {
	_, found, err := c.hget(ctx, args[1], args[2])
	switch {
	case err != nil:
		c.w.error(kvError(err))
	case found:
		c.w.int(1)
	default:
		c.w.int(0)
	}
}

// cmdHMGet answers HMGET key field [field ...]: each field's value or
// nil. Each field is read on its own, concurrently (like MGET).
func (c *conn) cmdHMGet(ctx context.Context, args [][]byte) {
	fields := args[2:]
	vals := make([][]byte, len(fields))
	found := make([]bool, len(fields))
	errs := fanout(len(fields), func(i int) error {
		e, ok, err := c.hget(ctx, args[1], fields[i])
		vals[i], found[i] = e.Value, ok
		return err
	})
	if err := first(errs); err != nil {
		c.w.error(kvError(err))
		return
	}
	c.w.array(len(vals))
	for i, v := range vals {
		if found[i] {
			c.w.bulk(v)
		} else {
			c.w.null()
		}
	}
}

// cmdHDel answers HDEL key field [field ...] with the number of fields
// that existed. Deleting a hash's last field deletes the hash.
func (c *conn) cmdHDel(ctx context.Context, args [][]byte) {
	seen := make(map[string]bool, len(args)-2)
	var fields [][]byte
	for _, f := range args[2:] {
		if !seen[string(f)] {
			seen[string(f)] = true
			fields = append(fields, f)
		}
	}
	errs := fanout(len(fields), func(i int) error {
		_, err := c.srv.cfg.KV.HashDelete(ctx, c.ns, args[1], fields[i], kv.WriteOptions{})
		return err
	})
	var n int64
	for _, err := range errs {
		switch {
		case err == nil:
			n++
		case !errors.Is(err, kv.ErrNotFound):
			c.w.error(kvError(err))
			return
		}
	}
	c.w.int(n)
}

// cmdHGetAll answers HGETALL key: every field and its value, in field
// order.
func (c *conn) cmdHGetAll(ctx context.Context, args [][]byte) {
	var fields []kv.Entry
	size := 0
	err := c.hashPages(ctx, args[1], true, func(page []kv.Entry) error {
		if len(fields)+len(page) > maxHashReply {
			return replyError("ERR the hash has more than " + strconv.Itoa(maxHashReply) + " fields, more than distkv returns in one reply")
		}
		for _, f := range page {
			if size += len(f.Key) + len(f.Value); size > maxHashReplyBytes {
				return replyError("ERR the hash holds more than " + strconv.Itoa(maxHashReplyBytes>>20) + " MiB, more than distkv returns in one reply")
			}
		}
		fields = append(fields, page...)
		return nil
	}, func() { fields, size = fields[:0], 0 })
	if err != nil {
		c.w.error(hashError(err))
		return
	}
	c.w.mapLen(len(fields)) // a flat array of field, value... in RESP2
	for _, f := range fields {
		c.w.bulk(f.Key)
		c.w.bulk(f.Value)
	}
}

// cmdHLen answers HLEN key: the number of fields, counted on the key's
// shard.
func (c *conn) cmdHLen(ctx context.Context, args [][]byte) {
	var n int64
	err := c.hashPages(ctx, args[1], false, func(page []kv.Entry) error {
		n += int64(len(page))
		return nil
	}, func() { n = 0 })
	if err != nil {
		c.w.error(hashError(err))
		return
	}
	c.w.int(n)
}

// hashPages reads the fields of the hash under key a page at a time (one
// kv request to the key's shard per page, each page from one snapshot),
// calling page with each. If the hash is replaced between two pages it
// calls restart and reads again from the first field, so every page comes
// from one hash; fields written or deleted between pages may or may not
// show, as in Redis's HSCAN.
func (c *conn) hashPages(ctx context.Context, key []byte, values bool, page func([]kv.Entry) error, restart func()) error {
	for range maxHashRereads {
		if done, err := c.hashPagesOnce(ctx, key, values, page); done || err != nil {
			return err
		}
		restart()
	}
	return errHashReplaced
}

// hashPagesOnce is one pass of hashPages; done is false if the hash was
// replaced part way.
func (c *conn) hashPagesOnce(ctx context.Context, key []byte, values bool, page func([]kv.Entry) error) (done bool, err error) {
	var gen uint64
	var after []byte
	for first := true; ; first = false {
		res, err := c.srv.cfg.KV.HashScan(ctx, c.ns, key, kv.ScanOptions{After: after, Values: values})
		if err != nil {
			return false, err
		}
		if !first && res.Generation != gen {
			return false, nil
		}
		gen = res.Generation
		if err := page(res.Fields); err != nil {
			return false, err
		}
		if !res.More || len(res.Fields) == 0 {
			return true, nil
		}
		after = res.Fields[len(res.Fields)-1].Key
	}
}

// hashError is the reply for an error of hashPages.
func hashError(err error) string {
	var re replyError
	if errors.As(err, &re) {
		return err.Error()
	}
	return kvError(err)
}

// cmdHIncrBy answers HINCRBY key field increment: the field's integer
// plus increment (a missing field or hash counts as 0), written with a
// compare-and-set on the field's version, as INCR does on a key's.
func (c *conn) cmdHIncrBy(ctx context.Context, args [][]byte) {
	delta, ok := parseInt(args[3])
	if !ok {
		c.w.error(errNotInt)
		return
	}
	key, field := args[1], args[2]
	var result int64
	var bad string // an error reply that ends the loop without writing
	_, _, err := casRounds(
		func() (kv.Entry, bool, error) { return c.hget(ctx, key, field) },
		func(value []byte, opts kv.WriteOptions) error {
			_, err := c.srv.cfg.KV.HashPut(ctx, c.ns, key, field, value, opts)
			return err
		},
		func(cur []byte, found bool) ([]byte, bool) {
			n := int64(0)
			if found {
				var ok bool
				if n, ok = parseInt(cur); !ok {
					bad = "ERR hash value is not an integer"
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

// cmdType answers TYPE key: string, hash or none.
func (c *conn) cmdType(ctx context.Context, args [][]byte) {
	_, found, err := c.get(ctx, args[1])
	switch {
	case errors.Is(err, kv.ErrWrongType):
		c.w.simple("hash")
	case err != nil:
		c.w.error(kvError(err))
	case found:
		c.w.simple("string")
	default:
		c.w.simple("none")
	}
}
