package cli

import (
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestIsNodeCmdline(t *testing.T) {
	cases := []struct {
		argv        []string
		id, dataDir string
		want        bool
	}{
		{[]string{"/usr/bin/distkv", "server", "--id", "n2", "--data-dir", "/d/n2"}, "n2", "/d/n2", true},
		{[]string{"/tmp/go-build1/b001/exe/distkv", "server", "--client-addr", "x", "--id=n2", "--data-dir=/d/n2/"}, "n2", "/d/n2", true},
		// The binary's name does not matter: go build -o, symlinks, versions.
		{[]string{"./dk", "server", "--id", "n2", "--data-dir", "/d/n2"}, "n2", "/d/n2", true},
		{[]string{"/opt/distkv-0.3", "server", "--id", "n2"}, "n2", "", true},
		{[]string{"distkv", "server", "--id", "n2", "--data-dir", "/other/n2"}, "n2", "/d/n2", false},
		{[]string{"distkv", "server", "--id", "n2"}, "n2", "/d/n2", false},
		{[]string{"distkv", "server", "--id", "n2"}, "n1", "", false},
		{[]string{"distkv", "server", "--id", "n12"}, "n1", "", false},
		{[]string{"distkv", "get", "--id", "n2"}, "n2", "", false},
		{[]string{"/bin/sleep", "60"}, "n2", "", false},
		{[]string{"distkv", "server", "--id"}, "n2", "", false},
		{nil, "n2", "", false},
	}
	for _, tc := range cases {
		if got := isNodeCmdline(tc.argv, tc.id, tc.dataDir); got != tc.want {
			t.Errorf("isNodeCmdline(%q, %s, %q) = %v", tc.argv, tc.id, tc.dataDir, got)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 0\n"
	st, err := parseProcStat(line)
	if err != nil || st.state != 'S' || st.start != 987654 {
		t.Errorf("parseProcStat = %+v, %v; want state S, start 987654", st, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 x S"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q) did not fail", bad)
		}
	}
}

// TestProcNeverMatchesStrangers: our own PID is alive but no distkv
// server, so it is never taken for a node, even with its true identity.
func TestProcNeverMatchesStrangers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	self, err := captureIdentity(os.Getpid())
	if err != nil || self.StartTime == 0 || self.ExeIno == 0 {
		t.Fatalf("captureIdentity(self) = %+v, %v", self, err)
	}
	if !self.matches() {
		t.Fatal("the test process does not match its own identity")
	}
	p := proc{id: "n1", procIdentity: self}
	if p.running() || p.signal(9) == nil {
		t.Fatal("the test process was taken for node n1")
	}
	for _, other := range []procIdentity{
		{PID: self.PID, StartTime: self.StartTime + 1},
		{PID: self.PID, ExeDev: self.ExeDev, ExeIno: self.ExeIno + 1},
		{PID: 0},
	} {
		if other.matches() {
			t.Errorf("identity %+v matches the test process %+v", other, self)
		}
	}
	if argv := procCmdline(os.Getpid()); len(argv) == 0 || !strings.HasSuffix(argv[0], ".test") {
		t.Errorf("procCmdline(self) = %q", argv)
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
