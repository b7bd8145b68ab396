// Package e2e runs the real distkv binary: a local cluster of OS processes
// started with `distkv up`, driven through the CLI, the Go client and raw
// HTTP. Everything listens on loopback; every wait is bounded.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distkv/distkv/client"
)

var bin string // the distkv binary built for this run

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "distkv-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "distkv")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/distkv")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building distkv: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cluster is a `distkv up` run.
type cluster struct {
	t        testing.TB
	dir      string
	basePort int
	nodes    int
	up       *exec.Cmd
	log      *lockedBuffer
}

// lockedBuffer collects up's stdout and stderr, written from two goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) WriteString(s string) { _, _ = b.Write([]byte(s)) }

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freeBase finds a base port whose node ports are all free.
func freeBase(nodes int) int {
	for try := 0; try < 50; try++ {
		base := 20000 + rand.Intn(200)*100
		ok := true
		for i := 1; i <= nodes && ok; i++ {
			for _, off := range []int{0, 100, 200, 300} {
				l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+off+i))
				if err != nil {
					ok = false
					break
				}
				l.Close()
			}
		}
		if ok {
			return base
		}
	}
	panic("no free port range")
}

// startCluster runs `distkv up` and waits until it reports the cluster
// ready. The cluster is stopped (Ctrl-C to up) when the test ends.
func startCluster(t testing.TB, nodes int, extra ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), basePort: freeBase(nodes), nodes: nodes, log: &lockedBuffer{}}
	args := append([]string{"up", "--nodes", fmt.Sprint(nodes), "--base-port", fmt.Sprint(c.basePort), "--data-dir", c.dir}, extra...)
	c.up = exec.Command(bin, args...)
	c.up.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := c.up.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.up.Stderr = c.log
	if err := c.up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.log.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "cluster ready") {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("distkv up ended before the cluster was ready:\n%s", c.log)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("cluster not ready after 60s:\n%s", c.log)
	}
	return c
}

func (c *cluster) stop() {
	if c.up.Process == nil {
		return
	}
	_ = c.up.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- c.up.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-c.up.Process.Pid, syscall.SIGKILL)
		<-done
	}
	if c.t.Failed() {
		for i := 1; i <= c.nodes; i++ {
			b, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("n%d", i), "node.log"))
			c.t.Logf("--- n%d log (tail):\n%s", i, tail(string(b), 30))
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (c *cluster) addr(i int) string { return fmt.Sprintf("127.0.0.1:%d", c.basePort+i) }

func (c *cluster) endpoints(except ...int) string {
	var eps []string
outer:
	for i := 1; i <= c.nodes; i++ {
		for _, e := range except {
			if e == i {
				continue outer
			}
		}
		eps = append(eps, c.addr(i))
	}
	return strings.Join(eps, ",")
}

// cli runs the distkv CLI against the cluster and returns stdout, stderr
// and the exit code.
func (c *cluster) cli(args ...string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "DISTKV_ENDPOINTS="+c.endpoints())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("running distkv %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// mustCLI runs the CLI and fails the test on a non-zero exit.
func (c *cluster) mustCLI(args ...string) string {
	c.t.Helper()
	out, errs, code := c.cli(args...)
	if code != 0 {
		c.t.Fatalf("distkv %s: exit %d: %s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (c *cluster) client(except ...int) *client.Client {
	cl, err := client.New(client.Config{Endpoints: strings.Split(c.endpoints(except...), ","), Timeout: 5 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// cliStdin runs the CLI with stdin.
func (c *cluster) cliStdin(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "DISTKV_ENDPOINTS="+c.endpoints())
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("running distkv %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}
