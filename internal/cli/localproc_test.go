package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startedProc is a process a test started and reaps.
type startedProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startProc starts argv (with env added) and kills it when the test ends.
func startProc(t *testing.T, env []string, argv ...string) *startedProc {
	return startProcLog(t, nil, env, argv...)
}

// startProcLog is startProc with the output going to log.
func startProcLog(t *testing.T, log *os.File, env []string, argv ...string) *startedProc {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("process management reads /proc")
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	if log != nil {
		cmd.Stdout, cmd.Stderr = log, log
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sp := &startedProc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(sp.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill() // ours: exec.Cmd signals the child it started
		select {
		case <-sp.done:
		case <-time.After(10 * time.Second):
			t.Errorf("pid %d did not exit after SIGKILL", cmd.Process.Pid)
		}
	})
	return sp
}

func (sp *startedProc) pid() int { return sp.cmd.Process.Pid }

// untouched fails the test if sp exited or was stopped (SIGSTOP).
func (sp *startedProc) untouched(t *testing.T, after string) {
	t.Helper()
	select {
	case <-sp.done:
		t.Fatalf("pid %d exited after %s: %v", sp.pid(), after, sp.cmd.ProcessState)
	default:
	}
	if st, err := readProcStat(sp.pid()); err != nil || st.state == 'T' {
		t.Fatalf("pid %d after %s: state %q, %v", sp.pid(), after, st.state, err)
	}
}

// startFakeNode starts the test binary, through a symlink, as fake node
// id serving addr from dataDir, and waits for its /healthz.
func startFakeNode(t *testing.T, id, addr, dataDir string, env ...string) (*startedProc, nodeRecord) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts processes")
	}
	exe := fakeNodeBinary(t)
	rec := nodeRecord{ID: id, ClientAddr: addr, DataDir: dataDir, Log: filepath.Join(dataDir, "node.log"),
		Args: []string{exe, "server", "--id", id, "--client-addr", addr, "--data-dir", dataDir}}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(rec.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	sp := startProcLog(t, log, append(env, fakeNodeEnv+"=1"), rec.Args...)
	id2, err := captureIdentity(sp.pid())
	if err != nil {
		t.Fatal(err)
	}
	rec.procIdentity = id2
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitHealthy(ctx, rec, 10*time.Second); err != nil {
		b, _ := os.ReadFile(rec.Log)
		t.Fatalf("%v:\n%s", err, b)
	}
	return sp, rec
}

func writeCluster(t *testing.T, dir string, f *clusterFile) {
	t.Helper()
	if err := updateClusterFile(dir, func(g *clusterFile) error { *g = *f; return nil }); err != nil {
		t.Fatal(err)
	}
}

// runIn runs a distkv command in-process with the environment env; nodes
// it starts run exe.
func runIn(exe string, env map[string]string, args ...string) (string, int) {
	out := &syncBuffer{}
	a := &app{stdin: strings.NewReader(""), stdout: out, stderr: out, getenv: func(k string) string { return env[k] }, exe: exe}
	code := a.run(context.Background(), args)
	return out.String(), code
}

// TestPIDReuseNeverSignalled puts the PIDs of unrelated processes into
// cluster.json, as if the nodes had exited and their PIDs been reused: a
// `sleep 60`, and a process that even has a node's command line but is not
// the recorded process (another start time, another binary). No command
// may signal them.
func TestPIDReuseNeverSignalled(t *testing.T) {
	sleep := startProc(t, nil, "sleep", "60")
	dir := t.TempDir()
	base := testBasePort(t, 3)
	lookalike, rec := startFakeNode(t, "n2", "127.0.0.1:"+strconv.Itoa(base+2), filepath.Join(dir, "n2"))
	sleepID, err := captureIdentity(sleep.pid())
	if err != nil {
		t.Fatal(err)
	}
	// The true identity is recognised: the checks below are not vacuous.
	if !rec.proc().running() {
		t.Fatal("the fake node is not recognised by its own identity")
	}
	earlier := rec // the recorded n2 was an earlier process with that PID
	earlier.StartTime--
	otherBinary := rec // the recorded n2 ran another binary
	otherBinary.ExeIno++
	for _, n2 := range []nodeRecord{earlier, otherBinary} {
		f := &clusterFile{Nodes: []nodeRecord{
			{ID: "n1", procIdentity: procIdentity{PID: sleep.pid()}, DataDir: filepath.Join(dir, "n1")}, // an older cluster.json: PID only
			n2,
			{ID: "n3", procIdentity: sleepID, DataDir: filepath.Join(dir, "n3")}, // sleep's own identity, but not a node
		}}
		f.setUp(sleepID) // and no `distkv up` either
		writeCluster(t, dir, f)
		for _, args := range [][]string{
			{"node", "stop", "n1"}, {"node", "stop", "--kill", "n3"}, {"node", "kill", "n1"}, {"node", "pause", "n3"},
			{"node", "stop", "n2"}, {"node", "kill", "n2"}, {"node", "pause", "n2"}, {"node", "resume", "n2"},
			{"node", "list"},
		} {
			what := strings.Join(args, " ")
			out, code := runIn("", nil, append(args, "--data-dir", dir)...)
			if code != 0 && !strings.Contains(out, "is not running") || strings.Contains(out, "running  ") {
				t.Errorf("distkv %s: exit %d, %q", what, code, out)
			}
			sleep.untouched(t, what)
			lookalike.untouched(t, what)
		}
	}
	// down also stops processes serving a node's data directory (see
	// TestDownStopsStrays), as the lookalike does: give n2 none.
	f := &clusterFile{Nodes: []nodeRecord{{ID: "n1", procIdentity: procIdentity{PID: sleep.pid()}, DataDir: filepath.Join(dir, "n1")}, earlier}}
	f.Nodes[1].DataDir = ""
	f.setUp(sleepID)
	writeCluster(t, dir, f)
	if out, code := runIn("", nil, "down", "--data-dir", dir); code != 0 || !strings.Contains(out, "no node is running") {
		t.Errorf("down: exit %d, %q", code, out)
	}
	sleep.untouched(t, "down")
	lookalike.untouched(t, "down")
}

