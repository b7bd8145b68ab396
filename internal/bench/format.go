package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// fmtCount renders n with thousands separators: 1234567 → "1,234,567".
func fmtCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtRate renders an operation rate: whole numbers with separators, one
// decimal below 100.
func fmtRate(r float64) string {
	if r < 100 {
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	return fmtCount(int64(math.Round(r)))
}

// fmtLatency renders microseconds readably: "85µs", "1.25ms", "12.3ms",
// "2.50s"; three significant digits at most, as the histograms keep.
func fmtLatency(us float64) string {
	switch {
	case us <= 0:
		return "0"
	case us < 1000:
		return sig3(us) + "µs"
	case us < 1e6:
		return sig3(us/1e3) + "ms"
	}
	return sig3(us/1e6) + "s"
}

// sig3 renders v > 0 with three significant digits.
func sig3(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// fmtShare renders a share in [0, 1] as a percentage, or "?" when it
// is negative (unknown).
func fmtShare(f float64) string {
	if f < 0 {
		return "?"
	}
	return strconv.FormatFloat(f*100, 'f', 0, 64) + "%"
}

// fmtRatio renders a ratio "1.23×", or "–" when it is undefined.
func fmtRatio(r float64) string {
	if r <= 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return "–"
	}
	return sig3(r) + "×"
}

// describeRun is the one-paragraph description of a run's setup.
func describeRun(o Options, mode string) string {
	w, _ := ParseWorkload(o.Workload)
	mix := fmt.Sprintf("%.0f%% reads", w.ReadFraction*100)
	if w.Load {
		mix = "insert every key once"
	}
	ns := ""
	if o.Namespace != "" && o.Namespace != "default" {
		ns = ", namespace " + o.Namespace
	}
	return fmt.Sprintf("target %s (%s)%s; workload %s (%s), %s", o.Target, strings.Join(o.Endpoints, ","), ns,
		o.Workload, mix, describeShape(o, mode))
}

// describeShape describes what runs share whatever their target and
// workload: keys, sizes, clients, pacing, limits, consistency.
func describeShape(o Options, mode string) string {
	how := "closed loop"
	if mode == ModeFixedRate {
		how = fmt.Sprintf("fixed rate %s ops/s (latency from due time)", fmtRate(o.Rate))
	}
	limit := []string{}
	if o.Duration > 0 {
		limit = append(limit, fmt.Sprintf("%v measured", o.Duration))
	}
	if o.Ops > 0 {
		limit = append(limit, fmtCount(o.Ops)+" ops")
	}
	if len(limit) == 0 {
		limit = append(limit, "until done")
	}
	return fmt.Sprintf("%s keys %s, %d B keys, %d B values; %d clients, %s, %s after %v warmup; %s reads",
		fmtCount(int64(o.Keys)), o.Dist, o.KeySize, o.ValueSize, o.Clients, how, strings.Join(limit, " or "),
		o.Warmup, o.Consistency)
}
