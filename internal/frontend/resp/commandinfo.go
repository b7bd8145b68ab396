package resp

import (
	"context"
	"maps"
	"slices"
	"strings"
)

// What COMMAND reports about the command table, in Redis 7's shapes, so
// client libraries and redis-cli that probe the table (for arity, key
// positions, read-only routing, help and hints) see distkv's commands as
// they would see Redis's. The table (table.go) holds what the server acts
// on: names, arities, flags, key positions, subcommands. commandDocs
// holds the rest: documentation, ACL categories, tips and the access
// flags of the key arguments. Every command and subcommand of the table
// has an entry (TestEveryCommandDocumented).

// commandDoc is one command's entry beyond the table's fields.
type commandDoc struct {
	summary    string
	since      string // the Redis version that introduced it; "distkv" for distkv's own
	group      string // Redis's command group ("string", "connection"...)
	complexity string
	acl        []string // ACL categories ("@read"...)
	tips       []string // Redis's command tips ("request_policy:multi_shard"...)
	// keyFlags are the flags of the command's key specification, for a
	// command with keys (firstKey > 0): "RO", "RW", "OW", "RM" and what the
	// command does with the key ("access", "update", "insert", "delete").
	keyFlags []string
	args     []argDoc
}

// argDoc documents one argument as COMMAND DOCS does: its name, type
// ("key", "string", "integer", "pattern", "pure-token", "oneof",
// "block"), the token that introduces it, its flags ("optional",
// "multiple") and, for oneof and block, its parts.
type argDoc struct {
	name, typ, token string
	flags            []string
	args             []argDoc
}

func keyArg(name string) argDoc { return argDoc{name: name, typ: "key"} }
func strArg(name string) argDoc { return argDoc{name: name, typ: "string"} }
func intArg(name string) argDoc { return argDoc{name: name, typ: "integer"} }
func token(name string) argDoc {
	return argDoc{name: strings.ToLower(name), typ: "pure-token", token: name}
}
func optional(a argDoc) argDoc { a.flags = append(a.flags, "optional"); return a }
func multiple(a argDoc) argDoc { a.flags = append(a.flags, "multiple"); return a }
func tokened(t string, a argDoc) argDoc {
	a.token = t
	return a
}
func oneOf(name string, as ...argDoc) argDoc { return argDoc{name: name, typ: "oneof", args: as} }
func block(name string, as ...argDoc) argDoc { return argDoc{name: name, typ: "block", args: as} }

// ACL categories and tips that several commands share.
var (
	aclConn      = []string{"@fast", "@connection"}
	aclSlowConn  = []string{"@slow", "@connection"}
	aclReadStr   = []string{"@read", "@string", "@fast"}
	aclWriteStr  = []string{"@write", "@string", "@fast"}
	aclWriteSlow = []string{"@write", "@string", "@slow"}
	aclTxnFast   = []string{"@fast", "@transaction"}
	keyRW        = []string{"RW", "access", "update"}
)

