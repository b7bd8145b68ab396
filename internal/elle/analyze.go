package elle

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// checker holds one check's state. Transactions are referred to by their
// index in the history (int32, to keep the graph small).
type checker struct {
	h      []Txn
	opts   Options
	keys   []*keyInfo // sorted by name before the passes over keys, so they are deterministic
	byName map[string]*keyInfo
	writes []write
	// inGraph marks the transactions that are nodes of the dependency
	// graph: the committed ones and the Info ones whose appends were read.
	inGraph   []bool
	edges     []edge // collected, then frozen into g
	g         graph
	anomalies []Anomaly
}

// write is one append.
type write struct {
	txn   int32
	value int
	// final is the last element the same transaction appended to the key;
	// a read ending in an element other than its writer's final one saw an
	// intermediate state (G1b).
	final int
	// observed: some trusted read contains the element.
	observed bool
}

// keyInfo is what the history says about one key.
type keyInfo struct {
	name   string
	writer map[int]int32 // element → index into checker.writes
	writes []int32       // this key's writes in history order
	reads  []read        // trusted reads in history order
	// ref is the longest read, the key's known version order, and
	// refReader its index in reads.
	ref       []int
	refReader int
}

// read is one read of an OK transaction.
type read struct {
	txn, mop int32
	list     []int
	// ext: the read came before the transaction's own appends to the key
	// (and before any other read of it), so it shows the state others left.
	ext bool
	// later holds, for an external read, the transaction's appends to the
	// key, all of which came after the read.
	later []int
	// div is the index at which list departs from the key's reference
	// order, or -1 if it is a prefix of it.
	div int
}

func newChecker(h []Txn, opts Options) *checker {
	return &checker{h: h, opts: opts, byName: map[string]*keyInfo{}}
}

func (c *checker) run() {
	c.index()
	c.scanReads()
	slices.SortFunc(c.keys, func(a, b *keyInfo) int { return strings.Compare(a.name, b.name) })
	for _, k := range c.keys {
		c.orderKey(k)
	}
	c.markGraph()
	for _, k := range c.keys {
		c.keyEdges(k)
	}
	if c.opts.RealTime {
		c.realtimeEdges()
	}
	c.g = newGraph(len(c.h), c.edges)
	c.edges = nil
	c.findCycles()
}

// status is t's outcome, reading anything unexpected as Info.
func (c *checker) status(t int32) Status {
	if s := c.h[t].Status; s == OK || s == Fail {
		return s
	}
	return Info
}

func (c *checker) key(name string) *keyInfo {
	k := c.byName[name]
	if k == nil {
		k = &keyInfo{name: name, writer: map[int]int32{}}
		c.byName[name] = k
		c.keys = append(c.keys, k)
	}
	return k
}

// report records a non-cycle anomaly; txns are history indices.
func (c *checker) report(kind string, txns []int32, format string, args ...any) {
	ids := make([]int, 0, len(txns))
	for _, t := range txns {
		if id := c.h[t].ID; len(ids) == 0 || ids[len(ids)-1] != id {
			ids = append(ids, id)
		}
	}
	c.anomalies = append(c.anomalies, Anomaly{Kind: kind, Txns: ids, Explanation: fmt.Sprintf(format, args...)})
}

// id formats t for explanations.
func (c *checker) id(t int32) string { return "T" + strconv.Itoa(c.h[t].ID) }

// index records every key and every append, whatever its transaction's
// status.
func (c *checker) index() {
	final := map[string]int{}
	for ti := range c.h {
		t := int32(ti)
		clear(final)
		for _, m := range c.h[t].Mops {
			if m.Kind == Append {
				final[m.Key] = m.Value
			}
		}
		for _, m := range c.h[t].Mops {
			k := c.key(m.Key)
			if m.Kind != Append {
				continue
			}
			if w, dup := k.writer[m.Value]; dup {
				first := c.writes[w].txn
				c.report("duplicate-appends", []int32{first, t}, "%s and %s both appended %d to %s; elements must be unique per key",
					c.id(first), c.id(t), m.Value, m.Key)
				continue
			}
			k.writer[m.Value] = int32(len(c.writes))
			k.writes = append(k.writes, int32(len(c.writes)))
			c.writes = append(c.writes, write{txn: t, value: m.Value, final: final[m.Key]})
		}
	}
}

