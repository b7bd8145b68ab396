package dvv

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

// fakeWall is a wall clock the test sets by hand.
type fakeWall struct {
	mu  sync.Mutex
	now int64
}

func (f *fakeWall) set(ns int64) { f.mu.Lock(); f.now = ns; f.mu.Unlock() }

func (f *fakeWall) read() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Unix(0, f.now)
}

func newTestClock(start int64, maxOffset time.Duration) (*Clock, *fakeWall) {
	w := &fakeWall{now: start}
	return NewClock(w.read, maxOffset), w
}

func wantTS(t *testing.T, what string, got, want Timestamp) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func TestClockFollowsWall(t *testing.T) {
	c, w := newTestClock(100, 0)
	wantTS(t, "first reading", c.Now(), Timestamp{100, 0})
	w.set(200)
	wantTS(t, "wall moved on", c.Now(), Timestamp{200, 0})
}

func TestClockLogicalOnEqualWall(t *testing.T) {
	c, _ := newTestClock(100, 0)
	for i := range uint32(3) {
		wantTS(t, "same wall", c.Now(), Timestamp{100, i})
	}
}

func TestClockMonotonicWhenWallJumpsBack(t *testing.T) {
	c, w := newTestClock(1000, 0)
	prev := c.Now()
	for _, wall := range []int64{500, 400, 999, 1000, 1001, 10, 2000} {
		w.set(wall)
		ts := c.Now()
		if !prev.Less(ts) {
			t.Fatalf("wall %d: reading %v is not after %v", wall, ts, prev)
		}
		prev = ts
	}
	wantTS(t, "wall caught up", prev, Timestamp{2000, 0})
}

func TestClockUpdateTakesMax(t *testing.T) {
	c, _ := newTestClock(100, time.Second)
	ts, err := c.Update(Timestamp{150, 7}) // ahead, within the offset
	if err != nil {
		t.Fatal(err)
	}
	wantTS(t, "remote ahead", ts, Timestamp{150, 8})
	wantTS(t, "now after remote", c.Now(), Timestamp{150, 9})
	ts, err = c.Update(Timestamp{50, 3}) // behind: changes nothing but the tick
	if err != nil {
		t.Fatal(err)
	}
	wantTS(t, "remote behind", ts, Timestamp{150, 10})
}

func TestClockLogicalOverflow(t *testing.T) {
	c, _ := newTestClock(100, 0)
	if _, err := c.Update(Timestamp{100, math.MaxUint32}); err != nil {
		t.Fatal(err)
	}
	wantTS(t, "after overflow", c.Now(), Timestamp{101, 1})
}

func TestClockMaxOffset(t *testing.T) {
	c, _ := newTestClock(1000, 100*time.Nanosecond)
	ts, err := c.Update(Timestamp{1101, 0})
	if !errors.Is(err, ErrClockOffset) {
		t.Fatalf("remote 101ns ahead with max 100ns: err %v, want ErrClockOffset", err)
	}
	wantTS(t, "reading after a rejected remote", ts, Timestamp{1000, 0})
	wantTS(t, "remote left out", c.Now(), Timestamp{1000, 1})
	if ts, err = c.Update(Timestamp{1100, 0}); err != nil {
		t.Fatalf("remote exactly max ahead: %v", err)
	}
	wantTS(t, "accepted remote", ts, Timestamp{1100, 1})

	unchecked, _ := newTestClock(0, 0)
	if ts, err := unchecked.Update(Timestamp{1e18, 0}); err != nil || ts != (Timestamp{1e18, 1}) {
		t.Fatalf("maxOffset 0 disables the check: got %v, %v", ts, err)
	}
}

// TestClockConcurrent checks that concurrent readers never get the same or
// a decreasing reading (run with -race).
func TestClockConcurrent(t *testing.T) {
	c, w := newTestClock(0, 0)
	const goroutines, each = 8, 2000
	readings := make([][]Timestamp, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if g == 0 && i%100 == 0 {
					w.set(int64(i % 700)) // the wall wanders back and forth
				}
				if g%2 == 0 {
					readings[g] = append(readings[g], c.Now())
				} else {
					ts, _ := c.Update(Timestamp{Wall: int64(i % 500)})
					readings[g] = append(readings[g], ts)
				}
			}
		})
	}
	wg.Wait()
	seen := map[Timestamp]bool{}
	for g, rs := range readings {
		for i, ts := range rs {
			if seen[ts] {
				t.Fatalf("reading %v handed out twice", ts)
			}
			seen[ts] = true
			if i > 0 && !rs[i-1].Less(ts) {
				t.Fatalf("goroutine %d: reading %v after %v", g, ts, rs[i-1])
			}
		}
	}
}