var commandDocs = map[string]commandDoc{
	"ping": {summary: "Answer PONG, or the message given", since: "1.0.0", group: "connection", complexity: "O(1)",
		acl: aclConn, tips: []string{"request_policy:all_shards", "response_policy:all_succeeded"},
		args: []argDoc{optional(strArg("message"))}},
	"echo": {summary: "Answer the message given", since: "1.0.0", group: "connection", complexity: "O(1)",
		acl: aclConn, args: []argDoc{strArg("message")}},
	"quit": {summary: "Close the connection once the replies before it are sent", since: "1.0.0", group: "connection",
		complexity: "O(1)", acl: aclConn},
	"hello": {summary: "Choose the protocol (RESP2 or RESP3), optionally authenticate and name the connection, and describe the server",
		since: "6.0.0", group: "connection", complexity: "O(1)", acl: aclConn,
		args: []argDoc{optional(block("arguments", intArg("protover"),
			optional(tokened("AUTH", block("username_password", strArg("username"), strArg("password")))),
			optional(tokened("SETNAME", strArg("clientname")))))}},
	"auth": {summary: "Authenticate the connection (distkv has no users yet: only the default user, with any password)",
		since: "1.0.0", group: "connection", complexity: "O(N) where N is the number of passwords defined for the user",
		acl: aclConn, args: []argDoc{optional(strArg("username")), strArg("password")}},
	"client": {summary: "A container for connection commands", since: "2.4.0", group: "connection",
		complexity: "Depends on subcommand.", acl: []string{"@slow"}},
	"client|setname": {summary: "Name the connection", since: "2.6.9", group: "connection", complexity: "O(1)",
		acl: aclSlowConn, args: []argDoc{strArg("connection-name")}},
	"client|getname": {summary: "Return the connection's name", since: "2.6.9", group: "connection", complexity: "O(1)",
		acl: aclSlowConn},
	"client|id": {summary: "Return the connection's ID", since: "5.0.0", group: "connection", complexity: "O(1)",
		acl: aclSlowConn},
	"client|info": {summary: "Describe the connection", since: "6.2.0", group: "connection", complexity: "O(1)",
		acl: aclSlowConn, tips: []string{"nondeterministic_output"}},
	"client|setinfo": {summary: "Accept the client library's name or version (distkv records neither)", since: "7.2.0",
		group: "connection", complexity: "O(1)", acl: aclSlowConn,
		args: []argDoc{oneOf("attr", tokened("LIB-NAME", strArg("libname")), tokened("LIB-VER", strArg("libver")))}},
	"client|help": {summary: "List the subcommands", since: "5.0.0", group: "connection", complexity: "O(1)",
		acl: aclSlowConn},
	"command": {summary: "Describe every command", since: "2.8.13", group: "server", complexity: "O(N) where N is the total number of commands",
		acl: aclSlowConn, tips: []string{"nondeterministic_output_order"}},
	"command|count": {summary: "Return the number of commands", since: "2.8.13", group: "server", complexity: "O(1)",
		acl: aclSlowConn},
	"command|docs": {summary: "Document the commands named, or every command", since: "7.0.0", group: "server",
		complexity: "O(N) where N is the number of commands to look up", acl: aclSlowConn,
		tips: []string{"nondeterministic_output_order"}, args: []argDoc{optional(multiple(strArg("command-name")))}},
	"command|info": {summary: "Describe the commands named, or every command", since: "2.8.13", group: "server",
		complexity: "O(N) where N is the number of commands to look up", acl: aclSlowConn,
		tips: []string{"nondeterministic_output_order"}, args: []argDoc{optional(multiple(strArg("command-name")))}},
	"command|help": {summary: "List the subcommands", since: "5.0.0", group: "server", complexity: "O(1)", acl: aclSlowConn},
	"config": {summary: "A container for server configuration commands", since: "2.0.0", group: "server",
		complexity: "Depends on subcommand.", acl: []string{"@slow"}},
	"config|get": {summary: "Return the configuration parameters matching the patterns (a fixed few: distkv is configured by its command line)",
		since: "2.0.0", group: "server", complexity: "O(N) when N is the number of configuration parameters provided",
		acl: []string{"@admin", "@slow", "@dangerous"}, args: []argDoc{multiple(block("parameter", strArg("parameter")))}},
	"config|help": {summary: "List the subcommands", since: "5.0.0", group: "server", complexity: "O(1)", acl: []string{"@slow"}},
	"info": {summary: "Describe the server, its clients, the distkv cluster and the namespace's keys", since: "1.0.0",
		group: "server", complexity: "O(1)", acl: []string{"@slow", "@dangerous"},
		tips: []string{"nondeterministic_output", "request_policy:all_shards", "response_policy:special"},
		args: []argDoc{optional(multiple(strArg("section")))}},
	"select": {summary: "Select database 0, the only one (distkv has namespaces instead: see NS)", since: "1.0.0",
		group: "connection", complexity: "O(1)", acl: aclConn, args: []argDoc{intArg("index")}},
	"ns": {summary: "Switch the connection to a namespace, or name the current one", since: "distkv", group: "connection",
		complexity: "O(1)", acl: aclConn, args: []argDoc{optional(strArg("namespace"))}},

	"get": {summary: "Return a key's value", since: "1.0.0", group: "string", complexity: "O(1)", acl: aclReadStr,
		keyFlags: []string{"RO", "access"}, args: []argDoc{keyArg("key")}},
	"strlen": {summary: "Return the length of a key's value", since: "2.2.0", group: "string", complexity: "O(1)",
		acl: aclReadStr, keyFlags: []string{"RO"}, args: []argDoc{keyArg("key")}},
	"exists": {summary: "Count the keys given that exist", since: "1.0.0", group: "generic",
		complexity: "O(N) where N is the number of keys to check.", acl: []string{"@keyspace", "@read", "@fast"},
		tips: []string{"request_policy:multi_shard", "response_policy:agg_sum"}, keyFlags: []string{"RO"},
		args: []argDoc{multiple(keyArg("key"))}},
	"mget": {summary: "Return the values of the keys given", since: "1.0.0", group: "string",
		complexity: "O(N) where N is the number of keys to retrieve.", acl: aclReadStr,
		tips: []string{"request_policy:multi_shard"}, keyFlags: []string{"RO", "access"}, args: []argDoc{multiple(keyArg("key"))}},
	"set": {summary: "Set a key's value, if it exists (XX) or not (NX), optionally returning the value it replaces (GET); TTLs are not supported yet",
		since: "1.0.0", group: "string", complexity: "O(1)", acl: aclWriteSlow,
		keyFlags: []string{"RW", "access", "update", "variable_flags"},
		args:     []argDoc{keyArg("key"), strArg("value"), optional(oneOf("condition", token("NX"), token("XX"))), optional(token("GET"))}},
	"setnx": {summary: "Set a key's value if the key does not exist", since: "1.0.0", group: "string", complexity: "O(1)",
		acl: aclWriteStr, keyFlags: []string{"OW", "insert"}, args: []argDoc{keyArg("key"), strArg("value")}},
	"getset": {summary: "Set a key's value and return the value it replaced", since: "1.0.0", group: "string",
		complexity: "O(1)", acl: aclWriteStr, keyFlags: keyRW, args: []argDoc{keyArg("key"), strArg("value")}},
	"upd": {summary: "Set a key's value if the key exists, else fail with 'no such key'", since: "distkv", group: "string",
		complexity: "O(1)", acl: aclWriteStr, keyFlags: []string{"OW", "update"}, args: []argDoc{keyArg("key"), strArg("value")}},
	"mset": {summary: "Atomically set several keys' values (strong namespaces; per key in eventual and causal ones)", since: "1.0.1", group: "string",
		complexity: "O(N) where N is the number of keys to set.", acl: aclWriteSlow,
		tips: []string{"request_policy:multi_shard", "response_policy:all_succeeded"}, keyFlags: []string{"OW", "update"},
		args: []argDoc{multiple(block("key_value", keyArg("key"), strArg("value")))}},
	"multi": {summary: "Start queueing commands to run as one atomic transaction at EXEC", since: "1.2.0", group: "transactions",
		complexity: "O(1)", acl: aclTxnFast},
	"exec": {summary: "Run the queued commands as one atomic transaction, across shards (null if a watched key changed)", since: "1.2.0",
		group: "transactions", complexity: "Depends on commands in the transaction", acl: []string{"@slow", "@transaction"}},
	"discard": {summary: "Drop the queued commands and the watched keys", since: "2.0.0", group: "transactions",
		complexity: "O(N), when N is the number of queued commands", acl: aclTxnFast},
	"watch": {summary: "Make the next EXEC apply nothing if any of these keys is written first", since: "2.2.0", group: "transactions",
		complexity: "O(1) for every key.", acl: aclTxnFast, keyFlags: []string{"RO"}, args: []argDoc{multiple(keyArg("key"))}},
	"unwatch": {summary: "Forget the watched keys", since: "2.2.0", group: "transactions", complexity: "O(1)", acl: aclTxnFast},
	"msetnx": {summary: "Atomically set several keys' values only when none of the keys exists", since: "1.0.1", group: "string",
		complexity: "O(N) where N is the number of keys to set.", acl: aclWriteSlow,
		tips: []string{"request_policy:multi_shard", "response_policy:agg_min"}, keyFlags: []string{"OW", "insert"},
		args: []argDoc{multiple(block("key_value", keyArg("key"), strArg("value")))}},
	"del": {summary: "Delete keys and count those that existed", since: "1.0.0", group: "generic",
		complexity: "O(N) where N is the number of keys that will be removed.", acl: []string{"@keyspace", "@write", "@slow"},
		tips: []string{"request_policy:multi_shard", "response_policy:agg_sum"}, keyFlags: []string{"RM", "delete"},
		args: []argDoc{multiple(keyArg("key"))}},
	"incr": {summary: "Add 1 to the integer a key holds (a missing key holds 0)", since: "1.0.0", group: "string",
		complexity: "O(1)", acl: aclWriteStr, keyFlags: keyRW, args: []argDoc{keyArg("key")}},
	"decr": {summary: "Subtract 1 from the integer a key holds (a missing key holds 0)", since: "1.0.0", group: "string",
		complexity: "O(1)", acl: aclWriteStr, keyFlags: keyRW, args: []argDoc{keyArg("key")}},
	"incrby": {summary: "Add a number to the integer a key holds (a missing key holds 0)", since: "1.0.0", group: "string",
		complexity: "O(1)", acl: aclWriteStr, keyFlags: keyRW, args: []argDoc{keyArg("key"), intArg("increment")}},
	"decrby": {summary: "Subtract a number from the integer a key holds (a missing key holds 0)", since: "1.0.0",
		group: "string", complexity: "O(1)", acl: aclWriteStr, keyFlags: keyRW, args: []argDoc{keyArg("key"), intArg("decrement")}},

	"scan": {summary: "Iterate over the namespace's keys, in key order across its shards", since: "2.8.0", group: "generic",
		complexity: "O(1) for every call. O(N) for a complete iteration.", acl: []string{"@keyspace", "@read", "@slow"},
		tips: []string{"nondeterministic_output", "request_policy:special"},
		args: []argDoc{intArg("cursor"), optional(tokened("MATCH", argDoc{name: "pattern", typ: "pattern"})),
			optional(tokened("COUNT", intArg("count"))), optional(tokened("TYPE", strArg("type")))}},
	"keys": {summary: "Return the keys matching a pattern (at most 100,000: use SCAN)", since: "1.0.0", group: "generic",
		complexity: "O(N) with N being the number of keys under the pattern's literal prefix",
		acl:        []string{"@keyspace", "@read", "@slow", "@dangerous"}, tips: []string{"request_policy:all_shards", "nondeterministic_output_order"},
		args: []argDoc{{name: "pattern", typ: "pattern"}}},
	"dbsize": {summary: "Return the number of keys in the namespace", since: "1.0.0", group: "server", complexity: "O(1)",
		acl: []string{"@keyspace", "@read", "@fast"}, tips: []string{"request_policy:all_shards", "response_policy:agg_sum"}},
}

