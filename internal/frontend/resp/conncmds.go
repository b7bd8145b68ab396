package resp

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/distkv/distkv/internal/keyspace"
)

// redisVersion is the Redis version distkv answers as, in HELLO and
// INFO: clients pick features by it. distkv follows Redis 7.0's replies
// (checked against Redis 7.0.15), in RESP2 and RESP3, for the commands it
// has.
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

// cmdHello answers HELLO [protover [AUTH username password] [SETNAME
// clientname]] as Redis 7 does: protover 2 or 3 switches the connection
// to RESP2 or RESP3 (the reply itself comes in the new protocol), no
// protover keeps the current one. distkv has no users yet, which is
// Redis without a password: the default user accepts any password, any
// other name is refused (see checkAuth). The reply describes the server:
// a map in RESP3, a flat array of its pairs in RESP2.
func (c *conn) cmdHello(_ context.Context, args [][]byte) {
	proto := c.w.proto
	if len(args) > 1 {
		v, ok := parseInt(args[1])
		if !ok {
			c.w.error("ERR Protocol version is not an integer or out of range")
			return
		}
		if v != 2 && v != 3 {
			c.w.error("NOPROTO unsupported protocol version")
			return
		}
		proto = int(v)
	}
	var user []byte
	var name *string
	for i := 2; i < len(args); i++ {
		switch opt := strings.ToLower(string(args[i])); {
		case opt == "auth" && i+2 < len(args):
			user = args[i+1]
			i += 2
		case opt == "setname" && i+1 < len(args):
			n := string(args[i+1])
			name = &n
			i++
		default:
			c.w.error("ERR Syntax error in HELLO option '" + string(args[i]) + "'")
			return
		}
	}
	if user != nil {
		if msg := checkAuth(user); msg != "" {
			c.w.error(msg)
			return
		}
	}
	if name != nil {
		if !validClientName(*name) {
			c.w.error(errClientName)
			return
		}
		c.name = *name
	}
	c.w.proto = proto
	c.w.mapLen(7)
	c.w.bulkString("server")
	c.w.bulkString("redis")
	c.w.bulkString("version")
	c.w.bulkString(redisVersion)
	c.w.bulkString("proto")
	c.w.int(int64(proto))
	c.w.bulkString("id")
	c.w.int(int64(c.id))
	// standalone: distkv routes every key itself and does not speak the
	// Redis Cluster protocol, so clients must not route (INFO's
	// cluster_enabled:0 says the same).
	for _, s := range []string{"mode", "standalone", "role", "master", "modules"} {
		c.w.bulkString(s)
	}
	c.w.array(0)
}

// checkAuth is Redis 7's answer to credentials when no password is
// configured, which is distkv's case until it has users: the default user
// has no password and accepts any, and there is no other user. It
// returns the error reply, or "" when the credentials are accepted.
func checkAuth(user []byte) string {
	if string(user) == "default" {
		return ""
	}
	return "WRONGPASS invalid username-password pair or user is disabled."
}

// cmdAuth answers AUTH [username] password as Redis 7 does without a
// configured password (see checkAuth).
func (c *conn) cmdAuth(_ context.Context, args [][]byte) {
	switch len(args) {
	case 2:
		c.w.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
	case 3:
		if msg := checkAuth(args[1]); msg != "" {
			c.w.error(msg)
			return
		}
		c.w.simple("OK")
	default:
		c.w.error(errSyntax)
	}
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

// cmdClient answers CLIENT SETNAME, GETNAME, ID, INFO, SETINFO (which
// client libraries send on connect and is accepted and ignored) and HELP.
func (c *conn) cmdClient(_ context.Context, args [][]byte) {
	sub, ok := c.subcommand("client", args)
	if !ok {
		return
	}
	switch sub.name {
	case "client|setname":
		if !validClientName(string(args[2])) {
			c.w.error(errClientName)
			return
		}
		c.name = string(args[2])
		c.w.simple("OK")
	case "client|getname":
		if c.name == "" {
			c.w.null()
			return
		}
		c.w.bulkString(c.name)
	case "client|id":
		c.w.int(int64(c.id))
	case "client|info":
		c.w.verbatim(c.info())
	case "client|setinfo":
		c.w.simple("OK")
	case "client|help":
		c.writeHelp(c.srv.cmds["client"], "", "")
	}
}

// info is the connection's line for CLIENT INFO.
func (c *conn) info() string {
	return fmt.Sprintf("id=%d addr=%s laddr=%s name=%s db=0 ns=%s resp=%d\n",
		c.id, c.nc.RemoteAddr(), c.nc.LocalAddr(), c.name, displayNS(c.ns), c.w.proto)
}

func unknownSubcommand(sub []byte, cmd string) string {
	return "ERR unknown subcommand '" + truncate(sub, 128) + "'. Try " + cmd + " HELP."
}

// configParams are the only parameters CONFIG GET reports: the ones
// redis-benchmark asks for, with values that describe distkv honestly (no
// RDB snapshots, no AOF: durability is Raft's).
var configParams = [][2]string{{"appendonly", "no"}, {"databases", "1"}, {"save", ""}}

// cmdConfig answers CONFIG GET pattern [pattern ...] with a map of the
// matching parameters, and CONFIG HELP. Nothing can be set: Redis's other
// subcommands are refused as unsupported.
func (c *conn) cmdConfig(_ context.Context, args [][]byte) {
	if c.srv.cmds["config"].sub(string(args[1])) == nil {
		c.w.error("ERR CONFIG " + strings.ToUpper(truncate(args[1], 32)) + " is not supported by distkv")
		return
	}
	sub, ok := c.subcommand("config", args)
	if !ok {
		return
	}
	if sub.name == "config|help" {
		c.writeHelp(c.srv.cmds["config"], "", "")
		return
	}
	var out [][2]string
	for _, p := range configParams {
		if slices.ContainsFunc(args[2:], func(pat []byte) bool { return match(pat, []byte(p[0])) }) {
			out = append(out, p)
		}
	}
	c.w.mapLen(len(out))
	for _, p := range out {
		c.w.bulkString(p[0])
		c.w.bulkString(p[1])
	}
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
