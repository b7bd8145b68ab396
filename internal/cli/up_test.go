package cli

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// localCluster is a `distkv up` running in-process, its nodes being the
// test binary as fake nodes, run through a symlink whose name is not
// "distkv": nodes are recognised whatever the binary is called.
type localCluster struct {
	dir, exe string
	state    string // XDG_STATE_HOME, for the cluster index
	base     int    // the base port
	out      *syncBuffer
	cancel   context.CancelFunc
	done     chan int
}

// startUp runs `distkv up` with 3 fake nodes and waits for it to be ready.
// The ports of two more nodes are free too, for 'distkv node add'.
func startUp(t *testing.T) *localCluster {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("process management reads /proc")
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Setenv(fakeNodeEnv, "1")
	lc := &localCluster{dir: t.TempDir(), exe: fakeNodeBinary(t), state: t.TempDir(), out: &syncBuffer{}, done: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	lc.cancel = cancel
	lc.base = testBasePort(t, 5)
	go func() {
		lc.done <- lc.app(lc.out, nil).run(ctx, []string{"up", "--data-dir", lc.dir, "--base-port", strconv.Itoa(lc.base)})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-lc.done:
		case <-time.After(30 * time.Second):
			t.Error("up did not stop")
		}
		if f, err := readClusterFile(lc.dir); err == nil { // whatever a failed test left
			for _, p := range clusterProcs(f, nil) {
				p.signal(syscall.SIGKILL)
			}
		}
	})
	waitFor(t, 30*time.Second, "up to be ready", func() bool { return strings.Contains(lc.out.String(), "Ctrl-C stops") })
	return lc
}

// fakeNodeBinary is a symlink to the test binary named kvnode-fake.
func fakeNodeBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "kvnode-fake")
	if err := os.Symlink(self, exe); err != nil {
		t.Fatal(err)
	}
	return exe
}

// app is a command line with the environment env, plus XDG_STATE_HOME.
func (lc *localCluster) app(out *syncBuffer, env map[string]string) *app {
	getenv := func(k string) string {
		if k == "XDG_STATE_HOME" {
			return lc.state
		}
		return env[k]
	}
	return &app{stdin: strings.NewReader(""), stdout: out, stderr: out, getenv: getenv, exe: lc.exe}
}

// run runs a distkv command in-process against the cluster's data dir.
func (lc *localCluster) run(args ...string) (string, int) {
	return lc.runEnv(nil, append(args, "--data-dir", lc.dir)...)
}

// runEnv runs a distkv command in-process with the environment env.
func (lc *localCluster) runEnv(env map[string]string, args ...string) (string, int) {
	out := &syncBuffer{}
	code := lc.app(out, env).run(context.Background(), args)
	return out.String(), code
}

// endpoints are the client addresses of the first n nodes.
func (lc *localCluster) endpoints(n int) string {
	var addrs []string
	for i := 1; i <= n; i++ {
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(lc.base+i))
	}
	return strings.Join(addrs, ",")
}

func (lc *localCluster) procs(t *testing.T) map[string]proc {
	t.Helper()
	f, err := readClusterFile(lc.dir)
	if err != nil {
		t.Fatal(err)
	}
	ps := map[string]proc{}
	for i := range f.Nodes {
		ps[f.Nodes[i].ID] = f.Nodes[i].proc()
	}
	return ps
}

// stop ends up as Ctrl-C would and returns its exit code.
func (lc *localCluster) stop(t *testing.T) int {
	t.Helper()
	lc.cancel()
	select {
	case code := <-lc.done:
		lc.done <- code // for the cleanup
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("up did not stop")
		return -1
	}
}

func TestUpNodeLifecycle(t *testing.T) {
	lc := startUp(t)
	out := lc.out.String()
	for _, want := range []string{"coordinator n1", "[n1] n1 is now cluster coordinator", "http://127.0.0.1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("up's output lacks %q:\n%s", want, out)
		}
	}
	before := lc.procs(t)
	for id, p := range before {
		if !p.running() {
			t.Fatalf("%s (pid %d) is not running", id, p.PID)
		}
	}

	if o, code := lc.run("up"); code != ExitError || !strings.Contains(o, "already running") {
		t.Errorf("second up: exit %d, %q", code, o)
	}
	if o, code := lc.run("node", "stop", "n2"); code != 0 || !strings.Contains(o, "stopped") || before["n2"].running() {
		t.Fatalf("node stop n2: exit %d, %q", code, o)
	}
	if p := lc.procs(t)["n2"]; p.PID != 0 {
		t.Errorf("n2's recorded pid after stop = %d, want 0", p.PID)
	}
	waitFor(t, 5*time.Second, "up to report n2's exit", func() bool { return strings.Contains(lc.out.String(), "n2 exited") })
	if o, code := lc.run("node", "stop", "n2"); code != 0 || !strings.Contains(o, "not running") {
		t.Errorf("second stop: exit %d, %q", code, o)
	}

	if o, code := lc.run("node", "start", "2"); code != 0 || !strings.Contains(o, "healthy") {
		t.Fatalf("node start 2: exit %d, %q", code, o)
	}
	restarted := lc.procs(t)["n2"]
	if !restarted.running() || restarted.PID == before["n2"].PID {
		t.Fatalf("n2 after restart: %+v", restarted)
	}

	if o, code := lc.run("node", "pause", "n3"); code != 0 || !strings.Contains(o, "paused") {
		t.Errorf("pause: exit %d, %q", code, o)
	}
	if o, _ := lc.run("node", "list"); !strings.Contains(o, "n3    paused") {
		t.Errorf("node list after pause:\n%s", o)
	}
	if o, code := lc.run("node", "resume", "n3"); code != 0 || before["n3"].paused() {
		t.Errorf("resume: exit %d, %q", code, o)
	}
	if o, code := lc.run("node", "kill", "n9"); code != ExitError || !strings.Contains(o, `no node "n9"`) {
		t.Errorf("kill n9: exit %d, %q", code, o)
	}

	// Ctrl-C stops every node, the restarted n2 (not up's child) included.
	if code := lc.stop(t); code != 0 {
		t.Errorf("up exited %d:\n%s", code, lc.out.String())
	}
	for _, p := range []proc{before["n1"], restarted, before["n3"]} {
		if p.running() {
			t.Errorf("%v still runs after up stopped", p)
		}
	}
	// node start ran in this process, so the restarted n2 is our child:
	// reap it rather than leave a zombie behind.
	syscall.Wait4(restarted.PID, nil, syscall.WNOHANG, nil)
	for id, p := range lc.procs(t) {
		if p.PID != 0 {
			t.Errorf("%s's recorded pid = %d after up stopped", id, p.PID)
		}
	}
}

func TestDown(t *testing.T) {
	lc := startUp(t)
	before := lc.procs(t)
	if o, code := lc.run("node", "kill", "n1"); code != 0 || !strings.Contains(o, "killed") {
		t.Errorf("kill n1: exit %d, %q", code, o)
	}
	o, code := lc.run("down")
	if code != 0 || !strings.Contains(o, "stopping n2") {
		t.Errorf("down: exit %d, %q", code, o)
	}
	for _, p := range before {
		if p.running() {
			t.Errorf("%v still runs after down", p)
		}
	}
	if o, code := lc.run("down"); code != 0 || !strings.Contains(o, "no node is running") {
		t.Errorf("second down: exit %d, %q", code, o)
	}
	if code := lc.stop(t); code != 0 {
		t.Errorf("up exited %d:\n%s", code, lc.out.String())
	}
}