// scanReads collects the reads of OK transactions, checking each against
// the transaction's own earlier appends and reads of the key.
func (c *checker) scanReads() {
	type state struct {
		appended []int // all own appends so far
		since    []int // own appends since the last read
		last     []int // the last read
		read     bool
		ext      int // index of the external read in the key's reads, or -1
	}
	states := map[*keyInfo]*state{}
	for ti := range c.h {
		t := int32(ti)
		if c.status(t) != OK {
			continue
		}
		clear(states)
		for mi, m := range c.h[t].Mops {
			k := c.key(m.Key)
			st := states[k]
			if st == nil {
				st = &state{ext: -1}
				states[k] = st
			}
			switch m.Kind {
			case Append:
				st.appended = append(st.appended, m.Value)
				st.since = append(st.since, m.Value)
			case Read:
				l := m.List
				ext := false
				switch {
				case st.read:
					if want := slices.Concat(st.last, st.since); !slices.Equal(l, want) {
						c.report("internal", []int32{t}, "%s read %s=%s, but its earlier read and its own appends since imply %s",
							c.id(t), k.name, fmtList(l), fmtList(want))
					}
				case len(st.appended) > 0:
					if n := len(st.appended); len(l) < n || !slices.Equal(l[len(l)-n:], st.appended) {
						c.report("internal", []int32{t}, "%s appended %s to %s, then read %s=%s, which does not end with them",
							c.id(t), fmtList(st.appended), k.name, k.name, fmtList(l))
					}
				default:
					ext, st.ext = true, len(k.reads)
				}
				k.reads = append(k.reads, read{txn: t, mop: int32(mi), list: l, ext: ext})
				st.read, st.last, st.since = true, l, nil
			}
		}
		for k, st := range states {
			if st.ext >= 0 {
				k.reads[st.ext].later = st.appended
			}
		}
	}
}

// readers counts the reads of a key that share something, remembering the
// first (reads are indices into the key's reads, in history order).
type readers struct {
	first, n int
	last     int // the read counted last, so a read holding it twice counts once
}

func (g *readers) add(r int) {
	if g.n > 0 && g.last == r {
		return
	}
	if g.n == 0 || r < g.first {
		g.first = r
	}
	g.n, g.last = g.n+1, r
}

// others describes the reads of g after the first.
func (g *readers) others() string {
	switch g.n {
	case 1:
		return ""
	case 2:
		return " (and 1 later read)"
	}
	return fmt.Sprintf(" (and %d later reads)", g.n-1)
}

// flag is a bad element of a key and the reads that contain it.
type flag struct {
	kind   string // "garbage-read", "duplicate-elements" or "G1a"
	elem   int
	writer int32 // for G1a, the failed writer
	readers
}

type flagKey struct {
	kind string
	elem int
}

// orderKey picks k's reference order and reports the reads that contradict
// it or hold bad elements, then checks k's external reads.
func (c *checker) orderKey(k *keyInfo) {
	if len(k.reads) == 0 {
		return
	}
	for i, r := range k.reads {
		if i == 0 || len(r.list) > len(k.ref) {
			k.ref, k.refReader = r.list, i
		}
	}
	var flags []*flag
	byElem := map[flagKey]*flag{}
	add := func(kind string, elem int, writer int32, r int) {
		fk := flagKey{kind, elem}
		f := byElem[fk]
		if f == nil {
			f = &flag{kind: kind, elem: elem, writer: writer}
			byElem[fk] = f
			flags = append(flags, f)
		}
		f.add(r)
	}

	// Nearly every read is a prefix of the reference, so the reference's
	// elements are checked once, and a bad one is charged to every prefix
	// that reaches it, rather than looking up every element of every read.
	pos := make(map[int]int, len(k.ref))
	type refFlag struct {
		kind   string
		elem   int
		writer int32
		at     int
	}
	var refFlags []refFlag
	for i, e := range k.ref {
		c.inspect(k, e, i, pos, func(kind string, e int, writer int32) { refFlags = append(refFlags, refFlag{kind, e, writer, i}) })
	}
	type fork struct{ at, elem int }
	var forks []*readers
	byFork := map[fork]*readers{}
	for ri := range k.reads {
		r := &k.reads[ri]
		if r.div = divergence(r.list, k.ref); r.div < 0 {
			for _, f := range refFlags {
				if f.at >= len(r.list) {
					break
				}
				add(f.kind, f.elem, f.writer, ri)
			}
			continue
		}
		seen := make(map[int]int, len(r.list))
		for i, e := range r.list {
			c.inspect(k, e, i, seen, func(kind string, e int, writer int32) { add(kind, e, writer, ri) })
		}
		// Reads that leave the reference at the same point with the same
		// element follow one other order: report it once.
		fk := fork{r.div, r.list[r.div]}
		if byFork[fk] == nil {
			byFork[fk] = &readers{}
			forks = append(forks, byFork[fk])
		}
		byFork[fk].add(ri)
	}

	for _, f := range flags {
		r := k.reads[f.first]
		got := fmt.Sprintf("%s read %s=%s, containing %d", c.id(r.txn), k.name, fmtList(r.list), f.elem)
		switch f.kind {
		case "G1a":
			c.report(f.kind, []int32{f.writer, r.txn}, "%s, appended by %s, which failed%s", got, c.id(f.writer), f.others())
		case "garbage-read":
			c.report(f.kind, []int32{r.txn}, "%s, which no transaction appended to %s%s", got, k.name, f.others())
		default:
			c.report(f.kind, []int32{r.txn}, "%s more than once%s", got, f.others())
		}
	}
	for _, f := range forks {
		a, b := k.reads[k.refReader], k.reads[f.first]
		c.report("incompatible-order", []int32{a.txn, b.txn}, "%s read %s=%s but %s read %s=%s%s: neither is a prefix of the other (at index %d, %d vs %d)",
			c.id(a.txn), k.name, fmtList(a.list), c.id(b.txn), k.name, fmtList(b.list), f.others(), b.div, a.list[b.div], b.list[b.div])
	}
	c.checkExtReads(k, pos)
}

