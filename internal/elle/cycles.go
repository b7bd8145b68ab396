package elle

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// class is a kind of cycle: those that use only edges of the kinds in path
// (and at least one rt edge, if path has rt) and hold at least min edges of
// kind req (exactly min, if exact). The classes partition the cycles, so a
// cycle is reported under one kind only, and a G0 is never taken for a G2.
type class struct {
	name  string
	path  kindSet
	req   edgeKind
	min   int32
	exact bool
}

var classes = []class{
	{name: "G0", path: kinds(ww)},
	{name: "G1c", path: kinds(ww, wr), req: wr, min: 1},
	{name: "G-single", path: kinds(ww, wr, rw), req: rw, min: 1, exact: true},
	{name: "G2", path: kinds(ww, wr, rw), req: rw, min: 2},
	{name: "G0-realtime", path: kinds(ww, rt)},
	{name: "G1c-realtime", path: kinds(ww, wr, rt), req: wr, min: 1},
	{name: "G-single-realtime", path: allKinds, req: rw, min: 1, exact: true},
	{name: "G2-realtime", path: allKinds, req: rw, min: 2},
}

// searchBudget bounds the work (see search.cycle) one class's search may do
// in one component, so that a huge component in a badly broken history
// costs bounded time (at the price of possibly missing some of its cycles).
const searchBudget = 1 << 19

// findCycles reports cycles of each class, component by component.
func (c *checker) findCycles() {
	n := len(c.h)
	var nodes []int32
	for t := range n {
		if c.inGraph[t] {
			nodes = append(nodes, int32(t))
		}
	}
	tj := newTarjan(&c.g, n)
	top := make([]int32, n)
	sccs := tj.sccs(nodes, func(v int32) bool { return c.inGraph[v] }, allKinds, top)
	if len(sccs) == 0 {
		return
	}
	s := newSearch(c, n)
	sub := make([]int32, n)
	found := map[string]int{}
	seen := map[string]bool{}
	for _, scc := range sccs {
		id := top[scc[0]]
		inSCC := func(v int32) bool { return top[v] == id }
		var byStart []int32
		if c.opts.RealTime {
			byStart = slices.Clone(scc)
			slices.SortFunc(byStart, func(a, b int32) int { return cmp.Or(cmp.Compare(c.h[a].Start, c.h[b].Start), cmp.Compare(a, b)) })
		}
		for _, cl := range classes {
			if found[cl.name] >= c.opts.MaxCycles || cl.path.has(rt) && !c.opts.RealTime {
				continue
			}
			// Every cycle of the class lies within one component of the
			// subgraph of the kinds it may use. Search from each node of
			// those, within the budget, and report the shortest cycles.
			var starts []int32
			comps := tj.sccs(scc, inSCC, cl.path, sub)
			if cl.path.has(rt) {
				// A real-time hop from a node covers everything invoked
				// after it completed, so searches from late nodes are
				// cheap: try those first.
				onCycle := map[int32]bool{}
				for _, comp := range comps {
					onCycle[sub[comp[0]]] = true
				}
				for i := len(byStart) - 1; i >= 0; i-- {
					if v := byStart[i]; onCycle[sub[v]] {
						starts = append(starts, v)
					}
				}
			} else {
				starts = slices.Concat(comps...)
			}
			want := c.opts.MaxCycles - found[cl.name]
			var cycles [][]hop
			shortest := 0 // cycles of two transactions, which none beats
			budget := searchBudget
			for _, src := range starts {
				cyc, cost := s.cycle(cl, src, sub, byStart)
				budget -= cost
				if cyc != nil {
					cyc = rotate(cyc)
					if key := cycleKey(cyc); !seen[key] {
						seen[key] = true
						cycles = append(cycles, cyc)
						if len(cyc) == 2 {
							shortest++
						}
					}
				}
				if budget <= 0 || shortest >= want {
					break
				}
			}
			slices.SortStableFunc(cycles, func(a, b []hop) int { return len(a) - len(b) })
			for _, cyc := range cycles[:min(want, len(cycles))] {
				c.reportCycle(cl.name, cyc)
			}
			found[cl.name] += min(want, len(cycles))
		}
	}
}

// hop is one step of a cycle: an edge of the graph, or (e < 0) a real-time
// precedence between any two transactions, not only those the graph's
// reduced rt edges link directly.
type hop struct{ from, to, e int32 }

// search is breadth-first search for short cycles. Its states are (node,
// n, r): n counts the edges of the class's req kind so far (capped at its
// min), and r records whether a real-time hop was taken. Scratch space is
// reused across searches.
type search struct {
	g          *graph
	start, end []int64  // invocation and completion times; end < 0: never completed
	seen       []uint32 // search in which the state was reached
	run        uint32
	via        []int32 // edge that reached the state, -1 for a real-time hop
	parent     []int32 // state it was reached from
	queue      []int32
}

// stateCount is the number of states per node: n in 0..2 (the highest
// min) times r in 0..1.
const stateCount = 6

func newSearch(c *checker, n int) *search {
	s := &search{g: &c.g, start: make([]int64, n), end: make([]int64, n),
		seen: make([]uint32, n*stateCount), via: make([]int32, n*stateCount), parent: make([]int32, n*stateCount)}
	for t := range n {
		s.start[t], s.end[t] = c.h[t].Start, -1
		if c.completed(int32(t)) {
			s.end[t] = c.h[t].End
		}
	}
	return s
}

