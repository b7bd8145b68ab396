//go:build !linux

package cli

import "syscall"

// pinnedProc names a process by PID only: without pidfds, a PID reused
// between the caller's check and the signal cannot be told apart. (Local
// clusters need /proc, so they run on Linux anyway.)
type pinnedProc struct{ pid int }

func pinProcess(pid int) (pinnedProc, error) {
	if pid <= 0 {
		return pinnedProc{}, syscall.ESRCH
	}
	return pinnedProc{pid}, nil
}

func (p pinnedProc) signal(sig syscall.Signal) error { return syscall.Kill(p.pid, sig) }

func (p pinnedProc) close() {}
