package elle

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func ap(k string, v int) Mop     { return Mop{Kind: Append, Key: k, Value: v} }
func rd(k string, l ...int) Mop  { return Mop{Kind: Read, Key: k, List: l} }
func ok(id int, mops ...Mop) Txn { return Txn{ID: id, Process: id, Status: OK, Mops: mops} }

func with(t Txn, s Status) Txn { t.Status = s; return t }

// at sets a transaction's invocation and completion times.
func at(t Txn, start, end int64) Txn { t.Start, t.End = start, end; return t }

// serial gives txns increasing, non-overlapping times.
func serial(txns ...Txn) []Txn {
	for i := range txns {
		txns[i].Start, txns[i].End = int64(10*i+1), int64(10*i+5)
	}
	return txns
}

// want is an anomaly's kind and transactions.
type want struct {
	kind string
	txns []int
}

func (w want) String() string { return fmt.Sprintf("%s %v", w.kind, w.txns) }

// expect fails t unless res reports exactly wants (in any order).
func expect(t *testing.T, res Result, wants ...want) {
	t.Helper()
	var got []string
	for _, a := range res.Anomalies {
		got = append(got, want{a.Kind, a.Txns}.String())
	}
	var exp []string
	for _, w := range wants {
		exp = append(exp, w.String())
	}
	slices.Sort(got)
	slices.Sort(exp)
	if !slices.Equal(got, exp) || res.Valid != (len(wants) == 0) {
		t.Errorf("valid=%v, anomalies %q, want %q", res.Valid, got, exp)
		for _, a := range res.Anomalies {
			t.Logf("  %s %v %v: %s", a.Kind, a.Txns, a.Edges, a.Explanation)
		}
	}
}

// find returns the first anomaly of kind in res.
func find(t *testing.T, res Result, kind string) Anomaly {
	t.Helper()
	for _, a := range res.Anomalies {
		if a.Kind == kind {
			return a
		}
	}
	t.Fatalf("no %s in %+v", kind, res.Anomalies)
	return Anomaly{}
}

func TestCleanSerial(t *testing.T) {
	h := serial(
		ok(1, ap("x", 1)),
		ok(2, rd("x", 1), ap("x", 2)),
		ok(3, rd("x", 1, 2), ap("y", 1), rd("y", 1)),
		ok(4, rd("y", 1), rd("x", 1, 2), ap("x", 3), rd("x", 1, 2, 3)),
		ok(5, rd("z")),
	)
	for _, rt := range []bool{false, true} {
		res := Check(h, Options{RealTime: rt})
		expect(t, res)
		if res.Committed != 5 || res.Keys != 3 {
			t.Errorf("counts: %+v", res)
		}
	}
}

// TestCleanConcurrent: T1 spans T2 and T3 in real time yet serializes after
// both, which is fine even for strict serializability.
func TestCleanConcurrent(t *testing.T) {
	h := []Txn{
		at(ok(1, ap("x", 1)), 0, 100),
		at(ok(2, rd("x"), ap("y", 1)), 10, 20),
		at(ok(3, rd("y", 1), rd("x")), 30, 40),
		at(ok(4, rd("x", 1), rd("y", 1)), 200, 210),
	}
	expect(t, Check(h, Options{}))
	expect(t, Check(h, Options{RealTime: true}))
}

func TestG0(t *testing.T) {
	h := []Txn{
		ok(1, ap("x", 1), ap("y", 2)),
		ok(2, ap("x", 2), ap("y", 1)),
		ok(3, rd("x", 1, 2), rd("y", 1, 2)),
	}
	res := Check(h, Options{})
	expect(t, res, want{"G0", []int{1, 2}})
	a := find(t, res, "G0")
	if !slices.Equal(a.Edges, []string{"ww x", "ww y"}) {
		t.Errorf("edges %q", a.Edges)
	}
	if !strings.Contains(a.Explanation, "T2 appended 2 to x after T1's 1 (ww x)") ||
		!strings.Contains(a.Explanation, "T1 appended 2 to y after T2's 1 (ww y)") {
		t.Errorf("explanation %q", a.Explanation)
	}
}

func TestG1a(t *testing.T) {
	h := []Txn{
		with(ok(1, ap("x", 1)), Fail),
		ok(2, rd("x", 1)),
	}
	res := Check(h, Options{})
	expect(t, res, want{"G1a", []int{1, 2}})
	if res.Failed != 1 || res.Committed != 1 {
		t.Errorf("counts: %+v", res)
	}
}