// lookupCommand finds a command or, named "container|sub", a subcommand.
func (s *Server) lookupCommand(name string) (*command, bool) {
	name = strings.ToLower(name)
	parent, sub, isSub := strings.Cut(name, "|")
	cmd, ok := s.cmds[parent]
	if !ok || !isSub {
		return cmd, ok
	}
	sc := cmd.sub(sub)
	return sc, sc != nil
}

// cmdCommand answers COMMAND, COMMAND COUNT, COMMAND INFO [name ...],
// COMMAND DOCS [name ...] and COMMAND HELP from the command table. With
// no names, INFO and DOCS describe every command. A name may be
// "container|sub"; INFO answers null for a name it does not know, DOCS
// leaves it out, as Redis does.
func (c *conn) cmdCommand(_ context.Context, args [][]byte) {
	all := slices.Sorted(maps.Keys(c.srv.cmds))
	if len(args) == 1 {
		c.w.array(len(all))
		for _, name := range all {
			c.srv.cmds[name].writeInfo(c.w)
		}
		return
	}
	sub, ok := c.subcommand("command", args)
	if !ok {
		return
	}
	names := make([]string, 0, len(args)-2)
	for _, a := range args[2:] {
		names = append(names, string(a))
	}
	switch sub.name {
	case "command|count":
		c.w.int(int64(len(c.srv.cmds)))
	case "command|info":
		if len(names) == 0 {
			names = all
		}
		c.w.array(len(names))
		for _, n := range names {
			if cmd, ok := c.srv.lookupCommand(n); ok {
				cmd.writeInfo(c.w)
			} else {
				c.w.null()
			}
		}
	case "command|docs":
		if len(names) == 0 {
			names = all
		}
		var found []*command
		for _, n := range names {
			if cmd, ok := c.srv.lookupCommand(n); ok {
				found = append(found, cmd)
			}
		}
		c.w.mapLen(len(found))
		for _, cmd := range found {
			c.w.bulkString(cmd.name)
			cmd.writeDocs(c.w)
		}
	case "command|help":
		c.writeHelp(c.srv.cmds["command"], "(no subcommand)", "Describe every command.")
	}
}

