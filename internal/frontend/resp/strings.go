package resp

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/kv"
)

// maxFanout bounds the kv calls one multi-key command runs at a time.
const maxFanout = 16

func (c *conn) get(ctx context.Context, key []byte) (kv.Entry, bool, error) {
	e, err := c.srv.cfg.KV.Get(ctx, c.ns, key, kv.ReadOptions{})
	if errors.Is(err, kv.ErrNotFound) {
		return kv.Entry{}, false, nil
	}
	return e, err == nil, err
}

func (c *conn) cmdGet(ctx context.Context, args [][]byte) {
	e, found, err := c.get(ctx, args[1])
	switch {
	case err != nil:
		c.w.error(kvError(err))
	case !found:
		c.w.null()
	default:
		c.w.bulk(e.Value)
	}
}

func (c *conn) cmdStrlen(ctx context.Context, args [][]byte) {
	e, _, err := c.get(ctx, args[1])
	if err != nil {
		c.w.error(kvError(err))
		return
	}
	c.w.int(int64(len(e.Value)))
}

// cmdExists counts the arguments that name existing keys, strings or
// hashes (a key named twice counts twice, as in Redis).
func (c *conn) cmdExists(ctx context.Context, args [][]byte) {
	found := make([]bool, len(args)-1)
	errs := fanout(len(found), func(i int) (err error) {
		_, found[i], err = c.get(ctx, args[1+i])
		if errors.Is(err, kv.ErrWrongType) { // a hash
			found[i], err = true, nil
		}
		return err
	})
	if err := first(errs); err != nil {
		c.w.error(kvError(err))
		return
	}
	var n int64
	for _, f := range found {
		if f {
			n++
		}
	}
	c.w.int(n)
}

