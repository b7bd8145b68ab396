package dvv

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// Timestamp is a hybrid logical clock reading: a wall time in Unix
// nanoseconds, and a logical counter that orders readings sharing a wall
// time. The zero Timestamp is before every reading a Clock returns.
type Timestamp struct {
	Wall    int64
	Logical uint32
}

// Less reports whether t is before o: by Wall, then Logical.
func (t Timestamp) Less(o Timestamp) bool {
	if t.Wall != o.Wall {
		return t.Wall < o.Wall
	}
	return t.Logical < o.Logical
}

// String formats t as "wall.logical".
func (t Timestamp) String() string {
	return strconv.FormatInt(t.Wall, 10) + "." + strconv.FormatUint(uint64(t.Logical), 10)
}

// next returns the smallest timestamp after t.
func (t Timestamp) next() Timestamp {
	if t.Logical == math.MaxUint32 {
		return Timestamp{Wall: t.Wall + 1}
	}
	return Timestamp{Wall: t.Wall, Logical: t.Logical + 1}
}

// maxTS returns the later of a and b.
func maxTS(a, b Timestamp) Timestamp {
	if a.Less(b) {
		return b
	}
	return a
}

// Clock is a hybrid logical clock (Kulkarni et al.): its readings follow the
// wall clock where it moves forward, never go backwards when it does not,
// and come after every remote timestamp passed to Update, so a write stamped
// on receipt of another is stamped after it. It is safe for concurrent use.
type Clock struct {
	now       func() time.Time
	maxOffset time.Duration

	mu struct {
		sync.Mutex
		last Timestamp // the latest reading handed out; c.mu must be held
	}
}

// NewClock returns a clock reading the wall clock through now (time is an
// input: tests pass a fake). Update rejects remote timestamps more than
// maxOffset ahead of now(); maxOffset <= 0 disables that check.
func NewClock(now func() time.Time, maxOffset time.Duration) *Clock {
	return &Clock{now: now, maxOffset: maxOffset}
}

// Now returns a reading later than every reading this clock returned before
// (from Now or Update), even if the wall clock jumped backwards.
func (c *Clock) Now() Timestamp {
	wall := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.advanceLocked(wall, Timestamp{})
}

// Update folds remote, a timestamp received from another node, into the
// clock and returns a reading later than both remote and every earlier
// reading.
//
// If remote is more than maxOffset ahead of the local wall clock, Update
// leaves remote out, returns a plain Now reading and an error wrapping
// ErrClockOffset: the caller should log it and carry on with that reading,
// so one node with a runaway clock cannot drag every other node's clock
// into the future.
func (c *Clock) Update(remote Timestamp) (Timestamp, error) {
	wall := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maxOffset > 0 && remote.Wall-wall > int64(c.maxOffset) {
		ts := c.advanceLocked(wall, Timestamp{})
		return ts, fmt.Errorf("%w: remote %s is %v ahead of local wall %d (max %v)",
			ErrClockOffset, remote, time.Duration(remote.Wall-wall), wall, c.maxOffset)
	}
	return c.advanceLocked(wall, remote), nil
}

// advanceLocked moves the clock to the first reading after both the last
// reading and remote that is not before wall, and returns it. c.mu must be
// held.
func (c *Clock) advanceLocked(wall int64, remote Timestamp) Timestamp {
	ts := Timestamp{Wall: wall}
	if floor := maxTS(c.mu.last, remote).next(); ts.Less(floor) {
		ts = floor
	}
	c.mu.last = ts
	return ts
}
