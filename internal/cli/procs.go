package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a node process of a local cluster.
type proc struct {
	id  string
	pid int
}

func (p proc) String() string { return fmt.Sprintf("%s (pid %d)", p.id, p.pid) }

// procCmdline returns the argv of process pid from /proc; a zombie or a
// missing process has none.
func procCmdline(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(string(bytes.TrimSuffix(b, []byte{0})), "\x00")
}

// isDistkv reports whether argv runs a distkv binary's subcommand sub.
func isDistkv(argv []string, sub string) bool {
	return len(argv) >= 2 && strings.HasPrefix(filepath.Base(argv[0]), "distkv") && argv[1] == sub
}

// isNodeCmdline reports whether argv is `distkv server ... --id id ...`.
func isNodeCmdline(argv []string, id string) bool {
	if !isDistkv(argv, "server") {
		return false
	}
	for i := 2; i < len(argv); i++ {
		if argv[i] == "--id="+id || (argv[i] == "--id" && i+1 < len(argv) && argv[i+1] == id) {
			return true
		}
	}
	return false
}

// running reports whether p.pid is alive and is the distkv server of node
// p.id: a PID reused by an unrelated process is never taken for a node.
func (p proc) running() bool {
	return p.pid > 0 && isNodeCmdline(procCmdline(p.pid), p.id)
}

// paused reports whether p is stopped by a signal (SIGSTOP).
func (p proc) paused() bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'T'
	}
	return false
}

// signal sends sig to p if it is still node p.id's process.
func (p proc) signal(sig syscall.Signal) error {
	if !p.running() {
		return fmt.Errorf("%s is not running", p)
	}
	if err := syscall.Kill(p.pid, sig); err != nil {
		return fmt.Errorf("signalling %s: %w", p, err)
	}
	return nil
}

// runningProcs returns the nodes of f whose processes run.
func runningProcs(f *clusterFile) []proc {
	var ps []proc
	for _, n := range f.Nodes {
		if p := (proc{n.ID, n.PID}); p.running() {
			ps = append(ps, p)
		}
	}
	return ps
}

// waitGone waits until none of ps runs, for at most timeout, or until
// abort delivers; it returns those still running.
func waitGone[T any](ps []proc, timeout time.Duration, abort <-chan T) []proc {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var left []proc
		for _, p := range ps {
			if p.running() {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-deadline.C:
			return left
		case <-abort:
			return left
		case <-tick.C:
		}
	}
}

// stopProcs stops ps: SIGTERM, then SIGKILL for those still running after
// grace (or as soon as abort delivers), then waits a little more. It
// reports progress to w and returns an error naming any survivor.
func stopProcs[T any](w func(format string, args ...any), ps []proc, grace time.Duration, abort <-chan T) error {
	if len(ps) == 0 {
		return nil
	}
	w("stopping %s", joinProcs(ps))
	for _, p := range ps {
		p.signal(syscall.SIGCONT) // a paused node cannot handle SIGTERM
		p.signal(syscall.SIGTERM)
	}
	left := waitGone(ps, grace, abort)
	if len(left) == 0 {
		return nil
	}
	w("killing %s, still running", joinProcs(left))
	for _, p := range left {
		p.signal(syscall.SIGKILL)
	}
	if left = waitGone(left, 5*time.Second, (<-chan T)(nil)); len(left) > 0 {
		return fmt.Errorf("could not stop %s", joinProcs(left))
	}
	return nil
}

func joinProcs(ps []proc) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