// writeInfo writes the command's COMMAND entry in Redis 7's ten-field
// form: name, arity, flags, first key, last key, step, ACL categories,
// tips, key specifications, subcommands.
func (cmd *command) writeInfo(w *writer) {
	doc := commandDocs[cmd.name]
	w.array(10)
	w.bulkString(cmd.name)
	w.int(int64(cmd.arity))
	w.setLen(len(cmd.flags))
	for _, f := range cmd.flags {
		w.simple(f)
	}
	w.int(int64(cmd.firstKey))
	w.int(int64(cmd.lastKey))
	w.int(int64(cmd.step))
	w.setLen(len(doc.acl))
	for _, a := range doc.acl {
		w.simple(a)
	}
	w.setLen(len(doc.tips))
	for _, t := range doc.tips {
		w.bulkString(t)
	}
	cmd.writeKeySpecs(w, doc)
	if len(cmd.subs) == 0 {
		w.setLen(0) // Redis's empty subcommands are a set, the others an array
		return
	}
	w.array(len(cmd.subs))
	for _, sc := range cmd.subs {
		sc.writeInfo(w)
	}
}

// writeKeySpecs writes the command's key specifications: none, or one
// that finds the keys as firstKey, lastKey and step do. The range's last
// key is relative to the first (0: one key, -1: through the last
// argument).
func (cmd *command) writeKeySpecs(w *writer, doc commandDoc) {
	if cmd.firstKey == 0 {
		w.setLen(0)
		return
	}
	last := -1
	if cmd.lastKey >= 0 {
		last = cmd.lastKey - cmd.firstKey
	}
	w.setLen(1)
	w.mapLen(3)
	w.bulkString("flags")
	w.setLen(len(doc.keyFlags))
	for _, f := range doc.keyFlags {
		w.simple(f)
	}
	w.bulkString("begin_search")
	w.mapLen(2)
	w.bulkString("type")
	w.bulkString("index")
	w.bulkString("spec")
	w.mapLen(1)
	w.bulkString("index")
	w.int(int64(cmd.firstKey))
	w.bulkString("find_keys")
	w.mapLen(2)
	w.bulkString("type")
	w.bulkString("range")
	w.bulkString("spec")
	w.mapLen(3)
	for _, kv := range [][2]any{{"lastkey", last}, {"keystep", cmd.step}, {"limit", 0}} {
		w.bulkString(kv[0].(string))
		w.int(int64(kv[1].(int)))
	}
}

