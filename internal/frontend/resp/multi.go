package resp

import (
	"context"
	"errors"
	"strings"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/kv"
)

// MULTI / EXEC / DISCARD / WATCH / UNWATCH. The queued commands run at
// EXEC as one distkv transaction (strong namespaces): atomically across
// shards, all or nothing. WATCH records each key's version; EXEC compares
// them, and a key written since makes EXEC answer a null array with
// nothing applied, as in Redis. The commands that can be queued are those
// a transaction expresses: SET key value, GET, DEL, EXISTS, MSET, MGET.

// multiState is a connection's MULTI under way.
type multiState struct {
	queued [][][]byte
	failed bool // a command was refused while queueing: EXEC aborts
}

// txnQueueable are the commands MULTI can queue.
var txnQueueable = map[string]bool{"set": true, "get": true, "del": true, "exists": true, "mset": true, "mget": true}

// inMulti handles a command while MULTI is open: it queues it (or
// refuses it, failing the transaction) unless it ends or belongs to the
// MULTI. It reports whether the command was dealt with.
func (c *conn) inMulti(name string, args [][]byte) bool {
	switch name {
	case "exec", "discard", "multi", "watch", "quit":
		return false
	}
	if !txnQueueable[name] || (name == "set" && len(args) != 3) {
		c.multi.failed = true
		c.w.error("ERR '" + strings.ToUpper(name) + "' with these arguments cannot run inside MULTI in distkv (a transaction takes SET key value, GET, DEL, EXISTS, MSET and MGET)")
		return true
	}
	if name == "mset" && len(args)%2 != 1 {
		c.multi.failed = true
		c.w.error("ERR wrong number of arguments for 'mset' command")
		return true
	}
	q := make([][]byte, len(args))
	for i, a := range args {
		q[i] = append([]byte(nil), a...) // the reader reuses its buffers
	}
	c.multi.queued = append(c.multi.queued, q)
	c.w.simple("QUEUED")
	return true
}

func (c *conn) cmdMulti(ctx context.Context, args [][]byte) {
	if c.multi != nil {
		c.w.error("ERR MULTI calls can not be nested")
		return
	}
	c.multi = &multiState{}
	c.w.simple("OK")
}

func (c *conn) cmdDiscard(ctx context.Context, args [][]byte) {
	if c.multi == nil {
		c.w.error("ERR DISCARD without MULTI")
		return
	}
	c.multi, c.watched = nil, nil
	c.w.simple("OK")
}

func (c *conn) cmdWatch(ctx context.Context, args [][]byte) {
	if c.multi != nil {
		c.w.error("ERR WATCH inside MULTI is not allowed")
		return
	}
	if c.watched == nil {
		c.watched = map[string]uint64{}
	}
	for _, k := range args[1:] {
		if _, ok := c.watched[string(k)]; ok {
			continue // the first WATCH of a key is the one that counts
		}
		e, found, err := c.get(ctx, k)
		if err != nil && !errors.Is(err, kv.ErrWrongType) {
			c.w.error(kvError(err))
			return
		}
		v := uint64(0)
		if found {
			v = e.Version
		}
		c.watched[string(k)] = v
	}
	c.w.simple("OK")
}

func (c *conn) cmdUnwatch(ctx context.Context, args [][]byte) {
	c.watched = nil
	c.w.simple("OK")
}

// replyPlan says how EXEC answers one queued command from the
// transaction's results: ops are its operations' indexes.
type replyPlan struct {
	name string
	ops  []int
}

func (c *conn) cmdExec(ctx context.Context, args [][]byte) {
	m, watched := c.multi, c.watched
	if m == nil {
		c.w.error("ERR EXEC without MULTI")
		return
	}
	c.multi, c.watched = nil, nil
	if m.failed {
		c.w.error("EXECABORT Transaction discarded because of previous errors.")
		return
	}
	if c.srv.cfg.Txn == nil {
		c.w.error("ERR EXEC needs transactions, which this node does not serve")
		return
	}
	var req api.TxnRequest
	for k, v := range watched {
		req.Compare = append(req.Compare, api.TxnCompare{Key: k, Target: "version", Op: "=", Version: v})
	}
	var plans []replyPlan
	add := func(op api.TxnOp) int {
		req.Success = append(req.Success, op)
		return len(req.Success) - 1
	}
	for _, q := range m.queued {
		p := replyPlan{name: strings.ToLower(string(q[0]))}
		switch p.name {
		case "set":
			p.ops = append(p.ops, add(api.TxnOp{Op: "put", Key: string(q[1]), Value: string(q[2])}))
		case "get", "exists", "mget":
			for _, k := range q[1:] {
				p.ops = append(p.ops, add(api.TxnOp{Op: "get", Key: string(k)}))
			}
		case "del":
			for _, k := range q[1:] {
				p.ops = append(p.ops, add(api.TxnOp{Op: "get", Key: string(k)}))
				add(api.TxnOp{Op: "delete", Key: string(k)})
			}
		case "mset":
			for _, i := range lastPairs(q) {
				add(api.TxnOp{Op: "put", Key: string(q[i]), Value: string(q[i+1])})
			}
		}
		plans = append(plans, p)
	}
	if len(req.Success) == 0 && len(req.Compare) == 0 {
		c.w.array(0)
		return
	}
	res, err := c.srv.cfg.Txn.Txn(ctx, c.ns, req)
	if err != nil {
		c.w.error(kvError(err))
		return
	}
	if !res.Succeeded {
		c.w.nullArray() // a watched key changed: nothing was applied
		return
	}
	c.w.array(len(plans))
	for _, p := range plans {
		switch p.name {
		case "set", "mset":
			c.w.simple("OK")
		case "get":
			c.bulkOrNull(res.Results[p.ops[0]])
		case "mget":
			c.w.array(len(p.ops))
			for _, i := range p.ops {
				c.bulkOrNull(res.Results[i])
			}
		case "exists", "del":
			n := 0
			for _, i := range p.ops {
				if res.Results[i].Found {
					n++
				}
			}
			c.w.int(int64(n))
		}
	}
}

func (c *conn) bulkOrNull(r api.TxnOpResult) {
	if r.Found {
		c.w.bulkString(r.Value)
	} else {
		c.w.null()
	}
}