// cycle looks for a shortest simple cycle of class cl through src, within
// its component in comp; byStart holds the nodes src's component may hold,
// sorted by invocation time, for real-time hops. It returns the cycle's
// hops from src, or nil, and how much work it did (states expanded, edges
// and real-time hops examined).
//
// The graph's rt edges are a transitive reduction, which would make every
// cycle through real time walk a long chain of them. Instead, a node that
// completed hops to every node invoked after that: since breadth-first
// search reaches nodes in order of distance, once it has hopped from a node
// that completed at time T, every node invoked after T has been reached at
// that count, so each hop only scans the nodes not yet covered, and hops
// cost O(n) per search in all.
func (s *search) cycle(cl class, src int32, comp []int32, byStart []int32) ([]hop, int) {
	g := s.g
	needRT := cl.path.has(rt)
	s.run++
	begin := src * stateCount
	s.seen[begin] = s.run
	s.queue = append(s.queue[:0], begin)
	covered := [3]int{len(byStart), len(byStart), len(byStart)}
	var closing hop
	// reach takes state st at node x to node w with count n and real-time
	// flag r, over edge e; it reports whether that closed the cycle.
	reach := func(st, x, w, n, r, e int32) bool {
		if w == src {
			// A simple cycle enters src only to end there.
			if n >= cl.min && (r == 1 || !needRT) {
				closing = hop{x, w, e}
				return true
			}
			return false
		}
		next := w*stateCount + n*2 + r
		if s.seen[next] != s.run {
			s.seen[next] = s.run
			s.via[next], s.parent[next] = e, st
			s.queue = append(s.queue, next)
		}
		return false
	}
	cost := 0
	for qi := 0; qi < len(s.queue); qi++ {
		st := s.queue[qi]
		x, n, r := st/stateCount, st%stateCount/2, st%2
		cost += 1 + int(g.start[x+1]-g.start[x])
		for j := g.start[x]; j < g.start[x+1]; j++ {
			e := &g.edges[j]
			if e.kind == rt || !cl.path.has(e.kind) || comp[e.to] != comp[src] {
				continue
			}
			m := n
			if cl.min > 0 && e.kind == cl.req {
				if cl.exact && n >= cl.min {
					continue
				}
				m = min(n+1, cl.min)
			}
			if reach(st, x, e.to, m, r, j) {
				return s.path(begin, st, closing), cost
			}
		}
		if !needRT || s.end[x] < 0 {
			continue
		}
		if n >= cl.min && s.end[x] < s.start[src] {
			// Hopping back to src closes the cycle; no need to scan for it.
			return s.path(begin, st, hop{x, src, -1}), cost
		}
		after := sort.Search(len(byStart), func(i int) bool { return s.start[byStart[i]] > s.end[x] })
		for i := after; i < covered[n]; i++ {
			cost++
			if w := byStart[i]; comp[w] == comp[src] && reach(st, x, w, n, 1, -1) {
				return s.path(begin, st, closing), cost
			}
		}
		covered[n] = min(covered[n], after)
	}
	return nil, cost
}

// path returns the hops from state begin to state last, then closing, or
// nil if they visit a node twice (possible when a count is tracked: the
// path may loop to pick up a required edge, and that is no simple cycle).
func (s *search) path(begin, last int32, closing hop) []hop {
	cyc := []hop{closing}
	for st := last; st != begin; st = s.parent[st] {
		cyc = append(cyc, hop{s.parent[st] / stateCount, st / stateCount, s.via[st]})
	}
	slices.Reverse(cyc)
	nodes := make([]int32, len(cyc))
	for i, h := range cyc {
		nodes[i] = h.from
	}
	slices.Sort(nodes)
	if len(slices.Compact(nodes)) != len(cyc) {
		return nil
	}
	return cyc
}

// rotate turns cyc so that it starts at its lowest node.
func rotate(cyc []hop) []hop {
	low := 0
	for i, h := range cyc {
		if h.from < cyc[low].from {
			low = i
		}
	}
	return append(cyc[low:len(cyc):len(cyc)], cyc[:low]...)
}

// cycleKey identifies a rotated cycle by its transactions alone: once a
// cycle has been found through them, others through the same ones (over
// other edges, in a less serious class) would only repeat it.
func cycleKey(cyc []hop) string {
	var b strings.Builder
	for _, h := range cyc {
		fmt.Fprintf(&b, "%d,", h.from)
	}
	return b.String()
}

func (c *checker) reportCycle(kind string, cyc []hop) {
	a := Anomaly{Kind: kind}
	parts := make([]string, len(cyc))
	for i, h := range cyc {
		a.Txns = append(a.Txns, c.h[h.from].ID)
		if h.e < 0 {
			a.Edges = append(a.Edges, kindNames[rt])
			parts[i] = fmt.Sprintf("%s completed before %s was invoked (rt)", c.id(h.from), c.id(h.to))
			continue
		}
		e := &c.g.edges[h.e]
		a.Edges = append(a.Edges, label(e))
		parts[i] = c.explain(e)
	}
	a.Explanation = strings.Join(parts, "; ")
	c.anomalies = append(c.anomalies, a)
}

// label is a dependency edge's entry in Anomaly.Edges.
func label(e *edge) string { return kindNames[e.kind] + " " + e.key }

// explain says what in the history a dependency edge rests on.
func (c *checker) explain(e *edge) string {
	from, to := c.id(e.from), c.id(e.to)
	switch e.kind {
	case ww:
		return fmt.Sprintf("%s appended %d to %s after %s's %d (ww %s)", to, e.elem, e.key, from, e.prev, e.key)
	case wr:
		return fmt.Sprintf("%s read %s=%s, ending with %s's %d (wr %s)", to, e.key, fmtList(c.h[e.to].Mops[e.mop].List), from, e.elem, e.key)
	}
	return fmt.Sprintf("%s read %s=%s without %s's %d (rw %s)", from, e.key, fmtList(c.h[e.from].Mops[e.mop].List), to, e.elem, e.key)
}