// writeDocs writes the command's COMMAND DOCS map: summary, since, group,
// complexity, then its arguments and subcommands if it has any.
func (cmd *command) writeDocs(w *writer) {
	doc := commandDocs[cmd.name]
	n := 4
	if len(doc.args) > 0 {
		n++
	}
	if len(cmd.subs) > 0 {
		n++
	}
	w.mapLen(n)
	for _, f := range [][2]string{{"summary", doc.summary}, {"since", doc.since}, {"group", doc.group}, {"complexity", doc.complexity}} {
		w.bulkString(f[0])
		w.bulkString(f[1])
	}
	if len(doc.args) > 0 {
		w.bulkString("arguments")
		writeArgDocs(w, doc.args)
	}
	if len(cmd.subs) > 0 {
		w.bulkString("subcommands")
		w.mapLen(len(cmd.subs))
		for _, sc := range cmd.subs {
			w.bulkString(sc.name)
			sc.writeDocs(w)
		}
	}
}

func writeArgDocs(w *writer, args []argDoc) {
	w.array(len(args))
	for _, a := range args {
		n := 2
		for _, present := range []bool{a.typ == "key", a.token != "", len(a.flags) > 0, len(a.args) > 0} {
			if present {
				n++
			}
		}
		w.mapLen(n)
		w.bulkString("name")
		w.bulkString(a.name)
		w.bulkString("type")
		w.bulkString(a.typ)
		if a.typ == "key" {
			w.bulkString("key_spec_index")
			w.int(0) // every command here has at most one key specification
		}
		if a.token != "" {
			w.bulkString("token")
			w.bulkString(a.token)
		}
		if len(a.flags) > 0 {
			w.bulkString("flags")
			w.setLen(len(a.flags))
			for _, f := range a.flags {
				w.simple(f)
			}
		}
		if len(a.args) > 0 {
			w.bulkString("arguments")
			writeArgDocs(w, a.args)
		}
	}
}

