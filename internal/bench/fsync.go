package bench

import (
	"fmt"
	"os"
	"time"
)

// FsyncProbe is the machine's synced-write latency, measured at the start
// of a comparison: durable writes of every store here wait on it, so it
// bounds what one writer can do (1/p50 synced writes per second) unless
// writes are committed in groups.
type FsyncProbe struct {
	// Dir is where the probe wrote: the file system of the stores' data.
	Dir       string  `json:"dir"`
	Writes    int     `json:"writes"`
	Bytes     int     `json:"bytes_per_write"`
	P50Micros float64 `json:"p50_us"`
	P99Micros float64 `json:"p99_us"`
	MaxMicros float64 `json:"max_us"`
}

// ProbeFsync appends writes blocks of size bytes to a new file in dir,
// calling fsync after each, and reports the latency of write+fsync. The
// file is removed afterwards.
func ProbeFsync(dir string, writes, size int) (FsyncProbe, error) {
	p := FsyncProbe{Dir: dir, Writes: writes, Bytes: size}
	f, err := os.CreateTemp(dir, "fsync-probe-*")
	if err != nil {
		return p, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, size)
	for i := range block {
		block[i] = byte(i)
	}
	h := NewHistogram(latencyDigits)
	for range writes {
		start := time.Now()
		if _, err := f.Write(block); err != nil {
			return p, err
		}
		if err := f.Sync(); err != nil {
			return p, fmt.Errorf("fsync in %s: %w", dir, err)
		}
		h.Record(int64(time.Since(start)))
	}
	p.P50Micros, p.P99Micros, p.MaxMicros = micros(h.ValueAt(50)), micros(h.ValueAt(99)), micros(h.Max())
	return p, nil
}

// String summarizes p on one line.
func (p FsyncProbe) String() string {
	rate := ""
	if p.P50Micros > 0 {
		rate = fmt.Sprintf(" → about %s synced writes/s for one writer", fmtCount(int64(1e6/p.P50Micros)))
	}
	return fmt.Sprintf("fsync probe: %d × %d B appends + fsync in %s: p50 %s, p99 %s, max %s%s",
		p.Writes, p.Bytes, p.Dir, fmtLatency(p.P50Micros), fmtLatency(p.P99Micros), fmtLatency(p.MaxMicros), rate)
}
