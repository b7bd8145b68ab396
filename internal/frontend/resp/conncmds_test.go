package resp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestPingEcho(t *testing.T) {
	eachProtocol(t, func(t *testing.T, proto int) {
		ctx := context.Background()
		rc := startProto(t, Config{}, proto).client(t)
		str := must[string](t)
		if got := str(rc.Ping(ctx).Result()); got != "PONG" {
			t.Fatalf("PING = %q", got)
		}
		if got := str(rc.Do(ctx, "PING", "hi there").Text()); got != "hi there" {
			t.Fatalf("PING msg = %q", got)
		}
		if got := str(rc.Echo(ctx, "a\r\nb").Result()); got != "a\r\nb" {
			t.Fatalf("ECHO = %q", got)
		}
	})
}

// helloReply is HELLO's reply, byte for byte as Redis 7.0.15 sends it
// (but for the version): a map in RESP3, its pairs flat in RESP2.
func helloReply(proto int, id int64) string {
	head := "*14\r\n"
	if proto == 3 {
		head = "%7\r\n"
	}
	return head + "$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$12\r\n7.0.0-distkv\r\n" +
		fmt.Sprintf("$5\r\nproto\r\n:%d\r\n$2\r\nid\r\n:%d\r\n", proto, id) +
		"$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
}

// TestHello switches a raw connection between the protocols and checks
// every reply byte for byte, errors included (Redis 7.0.15's texts).
func TestHello(t *testing.T) {
	ts := start(t, Config{})
	c := ts.dial(t)
	c.send("CLIENT ID\r\n")
	id := c.reply().(int64)
	c.send("HELLO\r\nGET nokey\r\n") // no protover: stays RESP2
	c.expect(helloReply(2, id) + "$-1\r\n")
	c.send("HELLO 3\r\nGET nokey\r\nMGET a b\r\nCLIENT GETNAME\r\nHELLO\r\n")
	c.expect(helloReply(3, id) + "_\r\n*2\r\n_\r\n_\r\n_\r\n" + helloReply(3, id))
	c.send("CLIENT INFO\r\n")
	if info, ok := c.reply().(verbatim); !ok || !strings.HasPrefix(string(info), fmt.Sprintf("id=%d ", id)) ||
		!strings.HasSuffix(string(info), " resp=3\n") {
		t.Fatalf("CLIENT INFO in RESP3 = %#v", info)
	}

	// Errors leave the protocol as it was (RESP3 here).
	for _, tc := range []struct{ in, want string }{
		{"HELLO 1", "NOPROTO unsupported protocol version"},
		{"HELLO 4", "NOPROTO unsupported protocol version"},
		{"HELLO 0", "NOPROTO unsupported protocol version"},
		{"HELLO -1", "NOPROTO unsupported protocol version"},
		{"HELLO x", "ERR Protocol version is not an integer or out of range"},
		{"HELLO 99999999999999999999", "ERR Protocol version is not an integer or out of range"},
		{"HELLO +3", "ERR Protocol version is not an integer or out of range"},
		{"HELLO 03", "ERR Protocol version is not an integer or out of range"},
		{"HELLO AUTH default x", "ERR Protocol version is not an integer or out of range"},
		{"HELLO 2 BOGUS", "ERR Syntax error in HELLO option 'BOGUS'"},
		{"HELLO 2 AUTH default", "ERR Syntax error in HELLO option 'AUTH'"},
		{"HELLO 2 setname", "ERR Syntax error in HELLO option 'setname'"},
		{"HELLO 2 AUTH bob pw", "WRONGPASS invalid username-password pair or user is disabled."},
		{"HELLO 2 AUTH default x AUTH bob y", "WRONGPASS invalid username-password pair or user is disabled."},
		{"HELLO 2 AUTH bob pw SETNAME 'a b'", "WRONGPASS invalid username-password pair or user is disabled."},
		{"HELLO 2 SETNAME 'a b'", errClientName},
	} {
		c.send(tc.in + "\r\nGET nokey\r\n")
		c.expect("-" + tc.want + "\r\n_\r\n")
	}

	// AUTH as Redis answers it when no password is configured: the
	// default user takes any password, there is no other user.
	c.send("HELLO 2 AUTH default anything SETNAME app\r\nCLIENT GETNAME\r\nGET nokey\r\n")
	c.expect(helloReply(2, id) + "$3\r\napp\r\n$-1\r\n")
	c.send("hello 3 setname x SETNAME y\r\nCLIENT GETNAME\r\n")
	c.expect(helloReply(3, id) + "$1\r\ny\r\n")
	for _, tc := range []struct{ in, want string }{
		{"AUTH pw", "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"},
		{"AUTH default pw", "+OK"},
		{"AUTH bob pw", "-WRONGPASS invalid username-password pair or user is disabled."},
		{"AUTH a b c", "-ERR syntax error"},
		{"AUTH", "-ERR wrong number of arguments for 'auth' command"},
	} {
		c.send(tc.in + "\r\n")
		c.expect(tc.want + "\r\n")
	}
}

