package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distkv/distkv/client"
)

// Tests of the real binary, built under another name than distkv: `up`
// run as its own process and interrupted as Ctrl-C would, and `node add`
// joining a real node to a real cluster.

// buildDistkv builds ./cmd/distkv as dir/name and returns its path.
func buildDistkv(t *testing.T, name string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("process management reads /proc")
	}
	if testing.Short() {
		t.Skip("builds the distkv binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "github.com/distkv/distkv/cmd/distkv")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// realUp is `BINARY up` running as its own process.
type realUp struct {
	cmd   *exec.Cmd
	dir   string
	env   []string // the environment of up and of the test's distkv commands
	out   *syncBuffer
	exit  chan error
	ready chan bool
}

// startRealUp runs `exe up` with nodes in-memory nodes from base and waits
// until the cluster is ready. Whatever the test leaves running is killed
// when it ends: up's process group and the nodes recorded in cluster.json.
func startRealUp(t *testing.T, exe string, nodes, base int) *realUp {
	t.Helper()
	u := &realUp{dir: t.TempDir(), out: &syncBuffer{}, exit: make(chan error, 1), ready: make(chan bool, 1)}
	u.env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir(), fakeNodeEnv+"=", EnvDataDir+"=", EnvEndpoints+"=")
	u.cmd = exec.Command(exe, "up", "--nodes", strconv.Itoa(nodes), "--base-port", strconv.Itoa(base),
		"--data-dir", u.dir, "--in-memory", "--shards", "4")
	u.cmd.Env = u.env
	u.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's Ctrl-C reaches only up
	stdout, err := u.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	u.cmd.Stderr = u.out
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			u.out.Write([]byte(sc.Text() + "\n"))
			if strings.HasPrefix(sc.Text(), "cluster ready") {
				u.ready <- true
			}
		}
		u.exit <- u.cmd.Wait()
	}()
	t.Cleanup(func() { u.kill(t) })
	select {
	case <-u.ready:
	case err := <-u.exit:
		u.exit <- err
		t.Fatalf("up exited before the cluster was ready (%v):\n%s", err, u.out)
	case <-time.After(90 * time.Second):
		t.Fatalf("cluster not ready after 90s:\n%s", u.out)
	}
	return u
}

// kill ends whatever of the cluster still runs.
func (u *realUp) kill(t *testing.T) {
	syscall.Kill(-u.cmd.Process.Pid, syscall.SIGKILL) // up's own group: it alone
	select {
	case err := <-u.exit:
		u.exit <- err
	case <-time.After(10 * time.Second):
		t.Errorf("up (pid %d) did not exit after SIGKILL", u.cmd.Process.Pid)
	}
	if f, err := readClusterFile(u.dir); err == nil {
		for _, p := range clusterProcs(f, nil) {
			p.signal(syscall.SIGKILL)
		}
	}
}

// interrupt sends up SIGINT, as Ctrl-C does, and waits for it to exit.
func (u *realUp) interrupt(t *testing.T) error {
	t.Helper()
	if err := u.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-u.exit:
		u.exit <- err
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("up still runs 60s after SIGINT:\n%s", u.out)
		return nil
	}
}

// procs returns the node processes recorded in cluster.json.
func (u *realUp) procs(t *testing.T) []proc {
	t.Helper()
	f, err := readClusterFile(u.dir)
	if err != nil {
		t.Fatal(err)
	}
	var ps []proc
	for i := range f.Nodes {
		ps = append(ps, f.Nodes[i].proc())
	}
	return ps
}

// assertAllGone fails the test if any of ps, or any process serving the
// cluster's data directories, still runs.
func (u *realUp) assertAllGone(t *testing.T, ps []proc) {
	t.Helper()
	for _, p := range ps {
		if p.running() {
			t.Errorf("%v still runs after up stopped:\n%s", p, u.out)
		}
	}
	f, err := readClusterFile(u.dir)
	if err != nil {
		t.Fatal(err)
	}
	if strays := strayProcs(f); len(strays) > 0 {
		t.Errorf("processes serving the cluster's data directories still run: %v", joinProcs(strays))
	}
	for _, n := range f.Nodes {
		if n.PID != 0 {
			t.Errorf("%s's recorded pid = %d after up stopped", n.ID, n.PID)
		}
	}
}

