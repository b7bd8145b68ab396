package resp

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/kv"
)

// maxKeys bounds the reply of KEYS; past it KEYS fails and points to SCAN.
const maxKeys = 100000

// cmdScan answers SCAN cursor [MATCH pattern] [COUNT n] [TYPE type].
//
// Each call reads the next COUNT keys (default 10) in key order across all
// of the namespace's shards, starting after the key the cursor stands for,
// and returns those matching the pattern: possibly none, as in Redis. Only
// keys under the pattern's literal prefix are read. The cursor is a number
// because clients parse it as one (go-redis, redis-py); see cursorTable.
// A scan returns every key present for its whole duration exactly once.
func (c *conn) cmdScan(ctx context.Context, args [][]byte) {
	id, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		c.w.error("ERR invalid cursor")
		return
	}
	o, msg := parseScanOptions(args[2:], c.srv.cfg.KV.Limits().MaxScan)
	if msg != "" {
		c.w.error(msg)
		return
	}
	var after []byte
	if id != 0 {
		var ok bool
		if after, ok = c.srv.cursors.lookup(id, displayNS(c.ns)); !ok {
			c.w.error("ERR invalid cursor: unknown or expired on this node; start the scan again from 0")
			return
		}
	}
	res, err := c.srv.cfg.KV.Scan(ctx, c.ns, kv.ScanOptions{Prefix: literalPrefix(o.pattern), After: after, Limit: o.count, Hashes: true})
	if err != nil {
		c.w.error(kvError(err))
		return
	}
	var next uint64
	if res.More && len(res.Entries) > 0 {
		next = c.srv.cursors.issue(displayNS(c.ns), res.Entries[len(res.Entries)-1].Key, id)
	}
	c.w.array(2)
	c.w.bulkString(strconv.FormatUint(next, 10))
	keys := matching(ofType(res.Entries, o.typ), o.pattern)
	c.w.array(len(keys))
	for _, k := range keys {
		c.w.bulk(k)
	}
}

type scanOptions struct {
	pattern []byte // nil: every key
	count   int
	typ     string // TYPE, lower case ("": any)
}

func parseScanOptions(args [][]byte, maxCount int) (scanOptions, string) {
	o := scanOptions{count: 10}
	if len(args)%2 != 0 {
		return o, errSyntax
	}
	for i := 0; i < len(args); i += 2 {
		switch strings.ToLower(string(args[i])) {
		case "match":
			o.pattern = args[i+1]
		case "count":
			n, ok := parseInt(args[i+1])
			if !ok {
				return o, errNotInt
			}
			if n < 1 {
				return o, errSyntax
			}
			o.count = int(min(n, int64(max(maxCount, 1))))
		case "type":
			o.typ = strings.ToLower(string(args[i+1]))
		default:
			return o, errSyntax
		}
	}
	return o, ""
}

// ofType returns the entries of keys of type typ ("string", "hash"; ""
// for any; nothing for a type distkv does not have).
func ofType(es []kv.Entry, typ string) []kv.Entry {
	if typ == "" {
		return es
	}
	var out []kv.Entry
	for _, e := range es {
		if typ == "hash" && e.Hash || typ == "string" && !e.Hash {
			out = append(out, e)
		}
	}
	return out
}

func matching(es []kv.Entry, pattern []byte) [][]byte {
	var out [][]byte
	for _, e := range es {
		if pattern == nil || match(pattern, e.Key) {
			out = append(out, e.Key)
		}
	}
	return out
}

// cmdKeys answers KEYS pattern, reading every key under the pattern's
// literal prefix; it fails rather than return more than maxKeys keys.
func (c *conn) cmdKeys(ctx context.Context, args [][]byte) {
	var keys [][]byte
	err := c.scanAll(ctx, literalPrefix(args[1]), func(es []kv.Entry) bool {
		keys = append(keys, matching(es, args[1])...)
		return len(keys) <= maxKeys
	})
	switch {
	case err != nil:
		c.w.error(kvError(err))
	case len(keys) > maxKeys:
		c.w.error("ERR KEYS would return more than " + strconv.Itoa(maxKeys) + " keys; use SCAN")
	default:
		c.w.array(len(keys))
		for _, k := range keys {
			c.w.bulk(k)
		}
	}
}

// scanAll reads the namespace's keys under prefix a page at a time, until
// the last page or until page returns false.
func (c *conn) scanAll(ctx context.Context, prefix []byte, page func([]kv.Entry) bool) error {
	var after []byte
	for {
		res, err := c.srv.cfg.KV.Scan(ctx, c.ns, kv.ScanOptions{Prefix: prefix, After: after, Hashes: true})
		if err != nil {
			return err
		}
		if !page(res.Entries) || !res.More || len(res.Entries) == 0 {
			return nil
		}
		after = res.Entries[len(res.Entries)-1].Key
	}
}

// cmdDBSize answers the namespace's key count. It adds up the per-shard
// counts the cluster status reports (as cheap as Redis's DBSIZE), and
// counts by scanning only when a shard's count is unknown.
func (c *conn) cmdDBSize(ctx context.Context, _ [][]byte) {
	if n, ok := c.statusKeyCount(ctx); ok {
		c.w.int(n)
		return
	}
	var n int64
	err := c.scanAll(ctx, nil, func(es []kv.Entry) bool {
		n += int64(len(es))
		return true
	})
	if err != nil {
		c.w.error(kvError(err))
		return
	}
	c.w.int(n)
}

// statusKeyCount is the connection's namespace's key count from the
// cluster status; ok is false when the status or a shard's count is
// unavailable.
func (c *conn) statusKeyCount(ctx context.Context) (n int64, ok bool) {
	st, err := c.srv.cfg.Node.Status(ctx)
	if err != nil {
		return 0, false
	}
	ns := displayNS(c.ns)
	n, unknown := keyCount(&st, ns)
	return n, unknown == 0 && slices.ContainsFunc(st.Shards, func(sh api.Shard) bool { return sh.Namespace == ns })
}
