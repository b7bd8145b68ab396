package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// How a local cluster's processes are recognised. A PID alone says
// nothing once its process has exited: the kernel hands it to the next
// process, which may be anything. So a process is recorded with its
// identity, read from /proc right after it started: its start time (which
// no later process with the same PID can share) and the device and inode
// of the binary it runs (which survive renames, symlinks and a rebuild of
// the file, since a running binary keeps its inode). A node must also
// still say on its command line which node it is: `server`, its --id and
// its --data-dir. Signals are sent through a pidfd opened before the
// check, so the process checked is the process signalled.

// procIdentity is a process as cluster.json records it.
type procIdentity struct {
	// PID is the process; 0 when it was stopped by distkv.
	PID int `json:"pid"`
	// StartTime is when the process started, in clock ticks after boot
	// (/proc/PID/stat field 22); 0 when unknown (an older cluster.json).
	StartTime uint64 `json:"start_time,omitempty"`
	// ExeDev and ExeIno identify the binary the process runs
	// (/proc/PID/exe); 0 when unknown.
	ExeDev uint64 `json:"exe_dev,omitempty"`
	ExeIno uint64 `json:"exe_ino,omitempty"`
}

// captureIdentity reads the identity of the live process pid. It fails
// for a process that is gone or a zombie.
func captureIdentity(pid int) (procIdentity, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return procIdentity{}, err
	}
	if st.state == 'Z' || st.state == 'X' {
		return procIdentity{}, fmt.Errorf("process %d has exited", pid)
	}
	dev, ino, err := procExe(pid)
	if err != nil {
		return procIdentity{}, err
	}
	return procIdentity{PID: pid, StartTime: st.start, ExeDev: dev, ExeIno: ino}, nil
}

// matches reports whether the live process id.PID is still the process
// id was captured from. Fields left 0 are not compared.
func (id procIdentity) matches() bool {
	if id.PID <= 0 {
		return false
	}
	st, err := readProcStat(id.PID)
	if err != nil || st.state == 'Z' || st.state == 'X' {
		return false
	}
	if id.StartTime != 0 && st.start != id.StartTime {
		return false
	}
	if id.ExeDev != 0 || id.ExeIno != 0 {
		dev, ino, err := procExe(id.PID)
		if err != nil || dev != id.ExeDev || ino != id.ExeIno {
			return false
		}
	}
	return true
}

// procStat is what distkv reads from /proc/PID/stat.
type procStat struct {
	state byte   // R, S, D, T (stopped), Z (zombie), ...
	start uint64 // clock ticks after boot
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

// parseProcStat parses a /proc/PID/stat line. The command name, field 2,
// is in parentheses and may hold spaces and parentheses itself, so the
// fields are counted from the last ')'.
func parseProcStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed /proc stat line")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3, the state
	const startField = 22
	if len(f) < startField-2 || len(f[0]) != 1 {
		return procStat{}, errors.New("malformed /proc stat line")
	}
	start, err := strconv.ParseUint(f[startField-3], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("malformed /proc stat start time: %w", err)
	}
	return procStat{state: f[0][0], start: start}, nil
}

// procExe is the device and inode of the binary process pid runs.
func procExe(pid int) (dev, ino uint64, err error) {
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join("/proc", strconv.Itoa(pid), "exe"), &st); err != nil {
		return 0, 0, err
	}
	return uint64(st.Dev), uint64(st.Ino), nil
}

// procCmdline returns the argv of process pid from /proc; a zombie or a
// missing process has none.
func procCmdline(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(string(bytes.TrimSuffix(b, []byte{0})), "\x00")
}