// TestG1b: T2 saw T1's first append but not its second, which also makes
// T1 -wr-> T2 -rw-> T1.
func TestG1b(t *testing.T) {
	h := []Txn{
		ok(1, ap("x", 1), ap("x", 2)),
		ok(2, rd("x", 1)),
		ok(3, rd("x", 1, 2)),
	}
	expect(t, Check(h, Options{}), want{"G1b", []int{1, 2}}, want{"G-single", []int{1, 2}})
}

func TestG1c(t *testing.T) {
	h := []Txn{
		ok(1, ap("x", 1), rd("y", 1)),
		ok(2, ap("y", 1), rd("x", 1)),
	}
	res := Check(h, Options{})
	expect(t, res, want{"G1c", []int{1, 2}})
	if a := find(t, res, "G1c"); !slices.Equal(a.Edges, []string{"wr x", "wr y"}) {
		t.Errorf("edges %q", a.Edges)
	}
}

// TestGSingle is read skew: T2 saw T1's y but not its x.
func TestGSingle(t *testing.T) {
	h := []Txn{
		ok(1, ap("x", 1), ap("y", 1)),
		ok(2, rd("x"), rd("y", 1)),
		ok(3, rd("x", 1), rd("y", 1)),
	}
	res := Check(h, Options{})
	expect(t, res, want{"G-single", []int{1, 2}})
	a := find(t, res, "G-single")
	if !slices.Equal(a.Edges, []string{"wr y", "rw x"}) || !strings.Contains(a.Explanation, "T2 read x=[] without T1's 1 (rw x)") {
		t.Errorf("edges %q, explanation %q", a.Edges, a.Explanation)
	}
}

// TestLostUpdate: T1 and T2 both read x=[1] and appended; the final order
// puts T2's append after T1's, so T2 must have missed it.
func TestLostUpdate(t *testing.T) {
	h := []Txn{
		ok(0, ap("x", 1)),
		ok(1, rd("x", 1), ap("x", 2)),
		ok(2, rd("x", 1), ap("x", 3)),
		ok(3, rd("x", 1, 2, 3)),
	}
	res := Check(h, Options{})
	expect(t, res, want{"G-single", []int{1, 2}})
	if a := find(t, res, "G-single"); !slices.Equal(a.Edges, []string{"ww x", "rw x"}) {
		t.Errorf("edges %q", a.Edges)
	}
}

// TestG2 is write skew, with and without a later read of the outcome: each
// transaction read both keys empty and appended to one, so each missed the
// other's append.
func TestG2(t *testing.T) {
	skew := []Txn{
		ok(1, rd("x"), rd("y"), ap("x", 1)),
		ok(2, rd("x"), rd("y"), ap("y", 1)),
	}
	for _, h := range [][]Txn{skew, append(slices.Clone(skew), ok(3, rd("x", 1), rd("y", 1)))} {
		res := Check(h, Options{})
		expect(t, res, want{"G2", []int{1, 2}})
		if a := find(t, res, "G2"); !slices.Equal(a.Edges, []string{"rw y", "rw x"}) {
			t.Errorf("edges %q", a.Edges)
		}
	}
}

func TestIncompatibleOrder(t *testing.T) {
	h := []Txn{
		ok(1, ap("x", 1)),
		ok(2, ap("x", 2)),
		ok(3, rd("x", 1, 2)),
		ok(4, rd("x", 2, 1)),
		ok(5, rd("x", 2)),
	}
	expect(t, Check(h, Options{}), want{"incompatible-order", []int{3, 4}})
}

func TestDuplicateElements(t *testing.T) {
	h := []Txn{
		ok(1, ap("x", 1)),
		ok(2, rd("x", 1, 1)),
	}
	expect(t, Check(h, Options{}), want{"duplicate-elements", []int{2}})
}

func TestGarbageRead(t *testing.T) {
	h := []Txn{
		ok(1, ap("x", 1)),
		ok(2, rd("x", 1, 9)),
		ok(3, rd("x", 1, 9)),
	}
	res := Check(h, Options{})
	expect(t, res, want{"garbage-read", []int{2}})
	if a := find(t, res, "garbage-read"); !strings.Contains(a.Explanation, "(and 1 later read)") {
		t.Errorf("explanation %q", a.Explanation)
	}
}

