package bench

import (
	"context"
	"fmt"
	"slices"
	"sort"
)

// side is one store of a cell while the cell runs.
type side struct {
	cell   string
	res    *SideResult
	deploy func() (*Deployment, error)
	dep    *Deployment // nil until deployed, and after a failure
}

// startSide deploys s and loads the keys if one of workloads reads, and
// the records if one is a hash workload. A failure is recorded in
// Skipped and leaves s without a deployment.
func (co CompareOptions) startSide(ctx context.Context, s *side, workloads []string) {
	if ctx.Err() != nil {
		s.res.Skipped = "interrupted"
		return
	}
	co.say("starting %s", s.res.System)
	dep, err := s.deploy()
	if err != nil {
		s.res.Skipped = "could not start: " + err.Error()
		co.say("%s: %s", s.res.System, s.res.Skipped)
		return
	}
	s.dep = dep
	s.res.Desc = dep.Desc
	co.say("%s ready: %s at %v", s.res.System, dep.Desc, dep.Endpoints)
	reads, hashes := needsLoad(workloads)
	if reads {
		res, err := co.runOne(ctx, dep, "load", fmt.Sprintf("%s %s load", s.cell, s.res.System))
		s.res.Load = res
		if err != nil {
			co.fail(s, "loading the keys: "+err.Error())
			return
		}
		co.say("%s: loaded %s keys in %.1fs (%s ops/s, %d errors)", s.res.System, fmtCount(res.Ops),
			res.ElapsedSeconds, fmtRate(res.OpsPerSec), res.TotalErrors())
	}
	if hashes {
		res, err := co.runOne(ctx, dep, "hload", fmt.Sprintf("%s %s hload", s.cell, s.res.System))
		s.res.HashLoad = res
		if err != nil {
			co.fail(s, "loading the records: "+err.Error())
			return
		}
		co.say("%s: loaded %s records of %d fields in %.1fs (%s ops/s, %d errors)", s.res.System, fmtCount(res.Ops),
			RecordFields, res.ElapsedSeconds, fmtRate(res.OpsPerSec), res.TotalErrors())
	}
}

// runWorkload runs the workloads labelled labels co.Runs times on each
// side still running: round i runs each label in turn, alternating
// between the sides for each. It takes the medians of each label's runs.
func (co CompareOptions) runWorkload(ctx context.Context, sides []*side, labels ...string) {
	runs := map[*side]map[string]*WorkloadRuns{}
	for _, s := range sides {
		if s.dep == nil {
			continue
		}
		runs[s] = map[string]*WorkloadRuns{}
		for _, w := range labels {
			runs[s][w] = &WorkloadRuns{Workload: w}
			s.res.Workloads = append(s.res.Workloads, runs[s][w])
		}
	}
	for i := range co.Runs {
		for _, w := range labels {
			for _, s := range sides {
				if s.dep == nil {
					continue
				}
				label := fmt.Sprintf("%s %s %s %d/%d", s.cell, s.res.System, w, i+1, co.Runs)
				res, err := co.runOne(ctx, s.dep, w, label)
				if err != nil {
					co.fail(s, fmt.Sprintf("workload %s run %d: %v", w, i+1, err))
					continue
				}
				runs[s][w].Runs = append(runs[s][w].Runs, res)
				l := res.Latency["all"]
				co.say("%s: %s ops/s, p50 %s, p99 %s, %d errors; other processes used %s of the CPU", label,
					fmtRate(res.OpsPerSec), fmtLatency(l.P50Micros), fmtLatency(l.P99Micros), res.TotalErrors(),
					fmtShare(res.ForeignCPU))
			}
		}
	}
	for _, byLabel := range runs {
		for _, wr := range byLabel {
			wr.Median = medianFigures(wr.Runs)
		}
	}
}

// fail records why s stopped and stops its store.
func (co CompareOptions) fail(s *side, why string) {
	s.res.Skipped = why
	co.say("%s: %s", s.res.System, why)
	co.stopSide(s)
}