// cmdMGet reads every key; it fails as a whole if any read fails for a
// reason other than a missing key. A key holding a hash reads as nil, as
// in Redis.
func (c *conn) cmdMGet(ctx context.Context, args [][]byte) {
	vals := make([][]byte, len(args)-1)
	found := make([]bool, len(vals))
	errs := fanout(len(vals), func(i int) error {
		e, ok, err := c.get(ctx, args[1+i])
		vals[i], found[i] = e.Value, ok
		if errors.Is(err, kv.ErrWrongType) {
			return nil
		}
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

// cmdMSet writes every pair. In a strong namespace it is one transaction,
// atomic across shards as in Redis: all the keys or none. Eventual and
// causal namespaces have no transactions: there each key is written on its
// own (concurrently), and if any write fails the reply is the error of the
// first failed pair in argument order while the other writes may have
// been applied. A key named twice gets its last value, as in Redis.
func (c *conn) cmdMSet(ctx context.Context, args [][]byte) {
	if len(args)%2 != 1 {
		c.w.error("ERR wrong number of arguments for 'mset' command")
		return
	}
	idx := lastPairs(args)
	if c.srv.cfg.Txn != nil {
		var req api.TxnRequest
		for _, i := range idx {
			req.Success = append(req.Success, api.TxnOp{Op: "put", Key: string(args[i]), Value: string(args[i+1])})
		}
		_, err := c.srv.cfg.Txn.Txn(ctx, c.ns, req)
		switch {
		case err == nil:
			c.w.simple("OK")
			return
		case !errors.Is(err, kv.ErrWrongMode):
			c.w.error(kvError(err))
			return
		}
	}
	errs := fanout(len(idx), func(j int) error {
		i := idx[j]
		_, err := c.srv.cfg.KV.Put(ctx, c.ns, args[i], args[i+1], kv.WriteOptions{})
		return err
	})
	if err := first(errs); err != nil {
		c.w.error(kvError(err))
		return
	}
	c.w.simple("OK")
}

// lastPairs returns the argument index of each key of a key-value list
// (args[1:]) that is not named again later.
func lastPairs(args [][]byte) []int {
	last := make(map[string]int, len(args)/2)
	for i := 1; i < len(args); i += 2 {
		last[string(args[i])] = i
	}
	idx := make([]int, 0, len(last))
	for i := 1; i < len(args); i += 2 {
		if last[string(args[i])] == i {
			idx = append(idx, i)
		}
	}
	return idx
}

// cmdMSetNX sets every pair if none of the keys exists, atomically (one
// transaction): 1 if it did, 0 if any key existed. Strong namespaces only.
func (c *conn) cmdMSetNX(ctx context.Context, args [][]byte) {
	if len(args)%2 != 1 {
		c.w.error("ERR wrong number of arguments for 'msetnx' command")
		return
	}
	if c.srv.cfg.Txn == nil {
		c.w.error("ERR MSETNX needs transactions, which this node does not serve")
		return
	}
	var req api.TxnRequest
	for _, i := range lastPairs(args) {
		req.Compare = append(req.Compare, api.TxnCompare{Key: string(args[i]), Target: "exists", Op: "=", Exists: false})
		req.Success = append(req.Success, api.TxnOp{Op: "put", Key: string(args[i]), Value: string(args[i+1])})
	}
	res, err := c.srv.cfg.Txn.Txn(ctx, c.ns, req)
	if err != nil {
		c.w.error(kvError(err))
		return
	}
	if res.Succeeded {
		c.w.int(1)
	} else {
		c.w.int(0)
	}
}

// cmdDel deletes every key and counts those that existed. Like MSET it is
// not atomic: on an error, other deletes may have been applied.
func (c *conn) cmdDel(ctx context.Context, args [][]byte) {
	errs := fanout(len(args)-1, func(i int) error {
		_, err := c.srv.cfg.KV.Delete(ctx, c.ns, args[1+i], kv.WriteOptions{})
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

// cmdSet answers SET key value [NX|XX] [GET]. With GET the old value is
// read and replaced in one compare-and-set, so the reply is exactly the
// value the write replaced.
func (c *conn) cmdSet(ctx context.Context, args [][]byte) {
	cond, get, msg := parseSetOptions(args[3:])
	if msg != "" {
		c.w.error(msg)
		return
	}
	if get {
		c.swap(ctx, args[1], args[2], cond)
		return
	}
	_, err := c.srv.cfg.KV.Put(ctx, c.ns, args[1], args[2], kv.WriteOptions{Condition: cond})
	switch {
	case errors.Is(err, kv.ErrExists) && cond == kv.IfAbsent,
		errors.Is(err, kv.ErrNotFound) && cond == kv.IfPresent:
		c.w.null()
	case err != nil:
		c.w.error(kvError(err))
	default:
		c.w.simple("OK")
	}
}

const errTTL = "ERR TTLs are not supported yet by distkv"

func parseSetOptions(opts [][]byte) (cond kv.Condition, get bool, msg string) {
	for i := 0; i < len(opts); i++ {
		switch o := strings.ToLower(string(opts[i])); o {
		case "nx", "xx":
			c := map[string]kv.Condition{"nx": kv.IfAbsent, "xx": kv.IfPresent}[o]
			if cond != kv.Always && cond != c {
				return 0, false, errSyntax
			}
			cond = c
		case "get":
			get = true
		case "ex", "px", "exat", "pxat":
			if i+1 == len(opts) {
				return 0, false, errSyntax
			}
			return 0, false, errTTL
		case "keepttl":
			return 0, false, errTTL
		default:
			return 0, false, errSyntax
		}
	}
	return cond, get, ""
}

// swap writes key (subject to cond) and replies with the value it
// replaced, or nil. With NX and an existing key nothing is written and the
// reply is the current value, as in Redis 7.
func (c *conn) swap(ctx context.Context, key, value []byte, cond kv.Condition) {
	old, found, err := c.casLoop(ctx, key, func(_ []byte, found bool) ([]byte, bool) {
		return value, !(cond == kv.IfAbsent && found || cond == kv.IfPresent && !found)
	})
	switch {
	case err != nil:
		c.w.error(casError(err))
	case found:
		c.w.bulk(old)
	default:
		c.w.null()
	}
}

func (c *conn) cmdGetSet(ctx context.Context, args [][]byte) {
	c.swap(ctx, args[1], args[2], kv.Always)
}

func (c *conn) cmdSetNX(ctx context.Context, args [][]byte) {
	_, err := c.srv.cfg.KV.Put(ctx, c.ns, args[1], args[2], kv.WriteOptions{Condition: kv.IfAbsent})
	switch {
	case errors.Is(err, kv.ErrExists):
		c.w.int(0)
	case err != nil:
		c.w.error(kvError(err))
	default:
		c.w.int(1)
	}
}

// cmdUpd answers seed 000's UPD key value: an update-only write.
func (c *conn) cmdUpd(ctx context.Context, args [][]byte) {
	_, err := c.srv.cfg.KV.Put(ctx, c.ns, args[1], args[2], kv.WriteOptions{Condition: kv.IfPresent})
	if err != nil {
		c.w.error(kvError(err))
		return
	}
	c.w.simple("OK")
}

// fanout runs f(0), ..., f(n-1), at most maxFanout at a time, and returns
// their errors by index.
func fanout(n int, f func(i int) error) []error {
	errs := make([]error, n)
	if n == 1 {
		errs[0] = f(0)
		return errs
	}
	sem := make(chan struct{}, maxFanout)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = f(i)
		})
	}
	wg.Wait()
	return errs
}

func first(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
