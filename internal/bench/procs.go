package bench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// PeerStopGrace is how long a peer process gets to exit after SIGTERM
// before it is killed.
const PeerStopGrace = 10 * time.Second

// Proc is a peer server process (etcd, redis-server) that bench started.
// It is only ever signalled through its own *exec.Cmd, by PID, while it
// is known not to have been reaped: a process bench did not start — a
// system Redis on 6379, another user's etcd — is never touched.
type Proc struct {
	Name string
	Log  string // where its stdout and stderr go
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
	err  error         // its exit status, once done
}

// StartProc starts argv in its own process group (so a Ctrl-C in the
// terminal reaches bench, which then stops it, and not the peer
// directly), appending its output to logPath.
func StartProc(name, logPath string, argv []string) (*Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.done }

// ExitErr is why the process exited; call it after Exited is closed.
func (p *Proc) ExitErr() error { return p.err }

// Stop sends SIGTERM, waits up to grace, then sends SIGKILL and waits for
// the exit. It returns nil once the process is gone, whatever its exit
// status. Stopping a stopped Proc does nothing.
func (p *Proc) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stopping %s (pid %d): %w", p.Name, p.Pid(), err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	}
	p.cmd.Process.Kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL", p.Name, p.Pid())
	}
}

// stopAll stops ps, all at once, and joins their errors.
func stopAll(ps []*Proc, grace time.Duration) error {
	errs := make(chan error, len(ps))
	for _, p := range ps {
		go func() { errs <- p.Stop(grace) }()
	}
	var all []error
	for range ps {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// FreePorts returns n distinct TCP ports free on 127.0.0.1 right now: it
// listens on port 0 n times at once, then closes the listeners. Another
// program could take one before the peer binds it; the peer then fails
// to start and says so.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
