package bench

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

// mapDriver is an in-memory store. fail, when set, decides the error of
// the n-th Put (from 1). cost, when set, is charged to clk per operation.
type mapDriver struct {
	mu   sync.Mutex
	m    map[string][]byte
	puts int
	fail func(n int) error
	clk  *fakeClock
	cost time.Duration
}

func newMapDriver() *mapDriver { return &mapDriver{m: map[string][]byte{}} }

func (d *mapDriver) Session(int) Session { return d }
func (d *mapDriver) Close() error        { return nil }

func (d *mapDriver) Get(_ context.Context, key []byte) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.charge()
	_, ok := d.m[string(key)]
	return ok, nil
}

func (d *mapDriver) Put(_ context.Context, key, value []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.charge()
	d.puts++
	if d.fail != nil {
		if err := d.fail(d.puts); err != nil {
			return err
		}
	}
	d.m[string(key)] = append([]byte(nil), value...)
	return nil
}

func (d *mapDriver) charge() {
	if d.clk != nil {
		d.clk.advance(d.cost)
	}
}

// fakeClock is a clock that moves only when told to (or slept on): for a
// single worker, so its arithmetic can be checked by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	return ctx.Err() == nil
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func mustValidate(t *testing.T, o Options) Options {
	t.Helper()
	o.Endpoints = []string{"127.0.0.1:1"}
	v, err := o.Validate()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRunExactOpCount(t *testing.T) {
	o := mustValidate(t, Options{Workload: "a", Keys: 100, Clients: 4, Ops: 1000, Seed: 1})
	d := newMapDriver()
	res, err := Run(context.Background(), o, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 1000 || res.TotalErrors() != 0 {
		t.Fatalf("ops %d errors %v, want 1000 and none", res.Ops, res.Errors)
	}
	r, w := res.Latency["read"], res.Latency["write"]
	if r.Count+w.Count != 1000 || r.Count == 0 || w.Count == 0 || res.Latency["all"].Count != 1000 {
		t.Fatalf("latency counts: read %d write %d all %d", r.Count, w.Count, res.Latency["all"].Count)
	}
	if res.Misses == 0 || res.Misses > r.Count {
		t.Errorf("misses %d of %d reads: the store starts empty, so some reads must miss", res.Misses, r.Count)
	}
	var sum int64
	for _, p := range res.Series {
		sum += p.Ops
	}
	if sum != 1000 {
		t.Errorf("the series counts %d operations, want 1000", sum)
	}
}

func TestRunLoadWritesEveryKey(t *testing.T) {
	o := mustValidate(t, Options{Workload: "load", Keys: 500, Clients: 8})
	d := newMapDriver()
	res, err := Run(context.Background(), o, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 500 || len(d.m) != 500 {
		t.Fatalf("load: %d ops, %d keys stored, want 500", res.Ops, len(d.m))
	}
	if _, ok := d.m["k000000000000499"]; !ok {
		t.Error("the last key was not written")
	}
}

func TestRunCountsErrorsByKind(t *testing.T) {
	o := mustValidate(t, Options{Workload: "w", Keys: 100, Clients: 2, Ops: 100})
	d := newMapDriver()
	d.fail = func(n int) error {
		switch {
		case n%10 == 0:
			return &OpError{Kind: KindUnavailable, Err: errors.New("no quorum")}
		case n%25 == 1:
			return context.DeadlineExceeded
		}
		return nil
	}
	res, err := Run(context.Background(), o, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{KindUnavailable: 10, KindTimeout: 4, KindOutcomeUnknown: 0, KindOther: 0}
	for k, n := range want {
		if res.Errors[k] != n {
			t.Errorf("errors[%s] = %d, want %d (all: %v)", k, res.Errors[k], n, res.Errors)
		}
	}
	if res.Ops != 86 || res.ErrorSamples[KindUnavailable] == "" {
		t.Errorf("ops %d (want 86), samples %v", res.Ops, res.ErrorSamples)
	}
}

// TestFixedRateMeasuresFromDueTime runs one worker at 100 ops/s (one due
// every 10 ms) against a store that takes 30 ms per operation. The
// worker falls further behind with each operation, and each latency
// must include the wait: 30, 50, 70, 90, 110 ms. A closed-loop
// measurement would report 30 ms five times.
func TestFixedRateMeasuresFromDueTime(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	o := mustValidate(t, Options{Workload: "w", Keys: 10, Clients: 1, Ops: 5, Rate: 100})
	d := newMapDriver()
	d.clk, d.cost = clk, 30*time.Millisecond
	res, err := runWith(context.Background(), o, d, nil, clk)
	if err != nil {
		t.Fatal(err)
	}
	l := res.Latency["all"]
	if l.Count != 5 || l.MinMicros != 30000 || l.MaxMicros != 110000 || l.P50Micros < 70000 || l.P50Micros > 70070 {
		t.Fatalf("latencies %+v, want 5 from 30 ms to 110 ms with p50 70 ms", l)
	}
	if res.Mode != ModeFixedRate {
		t.Errorf("mode %q", res.Mode)
	}
}

func TestWarmupIsNotMeasured(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	o := mustValidate(t, Options{Workload: "w", Keys: 10, Clients: 1, Rate: 10, Warmup: Duration(time.Second), Duration: Duration(2 * time.Second)})
	d := newMapDriver()
	d.clk, d.cost = clk, time.Millisecond
	res, err := runWith(context.Background(), o, d, nil, clk)
	if err != nil {
		t.Fatal(err)
	}
	// 10/s: 10 operations due in the warmup, 20 in the measured 2 s.
	if d.puts != 30 || res.Ops != 20 {
		t.Fatalf("%d puts, %d measured; want 30 and 20", d.puts, res.Ops)
	}
	if len(res.Series) != 2 || res.Series[0].Ops != 10 || res.Series[1].Ops != 10 {
		t.Errorf("series %+v, want two seconds of 10", res.Series)
	}
}

func TestRunInterrupted(t *testing.T) {
	o := mustValidate(t, Options{Workload: "c", Keys: 10, Clients: 2, Duration: Duration(time.Hour)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, o, newMapDriver(), nil)
	if !errors.Is(err, context.Canceled) || res == nil || !res.Interrupted {
		t.Fatalf("res %v err %v: want an interrupted result", res, err)
	}
}

func TestScheduleSpacing(t *testing.T) {
	start := time.Unix(0, 0)
	const rate, workers = 1000.0, 7
	var due []time.Time
	for w := range workers {
		s := Schedule{Start: start, Rate: rate, Workers: workers, Worker: w}
		for k := int64(0); k < 100; k++ {
			due = append(due, s.Due(k))
		}
	}
	// Together the workers issue operation j at exactly j ms.
	seen := map[time.Duration]bool{}
	for _, d := range due {
		seen[d.Sub(start)] = true
	}
	for j := 0; j < workers*100; j++ {
		if !seen[time.Duration(j)*time.Millisecond] {
			t.Fatalf("no operation due at %d ms", j)
		}
	}
	s := Schedule{Start: start, Rate: rate, Workers: workers, Worker: 3}
	if got := s.Due(2).Sub(s.Due(1)); got != 7*time.Millisecond {
		t.Errorf("a worker's interval is %v, want workers/rate = 7ms", got)
	}
	if got := (Schedule{Start: start, Rate: 3, Workers: 1}).Due(1).Sub(start); got != 333333333 {
		t.Errorf("1/3 s rounds to %v", got)
	}
}

func TestProgressFraction(t *testing.T) {
	p := Progress{Elapsed: 3 * time.Second, Warmup: 2 * time.Second, Duration: 10 * time.Second}
	if f := p.Fraction(); f != 0.25 {
		t.Errorf("time fraction %v", f)
	}
	p = Progress{OpsGoal: 200, GoalDone: 50}
	if f := p.Fraction(); f != 0.25 {
		t.Errorf("ops fraction %v", f)
	}
}

func TestSeriesFoldsAShortLastSecond(t *testing.T) {
	s := &series{}
	h := NewHistogram(seriesDigits)
	for range 10 {
		h.Record(1000)
	}
	s.add(0, h, 0)
	s.add(1, h, 0)
	s.add(2, h, 3)
	pts := s.points(2100 * time.Millisecond)
	if len(pts) != 2 || pts[1].Ops != 20 || pts[1].Errors != 3 || pts[1].OpsPerSec < 18.18 || pts[1].OpsPerSec > 18.19 {
		t.Fatalf("points %+v: want 2, the last with 20 ops over 1.1 s", pts)
	}
	if pts = s.points(2600 * time.Millisecond); len(pts) != 3 || pts[2].Ops != 10 || math.Abs(pts[2].OpsPerSec-10/0.6) > 1e-6 {
		t.Fatalf("points %+v: a last second over half a second long stays", pts)
	}
}
