package verify

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/distkv/distkv/internal/lincheck"
)

// Report is a verification's verdict and figures.
type Report struct {
	Seed     int64         `json:"seed"`
	Mode     string        `json:"mode"`
	Duration time.Duration `json:"duration_ns"`
	Faults   []string      `json:"faults"`

	Ops     int `json:"ops"`
	OK      int `json:"ok"`
	Failed  int `json:"failed"`
	Unknown int `json:"unknown"`

	// Windows are the injected faults with their figures.
	Windows []Window `json:"windows"`

	Histories     int              `json:"histories"` // keys checked
	Verdict       lincheck.Verdict `json:"linearizability"`
	FailingKey    string           `json:"failing_key,omitempty"`
	FailingOps    []string         `json:"failing_ops,omitempty"`
	Visualization string           `json:"visualization,omitempty"`

	Converged    bool          `json:"converged"`
	ConvergeTime time.Duration `json:"converge_ns"`
	Divergence   string        `json:"divergence,omitempty"`

	Acked    int      `json:"acknowledged_writes"`
	LostKeys []string `json:"lost_writes,omitempty"`

	// SessionViolations are broken causal-session guarantees (causal
	// namespaces: a key read older than what the session saw before).
	SessionViolations []string `json:"session_violations,omitempty"`

	// Bank is the bank workload's figures.
	Bank *BankFigures `json:"bank,omitempty"`
	// Append is the append workload's figures and anomalies.
	Append *AppendFigures `json:"append,omitempty"`

	Clean bool `json:"clean"`
}

// Window is one fault with what it did to the workload.
type Window struct {
	Kind   string        `json:"kind"`
	Detail string        `json:"detail"`
	At     time.Duration `json:"at_ns"`
	For    time.Duration `json:"for_ns"`
	// Ops started during the fault, and the fraction that succeeded.
	Ops          int     `json:"ops"`
	Availability float64 `json:"availability"`
	// Recovery is the time from the heal to the first write that
	// succeeded after it (-1 if none did before the next fault).
	Recovery time.Duration `json:"recovery_ns"`
	// Failover (kill only) is the time from killing a shard's leader to
	// the first successful write on that shard.
	Failover time.Duration `json:"failover_ns,omitempty"`
}

// figures fills the counts and the per-fault windows.
func (r *runState) figures(rep *Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, op := range r.ops {
		rep.Ops++
		switch op.outcome {
		case okOutcome:
			rep.OK++
		case failedOutcome:
			rep.Failed++
		default:
			rep.Unknown++
		}
	}
	for i, w := range r.nem {
		win := Window{Kind: w.Kind, Detail: w.Detail, At: w.Start.Sub(r.start), For: w.Heal.Sub(w.Start), Recovery: -1, Failover: w.Failover}
		next := time.Now()
		if i+1 < len(r.nem) {
			next = r.nem[i+1].Start
		}
		ok := 0
		first := time.Time{}
		for _, op := range r.ops {
			if !op.start.Before(w.Start) && op.start.Before(w.Heal) {
				win.Ops++
				if op.outcome == okOutcome {
					ok++
				}
			}
			if op.write && op.outcome == okOutcome && !op.start.Before(w.Heal) && op.start.Before(next) &&
				(first.IsZero() || op.end.Before(first)) {
				first = op.end
			}
		}
		if win.Ops > 0 {
			win.Availability = float64(ok) / float64(win.Ops)
		}
		if !first.IsZero() {
			win.Recovery = first.Sub(w.Heal)
		}
		rep.Windows = append(rep.Windows, win)
	}
}

// FailoverTimes returns the failover times of the kill faults.
func (rep *Report) FailoverTimes() []time.Duration {
	var out []time.Duration
	for _, w := range rep.Windows {
		if w.Kind == FaultKill && w.Failover > 0 {
			out = append(out, w.Failover)
		}
	}
	slices.Sort(out)
	return out
}

