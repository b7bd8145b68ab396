package bench

import (
	"context"
	"math"
	"time"
)

// Schedule is the fixed-rate plan of one worker in open-loop mode. The
// run's operations are numbered j = 0, 1, 2, ... and operation j is due
// at start + j/rate: exactly evenly spaced, whatever the number of
// workers. Worker w of c owns the operations j = k·c + w, so each worker
// issues one every c/rate seconds, the workers staggered by 1/rate.
//
// A worker that falls behind (its store answers slower than c/rate) does
// not sleep and does not skip: it issues its late operations at once,
// and each operation's latency is measured from its due time, not from
// when it was finally sent. The time an operation spent waiting for a
// busy worker is the time a real client arriving at that moment would
// have waited, so a stall shows in the percentiles in full instead of
// pausing the load generator (the "coordinated omission" of closed-loop
// benchmarks, which report one slow operation where an open system
// would have queued many).
type Schedule struct {
	Start   time.Time
	Rate    float64 // operations per second, all workers together
	Workers int
	Worker  int
}

// Due returns when the worker's k-th operation (from 0) is due.
func (s Schedule) Due(k int64) time.Time {
	j := float64(k)*float64(s.Workers) + float64(s.Worker)
	return s.Start.Add(time.Duration(math.Round(j * 1e9 / s.Rate)))
}

// clock is real time for a run; tests drive workers with a fake one.
type clock interface {
	Now() time.Time
	// SleepUntil waits until t or until ctx ends; it reports whether ctx
	// is still live.
	SleepUntil(ctx context.Context, t time.Time) bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) SleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