// TestDownStopsStrays: a process serving a node's data directory as that
// node, unrecorded (its up was killed before it could write the PID), is
// stopped by down.
func TestDownStopsStrays(t *testing.T) {
	dir := t.TempDir()
	stray, rec := startFakeNode(t, "n1", "127.0.0.1:"+strconv.Itoa(testBasePort(t, 1)+1), filepath.Join(dir, "n1"))
	rec.procIdentity = procIdentity{}
	writeCluster(t, dir, &clusterFile{Nodes: []nodeRecord{rec}})
	t.Setenv(fakeNodeEnv, "1") // up probes `kvnode-fake server --help`
	up := []string{"up", "--data-dir", dir, "--nodes", "1", "--base-port", strconv.Itoa(testBasePort(t, 1))}
	if out, code := runIn(fakeNodeBinary(t), nil, up...); code != ExitError || !strings.Contains(out, "already running (n1 (pid "+strconv.Itoa(stray.pid())) {
		t.Errorf("up over a stray: exit %d, %q", code, out)
	}
	if out, code := runIn("", nil, "node", "start", "n1", "--data-dir", dir); code != ExitError || !strings.Contains(out, "served by pid "+strconv.Itoa(stray.pid())) {
		t.Errorf("node start over a stray: exit %d, %q", code, out)
	}
	out, code := runIn("", nil, "down", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "stopping n1 (pid "+strconv.Itoa(stray.pid())+")") || !strings.Contains(out, "all nodes stopped") {
		t.Errorf("down: exit %d, %q", code, out)
	}
	select {
	case <-stray.done:
	case <-time.After(5 * time.Second):
		t.Error("the stray still runs after down")
	}
}

// TestStopEscalatesToSIGKILL: a node that ignores SIGTERM is SIGKILLed
// after the grace period, and reported gone only once it is.
func TestStopEscalatesToSIGKILL(t *testing.T) {
	dir := t.TempDir()
	sp, rec := startFakeNode(t, "n1", "127.0.0.1:"+strconv.Itoa(testBasePort(t, 1)+1), filepath.Join(dir, "n1"), stubbornNodeEnv+"=1")
	out := &syncBuffer{}
	say := newLockedWriter(out).say
	left, err := stopProcs(say, []proc{rec.proc()}, 300*time.Millisecond, (<-chan struct{})(nil))
	if len(left) > 0 || err != nil {
		t.Fatalf("stopProcs: left %v, %v", left, err)
	}
	if !strings.Contains(out.String(), "killing n1") {
		t.Errorf("no SIGKILL reported:\n%s", out)
	}
	select {
	case <-sp.done:
		if ws := sp.cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
			t.Errorf("the node ended by %v, want SIGKILL", sp.cmd.ProcessState)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stopProcs reported a running node stopped")
	}
	err = cannotStop([]proc{rec.proc()}, "after SIGKILL", nil)
	if want := "could not stop n1 (pid " + strconv.Itoa(rec.PID) + "): still running after SIGKILL"; err.Error() != want {
		t.Errorf("cannotStop = %q, want %q", err, want)
	}
}

