package bench

import (
	"sync"
	"time"
)

// Precision of the histograms: totals keep 3 significant digits (0.1%),
// the per-second series 2 (1%), which is plenty for a chart and keeps the
// per-worker second buffer small.
const (
	latencyDigits = 3
	seriesDigits  = 2
)

// recorder is one worker's measurements: no locks on the hot path. The
// worker's current second is merged into the shared series when the
// second changes, and at the end.
type recorder struct {
	lat     [numOpKinds]*Histogram
	errs    map[string]int64  // by kind
	samples map[string]string // the first error of each kind
	misses  int64             // reads of keys that did not exist
	last    time.Duration     // when the last measured operation ended, from the measured start

	series  *series
	sec     int        // the second cur holds; -1 before the first operation
	cur     *Histogram // latencies of successes ending in second sec
	curErrs int64
}

func newRecorder(s *series) *recorder {
	r := &recorder{
		errs:    map[string]int64{},
		samples: map[string]string{},
		series:  s,
		sec:     -1,
		cur:     NewHistogram(seriesDigits),
	}
	for k := range r.lat {
		r.lat[k] = NewHistogram(latencyDigits)
	}
	return r
}

// record counts one measured operation of kind k that ended at `at`
// (from the measured start) after latency lat, with error err, and, for
// a read, whether the key existed.
func (r *recorder) record(k OpKind, at, lat time.Duration, found bool, err error) {
	if s := int(at / time.Second); s != r.sec {
		r.flush()
		r.sec = s
	}
	r.last = max(r.last, at)
	if err != nil {
		kind := KindOf(err)
		r.errs[kind]++
		if _, ok := r.samples[kind]; !ok {
			r.samples[kind] = err.Error()
		}
		r.curErrs++
		return
	}
	if !found {
		r.misses++
	}
	r.lat[k].Record(int64(lat))
	r.cur.Record(int64(lat))
}

// flush hands the current second to the series.
func (r *recorder) flush() {
	if r.sec >= 0 && (r.cur.Count() > 0 || r.curErrs > 0) {
		r.series.add(r.sec, r.cur, r.curErrs)
	}
	r.cur.Reset()
	r.curErrs = 0
}

// series is the run's per-second measurements, shared by the workers.
type series struct {
	mu struct {
		sync.Mutex
		secs []secStats // index: seconds since the measured start
	}
}

// secStats is one second of a run.
type secStats struct {
	lat  *Histogram // successes ending in that second
	errs int64
}

// add merges a worker's second sec into the series.
func (s *series) add(sec int, lat *Histogram, errs int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.mu.secs) <= sec {
		s.mu.secs = append(s.mu.secs, secStats{lat: NewHistogram(seriesDigits)})
	}
	s.mu.secs[sec].lat.Merge(lat) // same precision: cannot fail
	s.mu.secs[sec].errs += errs
}

// points returns the series as report points. A last second shorter
// than half a second (the tail of a run ended by an operation count) is
// folded into the one before, so that no point's rate rests on a sliver
// of time; rates divide by the time each point covers.
func (s *series) points(elapsed time.Duration) []SeriesPoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	secs := s.mu.secs
	spans := make([]float64, len(secs))
	for i := range secs {
		spans[i] = min(1, elapsed.Seconds()-float64(i))
		if spans[i] <= 0 {
			spans[i] = 1
		}
	}
	var tail *secStats
	if n := len(secs); n >= 2 && spans[n-1] < 0.5 {
		tail, secs = &secs[n-1], secs[:n-1]
		spans[n-2] += spans[n-1]
	}
	pts := make([]SeriesPoint, len(secs))
	for i, st := range secs {
		lat, errs := st.lat, st.errs
		if tail != nil && i == len(secs)-1 {
			lat = NewHistogram(seriesDigits)
			lat.Merge(st.lat)
			lat.Merge(tail.lat)
			errs += tail.errs
		}
		pts[i] = SeriesPoint{
			Second:    i + 1,
			Ops:       int64(lat.Count()),
			Errors:    errs,
			OpsPerSec: float64(lat.Count()) / spans[i],
			P50Micros: micros(lat.ValueAt(50)),
			P99Micros: micros(lat.ValueAt(99)),
			MaxMicros: micros(lat.Max()),
		}
	}
	return pts
}

func micros(ns int64) float64 { return float64(ns) / 1e3 }
