package bench

import "time"

// Schema names the JSON layout of a Result; it changes when a field
// changes meaning or goes away.
const Schema = "distkv-bench/1"

// Result is one run, as `distkv bench --json` prints it. Latencies are in
// microseconds, taken from HDR histograms kept to 3 significant digits
// (each percentile is the top of its 0.1% bucket, at most the maximum).
// Only operations that succeeded count in Ops and the latencies; a read
// of a missing key succeeds and is also counted in Misses. Failed
// operations count in Errors, by kind (KindTimeout, ...).
type Result struct {
	Schema  string    `json:"schema"`
	Options Options   `json:"config"`
	Mode    string    `json:"mode"` // "closed-loop" or "fixed-rate"
	Started time.Time `json:"started"`
	// Interrupted is set when the run was stopped before its end (Ctrl-C).
	Interrupted bool `json:"interrupted,omitempty"`
	// ElapsedSeconds is the measured time: from the end of the warmup to
	// the end of the last measured operation.
	ElapsedSeconds float64 `json:"elapsed_s"`
	Ops            int64   `json:"ops"`
	OpsPerSec      float64 `json:"ops_per_sec"`
	Misses         int64   `json:"misses"`
	// Errors has every kind of ErrorKinds, zero or not.
	Errors map[string]int64 `json:"errors"`
	// ErrorSamples is the first error message of each kind that occurred.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Latency is keyed by "all", "read" and "write"; an operation kind the
	// workload does not issue is absent.
	Latency map[string]LatencySummary `json:"latency"`
	// Series is the run second by second, from the end of the warmup.
	Series []SeriesPoint `json:"series"`
	// ForeignCPU, set by Compare, is the share of the machine's CPU (0..1)
	// that processes other than the benchmark and the store under test
	// used during the run, warmup included; -1 where it could not be
	// measured.
	ForeignCPU float64 `json:"foreign_cpu,omitempty"`
}

// Run modes.
const (
	ModeClosedLoop = "closed-loop"
	ModeFixedRate  = "fixed-rate"
)

// LatencySummary describes the latencies of successful operations, in
// microseconds. In fixed-rate mode they are measured from each
// operation's due time (see Schedule).
type LatencySummary struct {
	Count      int64   `json:"count"`
	MinMicros  float64 `json:"min_us"`
	MeanMicros float64 `json:"mean_us"`
	P50Micros  float64 `json:"p50_us"`
	P90Micros  float64 `json:"p90_us"`
	P99Micros  float64 `json:"p99_us"`
	P999Micros float64 `json:"p999_us"`
	MaxMicros  float64 `json:"max_us"`
}

// SeriesPoint is one second of a run: operations and errors ending in it,
// and the latencies of those operations (2 significant digits).
// Operations still running when a timed run ends count in its last
// second; a last partial second under half a second long is folded into
// the one before.
type SeriesPoint struct {
	// Second counts from 1: the point covers (Second-1, Second].
	Second int   `json:"t"`
	Ops    int64 `json:"ops"`
	Errors int64 `json:"errors"`
	// OpsPerSec is Ops over the part of the second that was measured (the
	// last second of a run may be partial).
	OpsPerSec float64 `json:"ops_per_sec"`
	P50Micros float64 `json:"p50_us"`
	P99Micros float64 `json:"p99_us"`
	MaxMicros float64 `json:"max_us"`
}

// TotalErrors is the number of failed operations.
func (r *Result) TotalErrors() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// summarize describes h.
func summarize(h *Histogram) LatencySummary {
	return LatencySummary{
		Count:      int64(h.Count()),
		MinMicros:  micros(h.Min()),
		MeanMicros: h.Mean() / 1e3,
		P50Micros:  micros(h.ValueAt(50)),
		P90Micros:  micros(h.ValueAt(90)),
		P99Micros:  micros(h.ValueAt(99)),
		P999Micros: micros(h.ValueAt(99.9)),
		MaxMicros:  micros(h.Max()),
	}
}

// newResult merges the workers' recorders into a Result.
func newResult(o Options, started time.Time, recs []*recorder, s *series) *Result {
	res := &Result{
		Schema:       Schema,
		Options:      o,
		Mode:         ModeClosedLoop,
		Started:      started,
		Errors:       map[string]int64{},
		ErrorSamples: map[string]string{},
		Latency:      map[string]LatencySummary{},
	}
	if o.Rate > 0 {
		res.Mode = ModeFixedRate
	}
	for _, k := range ErrorKinds {
		res.Errors[k] = 0
	}
	all := NewHistogram(latencyDigits)
	var kinds [numOpKinds]*Histogram
	var last time.Duration
	for k := range kinds {
		kinds[k] = NewHistogram(latencyDigits)
	}
	for _, r := range recs {
		r.flush()
		for k, h := range r.lat {
			kinds[k].Merge(h)
			all.Merge(h)
		}
		for k, n := range r.errs {
			res.Errors[k] += n
		}
		for k, m := range r.samples {
			if _, ok := res.ErrorSamples[k]; !ok {
				res.ErrorSamples[k] = m
			}
		}
		res.Misses += r.misses
		last = max(last, r.last)
	}
	res.Ops = int64(all.Count())
	res.ElapsedSeconds = last.Seconds()
	if res.ElapsedSeconds > 0 {
		res.OpsPerSec = float64(res.Ops) / res.ElapsedSeconds
	}
	if all.Count() > 0 {
		res.Latency["all"] = summarize(all)
	}
	for k, h := range kinds {
		if h.Count() > 0 {
			res.Latency[OpKind(k).String()] = summarize(h)
		}
	}
	res.Series = s.points(last)
	if len(res.ErrorSamples) == 0 {
		res.ErrorSamples = nil
	}
	return res
}