// go-redis sends HELLO with its credentials and client name on connect.
func TestHelloGoRedis(t *testing.T) {
	ctx := context.Background()
	ts := start(t, Config{})
	for _, proto := range []int{2, 3} {
		rc := redis.NewClient(&redis.Options{Addr: ts.Addr().String(), Protocol: proto, ClientName: "app",
			Username: "default", Password: "whatever", MaxRetries: -1})
		defer rc.Close()
		info := must[string](t)(rc.Do(ctx, "CLIENT", "INFO").Text())
		if !strings.Contains(info, " name=app ") || !strings.HasSuffix(info, fmt.Sprintf(" resp=%d\n", proto)) {
			t.Errorf("protocol %d: CLIENT INFO = %q", proto, info)
		}
		bad := redis.NewClient(&redis.Options{Addr: ts.Addr().String(), Protocol: proto, Username: "bob", Password: "pw", MaxRetries: -1})
		defer bad.Close()
		wantErr(t, bad.Ping(ctx).Err(), "WRONGPASS invalid username-password pair or user is disabled.")
	}
}

func TestClientCommands(t *testing.T) {
	ctx := context.Background()
	ts := start(t, Config{})
	rc := redis.NewClient(&redis.Options{Addr: ts.Addr().String(), ClientName: "initial"})
	defer rc.Close()
	cn := rc.Conn()
	defer cn.Close()
	str := must[string](t)
	if got := str(cn.ClientGetName(ctx).Result()); got != "initial" {
		t.Fatalf("CLIENT GETNAME with go-redis's ClientName = %q", got)
	}
	must[bool](t)(cn.ClientSetName(ctx, "worker-1").Result())
	if got := str(cn.ClientGetName(ctx).Result()); got != "worker-1" {
		t.Fatalf("CLIENT GETNAME = %q", got)
	}
	wantErr(t, cn.ClientSetName(ctx, "has space").Err(), "ERR Client names cannot contain spaces")
	id := must[int64](t)(cn.ClientID(ctx).Result())
	info := str(cn.Do(ctx, "CLIENT", "INFO").Text())
	if !strings.HasPrefix(info, fmt.Sprintf("id=%d addr=127.0.0.1:", id)) || !strings.Contains(info, " name=worker-1 ") ||
		!strings.Contains(info, " ns=default ") || !strings.HasSuffix(info, "\n") {
		t.Fatalf("CLIENT INFO = %q", info)
	}
	if got := str(cn.Do(ctx, "CLIENT", "SETINFO", "LIB-NAME", "x").Text()); got != "OK" {
		t.Fatalf("CLIENT SETINFO = %q", got)
	}
	c := ts.dial(t)
	c.send("CLIENT GETNAME\r\n")
	c.expect("$-1\r\n")
}

// Redis 7.0.15's reply to COMMAND INFO get mset nope, byte for byte, in
// RESP2 and in RESP3: distkv's entries for the commands both have are
// Redis's.
const (
	commandInfoRESP2 = "*3\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n" +
		"*10\r\n$4\r\nmset\r\n:-3\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:-1\r\n:2\r\n*3\r\n+@write\r\n+@string\r\n+@slow\r\n*2\r\n$26\r\nrequest_policy:multi_shard\r\n$29\r\nresponse_policy:all_succeeded\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+OW\r\n+update\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:2\r\n$5\r\nlimit\r\n:0\r\n*0\r\n$-1\r\n"
	commandInfoRESP3 = "*3\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n" +
		"*10\r\n$4\r\nmset\r\n:-3\r\n~2\r\n+write\r\n+denyoom\r\n:1\r\n:-1\r\n:2\r\n~3\r\n+@write\r\n+@string\r\n+@slow\r\n~2\r\n$26\r\nrequest_policy:multi_shard\r\n$29\r\nresponse_policy:all_succeeded\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+OW\r\n+update\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:2\r\n$5\r\nlimit\r\n:0\r\n~0\r\n_\r\n"
)