// subcommand finds the subcommand args[1] of container and checks its
// arity. If there is none, or the arity is wrong, it writes Redis's error
// and returns false.
func (c *conn) subcommand(container string, args [][]byte) (*command, bool) {
	sc := c.srv.cmds[container].sub(string(args[1]))
	switch {
	case sc == nil:
		c.w.error(unknownSubcommand(args[1], strings.ToUpper(container)))
		return nil, false
	case sc.arity > 0 && len(args) != sc.arity || sc.arity < 0 && len(args) < -sc.arity:
		c.w.error("ERR wrong number of arguments for '" + sc.name + "' command")
		return nil, false
	}
	return sc, true
}

// writeHelp answers CONTAINER HELP as Redis does: a usage line, then each
// subcommand's syntax and summary, HELP last. first and firstSummary,
// when set, describe the container called without a subcommand.
func (c *conn) writeHelp(container *command, first, firstSummary string) {
	lines := []string{strings.ToUpper(container.name) + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"}
	if first != "" {
		lines = append(lines, first, "    "+firstSummary)
	}
	var help *command
	for _, sc := range container.subs {
		if strings.HasSuffix(sc.name, "|help") {
			help = sc
			continue
		}
		lines = append(lines, sc.usage(), "    "+commandDocs[sc.name].summary+".")
	}
	if help != nil {
		lines = append(lines, "HELP", "    Print this help.")
	}
	c.w.array(len(lines))
	for _, l := range lines {
		c.w.simple(l)
	}
}

// usage is a subcommand's syntax line for HELP: "SETNAME <connection-name>".
func (cmd *command) usage() string {
	_, sub, _ := strings.Cut(cmd.name, "|")
	parts := []string{strings.ToUpper(sub)}
	for _, a := range commandDocs[cmd.name].args {
		parts = append(parts, a.syntax())
	}
	return strings.Join(parts, " ")
}

// syntax renders an argument as Redis's help does: <name>, TOKEN <name>,
// [optional], (a|b), name [name ...].
func (a argDoc) syntax() string {
	var s string
	switch a.typ {
	case "pure-token":
		s = a.token
	case "oneof":
		alts := make([]string, len(a.args))
		for i, b := range a.args {
			alts[i] = b.syntax()
		}
		s = "(" + strings.Join(alts, "|") + ")"
	case "block":
		parts := make([]string, len(a.args))
		for i, b := range a.args {
			parts[i] = b.syntax()
		}
		s = strings.Join(parts, " ")
	default:
		s = "<" + a.name + ">"
	}
	if a.token != "" && a.typ != "pure-token" {
		s = a.token + " " + s
	}
	if slices.Contains(a.flags, "multiple") {
		s += " [" + s + " ...]"
	}
	if slices.Contains(a.flags, "optional") {
		s = "[" + s + "]"
	}
	return s
}