// TestNodeCommandsFromAnotherDirectory: node and down find the cluster by
// its endpoints (through the index up wrote) or DISTKV_DATA_DIR, from a
// directory that is not the cluster's.
func TestNodeCommandsFromAnotherDirectory(t *testing.T) {
	lc := startUp(t)
	t.Chdir(t.TempDir())
	byEndpoints := map[string]string{EnvEndpoints: lc.endpoints(3)}
	if o, code := lc.runEnv(byEndpoints, "node", "stop", "n2"); code != 0 || !strings.Contains(o, "stopped") {
		t.Fatalf("node stop n2 by endpoints: exit %d, %q", code, o)
	}
	// One endpoint is enough, written as a URL or with localhost.
	one := map[string]string{EnvEndpoints: "http://localhost:" + strconv.Itoa(lc.base+1) + "/"}
	if o, code := lc.runEnv(one, "node", "start", "n2"); code != 0 || !strings.Contains(o, "healthy") {
		t.Fatalf("node start n2 by one endpoint: exit %d, %q", code, o)
	}
	if o, code := lc.runEnv(map[string]string{EnvDataDir: lc.dir}, "node", "list"); code != 0 || !strings.Contains(o, "n2    running") {
		t.Errorf("node list by %s: exit %d, %q", EnvDataDir, code, o)
	}
	if o, code := lc.runEnv(nil, "node", "list", "--endpoints", lc.endpoints(2)); code != 0 || !strings.Contains(o, "n3    running") {
		t.Errorf("node list by --endpoints: exit %d, %q", code, o)
	}
	o, code := lc.runEnv(map[string]string{EnvEndpoints: "127.0.0.1:1"}, "node", "stop", "n1")
	for _, want := range []string{"no local cluster found", EnvDataDir + " is not set", "./distkv-data has no cluster.json",
		"none of the 1 cluster(s) recorded in " + filepath.Join(lc.state, "distkv", "clusters"), "127.0.0.1:1"} {
		if code != ExitError || !strings.Contains(o, want) {
			t.Errorf("node stop with unknown endpoints: exit %d, %q lacks %q", code, o, want)
		}
	}
	before := lc.procs(t)
	if o, code := lc.runEnv(byEndpoints, "down"); code != 0 || !strings.Contains(o, "all nodes stopped") {
		t.Errorf("down by endpoints: exit %d, %q", code, o)
	}
	for _, p := range before {
		if p.running() {
			t.Errorf("%v still runs after down", p)
		}
		syscall.Wait4(p.PID, nil, syscall.WNOHANG, nil) // n2, started in-process, is our child
	}
	lc.stop(t)
}

// TestNodeAdd adds fake nodes n4 and n5 to a running up, which then stops
// them at Ctrl-C with the others.
func TestNodeAdd(t *testing.T) {
	lc := startUp(t)
	o, code := lc.run("node", "add")
	if code != 0 || !strings.Contains(o, "n4 joined") || !strings.Contains(o, "http://127.0.0.1:"+strconv.Itoa(lc.base+4)) {
		t.Fatalf("node add: exit %d, %q", code, o)
	}
	if !strings.Contains(o, EnvEndpoints+"="+lc.endpoints(4)) {
		t.Errorf("node add does not print the new endpoints:\n%s", o)
	}
	f, err := readClusterFile(lc.dir)
	if err != nil {
		t.Fatal(err)
	}
	n4, err := f.node("n4")
	if err != nil {
		t.Fatal(err)
	}
	if !n4.Added || !n4.proc().running() || flagValue(n4.Args, "--join") != lc.endpoints(3) ||
		hasArg(n4.Args, "--peers") || n4.DataDir != filepath.Join(lc.dir, "n4") {
		t.Errorf("n4's record: %+v", n4)
	}
	if o, code := lc.run("node", "add"); code != 0 || !strings.Contains(o, "n5 joined") {
		t.Fatalf("second node add: exit %d, %q", code, o)
	}
	if o, _ := lc.run("node", "list"); !strings.Contains(o, "n4    running") || !strings.Contains(o, "n5    running") {
		t.Errorf("node list:\n%s", o)
	}
	ps := lc.procs(t)
	if o, code := lc.run("node", "stop", "n5"); code != 0 || !strings.Contains(o, "stopped") {
		t.Errorf("node stop n5: exit %d, %q", code, o)
	}
	if code := lc.stop(t); code != 0 {
		t.Errorf("up exited %d:\n%s", code, lc.out.String())
	}
	for id, p := range ps {
		if p.running() {
			t.Errorf("%s still runs after up stopped", p)
		}
		if id == "n4" || id == "n5" {
			syscall.Wait4(p.PID, nil, syscall.WNOHANG, nil) // started in-process: our children
		}
	}
}

func TestNodeAddWithoutRunningNodes(t *testing.T) {
	dir := t.TempDir()
	plan := planCluster(upOptions{nodes: 3, basePort: 7700, shards: 16}, dir, "/bin/distkv", serverFlags{})
	writeCluster(t, dir, &clusterFile{Nodes: plan})
	if o, code := runIn("", nil, "node", "add", "--data-dir", dir); code != ExitError || !strings.Contains(o, "no node of the cluster is running") {
		t.Errorf("node add: exit %d, %q", code, o)
	}
}