func TestInternal(t *testing.T) {
	h := []Txn{
		ok(1, ap("x", 1), rd("x")), // misses its own append
		ok(2, ap("y", 1)),
		ok(3, rd("y", 1), rd("y")),             // a second read that loses an element
		ok(4, rd("z", 5), ap("z", 5)),          // reads its own future append
		ok(5, rd("w"), ap("w", 1), rd("w", 1)), // consistent
	}
	expect(t, Check(h, Options{}),
		want{"internal", []int{1}}, want{"internal", []int{3}}, want{"internal", []int{4}})
}

func TestDuplicateAppends(t *testing.T) {
	h := []Txn{
		ok(1, ap("x", 1)),
		ok(2, ap("x", 1)),
	}
	expect(t, Check(h, Options{}), want{"duplicate-appends", []int{1, 2}})
}

// TestRealtime: histories that are serializable, so valid without real
// time, but not strictly serializable.
func TestRealtime(t *testing.T) {
	cases := []struct {
		name  string
		h     []Txn
		kind  string
		txns  []int
		edges []string
	}{
		{"stale read: T2 began after T1 completed yet missed its append", []Txn{
			at(ok(1, ap("x", 1)), 0, 10),
			at(ok(2, rd("x")), 20, 30),
		}, "G-single-realtime", []int{1, 2}, []string{"rt", "rw x"}},
		{"future read: T1 read what T2 appended only later", []Txn{
			at(ok(1, rd("x", 1)), 0, 10),
			at(ok(2, ap("x", 1)), 20, 30),
		}, "G1c-realtime", []int{1, 2}, []string{"rt", "wr x"}},
		{"T2's append went before T1's though T1 completed first", []Txn{
			at(ok(1, ap("x", 2)), 0, 10),
			at(ok(2, ap("x", 1)), 20, 30),
			at(ok(3, rd("x", 1, 2)), 40, 50),
		}, "G0-realtime", []int{1, 2}, []string{"rt", "ww x"}},
		{"T1 missed T2's a, T2 missed T3's b, and T3 completed before T1 began", []Txn{
			at(ok(1, rd("a")), 20, 30),
			at(ok(2, ap("a", 1), rd("b")), 5, 40),
			at(ok(3, ap("b", 1)), 0, 10),
		}, "G2-realtime", []int{1, 2, 3}, []string{"rw a", "rw b", "rt"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, Check(tc.h, Options{}))
			res := Check(tc.h, Options{RealTime: true})
			expect(t, res, want{tc.kind, tc.txns})
			if a := find(t, res, tc.kind); !slices.Equal(a.Edges, tc.edges) {
				t.Errorf("edges %q, want %q", a.Edges, tc.edges)
			}
		})
	}
}

// TestInfo: T1's outcome is unknown but T2 read its x, so it committed and
// takes part (in a read skew); T4's appends were never seen, so it is left
// out of the graph.
func TestInfo(t *testing.T) {
	h := []Txn{
		with(ok(1, ap("x", 1), ap("y", 1)), Info),
		ok(2, rd("x", 1), rd("y")),
		ok(3, rd("y", 1)),
		with(ok(4, ap("z", 1), ap("x", 2)), Info),
		ok(5, rd("z"), rd("x", 1)),
	}
	res := Check(h, Options{})
	expect(t, res, want{"G-single", []int{1, 2}})
	if res.Unknown != 2 || res.Committed != 3 {
		t.Errorf("counts: %+v", res)
	}
	c := newChecker(h, Options{MaxCycles: defaultMaxCycles})
	c.run()
	if !c.inGraph[0] || c.inGraph[3] {
		t.Errorf("inGraph = %v, want T1 in and T4 out", c.inGraph)
	}
}

// TestMaxCycles: twenty independent write skews, reported up to the bound.
func TestMaxCycles(t *testing.T) {
	var h []Txn
	for i := range 20 {
		x, y := fmt.Sprint("x", i), fmt.Sprint("y", i)
		h = append(h, ok(2*i, rd(x), rd(y), ap(x, 1)), ok(2*i+1, rd(x), rd(y), ap(y, 1)))
	}
	for _, tc := range []struct{ max, want int }{{0, defaultMaxCycles}, {3, 3}, {100, 20}} {
		if got := len(Check(h, Options{MaxCycles: tc.max}).Anomalies); got != tc.want {
			t.Errorf("MaxCycles %d: %d anomalies, want %d", tc.max, got, tc.want)
		}
	}
}