// Print writes the report for a person.
func (rep *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\nverify: seed %d, %s namespace, %v, faults %s\n", rep.Seed, orStrong(rep.Mode), rep.Duration, strings.Join(rep.Faults, ","))
	fmt.Fprintf(w, "operations: %d (%d ok, %d failed with nothing done, %d unknown outcome)\n", rep.Ops, rep.OK, rep.Failed, rep.Unknown)
	if len(rep.Windows) > 0 {
		fmt.Fprintf(w, "\n%-9s %-28s %7s %6s %6s %9s %9s\n", "FAULT", "DETAIL", "AT", "FOR", "OPS", "AVAIL", "RECOVERY")
		for _, win := range rep.Windows {
			rec := "-"
			if win.Recovery >= 0 {
				rec = win.Recovery.Round(time.Millisecond).String()
			}
			detail := win.Detail
			if win.Failover > 0 {
				detail += fmt.Sprintf(" failover %v", win.Failover.Round(time.Millisecond))
			}
			fmt.Fprintf(w, "%-9s %-28s %6.1fs %5.1fs %6d %8.1f%% %9s\n", win.Kind, detail, win.At.Seconds(), win.For.Seconds(), win.Ops, 100*win.Availability, rec)
		}
	}
	if fo := rep.FailoverTimes(); len(fo) > 0 {
		fmt.Fprintf(w, "\nkills: %d, time to the first write on the shard: p50 %v, max %v\n",
			len(fo), fo[(len(fo)-1)/2].Round(time.Millisecond), fo[len(fo)-1].Round(time.Millisecond))
	}
	switch {
	case rep.Bank != nil:
		b := rep.Bank
		fmt.Fprintf(w, "\nbank: %d accounts; transfers: %d committed, %d refused by their comparison, %d failed with nothing done, %d unknown outcome\n",
			b.Accounts, b.Committed, b.Refused, b.Failed, b.Unknown)
		fmt.Fprintf(w, "bank: %d audits during the run, %d anomalies; final total %d (want %d)\n", b.Audits, len(b.Violations), b.FinalTotal, b.WantedTotal)
		for _, v := range b.Violations[:min(len(b.Violations), 10)] {
			fmt.Fprintf(w, "  %s\n", v)
		}
	case rep.Append != nil:
		a := rep.Append
		fmt.Fprintf(w, "\nappend: %d list-append transactions over %d keys: %d committed, %d failed with nothing done, %d unknown outcome\n",
			a.Transactions, a.Keys, a.Committed, a.Failed, a.Unknown)
		fmt.Fprintf(w, "append: strict serializability (elle, real-time edges included): %d anomalies\n", len(a.Anomalies))
		for _, an := range a.Anomalies {
			fmt.Fprintf(w, "  %s %v: %s\n", an.Kind, an.Txns, an.Explanation)
		}
	case rep.Mode == "strong", rep.Mode == "":
		fmt.Fprintf(w, "\nlinearizability: %s (%d key histories)\n", rep.Verdict, rep.Histories)
	case rep.Mode == "causal":
		fmt.Fprintf(w, "\ncausal sessions: %d violations (read your writes, monotonic reads)\n", len(rep.SessionViolations))
		for _, v := range rep.SessionViolations[:min(len(rep.SessionViolations), 10)] {
			fmt.Fprintf(w, "  %s\n", v)
		}
	default:
		fmt.Fprintf(w, "\n%s namespace: no linearizability check (concurrent writes become siblings)\n", rep.Mode)
	}
	if rep.FailingKey != "" {
		fmt.Fprintf(w, "smallest failing history, key %s:\n  %s\n", rep.FailingKey, strings.Join(rep.FailingOps, "\n  "))
	}
	if rep.Visualization != "" {
		fmt.Fprintf(w, "visualization: %s\n", rep.Visualization)
	}
	if rep.Converged {
		fmt.Fprintf(w, "convergence: every replica equal %v after the heal\n", rep.ConvergeTime.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "convergence: FAILED: %s\n", rep.Divergence)
	}
	fmt.Fprintf(w, "durability: %d acknowledged writes, %d lost\n", rep.Acked, len(rep.LostKeys))
	for _, k := range rep.LostKeys[:min(len(rep.LostKeys), 10)] {
		fmt.Fprintf(w, "  lost: %s\n", k)
	}
	if rep.Clean {
		fmt.Fprintln(w, "\nverdict: CLEAN")
	} else {
		fmt.Fprintln(w, "\nverdict: VIOLATIONS FOUND")
	}
}

func orStrong(mode string) string {
	if mode == "" {
		return "strong"
	}
	return mode
}
