package cli

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestIsNodeCmdline(t *testing.T) {
	cases := []struct {
		argv []string
		id   string
		want bool
	}{
		{[]string{"/usr/bin/distkv", "server", "--id", "n2", "--data-dir", "d"}, "n2", true},
		{[]string{"/tmp/go-build1/b001/exe/distkv", "server", "--client-addr", "x", "--id=n2"}, "n2", true},
		{[]string{"distkv", "server", "--id", "n2"}, "n1", false},
		{[]string{"distkv", "server", "--id", "n12"}, "n1", false},
		{[]string{"distkv", "get", "--id", "n2"}, "n2", false},
		{[]string{"/bin/sleep", "server", "--id", "n2"}, "n2", false},
		{[]string{"distkv", "server", "--id"}, "n2", false},
		{nil, "n2", false},
	}
	for _, tc := range cases {
		if got := isNodeCmdline(tc.argv, tc.id); got != tc.want {
			t.Errorf("isNodeCmdline(%q, %s) = %v", tc.argv, tc.id, got)
		}
	}
}

// TestProcNeverMatchesStrangers: our own PID is alive but no distkv
// server, so it is never taken for a node.
func TestProcNeverMatchesStrangers(t *testing.T) {
	p := proc{"n1", os.Getpid()}
	if p.running() || p.signal(9) == nil {
		t.Fatal("the test process was taken for node n1")
	}
	if argv := procCmdline(os.Getpid()); len(argv) == 0 || !strings.HasSuffix(argv[0], ".test") {
		t.Errorf("procCmdline(self) = %q", argv)
	}
	if (proc{"n1", 0}).running() {
		t.Error("pid 0 runs")
	}
}

func TestLogMessage(t *testing.T) {
	cases := map[string]string{
		`time=2025-01-01T00:00:00Z level=INFO msg="n2 is now cluster coordinator" term=3`: "n2 is now cluster coordinator",
		`time=x level=INFO msg=coordinator node=n1`:                                       "coordinator",
		`{"time":"x","level":"INFO","msg":"n1 is now cluster coordinator"}`:               "n1 is now cluster coordinator",
		"  plain coordinator line \n":                                                     "plain coordinator line",
	}
	for in, want := range cases {
		if got := logMessage(in); got != want {
			t.Errorf("logMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlanCluster(t *testing.T) {
	o := upOptions{nodes: 2, dataDir: "d", basePort: 7700, shards: 8, faults: true, inMemory: true}
	nodes := planCluster(o, "/data", "/bin/distkv", serverFlags{"allow-fault-injection": true, "redis-addr": true})
	want := []string{"/bin/distkv", "server", "--id", "n2", "--client-addr", "127.0.0.1:7702",
		"--peer-addr", "127.0.0.1:7802", "--peers", "n1=127.0.0.1:7801,n2=127.0.0.1:7802",
		"--data-dir", "/data/n2", "--in-memory", "--allow-fault-injection=true", "--redis-addr", "127.0.0.1:7902"}
	if n := nodes[1]; !reflect.DeepEqual(n.Args, want) || n.Log != "/data/n2/node.log" ||
		!reflect.DeepEqual(n.Env, []string{"SHARD_COUNT=8"}) {
		t.Errorf("n2 = %+v\nwant args %q", n, want)
	}
	if got := listenAddrs(nodes[1]); !reflect.DeepEqual(got, []string{"127.0.0.1:7702", "127.0.0.1:7802", "127.0.0.1:7902"}) {
		t.Errorf("listenAddrs = %q", got)
	}
	// A server with --shards takes it as a flag; the default count is not
	// passed through the environment.
	args, env := optionalServerArgs(serverFlags{"shards": true}, o, 1)
	if !reflect.DeepEqual(args, []string{"--shards", "8"}) || env != nil {
		t.Errorf("with --shards: %q %q", args, env)
	}
	o.shards = defaultShards
	if args, env := optionalServerArgs(serverFlags{}, o, 1); args != nil || env != nil {
		t.Errorf("bare server: %q %q", args, env)
	}
}

func TestUpValidation(t *testing.T) {
	for _, args := range [][]string{
		{"up", "--nodes", "0"}, {"up", "--nodes", "100"}, {"up", "--base-port", "65400"},
		{"up", "--shards", "0"}, {"up", "--data-dir", ""}, {"up", "extra"},
	} {
		if r := runCLI(t, "", "", args...); r.code != ExitUsage {
			t.Errorf("distkv %q: exit %d, %q", args, r.code, r.err)
		}
	}
}