func TestCommandInfoBytes(t *testing.T) {
	c := start(t, Config{}).dial(t)
	c.send("COMMAND INFO get mset nope\r\n")
	c.expect(commandInfoRESP2)
	c.send("HELLO 3\r\n")
	c.reply()
	c.send("COMMAND INFO GET mset nope\r\n")
	c.expect(commandInfoRESP3)
}

func TestCommand(t *testing.T) {
	eachProtocol(t, func(t *testing.T, proto int) {
		ctx := context.Background()
		rc := startProto(t, Config{}, proto).client(t)
		infos := must[map[string]*redis.CommandInfo](t)(rc.Command(ctx).Result())
		get, ok := infos["get"]
		if !ok || get.Arity != 2 || get.FirstKeyPos != 1 || get.LastKeyPos != 1 || !get.ReadOnly ||
			!slices.Equal(get.ACLFlags, []string{"@read", "@string", "@fast"}) {
			t.Fatalf("COMMAND get = %+v", get)
		}
		if mset := infos["mset"]; mset == nil || mset.Arity != -3 || mset.LastKeyPos != -1 || mset.StepCount != 2 {
			t.Fatalf("COMMAND mset = %+v", mset)
		}
		n := must[int64](t)(rc.Do(ctx, "COMMAND", "COUNT").Int64())
		if n != int64(len(infos)) || n < 25 {
			t.Fatalf("COMMAND COUNT = %d, COMMAND lists %d", n, len(infos))
		}
		if all := must[[]any](t)(rc.Do(ctx, "COMMAND", "INFO").Slice()); int64(len(all)) != n {
			t.Fatalf("COMMAND INFO with no names: %d entries, want %d", len(all), n)
		}
		one := must[[]any](t)(rc.Do(ctx, "COMMAND", "INFO", "client|setname", "nope").Slice())
		if len(one) != 2 || one[1] != nil || one[0].([]any)[0] != "client|setname" || one[0].([]any)[1] != int64(3) {
			t.Fatalf("COMMAND INFO client|setname nope = %v", one)
		}
		wantErr(t, rc.Do(ctx, "COMMAND", "BOGUS").Err(), "ERR unknown subcommand 'BOGUS'. Try COMMAND HELP.")
		wantErr(t, rc.Do(ctx, "COMMAND", "COUNT", "x").Err(), "ERR wrong number of arguments for 'command|count' command")

		help := must[[]string](t)(rc.Do(ctx, "COMMAND", "HELP").StringSlice())
		if len(help) < 9 || help[0] != "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:" ||
			!slices.Contains(help, "INFO [<command-name> [<command-name> ...]]") || help[len(help)-2] != "HELP" {
			t.Fatalf("COMMAND HELP = %q", help)
		}
		help = must[[]string](t)(rc.Do(ctx, "CLIENT", "HELP").StringSlice())
		if !slices.Contains(help, "SETNAME <connection-name>") || !slices.Contains(help, "    Name the connection.") {
			t.Fatalf("CLIENT HELP = %q", help)
		}
	})
}