// TestJSON: a history survives a JSON round trip, including empty reads,
// which come back as nil lists.
func TestJSON(t *testing.T) {
	h := []Txn{
		ok(1, rd("x"), rd("y"), ap("x", 1)),
		ok(2, rd("x"), rd("y"), ap("y", 1)),
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back []Txn
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	expect(t, Check(back, Options{}), want{"G2", []int{1, 2}})
}

// genHistory runs n random transactions of 1–4 mops over keys keys, one at
// a time, against an in-memory store, so the history is serializable; with
// increasing times (which it assigns) it is strictly serializable too. One
// in twenty fails and is rolled back; one in twenty has an unknown outcome,
// commits or not at random, and loses its read results. With probability
// stale, a read instead returns an old prefix of the list, which breaks
// serializability.
func genHistory(seed uint64, n, keys int, stale float64) []Txn {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	store := map[string][]int{}
	next := map[string]int{}
	h := make([]Txn, 0, n)
	for i := range n {
		t := Txn{ID: i, Process: rng.IntN(10), Status: OK, Start: int64(10*i + 1), End: int64(10*i + 5)}
		writes := map[string][]int{}
		for range 1 + rng.IntN(4) {
			k := "k" + fmt.Sprint(rng.IntN(keys))
			cur, mine := writes[k]
			if !mine {
				cur = store[k]
			}
			if rng.IntN(2) == 0 {
				next[k]++
				writes[k] = append(slices.Clip(cur), next[k])
				t.Mops = append(t.Mops, ap(k, next[k]))
				continue
			}
			if !mine && rng.Float64() < stale {
				cur = cur[:rng.IntN(len(cur)+1)]
			}
			t.Mops = append(t.Mops, rd(k, slices.Clone(cur)...))
		}
		commit := true
		switch rng.IntN(20) {
		case 0:
			t.Status, commit = Fail, false
		case 1:
			t.Status, t.End, commit = Info, 0, rng.IntN(2) == 0
			for j := range t.Mops {
				t.Mops[j].List = nil
			}
		}
		if commit {
			for k, l := range writes {
				store[k] = l
			}
		}
		h = append(h, t)
	}
	return h
}

var seeds = []uint64{1, 2, 3, 42, 1234, 99991}

func TestRandomSerializable(t *testing.T) {
	for _, seed := range seeds {
		h := genHistory(seed, 2000, 10, 0)
		if res := Check(h, Options{RealTime: true}); !res.Valid {
			t.Errorf("seed %d, real time: %d anomalies, first %+v", seed, len(res.Anomalies), res.Anomalies[0])
		}
		// Without real time, the order of the history and its times are
		// irrelevant: scramble both.
		rng := rand.New(rand.NewPCG(seed, 7))
		rng.Shuffle(len(h), func(i, j int) { h[i], h[j] = h[j], h[i] })
		for i := range h {
			h[i].Start = rng.Int64N(1000)
			h[i].End = h[i].Start + rng.Int64N(1000)
		}
		if res := Check(h, Options{}); !res.Valid {
			t.Errorf("seed %d, scrambled: %d anomalies, first %+v", seed, len(res.Anomalies), res.Anomalies[0])
		}
	}
}

// TestRandomStale: stale reads must be caught, and the report must be
// deterministic and well formed.
func TestRandomStale(t *testing.T) {
	for _, seed := range seeds {
		h := genHistory(seed, 800, 5, 0.05)
		res := Check(h, Options{RealTime: true})
		if res.Valid {
			t.Errorf("seed %d: stale reads went unnoticed", seed)
		}
		if again := Check(h, Options{RealTime: true}); !reflect.DeepEqual(res, again) {
			t.Errorf("seed %d: results differ between runs", seed)
		}
		for _, a := range res.Anomalies {
			if len(a.Edges) > 0 && (len(a.Edges) != len(a.Txns) || len(a.Txns) < 2) {
				t.Errorf("seed %d: malformed cycle %+v", seed, a)
			}
			if kindRank(a.Kind) < 0 {
				t.Errorf("seed %d: unknown kind %q", seed, a.Kind)
			}
		}
	}
}

func TestLarge(t *testing.T) {
	h := genHistory(7, 20000, 50, 0)
	start := time.Now()
	res := Check(h, Options{RealTime: true})
	if !res.Valid {
		t.Fatalf("%d anomalies, first %+v", len(res.Anomalies), res.Anomalies[0])
	}
	t.Logf("checked %d txns over %d keys in %v", len(h), res.Keys, time.Since(start))
}

func BenchmarkCheck20k(b *testing.B) {
	h := genHistory(1, 20000, 50, 0)
	for b.Loop() {
		if res := Check(h, Options{RealTime: true}); !res.Valid {
			b.Fatalf("%d anomalies", len(res.Anomalies))
		}
	}
}
