// Package clock is how time enters distkv: engines take a Clock, only the
// node wires in the real one, and tests drive a Manual clock by hand.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and makes tickers. Implementations are safe for
// concurrent use.
type Clock interface {
	Now() time.Time
	// NewTicker returns a ticker that fires every d. d must be positive.
	NewTicker(d time.Duration) Ticker
}

// Ticker delivers ticks on C until stopped. Like time.Ticker it drops ticks
// for a slow receiver rather than queueing them.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Real is the wall clock.
type Real struct{}

func (Real) Now() time.Time { return time.Now() }

func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

// Manual is a clock that moves only when Advance is called. Its zero value
// is not usable; create one with NewManual.
type Manual struct {
	mu struct {
		sync.Mutex
		now     time.Time
		tickers []*manualTicker
	}
}

// NewManual returns a manual clock reading start.
func NewManual(start time.Time) *Manual {
	m := &Manual{}
	m.mu.now = start
	return m
}

func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.now
}

func (m *Manual) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker interval")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &manualTicker{clock: m, every: d, next: m.mu.now.Add(d), c: make(chan time.Time, 1)}
	m.mu.tickers = append(m.mu.tickers, t)
	return t
}

// Advance moves the clock forward by d and fires every ticker whose period
// elapsed, in deadline order. A ticker whose channel is full drops the tick,
// as time.Ticker does.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	target := m.mu.now.Add(d)
	for {
		due := m.dueLocked(target)
		if due == nil {
			break
		}
		m.mu.now = due.next
		due.next = due.next.Add(due.every)
		select {
		case due.c <- m.mu.now:
		default:
		}
	}
	m.mu.now = target
}

// dueLocked returns the live ticker with the earliest deadline at or before
// target, or nil. m.mu must be held.
func (m *Manual) dueLocked(target time.Time) *manualTicker {
	live := m.mu.tickers[:0]
	for _, t := range m.mu.tickers {
		if !t.stopped {
			live = append(live, t)
		}
	}
	m.mu.tickers = live
	sort.SliceStable(live, func(i, j int) bool { return live[i].next.Before(live[j].next) })
	if len(live) == 0 || live[0].next.After(target) {
		return nil
	}
	return live[0]
}

type manualTicker struct {
	clock   *Manual
	every   time.Duration
	next    time.Time // guarded by clock.mu
	stopped bool      // guarded by clock.mu
	c       chan time.Time
}

func (t *manualTicker) C() <-chan time.Time { return t.c }

func (t *manualTicker) Stop() {
	t.clock.mu.Lock()
	t.stopped = true
	t.clock.mu.Unlock()
}