// TestCommandDocs reads COMMAND DOCS raw, to see its maps in RESP3 and
// flat pairs in RESP2.
func TestCommandDocs(t *testing.T) {
	c := start(t, Config{}).dial(t)
	for _, proto := range []int{2, 3} {
		c.send(fmt.Sprintf("HELLO %d\r\n", proto))
		c.reply()
		pairs := func(v any) map[string]any {
			t.Helper()
			var flat []any
			switch v := v.(type) {
			case respMap:
				flat = v
			case []any:
				flat = v
			}
			if proto == 3 && fmt.Sprintf("%T", v) != "resp.respMap" || len(flat)%2 != 0 {
				t.Fatalf("protocol %d: not a map: %#v", proto, v)
			}
			m := map[string]any{}
			for i := 0; i < len(flat); i += 2 {
				m[string(flat[i].([]byte))] = flat[i+1]
			}
			return m
		}
		c.send("COMMAND DOCS get nope SET\r\n")
		docs := pairs(c.reply())
		if len(docs) != 2 || docs["get"] == nil || docs["set"] == nil {
			t.Fatalf("protocol %d: COMMAND DOCS get nope SET = %v", proto, docs)
		}
		get := pairs(docs["get"])
		if string(get["summary"].([]byte)) != "Return a key's value" || string(get["since"].([]byte)) != "1.0.0" ||
			string(get["group"].([]byte)) != "string" || string(get["complexity"].([]byte)) != "O(1)" {
			t.Fatalf("protocol %d: COMMAND DOCS get = %v", proto, get)
		}
		keyArg := pairs(get["arguments"].([]any)[0])
		if string(keyArg["name"].([]byte)) != "key" || string(keyArg["type"].([]byte)) != "key" || keyArg["key_spec_index"] != int64(0) {
			t.Fatalf("protocol %d: GET's argument = %v", proto, keyArg)
		}
		set := pairs(docs["set"])
		cond := pairs(set["arguments"].([]any)[2])
		if string(cond["type"].([]byte)) != "oneof" || len(cond["arguments"].([]any)) != 2 || fmt.Sprint(cond["flags"]) != "[optional]" {
			t.Fatalf("protocol %d: SET's condition = %v", proto, cond)
		}

		c.send("COMMAND DOCS client\r\n")
		client := pairs(pairs(c.reply())["client"])
		subs := pairs(client["subcommands"])
		if len(subs) != 6 || subs["client|setname"] == nil {
			t.Fatalf("protocol %d: CLIENT's subcommands = %v", proto, subs)
		}
		c.send("COMMAND DOCS nope\r\nCOMMAND DOCS\r\nCOMMAND COUNT\r\n")
		if none := pairs(c.reply()); len(none) != 0 {
			t.Fatalf("COMMAND DOCS nope = %v", none)
		}
		all := pairs(c.reply())
		if n := c.reply().(int64); int64(len(all)) != n {
			t.Fatalf("COMMAND DOCS documents %d commands, COMMAND COUNT = %d", len(all), n)
		}
	}
}

// TestEveryCommandDocumented: every command and subcommand of the table
// has its COMMAND DOCS entry and ACL categories, and key flags exactly
// when it takes keys; every entry belongs to a command.
func TestEveryCommandDocumented(t *testing.T) {
	names := map[string]bool{}
	var check func(cmd *command)
	check = func(cmd *command) {
		names[cmd.name] = true
		doc, ok := commandDocs[cmd.name]
		switch {
		case !ok:
			t.Errorf("%s: no entry in commandDocs", cmd.name)
		case doc.summary == "" || doc.since == "" || doc.group == "" || doc.complexity == "" || len(doc.acl) == 0:
			t.Errorf("%s: incomplete entry %+v", cmd.name, doc)
		case (cmd.firstKey > 0) != (len(doc.keyFlags) > 0):
			t.Errorf("%s: first key %d, key flags %v", cmd.name, cmd.firstKey, doc.keyFlags)
		}
		for _, sc := range cmd.subs {
			if !strings.HasPrefix(sc.name, cmd.name+"|") {
				t.Errorf("subcommand %s of %s", sc.name, cmd.name)
			}
			check(sc)
		}
	}
	for _, cmd := range commandTable() {
		check(cmd)
	}
	for name := range commandDocs {
		if !names[name] {
			t.Errorf("commandDocs documents %s, which the table does not have", name)
		}
	}
}