// inspect checks element e, at index i of a read whose earlier elements
// are in seen, reporting what is wrong with it to flag; otherwise it marks
// the write observed.
func (c *checker) inspect(k *keyInfo, e, i int, seen map[int]int, flag func(kind string, e int, writer int32)) {
	if _, dup := seen[e]; dup {
		flag("duplicate-elements", e, -1)
		return
	}
	seen[e] = i
	w, ok := k.writer[e]
	switch {
	case !ok:
		flag("garbage-read", e, -1)
	case c.status(c.writes[w].txn) == Fail:
		flag("G1a", e, c.writes[w].txn)
	default:
		c.writes[w].observed = true
	}
}

// checkExtReads reports external reads of k that contain their reader's
// own later appends, or that end in an intermediate state of another
// transaction (G1b). pos maps the reference's elements to their indices.
func (c *checker) checkExtReads(k *keyInfo, pos map[int]int) {
	for _, r := range k.reads {
		if !r.ext {
			continue
		}
		for _, v := range r.later {
			if p, ok := pos[v]; r.div < 0 && ok && p < len(r.list) || r.div >= 0 && slices.Contains(r.list, v) {
				c.report("internal", []int32{r.txn}, "%s read %s=%s, containing %d, which it appended only later",
					c.id(r.txn), k.name, fmtList(r.list), v)
				break
			}
		}
		if len(r.list) == 0 {
			continue
		}
		e := r.list[len(r.list)-1]
		w, ok := k.writer[e]
		if !ok {
			continue
		}
		if wt := c.writes[w].txn; wt != r.txn && c.status(wt) != Fail && c.writes[w].final != e {
			c.report("G1b", []int32{wt, r.txn}, "%s read %s=%s, ending with %s's %d, but %s's final append to %s was %d",
				c.id(r.txn), k.name, fmtList(r.list), c.id(wt), e, c.id(wt), k.name, c.writes[w].final)
		}
	}
}

// divergence returns the first index at which l departs from ref, or -1 if
// l is a prefix of ref.
func divergence(l, ref []int) int {
	for i, e := range l {
		if i >= len(ref) || e != ref[i] {
			return i
		}
	}
	return -1
}

// markGraph picks the graph's nodes: OK transactions, and Info ones that
// some trusted read shows committed.
func (c *checker) markGraph() {
	c.inGraph = make([]bool, len(c.h))
	for t := range c.h {
		c.inGraph[t] = c.status(int32(t)) == OK
	}
	for _, w := range c.writes {
		if w.observed && c.status(w.txn) == Info {
			c.inGraph[w.txn] = true
		}
	}
}

// tailFanout bounds how many unobserved writers each read of a key's whole
// known order gets an rw edge to. A store whose reads all return the empty
// list would otherwise cost an edge per (reader, writer) pair; the writers
// nearest the reader in the history are the ones likely to have been
// concurrent with it, so they are the ones kept.
const tailFanout = 32

// tailWrite is an unobserved append of a graph transaction: it must follow
// the key's whole known order.
type tailWrite struct {
	txn  int32
	elem int
}

