package bench

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc CPU times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// cpuSample is the machine's busy CPU time and the part of it spent by
// the processes under test (this one and the stores), in clock ticks.
type cpuSample struct {
	at         time.Time
	busy, ours uint64
	ok         bool
	cpus       int
}

// sampleCPU reads /proc/stat and /proc/PID/stat for this process and
// pids. ok is false where /proc is missing (not Linux).
func sampleCPU(pids []int) cpuSample {
	s := cpuSample{at: time.Now(), cpus: runtime.NumCPU()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 8 || f[0] != "cpu" {
		return s
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i != 3 && i != 4 && i < 8 { // all but idle and iowait; not guest (counted in user)
			s.busy += n
		}
	}
	s.ours = procTicks("self")
	for _, pid := range pids {
		s.ours += procTicks(strconv.Itoa(pid))
	}
	s.ok = true
	return s
}

// procTicks is the user+system time of /proc/<p>, 0 when unreadable.
func procTicks(p string) uint64 {
	b, err := os.ReadFile(filepath.Join("/proc", p, "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // state is f[0]; utime f[11], stime f[12]
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return u + st
}

// foreignCPU is the share of the machine's CPU capacity (0..1) that other
// processes used between samples a and b: busy time not spent by the
// benchmark or the stores under test. Other work on the machine slows
// the stores down; a run with a high share is a noisy one. It returns -1
// when either sample failed.
func foreignCPU(a, b cpuSample) float64 {
	if !a.ok || !b.ok || b.busy < a.busy {
		return -1
	}
	capacity := b.at.Sub(a.at).Seconds() * float64(a.cpus) * clockTicks
	if capacity <= 0 {
		return -1
	}
	foreign := float64(b.busy-a.busy) - float64(b.ours-a.ours)
	return min(max(foreign/capacity, 0), 1)
}
