// Package elle checks histories of list-append transactions for isolation anomalies: it infers each key's version order from the lists reads returned, builds the dependency graph of write-write, write-read and read-write (anti-)dependencies, and reports every cycle it finds (G0, G1c, G-single, G2) with the transactions on it, plus the non-cycle anomalies (aborted and intermediate reads, garbage and duplicate elements, incompatible orders).
//
// # Workload
//
// Every key holds a list. An append adds an element that is unique to the key
// across the whole history, and a read returns the whole list. Since lists
// only grow and elements are unique, a read reveals the order of every append
// it saw, so all reads of a key must be prefixes of one another, and the
// longest one is the key's known version order. The checker relies on no
// isolation level to infer that order: it is what the store returned.
//
// # What is trusted
//
// Only the reads of committed (OK) transactions are observations. A failed
// transaction must have no effect, so reading one of its elements is an
// aborted read (G1a). A transaction of unknown outcome (Info) committed if
// any of its elements was read, and then takes part in the graph through its
// appends; otherwise it is left out. Its reads are never used.
//
// # Dependencies
//
// Along a key's version order e1, e2, ...:
//
//   - ww: the writer of e(i) precedes the writer of e(i+1);
//   - wr: the writer of a read's last element precedes the reader;
//   - rw: a reader that saw e1..e(i) (or nothing) precedes the writer of e(i+1).
//
// The wr and rw edges come from each transaction's external read of a key:
// its first read of it, made before its own appends to it. Appends of
// committed transactions that no read observed must follow the whole known
// order, in an order of their own that nobody saw: the last known writer
// ww-precedes each of them, and each read of the whole known order
// rw-precedes them (the tailFanout nearest it in the history). This is what
// exposes lost updates and write skew whose results were never read back.
//
// With Options.RealTime a transaction that completed before another was
// invoked also precedes it (rt), and a cycle through such an edge violates
// strict serializability.
//
// # Cycles
//
// Every dependency edge holds in any serializable execution, and every rt
// edge in any strictly serializable one, so every cycle is a real anomaly.
// Each strongly connected component of the graph is searched, class by
// class from the most serious, for the shortest cycle of the class through
// each of its transactions: G0 (ww only), G1c (ww and wr, at least one wr),
// G-single (exactly one rw), G2 (two or more rw), then the same with a
// "-realtime" suffix for cycles that need real-time precedence. A cycle
// belongs to exactly one class, and once one has been reported through some
// transactions no other through the same ones is. The shortest cycles are
// reported first, up to Options.MaxCycles per kind. Real-time precedence is
// searched in full, not only along the graph's transitively reduced rt
// edges, so real-time cycles come out short too. The search's work is
// bounded (searchBudget), so in a huge component it may miss some cycles;
// it never invents one.
package elle

import "slices"

// MopKind is a micro-operation's type.
type MopKind string

const (
	Append MopKind = "append"
	Read   MopKind = "r"
)

// Mop is one micro-operation of a transaction.
type Mop struct {
	Kind MopKind `json:"f"`
	Key  string  `json:"k"`
	// Value is the element an append adds; it must be unique per key
	// across the whole history.
	Value int `json:"v,omitempty"`
	// List is what a read returned, nil if the result is unknown. Every read
	// of an OK transaction has a result, so there nil is the empty list
	// (which is also what [] becomes after a JSON round trip).
	List []int `json:"l,omitempty"`
}

// Status is a transaction's outcome.
type Status string

const (
	// OK: committed.
	OK Status = "ok"
	// Fail: certainly not committed.
	Fail Status = "fail"
	// Info: unknown outcome. Any status other than OK and Fail is read as
	// Info.
	Info Status = "info"
)

// Txn is one transaction of a history.
type Txn struct {
	ID      int    `json:"id"`
	Process int    `json:"process"`
	Status  Status `json:"status"`
	Mops    []Mop  `json:"mops"`
	// Start and End are monotonic nanoseconds of invocation and completion;
	// End is 0 for a transaction that never completed (Info).
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// Options tunes Check.
type Options struct {
	// RealTime adds real-time edges (T1 completed before T2 was invoked), so
	// cycles through them show violations of strict serializability.
	RealTime bool
	// MaxCycles bounds how many cycles are reported per anomaly kind
	// (default 8).
	MaxCycles int
}

const defaultMaxCycles = 8

// Anomaly is one violation found in a history.
type Anomaly struct {
	// Kind is "G0", "G1a", "G1b", "G1c", "G-single" or "G2", the cycle kinds
	// with a "-realtime" suffix when the cycle needs a real-time edge,
	// "incompatible-order", "duplicate-elements", "garbage-read",
	// "internal" (a transaction's read disagrees with its own appends or
	// earlier reads), or "duplicate-appends" (a malformed history appended
	// the same element to a key twice).
	Kind string `json:"kind"`
	// Txns holds the IDs of the transactions involved: for cycles, in cycle
	// order, starting from the one earliest in the history; for G1a and G1b, the writer then the
	// reader; for incompatible-order, the readers of the two orders; for
	// garbage and duplicate elements, the first reader.
	Txns []int `json:"txns"`
	// Edges holds, for cycles, the dependency from Txns[i] to
	// Txns[(i+1)%len(Txns)]: "ww", "wr" or "rw" with the key ("rw x"), or
	// "rt".
	Edges []string `json:"edges,omitempty"`
	// Explanation says what the history shows, in words.
	Explanation string `json:"explanation"`
}

// Result is a check's outcome.
type Result struct {
	Valid     bool      `json:"valid"`
	Anomalies []Anomaly `json:"anomalies,omitempty"`
	// Committed, Failed and Unknown count transactions by status.
	Committed int `json:"committed"`
	Failed    int `json:"failed"`
	Unknown   int `json:"unknown"`
	// Keys counts the keys the history touches.
	Keys int `json:"keys"`
}

// Check checks history for isolation anomalies. It neither modifies nor
// keeps history.
func Check(history []Txn, opts Options) Result {
	if opts.MaxCycles <= 0 {
		opts.MaxCycles = defaultMaxCycles
	}
	c := newChecker(history, opts)
	c.run()
	res := Result{Anomalies: c.anomalies, Keys: len(c.keys)}
	for i := range history {
		switch c.status(int32(i)) {
		case OK:
			res.Committed++
		case Fail:
			res.Failed++
		default:
			res.Unknown++
		}
	}
	slices.SortStableFunc(res.Anomalies, func(a, b Anomaly) int { return kindRank(a.Kind) - kindRank(b.Kind) })
	res.Valid = len(res.Anomalies) == 0
	return res
}

// kindOrder ranks anomaly kinds in the order results list them: Adya's
// phenomena from the most serious, then the checks that do not need the
// graph.
var kindOrder = []string{
	"G0", "G1a", "G1b", "G1c", "G-single", "G2",
	"G0-realtime", "G1c-realtime", "G-single-realtime", "G2-realtime",
	"internal", "incompatible-order", "duplicate-elements", "garbage-read", "duplicate-appends",
}

func kindRank(kind string) int { return slices.Index(kindOrder, kind) }
