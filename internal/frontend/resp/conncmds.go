package resp

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/distkv/distkv/internal/keyspace"
)

// redisVersion is the Redis version distkv answers as: clients pick
// features by it, and distkv speaks the RESP2 subset of Redis 7.0.
const redisVersion = "7.0.0-distkv"

func (c *conn) cmdPing(_ context.Context, args [][]byte) {
	switch len(args) {
	case 1:
		c.w.simple("PONG")
	case 2:
		c.w.bulk(args[1])
	default:
		c.w.error("ERR wrong number of arguments for 'ping' command")
	}
}

func (c *conn) cmdEcho(_ context.Context, args [][]byte) { c.w.bulk(args[1]) }

func (c *conn) cmdQuit(context.Context, [][]byte) {
	c.w.simple("OK")
	c.quit = true
}

// cmdHello answers HELLO [protover [AUTH user pass] [SETNAME name]]. Only
// RESP2 is spoken; clients that ask for 3 (go-redis does) fall back to 2.
// There are no users, so AUTH is accepted as Redis accepts it for a
// default user without a password.
func (c *conn) cmdHello(_ context.Context, args [][]byte) {
	if len(args) > 1 {
		v, err := strconv.ParseInt(string(args[1]), 10, 64)
		if err != nil {
			c.w.error("ERR Protocol version is not an integer or out of range")
			return
		}
		if v != 2 {
			c.w.error("NOPROTO sorry, this protocol version is not supported")
			return
		}
	}
	name, setName := c.name, false
	for i := 2; i < len(args); i++ {
		switch opt := strings.ToLower(string(args[i])); {
		case opt == "auth" && i+2 < len(args):
			i += 2
		case opt == "setname" && i+1 < len(args):
			name, setName = string(args[i+1]), true
			i++
		default:
			c.w.error("ERR Syntax error in HELLO option '" + string(args[i]) + "'")
			return
		}
	}
	if setName && !validClientName(name) {
		c.w.error(errClientName)
		return
	}
	c.name = name
	c.w.array(14)
	c.w.bulkString("server")
	c.w.bulkString("redis")
	c.w.bulkString("version")
	c.w.bulkString(redisVersion)
	c.w.bulkString("proto")
	c.w.int(2)
	c.w.bulkString("id")
	c.w.int(int64(c.id))
	for _, s := range []string{"mode", "standalone", "role", "master", "modules"} {
		c.w.bulkString(s)
	}
	c.w.array(0)
}

const errClientName = "ERR Client names cannot contain spaces, newlines or special characters."

func validClientName(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// cmdClient answers CLIENT SETNAME, GETNAME, ID, INFO and SETINFO (which
// client libraries send on connect and is accepted and ignored).
func (c *conn) cmdClient(_ context.Context, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	want := map[string]int{"setname": 3, "getname": 2, "id": 2, "info": 2, "setinfo": 4}
	n, ok := want[sub]
	switch {
	case !ok:
		c.w.error(unknownSubcommand(args[1], "CLIENT"))
		return
	case len(args) != n:
		c.w.error("ERR wrong number of arguments for 'client|" + sub + "' command")
		return
	}
	switch sub {
	case "setname":
		if !validClientName(string(args[2])) {
			c.w.error(errClientName)
			return
		}
		c.name = string(args[2])
		c.w.simple("OK")
	case "getname":
		if c.name == "" {
			c.w.null()
			return
		}
		c.w.bulkString(c.name)
	case "id":
		c.w.int(int64(c.id))
	case "info":
		c.w.bulkString(c.info())
	case "setinfo":
		c.w.simple("OK")
	}
}

// info is the connection's line for CLIENT INFO.
func (c *conn) info() string {
	return fmt.Sprintf("id=%d addr=%s laddr=%s name=%s db=0 ns=%s resp=2\n",
		c.id, c.nc.RemoteAddr(), c.nc.LocalAddr(), c.name, displayNS(c.ns))
}

func unknownSubcommand(sub []byte, cmd string) string {
	return "ERR unknown subcommand '" + truncate(sub, 128) + "'. Try " + cmd + " HELP."
}

// cmdCommand answers COMMAND, COMMAND COUNT and COMMAND INFO from the
// command table. COMMAND DOCS is an error on purpose: redis-cli 7 sends it
// on connect and, refused, falls back to its built-in help and hints.
func (c *conn) cmdCommand(_ context.Context, args [][]byte) {
	if len(args) == 1 {
		c.w.array(len(c.srv.cmds))
		for _, name := range slices.Sorted(maps.Keys(c.srv.cmds)) {
			c.srv.cmds[name].writeInfo(c.w)
		}
		return
	}
	switch sub := strings.ToLower(string(args[1])); sub {
	case "count":
		c.w.int(int64(len(c.srv.cmds)))
	case "info":
		c.w.array(len(args) - 2)
		for _, a := range args[2:] {
			if cmd, ok := c.srv.cmds[strings.ToLower(string(a))]; ok {
				cmd.writeInfo(c.w)
			} else {
				c.w.null()
			}
		}
	default:
		c.w.error(unknownSubcommand(args[1], "COMMAND"))
	}
}

// configParams are the only parameters CONFIG GET reports: the ones
// redis-benchmark asks for, with values that describe distkv honestly (no
// RDB snapshots, no AOF: durability is Raft's).
var configParams = [][2]string{{"appendonly", "no"}, {"databases", "1"}, {"save", ""}}

// cmdConfig answers CONFIG GET pattern [pattern ...]; nothing can be set.
func (c *conn) cmdConfig(_ context.Context, args [][]byte) {
	if strings.ToLower(string(args[1])) != "get" {
		c.w.error("ERR CONFIG " + strings.ToUpper(truncate(args[1], 32)) + " is not supported by distkv")
		return
	}
	if len(args) < 3 {
		c.w.error("ERR wrong number of arguments for 'config|get' command")
		return
	}
	var out []string
	for _, p := range configParams {
		if slices.ContainsFunc(args[2:], func(pat []byte) bool { return match(pat, []byte(p[0])) }) {
			out = append(out, p[0], p[1])
		}
	}
	c.w.strings(out...)
}

func (c *conn) cmdSelect(_ context.Context, args [][]byte) {
	n, err := strconv.ParseInt(string(args[1]), 10, 64)
	switch {
	case err != nil:
		c.w.error(errNotInt)
	case n != 0:
		c.w.error("ERR distkv has no numbered databases; use NS <namespace>")
	default:
		c.w.simple("OK")
	}
}

// cmdNS answers NS name, which switches the connection to another
// namespace, and NS, which names the current one.
func (c *conn) cmdNS(_ context.Context, args [][]byte) {
	switch len(args) {
	case 1:
		c.w.bulkString(displayNS(c.ns))
	case 2:
		name := string(args[1])
		if _, ok := c.srv.cfg.Node.Namespace(displayNS(name)); !ok {
			c.w.error("ERR no such namespace '" + truncate(args[1], 128) + "'")
			return
		}
		c.ns = name
		c.w.simple("OK")
	default:
		c.w.error("ERR wrong number of arguments for 'ns' command")
	}
}

// displayNS is a namespace's name as the node knows it ("" is the
// default namespace).
func displayNS(ns string) string {
	if ns == "" {
		return keyspace.DefaultNamespace
	}
	return ns
}