// TestUpRenamedBinaryStopsNodes is issue 21's first scenario: a binary
// built as dk, and one run through a symlink with a versioned name; Ctrl-C
// of up must leave no node running.
func TestUpRenamedBinaryStopsNodes(t *testing.T) {
	dk := buildDistkv(t, "dk")
	link := filepath.Join(t.TempDir(), "kv-0.3")
	if err := os.Symlink(dk, link); err != nil {
		t.Fatal(err)
	}
	for _, exe := range []string{dk, link} {
		t.Run(filepath.Base(exe), func(t *testing.T) {
			u := startRealUp(t, exe, 3, testBasePort(t, 3))
			ps := u.procs(t)
			if len(ps) != 3 {
				t.Fatalf("cluster.json lists %d nodes", len(ps))
			}
			for _, p := range ps {
				if !p.running() || p.StartTime == 0 || p.ExeIno == 0 {
					t.Fatalf("%v is not recognised as running (identity %+v)", p, p.procIdentity)
				}
			}
			if err := u.interrupt(t); err != nil {
				t.Errorf("up exited with %v:\n%s", err, u.out)
			}
			if !strings.Contains(u.out.String(), "all nodes stopped") {
				t.Errorf("up's output lacks 'all nodes stopped':\n%s", u.out)
			}
			u.assertAllGone(t, ps)
		})
	}
	// down, run from another directory through the symlink, finds the
	// cluster by its endpoints and has its up stop the nodes.
	t.Run("down", func(t *testing.T) {
		base := testBasePort(t, 3)
		u := startRealUp(t, dk, 3, base)
		ps := u.procs(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		down := exec.CommandContext(ctx, link, "down")
		down.Dir = t.TempDir()
		down.Env = append(slices.Clone(u.env), fmt.Sprintf("%s=127.0.0.1:%d", EnvEndpoints, base+2))
		out, err := down.CombinedOutput()
		if err != nil || !strings.Contains(string(out), fmt.Sprintf("distkv up (pid %d) has stopped", u.cmd.Process.Pid)) {
			t.Errorf("kv-0.3 down: %v\n%s", err, out)
		}
		select {
		case err := <-u.exit:
			u.exit <- err
			if err != nil {
				t.Errorf("up exited with %v:\n%s", err, u.out)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("up still runs after down:\n%s", u.out)
		}
		u.assertAllGone(t, ps)
	})
}

// TestNodeAddRealCluster adds n4 to a real 3-node cluster with `dk node
// add`, run from another directory and finding the cluster by
// DISTKV_ENDPOINTS; the cluster must list n4, and Ctrl-C of up stop it.
func TestNodeAddRealCluster(t *testing.T) {
	dk := buildDistkv(t, "dk")
	base := testBasePort(t, 4)
	u := startRealUp(t, dk, 3, base)
	endpoints := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", base+1, base+2, base+3)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	add := exec.CommandContext(ctx, dk, "node", "add")
	add.Dir = t.TempDir()
	add.Env = append(slices.Clone(u.env), EnvEndpoints+"="+endpoints)
	out, err := add.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "n4 joined") {
		t.Fatalf("dk node add: %v\n%s\nup:\n%s", err, out, u.out)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d", base+4); !strings.Contains(string(out), want) {
		t.Errorf("node add's output lacks %s:\n%s", want, out)
	}

	c, err := client.New(client.Config{Endpoints: strings.Split(endpoints, ","), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	waitFor(t, 60*time.Second, "GET /v1/cluster to list n4", func() bool {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		cl, err := c.Cluster(cctx)
		if err != nil {
			return false
		}
		ids = ids[:0]
		for _, n := range cl.Nodes {
			ids = append(ids, n.ID)
		}
		return slices.Contains(ids, "n4")
	})

	list := exec.CommandContext(ctx, dk, "node", "list", "--endpoints", fmt.Sprintf("127.0.0.1:%d", base+4))
	list.Dir, list.Env = add.Dir, u.env
	if out, err := list.CombinedOutput(); err != nil || !strings.Contains(string(out), "n4    running") {
		t.Errorf("node list by n4's endpoint: %v\n%s", err, out)
	}

	ps := u.procs(t)
	if len(ps) != 4 || ps[3].id != "n4" || !ps[3].running() {
		t.Fatalf("cluster.json after node add: %v", ps)
	}
	if err := u.interrupt(t); err != nil {
		t.Errorf("up exited with %v:\n%s", err, u.out)
	}
	u.assertAllGone(t, ps)
}