// cmdlineFlag returns the value of --name in argv (as "--name v" or
// "--name=v") and whether it is there.
func cmdlineFlag(argv []string, name string) (string, bool) {
	for i := 1; i < len(argv); i++ {
		if argv[i] == "--"+name && i+1 < len(argv) {
			return argv[i+1], true
		}
		if v, ok := strings.CutPrefix(argv[i], "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// isNodeCmdline reports whether argv is `BINARY server ... --id id ...`
// with --data-dir dataDir (not compared when dataDir is ""). The binary's
// name does not matter: it may be renamed, versioned or a symlink.
func isNodeCmdline(argv []string, id, dataDir string) bool {
	if len(argv) < 2 || argv[1] != "server" {
		return false
	}
	if v, ok := cmdlineFlag(argv, "id"); !ok || v != id {
		return false
	}
	if dataDir == "" {
		return true
	}
	v, ok := cmdlineFlag(argv, "data-dir")
	return ok && filepath.Clean(v) == filepath.Clean(dataDir)
}

// hasArg reports whether argv holds word as an argument (not argv[0]).
func hasArg(argv []string, word string) bool {
	for _, a := range argv[min(1, len(argv)):] {
		if a == word {
			return true
		}
	}
	return false
}

// proc is a node process of a local cluster.
type proc struct {
	id      string
	dataDir string // the node's --data-dir; "" is not compared
	procIdentity
}

func (p proc) String() string { return fmt.Sprintf("%s (pid %d)", p.id, p.PID) }

// proc is n's recorded process.
func (n *nodeRecord) proc() proc { return proc{n.ID, n.DataDir, n.procIdentity} }

// running reports whether p's process is alive and is still the distkv
// server of node p.id: a PID reused by an unrelated process is never taken
// for a node.
func (p proc) running() bool {
	return p.matches() && isNodeCmdline(procCmdline(p.PID), p.id, p.dataDir)
}

// paused reports whether p is stopped by a signal (SIGSTOP).
func (p proc) paused() bool {
	st, err := readProcStat(p.PID)
	return err == nil && st.state == 'T'
}

// errNotRunning is wrapped by proc.signal when the process is not, or no
// longer, node p.id's.
var errNotRunning = errors.New("is not running")

// signal sends sig to p if it is still node p.id's process.
func (p proc) signal(sig syscall.Signal) error {
	// Pin the process first: if it exits and its PID is reused after
	// the check, the pidfd still names the exited process.
	pin, err := pinProcess(p.PID)
	if err != nil {
		return fmt.Errorf("%s %w", p, errNotRunning)
	}
	defer pin.close()
	if !p.running() {
		return fmt.Errorf("%s %w", p, errNotRunning)
	}
	if err := pin.signal(sig); errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%s %w", p, errNotRunning)
	} else if err != nil {
		return fmt.Errorf("signalling %s: %w", p, err)
	}
	return nil
}

// runningProcs returns the nodes of f whose processes run.
func runningProcs(f *clusterFile) []proc {
	var ps []proc
	for i := range f.Nodes {
		if p := f.Nodes[i].proc(); p.running() {
			ps = append(ps, p)
		}
	}
	return ps
}

// strayProcs finds processes that serve a node of f from its data
// directory without being recorded in f (say, a node whose `distkv up` was
// killed before it could record it, or one started by hand): they hold
// the cluster's data and ports, so down and up stop them too.
func strayProcs(f *clusterFile) []proc {
	recorded := map[int]bool{}
	for _, p := range runningProcs(f) {
		recorded[p.PID] = true
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var strays []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || recorded[pid] || pid == os.Getpid() {
			continue
		}
		argv := procCmdline(pid)
		for i := range f.Nodes {
			n := &f.Nodes[i]
			if n.DataDir == "" || !isNodeCmdline(argv, n.ID, n.DataDir) {
				continue
			}
			if id, err := captureIdentity(pid); err == nil {
				strays = append(strays, proc{n.ID, n.DataDir, id})
			}
			break
		}
	}
	return strays
}

// clusterProcs returns every process of f's cluster that runs: the
// recorded nodes, extra (processes the caller started, such as up's
// children) and strays.
func clusterProcs(f *clusterFile, extra []proc) []proc {
	ps := runningProcs(f)
	for _, p := range extra {
		if p.running() && !containsProc(ps, p) {
			ps = append(ps, p)
		}
	}
	for _, p := range strayProcs(f) {
		if !containsProc(ps, p) {
			ps = append(ps, p)
		}
	}
	return ps
}

func containsProc(ps []proc, p proc) bool {
	for _, q := range ps {
		if q.PID == p.PID {
			return true
		}
	}
	return false
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

// procKillTimeout bounds the wait for SIGKILLed processes to be gone.
const procKillTimeout = 5 * time.Second

// stopProcs stops ps: SIGTERM, then SIGKILL for those still running after
// grace (or as soon as abort delivers), then waits procKillTimeout more.
// It reports progress to w and returns the processes still running and
// the errors of the signals that could not be sent.
func stopProcs[T any](w func(format string, args ...any), ps []proc, grace time.Duration, abort <-chan T) (left []proc, sigErr error) {
	if len(ps) == 0 {
		return nil, nil
	}
	w("stopping %s", joinProcs(ps))
	var errs []error
	for _, p := range ps {
		p.signal(syscall.SIGCONT) // a paused node cannot handle SIGTERM
		if err := p.signal(syscall.SIGTERM); err != nil && !errors.Is(err, errNotRunning) {
			errs = append(errs, err)
		}
	}
	if left = waitGone(ps, grace, abort); len(left) == 0 {
		return nil, nil
	}
	left, err := killProcs(w, left)
	return left, errors.Join(append(errs, err)...)
}

// killProcs SIGKILLs ps and waits for them to be gone, for at most
// procKillTimeout; it returns those that remain and the errors of the
// signals that could not be sent.
func killProcs(w func(format string, args ...any), ps []proc) (left []proc, sigErr error) {
	w("killing %s, still running", joinProcs(ps))
	var errs []error
	for _, p := range ps {
		if err := p.signal(syscall.SIGKILL); err != nil && !errors.Is(err, errNotRunning) {
			errs = append(errs, err)
		}
	}
	return waitGone(ps, procKillTimeout, (<-chan struct{})(nil)), errors.Join(errs...)
}

// cannotStop is the error naming processes that still run after what was
// tried, with the errors of signals that could not be sent.
func cannotStop(left []proc, after string, sigErr error) error {
	msg := fmt.Sprintf("could not stop %s: still running %s", joinProcs(left), after)
	if sigErr != nil {
		msg += " (" + strings.ReplaceAll(sigErr.Error(), "\n", "; ") + ")"
	}
	return errors.New(msg)
}

func joinProcs(ps []proc) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