// keyEdges adds k's ww, wr and rw edges.
func (c *checker) keyEdges(k *keyInfo) {
	node := func(e int) int32 {
		if w, ok := k.writer[e]; ok && c.inGraph[c.writes[w].txn] {
			return c.writes[w].txn
		}
		return -1
	}
	ref := k.ref
	refW := make([]int32, len(ref))
	for i, e := range ref {
		refW[i] = node(e)
	}
	for i := 1; i < len(ref); i++ {
		if a, b := refW[i-1], refW[i]; a >= 0 && b >= 0 && a != b {
			c.edges = append(c.edges, edge{from: a, to: b, kind: ww, key: k.name, prev: ref[i-1], elem: ref[i]})
		}
	}

	var tail []tailWrite
	for _, wi := range k.writes {
		w := c.writes[wi]
		// A transaction's writes to a key are adjacent in k.writes.
		if w.observed || !c.inGraph[w.txn] || len(tail) > 0 && tail[len(tail)-1].txn == w.txn {
			continue
		}
		tail = append(tail, tailWrite{w.txn, w.value})
	}
	if n := len(ref); n > 0 && refW[n-1] >= 0 {
		for _, t := range tail {
			if t.txn != refW[n-1] {
				c.edges = append(c.edges, edge{from: refW[n-1], to: t.txn, kind: ww, key: k.name, prev: ref[n-1], elem: t.elem})
			}
		}
	}

	for _, r := range k.reads {
		if !r.ext {
			continue
		}
		if n := len(r.list); n > 0 {
			if w := node(r.list[n-1]); w >= 0 && w != r.txn {
				c.edges = append(c.edges, edge{from: w, to: r.txn, kind: wr, key: k.name, elem: r.list[n-1], mop: r.mop})
			}
		}
		if r.div >= 0 {
			continue // where this read sits in the version order is unknown
		}
		if l := len(r.list); l < len(ref) {
			if b := refW[l]; b >= 0 && b != r.txn {
				c.edges = append(c.edges, edge{from: r.txn, to: b, kind: rw, key: k.name, elem: ref[l], mop: r.mop})
			}
			continue
		}
		for _, t := range nearest(tail, r.txn) {
			if t.txn != r.txn {
				c.edges = append(c.edges, edge{from: r.txn, to: t.txn, kind: rw, key: k.name, elem: t.elem, mop: r.mop})
			}
		}
	}
}

// nearest returns the (at most tailFanout) writes in tail, which is sorted
// by transaction, whose transactions are nearest t.
func nearest(tail []tailWrite, t int32) []tailWrite {
	if len(tail) <= tailFanout {
		return tail
	}
	i := sort.Search(len(tail), func(i int) bool { return tail[i].txn >= t })
	hi := min(len(tail), max(0, i-tailFanout/2)+tailFanout)
	return tail[hi-tailFanout : hi]
}

// realtimeEdges adds an rt edge from each OK transaction to those invoked
// after it completed, keeping only enough of them to preserve reachability.
// Events are swept in time order while the frontier holds the completed
// transactions not yet known to precede another completed one. A new
// transaction is linked from the whole frontier; when it completes, it
// replaces its predecessors there. Frontier members overlap one another in
// time, so the frontier is no larger than the concurrency and the edges
// number O(n·concurrency) rather than O(n²).
func (c *checker) realtimeEdges() {
	type event struct {
		at    int64
		txn   int32
		phase int8 // 0: invocation, 1: completion
	}
	var events []event
	for ti := range c.h {
		t := int32(ti)
		if !c.inGraph[t] {
			continue
		}
		events = append(events, event{c.h[t].Start, t, 0})
		if c.completed(t) {
			events = append(events, event{c.h[t].End, t, 1})
		}
	}
	// At equal times invocations go first: precedence needs End < Start.
	slices.SortFunc(events, func(a, b event) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.phase, b.phase), cmp.Compare(a.txn, b.txn))
	})
	inFrontier := make([]bool, len(c.h))
	var frontier []int32
	preds := map[int32][]int32{}
	for _, ev := range events {
		if ev.phase == 0 {
			frontier = slices.DeleteFunc(frontier, func(t int32) bool { return !inFrontier[t] })
			for _, p := range frontier {
				c.edges = append(c.edges, edge{from: p, to: ev.txn, kind: rt})
			}
			if c.completed(ev.txn) {
				preds[ev.txn] = slices.Clone(frontier)
			}
			continue
		}
		for _, p := range preds[ev.txn] {
			inFrontier[p] = false
		}
		delete(preds, ev.txn)
		inFrontier[ev.txn] = true
		frontier = append(frontier, ev.txn)
	}
}

// completed reports whether t is known to have completed, at a time that
// is not before its invocation.
func (c *checker) completed(t int32) bool {
	return c.status(t) == OK && c.h[t].End > 0 && c.h[t].End >= c.h[t].Start
}

// fmtList formats a read for explanations, eliding all but its tail when it
// is long.
func fmtList(l []int) string {
	const show = 8
	var b strings.Builder
	b.WriteByte('[')
	if len(l) > show {
		fmt.Fprintf(&b, "...%d more ", len(l)-show)
		l = l[len(l)-show:]
	}
	for i, e := range l {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(e))
	}
	b.WriteByte(']')
	return b.String()
}