func TestConfig(t *testing.T) {
	eachProtocol(t, func(t *testing.T, proto int) {
		ctx := context.Background()
		rc := startProto(t, Config{}, proto).client(t)
		// redis-benchmark reads save and appendonly.
		cfg := must[map[string]string](t)(rc.ConfigGet(ctx, "save").Result())
		if len(cfg) != 1 || cfg["save"] != "" {
			t.Fatalf("CONFIG GET save = %v", cfg)
		}
		cfg = must[map[string]string](t)(rc.ConfigGet(ctx, "*").Result())
		if len(cfg) != len(configParams) || cfg["appendonly"] != "no" {
			t.Fatalf("CONFIG GET * = %v", cfg)
		}
		wantErr(t, rc.ConfigSet(ctx, "save", "").Err(), "ERR CONFIG SET is not supported by distkv")
		wantErr(t, rc.Do(ctx, "CONFIG", "GET").Err(), "ERR wrong number of arguments for 'config|get' command")
		wantErr(t, rc.Do(ctx, "CONFIG").Err(), "ERR wrong number of arguments for 'config' command")
		help := must[[]string](t)(rc.Do(ctx, "CONFIG", "HELP").StringSlice())
		if !slices.Equal(help[1:3], []string{"GET <parameter> [<parameter> ...]",
			"    Return the configuration parameters matching the patterns (a fixed few: distkv is configured by its command line)."}) {
			t.Fatalf("CONFIG HELP = %q", help)
		}
	})
	// Byte for byte as Redis 7.0.15 answers.
	c := start(t, Config{}).dial(t)
	c.send("CONFIG GET save\r\nHELLO 3\r\n")
	c.expect("*2\r\n$4\r\nsave\r\n$0\r\n\r\n")
	c.reply()
	c.send("CONFIG GET save\r\nCONFIG GET appendonly nothing\r\n")
	c.expect("%1\r\n$4\r\nsave\r\n$0\r\n\r\n%1\r\n$10\r\nappendonly\r\n$2\r\nno\r\n")
}

func TestInfo(t *testing.T) {
	ctx := context.Background()
	ts := start(t, Config{Version: "v1.2.3"})
	rc := ts.client(t)
	ts.fill("", "k", 42)
	info := must[string](t)(rc.Info(ctx).Result())
	for _, want := range []string{
		"# Server\r\n", "redis_version:7.0.0-distkv\r\n", "distkv_version:v1.2.3\r\n", "distkv_node:n1\r\n",
		"uptime_in_seconds:", "# Clients\r\nconnected_clients:1\r\n",
		"# Cluster\r\ncluster_enabled:0\r\n", "distkv_coordinator:n1\r\n", "distkv_epoch:7\r\n",
		"distkv_nodes:1\r\n", "distkv_nodes_alive:1\r\n", "distkv_namespaces:default,other\r\n",
		"distkv_shards:8\r\n", "distkv_shards_with_leader:8\r\n", "distkv_node0:id=n1,state=alive,redis_addr=127.0.0.1:6379",
		"# Keyspace\r\ndb0:keys=42,expires=0,avg_ttl=0,namespace=default\r\n",
	} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
	_, port, _ := strings.Cut(ts.Addr().String(), "127.0.0.1:")
	if !strings.Contains(info, "tcp_port:"+port+"\r\n") {
		t.Errorf("INFO lacks tcp_port:%s", port)
	}
	// go-redis parses it into sections.
	m := must[map[string]map[string]string](t)(rc.InfoMap(ctx, "server", "keyspace").Result())
	if m["Server"]["redis_version"] != redisVersion || m["Keyspace"]["db0"] == "" || m["Cluster"] != nil {
		t.Errorf("INFO server keyspace = %v", m)
	}
	if got := must[string](t)(rc.Info(ctx, "nosuchsection").Result()); got != "" {
		t.Errorf("INFO nosuchsection = %q", got)
	}
	ts.node.unknownKeys.Store(true)
	if got := must[string](t)(rc.Info(ctx, "keyspace").Result()); !strings.Contains(got, "unknown_shards=4") {
		t.Errorf("INFO keyspace with unknown counts = %q", got)
	}
	err := errors.New("no quorum")
	ts.node.statusErr.Store(&err)
	got := must[string](t)(rc.Info(ctx, "cluster", "keyspace").Result())
	if !strings.Contains(got, "distkv_status_error:no quorum\r\n") || strings.Contains(got, "db0:") {
		t.Errorf("INFO without status = %q", got)
	}
	if got := must[string](t)(rc.Info(ctx, "server").Result()); !strings.Contains(got, "redis_mode:standalone") {
		t.Errorf("INFO server without status = %q", got)
	}

	// A bulk string in RESP2, a verbatim string (format txt) in RESP3.
	c := ts.dial(t)
	c.send("INFO server\r\n")
	if got, ok := c.reply().([]byte); !ok || !strings.HasPrefix(string(got), "# Server\r\nredis_version:") {
		t.Errorf("INFO server in RESP2 = %q", got)
	}
	c.send("HELLO 3\r\n")
	c.reply()
	c.send("INFO server\r\n")
	if got, ok := c.reply().(verbatim); !ok || !strings.HasPrefix(string(got), "# Server\r\nredis_version:") {
		t.Errorf("INFO server in RESP3 = %#v", got)
	}
}
