package resp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestPingEchoHello(t *testing.T) {
	ctx := context.Background()
	ts := start(t, Config{})
	rc := ts.client(t)
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
	hello := must[[]any](t)(rc.Do(ctx, "HELLO", "2").Slice())
	if len(hello) != 14 || hello[0] != "server" || hello[2] != "version" || hello[3] != redisVersion ||
		hello[4] != "proto" || hello[5] != int64(2) || hello[6] != "id" || hello[8] != "mode" {
		t.Fatalf("HELLO 2 = %v", hello)
	}
	wantErr(t, rc.Do(ctx, "HELLO", "3").Err(), "NOPROTO sorry, this protocol version is not supported")
	wantErr(t, rc.Do(ctx, "HELLO", "x").Err(), "ERR Protocol version is not an integer or out of range")
	wantErr(t, rc.Do(ctx, "HELLO", "2", "BOGUS").Err(), "ERR Syntax error in HELLO option 'BOGUS'")

	c := ts.dial(t)
	c.send("HELLO\r\n") // raw, to see the flat array RESP2 gives a map
	c.expect("*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$12\r\n7.0.0-distkv\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n")
	c.reply() // the id
	c.expect("$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n")
	c.send("HELLO 2 AUTH default secret SETNAME app\r\nCLIENT GETNAME\r\n")
	if h, ok := c.reply().([]any); !ok || len(h) != 14 {
		t.Fatalf("HELLO with options = %v", h)
	}
	if name := c.reply(); string(name.([]byte)) != "app" {
		t.Fatalf("name after HELLO SETNAME = %q", name)
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

func TestCommandAndConfig(t *testing.T) {
	ctx := context.Background()
	rc := start(t, Config{}).client(t)
	infos := must[map[string]*redis.CommandInfo](t)(rc.Command(ctx).Result())
	get, ok := infos["get"]
	if !ok || get.Arity != 2 || get.FirstKeyPos != 1 || get.LastKeyPos != 1 || !get.ReadOnly {
		t.Fatalf("COMMAND get = %+v", get)
	}
	if mset := infos["mset"]; mset == nil || mset.Arity != -3 || mset.LastKeyPos != -1 || mset.StepCount != 2 {
		t.Fatalf("COMMAND mset = %+v", mset)
	}
	if n := must[int64](t)(rc.Do(ctx, "COMMAND", "COUNT").Int64()); n != int64(len(infos)) || n < 25 {
		t.Fatalf("COMMAND COUNT = %d, COMMAND lists %d", n, len(infos))
	}
	one := must[[]any](t)(rc.Do(ctx, "COMMAND", "INFO", "GET", "nope").Slice())
	if len(one) != 2 || one[1] != nil || one[0].([]any)[0] != "get" {
		t.Fatalf("COMMAND INFO GET nope = %v", one)
	}
	// redis-cli 7 sends COMMAND DOCS on connect; refused, it uses its own help.
	wantErr(t, rc.Do(ctx, "COMMAND", "DOCS").Err(), "ERR unknown subcommand 'DOCS'. Try COMMAND HELP.")

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
}
