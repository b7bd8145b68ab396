package resp

import "context"

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
}

// commandTable returns the commands the server knows, by lower-case name.
func commandTable() map[string]*command {
	var (
		ro   = []string{"readonly", "fast"}
		scan = []string{"readonly"}
		wr   = []string{"write", "denyoom"}
		cnx  = []string{"fast", "stale", "loading"}
		adm  = []string{"admin", "stale", "loading"}
	)
	list := []*command{
		{name: "ping", arity: -1, flags: cnx, run: (*conn).cmdPing},
		{name: "echo", arity: 2, flags: cnx, run: (*conn).cmdEcho},
		{name: "quit", arity: -1, flags: cnx, run: (*conn).cmdQuit},
		{name: "hello", arity: -1, flags: cnx, run: (*conn).cmdHello},
		{name: "client", arity: -2, flags: cnx, run: (*conn).cmdClient},
		{name: "command", arity: -1, flags: cnx, run: (*conn).cmdCommand},
		{name: "config", arity: -2, flags: adm, run: (*conn).cmdConfig},
		{name: "info", arity: -1, flags: adm, run: (*conn).cmdInfo},
		{name: "select", arity: 2, flags: cnx, run: (*conn).cmdSelect},
		{name: "ns", arity: -1, flags: cnx, run: (*conn).cmdNS},

		{name: "get", arity: 2, flags: ro, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdGet},
		{name: "strlen", arity: 2, flags: ro, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdStrlen},
		{name: "exists", arity: -2, flags: ro, firstKey: 1, lastKey: -1, step: 1, run: (*conn).cmdExists},
		{name: "mget", arity: -2, flags: ro, firstKey: 1, lastKey: -1, step: 1, run: (*conn).cmdMGet},
		{name: "set", arity: -3, flags: wr, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdSet},
		{name: "setnx", arity: 3, flags: wr, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdSetNX},
		{name: "getset", arity: 3, flags: wr, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdGetSet},
		{name: "upd", arity: 3, flags: wr, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdUpd},
		{name: "mset", arity: -3, flags: wr, firstKey: 1, lastKey: -1, step: 2, run: (*conn).cmdMSet},
		{name: "del", arity: -2, flags: []string{"write"}, firstKey: 1, lastKey: -1, step: 1, run: (*conn).cmdDel},
		{name: "incr", arity: 2, flags: wr, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdIncr},
		{name: "decr", arity: 2, flags: wr, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdDecr},
		{name: "incrby", arity: 3, flags: wr, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdIncrBy},
		{name: "decrby", arity: 3, flags: wr, firstKey: 1, lastKey: 1, step: 1, run: (*conn).cmdDecrBy},

		{name: "scan", arity: -2, flags: scan, run: (*conn).cmdScan},
		{name: "keys", arity: 2, flags: scan, run: (*conn).cmdKeys},
		{name: "dbsize", arity: 1, flags: ro, run: (*conn).cmdDBSize},
	}
	m := make(map[string]*command, len(list))
	for _, c := range list {
		m[c.name] = c
	}
	return m
}

// writeInfo writes the command's COMMAND entry in Redis 5's six-field
// form: name, arity, flags, first key, last key, step.
func (cmd *command) writeInfo(w *writer) {
	w.array(6)
	w.bulkString(cmd.name)
	w.int(int64(cmd.arity))
	w.array(len(cmd.flags))
	for _, f := range cmd.flags {
		w.simple(f)
	}
	w.int(int64(cmd.firstKey))
	w.int(int64(cmd.lastKey))
	w.int(int64(cmd.step))
}
