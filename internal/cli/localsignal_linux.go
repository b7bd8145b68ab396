package cli

import (
	"errors"
	"syscall"
)

// Linux's pidfd system calls; their numbers are the same on every
// architecture Go supports.
const (
	sysPidfdSendSignal = 424
	sysPidfdOpen       = 434
)

// pinnedProc is a handle on one process that stays valid, and keeps naming
// that process, after the process exits and its PID is reused.
type pinnedProc struct {
	pid int
	fd  int // a pidfd, or -1 on a kernel without pidfds (before 5.3)
}

// pinProcess opens a handle on process pid; it fails when there is none.
func pinProcess(pid int) (pinnedProc, error) {
	if pid <= 0 {
		return pinnedProc{}, syscall.ESRCH
	}
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	switch {
	case errno == 0:
		return pinnedProc{pid, int(fd)}, nil
	case errors.Is(errno, syscall.ENOSYS) || errors.Is(errno, syscall.EPERM):
		// No pidfds (an old kernel, or a seccomp filter): fall back to
		// kill(2) after the caller's check.
		return pinnedProc{pid, -1}, nil
	}
	return pinnedProc{}, errno
}

func (p pinnedProc) signal(sig syscall.Signal) error {
	if p.fd < 0 {
		return syscall.Kill(p.pid, sig)
	}
	if _, _, errno := syscall.Syscall6(sysPidfdSendSignal, uintptr(p.fd), uintptr(sig), 0, 0, 0, 0); errno != 0 {
		return errno
	}
	return nil
}

func (p pinnedProc) close() {
	if p.fd >= 0 {
		syscall.Close(p.fd)
	}
}
