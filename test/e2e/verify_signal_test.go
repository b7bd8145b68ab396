package e2e

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestVerifyStopsItsClusterOnSignal: SIGTERM to a running distkv verify
// stops the local cluster it started (which runs in its own process
// group, out of the signal's reach) and removes its directory, instead of
// leaving the node processes behind.
func TestVerifyStopsItsClusterOnSignal(t *testing.T) {
	cmd := exec.Command(bin, "verify", "--nodes", "3", "--seed", "1", "--duration", "60s", "--faults", "delay")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var (
		mu      sync.Mutex
		dir     string
		log     bytes.Buffer
		started = make(chan struct{})
		once    sync.Once
	)
	output := func() string { mu.Lock(); defer mu.Unlock(); return log.String() }
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			log.WriteString(line + "\n")
			if d, ok := strings.CutPrefix(line, "verify: starting a 3-node local cluster in "); ok {
				dir, _, _ = strings.Cut(d, " ")
			}
			mu.Unlock()
			if strings.Contains(line, "inject delay") {
				once.Do(func() { close(started) })
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(90 * time.Second):
		t.Fatalf("verify's workload did not start in 90s:\n%s", output())
	}
	mu.Lock()
	d := dir
	mu.Unlock()
	if d == "" {
		t.Fatalf("verify did not say where its cluster lives:\n%s", output())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("verify still running 60s after SIGTERM")
	}
	if _, err := os.Stat(d); !os.IsNotExist(err) {
		t.Errorf("verify's cluster directory %s is still there (%v)", d, err)
	}
	if left := processesMentioning(t, d); len(left) > 0 {
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Fatalf("processes of verify's cluster outlived it: %v", left)
	}
}

// processesMentioning lists the PIDs whose command line contains s.
func processesMentioning(t *testing.T, s string) []int {
	t.Helper()
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte(s)) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}
