package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// progressEvery is how often Run reports progress: a bounded rate, so a
// terminal is not flooded.
const progressEvery = 250 * time.Millisecond

// Progress is a run's state, reported while it runs.
type Progress struct {
	// Elapsed counts from the start of the run, warmup included.
	Elapsed time.Duration
	// Warmup and Duration are the planned phases (Duration 0: no time
	// limit).
	Warmup, Duration time.Duration
	// Ops and Errors count operations finished so far, warmup included.
	Ops, Errors int64
	// OpsGoal is the operation count that ends the run (--ops, or the key
	// count of workload load), or 0; GoalDone counts towards it.
	OpsGoal, GoalDone int64
}

// Fraction estimates how much of the run is done, in [0, 1].
func (p Progress) Fraction() float64 {
	var f float64
	if total := p.Warmup + p.Duration; p.Duration > 0 {
		f = p.Elapsed.Seconds() / total.Seconds()
	}
	if p.OpsGoal > 0 {
		f = max(f, float64(p.GoalDone)/float64(p.OpsGoal))
	}
	return min(f, 1)
}

// run is the shared state of one Run.
type run struct {
	o       Options
	w       Workload
	fields  [][]byte // a hash workload's field names
	gen     *Generator
	d       Driver
	clk     clock
	start   time.Time // the warmup starts
	measure time.Time // the measured part starts
	end     time.Time // no operation is due at or after it; zero: no limit
	limit   int64     // measured operations allowed; 0: no limit

	tickets atomic.Int64 // measured operations started
	stopped atomic.Bool  // the operation limit was reached
	ops     atomic.Int64 // for progress
	errs    atomic.Int64
}

// Run runs the workload of o (as returned by Validate) through d and
// returns its measurements. progress, if not nil, is called from one
// goroutine every 250 ms. When ctx ends first, Run stops every worker and
// returns what was measured so far, marked Interrupted, with ctx's error.
func Run(ctx context.Context, o Options, d Driver, progress func(Progress)) (*Result, error) {
	return runWith(ctx, o, d, progress, realClock{})
}

func runWith(ctx context.Context, o Options, d Driver, progress func(Progress), clk clock) (*Result, error) {
	w, err := ParseWorkload(o.Workload)
	if err != nil {
		return nil, err
	}
	keys, err := NewKeyChooser(o.Dist, o.Keys)
	if err != nil {
		return nil, err
	}
	if _, ok := d.Session(0).(HashSession); w.Hash && !ok {
		return nil, fmt.Errorf("workload %s needs a store with hashes (--target redis)", w.Name)
	}
	if _, ok := d.Session(0).(TxnSession); w.Txn > 0 && !ok {
		return nil, fmt.Errorf("workload %s needs a store with transactions", w.Name)
	}
	r := &run{o: o, w: w, gen: NewGenerator(w, o.Keys, keys), d: d, clk: clk, start: clk.Now(), limit: o.Ops}
	for i := range RecordFields {
		r.fields = append(r.fields, FieldName(i))
	}
	r.measure = r.start.Add(time.Duration(o.Warmup))
	if o.Duration > 0 {
		r.end = r.measure.Add(time.Duration(o.Duration))
	}
	s := &series{}
	recs := make([]*recorder, o.Clients)
	var wg sync.WaitGroup
	for i := range recs {
		recs[i] = newRecorder(s)
		wg.Go(func() { r.worker(ctx, i, recs[i]) })
	}
	if progress != nil {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { defer close(done); r.report(progress, w, stop) }()
		wg.Wait()
		close(stop)
		<-done
	} else {
		wg.Wait()
	}
	res := newResult(o, r.start, recs, s)
	if err := ctx.Err(); err != nil {
		res.Interrupted = true
		return res, err
	}
	return res, nil
}

// worker runs operations until the run ends for it.
func (r *run) worker(ctx context.Context, i int, rec *recorder) {
	rng := rand.New(rand.NewPCG(r.o.Seed+uint64(i), 0x5eed))
	sess := r.d.Session(i)
	key := make([]byte, 0, r.o.KeySize)
	value := NewValue(rng, r.o.ValueSize)
	sched := Schedule{Start: r.start, Rate: r.o.Rate, Workers: r.o.Clients, Worker: i}
	for k := int64(0); !r.stopped.Load() && ctx.Err() == nil; k++ {
		op, ok := r.gen.Next(rng)
		if !ok {
			return
		}
		due := r.clk.Now()
		if r.o.Rate > 0 {
			due = sched.Due(k)
		}
		if !r.end.IsZero() && !due.Before(r.end) {
			return
		}
		if r.o.Rate > 0 && !r.clk.SleepUntil(ctx, due) {
			return
		}
		measured := !due.Before(r.measure)
		if measured && r.limit > 0 && r.tickets.Add(1) > r.limit {
			r.stopped.Store(true)
			return
		}
		if r.w.Hash {
			key = AppendRecordKey(key[:0], op.Key, r.o.KeySize)
		} else {
			key = AppendKey(key[:0], op.Key, r.o.KeySize)
		}
		found, err := r.do(ctx, sess, op, key, value)
		fin := r.clk.Now()
		if ctx.Err() != nil {
			return // interrupted: the outcome says nothing about the store
		}
		if r.ops.Add(1); err != nil {
			r.errs.Add(1)
		}
		if measured {
			rec.record(op.Kind, r.seriesTime(fin), fin.Sub(due), found, err)
		}
	}
}

// seriesTime places an operation that ended at fin in the series: its
// time from the measured start, except that operations still running when
// a timed run ends count in its last second.
func (r *run) seriesTime(fin time.Time) time.Duration {
	at := fin.Sub(r.measure)
	if r.o.Duration > 0 {
		at = min(at, time.Duration(r.o.Duration)-1)
	}
	return at
}

// do runs one operation within the operation timeout.
func (r *run) do(ctx context.Context, sess Session, op Op, key, value []byte) (found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(r.o.OpTimeout))
	defer cancel()
	if r.w.Hash {
		hs := sess.(HashSession) // checked by runWith
		switch {
		case op.Kind == OpRead:
			return hs.HGetAll(ctx, key)
		case r.w.Load:
			return true, hs.HSetRecord(ctx, key, r.fields, value)
		}
		return true, hs.HSet(ctx, key, r.fields[op.Field], value)
	}
	if r.w.Txn > 0 {
		keys := [][]byte{key}
		stride := max(r.o.Keys/uint64(r.w.Txn), 1)
		for j := 1; j < r.w.Txn; j++ {
			keys = append(keys, AppendKey(nil, (op.Key+uint64(j)*stride)%r.o.Keys, r.o.KeySize))
		}
		return true, sess.(TxnSession).Txn(ctx, keys, value) // checked by runWith
	}
	if op.Kind == OpRead {
		return sess.Get(ctx, key)
	}
	return true, sess.Put(ctx, key, value)
}

// report calls progress every progressEvery until stop closes.
func (r *run) report(progress func(Progress), w Workload, stop <-chan struct{}) {
	goal, load := r.o.Ops, false
	if w.Load && (goal == 0 || uint64(goal) > r.o.Keys) {
		goal, load = int64(r.o.Keys), true
	}
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			done := r.tickets.Load()
			if load {
				done = r.ops.Load()
			}
			progress(Progress{
				Elapsed:  r.clk.Now().Sub(r.start),
				Warmup:   time.Duration(r.o.Warmup),
				Duration: time.Duration(r.o.Duration),
				Ops:      r.ops.Load(),
				Errors:   r.errs.Load(),
				OpsGoal:  goal,
				GoalDone: done,
			})
		}
	}
}