// stopSide stops s's store, if it runs.
func (co CompareOptions) stopSide(s *side) {
	if s.dep == nil {
		return
	}
	if err := s.dep.Stop(); err != nil {
		co.say("stopping %s: %v", s.res.System, err)
	}
	s.dep = nil
}

// needsLoad reports whether a workload of ws reads keys (so the keys are
// loaded first), and whether one is a hash workload (so the records are:
// HSET of a field updates an existing record, as HGETALL reads one).
func needsLoad(ws []string) (reads, hashes bool) {
	for _, label := range ws {
		w, _ := parseLabel(label)
		wl, err := ParseWorkload(w)
		switch {
		case err != nil:
		case wl.Hash:
			hashes = true
		case wl.ReadFraction > 0:
			reads = true
		}
	}
	return reads, hashes
}

// runOne runs the workload labelled w ("c", or "c@resp3" for workload c
// over RESP3) against dep with co's base options.
func (co CompareOptions) runOne(ctx context.Context, dep *Deployment, w, label string) (*Result, error) {
	o := co.Base
	workload, protocol := parseLabel(w)
	o.Target, o.Endpoints, o.Namespace, o.Workload = dep.Target, dep.Endpoints, dep.Namespace, workload
	if protocol != 0 {
		o.Protocol = protocol
	}
	if w == "load" || w == "hload" {
		o.Duration, o.Ops, o.Warmup, o.Rate = 0, 0, 0, 0
	}
	o, err := o.Validate()
	if err != nil {
		return nil, err
	}
	d, err := NewDriver(ctx, o)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var update func(Progress)
	if co.Progress != nil {
		var done func()
		update, done = co.Progress(label)
		defer done()
	}
	before := sampleCPU(dep.pids)
	res, err := Run(ctx, o, d, update)
	if res != nil {
		res.ForeignCPU = foreignCPU(before, sampleCPU(dep.pids))
	}
	return res, err
}

// medianFigures takes the median of each figure over rs.
func medianFigures(rs []*Result) Figures {
	f := Figures{Runs: len(rs)}
	if len(rs) == 0 {
		return f
	}
	pick := func(get func(*Result) float64) float64 {
		vs := make([]float64, len(rs))
		for i, r := range rs {
			vs[i] = get(r)
		}
		return median(vs)
	}
	lat := func(get func(LatencySummary) float64) float64 {
		return pick(func(r *Result) float64 { return get(r.Latency["all"]) })
	}
	f.OpsPerSec = pick(func(r *Result) float64 { return r.OpsPerSec })
	f.P50Micros = lat(func(l LatencySummary) float64 { return l.P50Micros })
	f.P90Micros = lat(func(l LatencySummary) float64 { return l.P90Micros })
	f.P99Micros = lat(func(l LatencySummary) float64 { return l.P99Micros })
	f.P999Micros = lat(func(l LatencySummary) float64 { return l.P999Micros })
	f.MaxMicros = lat(func(l LatencySummary) float64 { return l.MaxMicros })
	f.ForeignCPU = pick(func(r *Result) float64 { return r.ForeignCPU })
	for _, r := range rs {
		f.Errors += r.TotalErrors()
	}
	return f
}

// median is the middle value of vs (the mean of the middle two for an
// even count); vs is not modified.
func median(vs []float64) float64 {
	s := slices.Clone(vs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// medianRun is the run whose throughput is the median one (the lower
// middle for an even count), whose series a chart shows.
func medianRun(rs []*Result) *Result {
	if len(rs) == 0 {
		return nil
	}
	s := slices.Clone(rs)
	slices.SortStableFunc(s, func(a, b *Result) int {
		switch {
		case a.OpsPerSec < b.OpsPerSec:
			return -1
		case a.OpsPerSec > b.OpsPerSec:
			return 1
		}
		return 0
	})
	return s[(len(s)-1)/2]
}

// ratios divides distkv's figures by the peer's; a zero denominator
// gives 0, which reports render as undefined.
func ratios(d, p Figures) Ratios {
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	return Ratios{
		Throughput: div(d.OpsPerSec, p.OpsPerSec),
		P50:        div(d.P50Micros, p.P50Micros),
		P99:        div(d.P99Micros, p.P99Micros),
	}
}
