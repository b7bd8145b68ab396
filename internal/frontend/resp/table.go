package resp

import (
	"context"
	"strings"
)

// command is one entry of the command table.
type command struct {
	name string // lower case, as Redis names commands in errors
	// arity counts the command name too: n means exactly n arguments, -n
	// at least n (Redis's convention, also reported by COMMAND).
	arity int
	flags []string
	// firstKey, lastKey and step locate the key arguments for COMMAND
	// (lastKey -1: through the last argument); all 0 when there are none.
	firstKey, lastKey, step int
	run                     func(c *conn, ctx context.Context, args [][]byte)
	// subs are a container's subcommands, named "container|sub", with
	// their own arity and flags; the container's run dispatches to them
	// (conn.subcommand). COMMAND reports them as Redis does; their
	// documentation, and every command's, is in commandDocs.
	subs []*command
}

// sub returns the subcommand of cmd named name (any case), or nil.
func (cmd *command) sub(name string) *command {
	full := cmd.name + "|" + strings.ToLower(name)
	for _, sc := range cmd.subs {
		if sc.name == full {
			return sc
		}
	}
	return nil
}

// commandTable returns the commands the server knows, by lower-case name.
// Flags are those Redis 7 reports for the same commands.
func commandTable() map[string]*command {
	var (
		ro     = []string{"readonly", "fast"}
		scan   = []string{"readonly"}
		wr     = []string{"write", "denyoom"}
		wrFast = []string{"write", "denyoom", "fast"}
		cnx    = []string{"loading", "stale", "fast"}
		// what a connection may send before it authenticates
		noAuth = []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}
		info   = []string{"loading", "stale"}
		client = []string{"noscript", "loading", "stale"}
		// MULTI's own commands
		txnFast = []string{"noscript", "loading", "stale", "fast", "allow_busy"}
	)
	list := []*command{
		{name: "ping", arity: -1, flags: []string{"fast"}, run: (*conn).cmdPing},
		{name: "echo", arity: 2, flags: cnx, run: (*conn).cmdEcho},
		{name: "quit", arity: -1, flags: noAuth, run: (*conn).cmdQuit},
		{name: "hello", arity: -1, flags: noAuth, run: (*conn).cmdHello},
		{name: "auth", arity: -2, flags: noAuth, run: (*conn).cmdAuth},
		{name: "client", arity: -2, run: (*conn).cmdClient, subs: []*command{
			{name: "client|setname", arity: 3, flags: client},
			{name: "client|getname", arity: 2, flags: client},
			{name: "client|id", arity: 2, flags: client},
			{name: "client|info", arity: 2, flags: client},
			{name: "client|setinfo", arity: 4, flags: client},
			{name: "client|help", arity: 2, flags: info},
		}},
		{name: "command", arity: -1, flags: info, run: (*conn).cmdCommand, subs: []*command{
			{name: "command|count", arity: 2, flags: info},
			{name: "command|docs", arity: -2, flags: info},
			{name: "command|info", arity: -2, flags: info},
			{name: "command|help", arity: 2, flags: info},
		}},
		{name: "config", arity: -2, run: (*conn).cmdConfig, subs: []*command{
			{name: "config|get", arity: -3, flags: []string{"admin", "noscript", "loading", "stale"}},
			{name: "config|help", arity: 2, flags: info},
		}},
		{name: "info", arity: -1, flags: info, run: (*conn).cmdInfo},
		{name: "select", arity: 2, flags: cnx, run: (*conn).cmdSelect},
		{name: "ns", arity: -1, flags: cnx, run: (*conn).cmdNS},

		{name: "get", arity: 2, flags: ro, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdGet},
		{name: "strlen", arity: 2, flags: ro, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdStrlen},
		{name: "exists", arity: -2, flags: ro, firstKey: 1, lastKey: -1, step: 1, run: (*conn).cmdExists},
		{name: "mget", arity: -2, flags: ro, firstKey: 1, lastKey: -1, step: 1, run: (*conn).cmdMGet},
		{name: "set", arity: -3, flags: wr, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdSet},
		{name: "setnx", arity: 3, flags: wrFast, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdSetNX},
		{name: "getset", arity: 3, flags: wrFast, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdGetSet},
		{name: "upd", arity: 3, flags: wrFast, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdUpd},
		{name: "mset", arity: -3, flags: wr, firstKey: 1, lastKey: -1, step: 2, run: (*conn).cmdMSet},
		{name: "msetnx", arity: -3, flags: wr, firstKey: 1, lastKey: -1, step: 2, run: (*conn).cmdMSetNX},
		{name: "multi", arity: 1, flags: txnFast, run: (*conn).cmdMulti},
		{name: "exec", arity: 1, flags: []string{"noscript", "loading", "stale", "skip_slowlog"}, run: (*conn).cmdExec},
		{name: "discard", arity: 1, flags: txnFast, run: (*conn).cmdDiscard},
		{name: "watch", arity: -2, flags: txnFast, firstKey: 1, lastKey: -1, step: 1, run: (*conn).cmdWatch},
		{name: "unwatch", arity: 1, flags: txnFast, run: (*conn).cmdUnwatch},
		{name: "del", arity: -2, flags: []string{"write"}, firstKey: 1, lastKey: -1, step: 1, run: (*conn).cmdDel},
		{name: "incr", arity: 2, flags: wrFast, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdIncr},
		{name: "decr", arity: 2, flags: wrFast, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdDecr},
		{name: "incrby", arity: 3, flags: wrFast, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdIncrBy},
		{name: "decrby", arity: 3, flags: wrFast, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdDecrBy},

		{name: "scan", arity: -2, flags: scan, run: (*conn).cmdScan},
		{name: "keys", arity: 2, flags: scan, run: (*conn).cmdKeys},
		{name: "dbsize", arity: 1, flags: ro, run: (*conn).cmdDBSize},

		// hashes (hash.go), and TYPE, which tells strings from hashes
		{name: "hset", arity: -4, flags: wrFast, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdHSet},
		{name: "hget", arity: 3, flags: ro, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdHGet},
		{name: "hmget", arity: -3, flags: ro, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdHMGet},
		{name: "hgetall", arity: 2, flags: scan, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdHGetAll},
		{name: "hdel", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdHDel},
		{name: "hexists", arity: 3, flags: ro, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdHExists},
		{name: "hlen", arity: 2, flags: ro, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdHLen},
		{name: "hincrby", arity: 4, flags: wrFast, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdHIncrBy},
		{name: "type", arity: 2, flags: ro, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdType},
	}
	m := make(map[string]*command, len(list))
	for _, c := range list {
		m[c.name] = c
	}
	return m
}
