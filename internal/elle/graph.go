package elle

import (
	"cmp"
	"slices"
)

// edgeKind is a dependency's type.
type edgeKind uint8

const (
	ww edgeKind = iota // write-write: the target appended the next element
	wr                 // write-read: the target read the source's element last
	rw                 // read-write: the target appended the element after what the source read
	rt                 // real time: the source completed before the target was invoked
)

var kindNames = [...]string{ww: "ww", wr: "wr", rw: "rw", rt: "rt"}

// kindSet is a set of edge kinds.
type kindSet uint8

func kinds(ks ...edgeKind) kindSet {
	var s kindSet
	for _, k := range ks {
		s |= 1 << k
	}
	return s
}

func (s kindSet) has(k edgeKind) bool { return s&(1<<k) != 0 }

var allKinds = kinds(ww, wr, rw, rt)

// edge is one dependency, with what explains it.
type edge struct {
	from, to int32
	kind     edgeKind
	key      string
	// elem is, for ww, the element the target appended (after the source's
	// prev); for wr, the last element the target read; for rw, the element
	// the source did not see.
	elem, prev int
	// mop is, for wr and rw, the index of the read among the reader's mops.
	mop int32
}

// graph is the dependency graph in compressed sparse row form: the edges
// leaving node v are edges[start[v]:start[v+1]], sorted by target and kind.
type graph struct {
	edges []edge
	start []int32
}

// newGraph builds a graph over n nodes, keeping one edge per (source,
// target, kind): the first one added, which comes from the
// alphabetically first key.
func newGraph(n int, edges []edge) graph {
	// Bucket the edges by source (a stable counting sort), then sort each
	// node's few edges stably and drop repeats.
	next := make([]int32, n+1)
	for _, e := range edges {
		next[e.from+1]++
	}
	for v := range n {
		next[v+1] += next[v]
	}
	byFrom := make([]edge, len(edges))
	for _, e := range edges {
		byFrom[next[e.from]] = e
		next[e.from]++
	}
	g := graph{edges: byFrom[:0], start: make([]int32, n+1)}
	lo := 0
	for v := range n {
		out := byFrom[lo:next[v]]
		lo = int(next[v])
		slices.SortStableFunc(out, func(a, b edge) int { return cmp.Or(cmp.Compare(a.to, b.to), cmp.Compare(a.kind, b.kind)) })
		for i, e := range out {
			if i == 0 || e.to != out[i-1].to || e.kind != out[i-1].kind {
				g.edges = append(g.edges, e) // never overtakes out: it only compacts
			}
		}
		g.start[v+1] = int32(len(g.edges))
	}
	return g
}

// tarjan finds strongly connected components without recursion, so that
// long dependency chains cannot overflow the stack. Its scratch space is
// reused across runs; component ids are never reused, so ids from earlier
// runs left in a comp slice never match a new component.
type tarjan struct {
	g          *graph
	index, low []int32
	visited    []uint32 // run in which index and low were set
	run        uint32
	onStack    []bool
	stack      []int32
	frames     []frame
	nextID     int32
}

// frame is a node being explored and the next of its edges to follow.
type frame struct{ v, e int32 }

func newTarjan(g *graph, n int) *tarjan {
	return &tarjan{g: g, index: make([]int32, n), low: make([]int32, n), visited: make([]uint32, n), onStack: make([]bool, n), nextID: 1}
}

// sccs finds the components of the subgraph of nodes, the edges of kinds
// between nodes member accepts, writing each node's component id to comp.
// It returns those with more than one node, each sorted, ordered by their
// lowest node.
func (t *tarjan) sccs(nodes []int32, member func(int32) bool, ks kindSet, comp []int32) [][]int32 {
	t.run++
	var counter int32
	visit := func(v int32) {
		t.visited[v] = t.run
		t.index[v], t.low[v] = counter, counter
		counter++
		t.stack = append(t.stack, v)
		t.onStack[v] = true
		t.frames = append(t.frames, frame{v, t.g.start[v]})
	}
	var out [][]int32
	for _, root := range nodes {
		if t.visited[root] == t.run {
			continue
		}
		visit(root)
		for len(t.frames) > 0 {
			f := &t.frames[len(t.frames)-1]
			v := f.v
			if f.e < t.g.start[v+1] {
				e := &t.g.edges[f.e]
				f.e++
				if !ks.has(e.kind) || !member(e.to) {
					continue
				}
				if w := e.to; t.visited[w] != t.run {
					visit(w)
				} else if t.onStack[w] {
					t.low[v] = min(t.low[v], t.index[w])
				}
				continue
			}
			t.frames = t.frames[:len(t.frames)-1]
			if len(t.frames) > 0 {
				p := t.frames[len(t.frames)-1].v
				t.low[p] = min(t.low[p], t.low[v])
			}
			if t.low[v] != t.index[v] {
				continue
			}
			i := len(t.stack) - 1
			for t.stack[i] != v {
				i--
			}
			members := t.stack[i:]
			for _, w := range members {
				t.onStack[w] = false
				comp[w] = t.nextID
			}
			t.nextID++
			if len(members) > 1 {
				out = append(out, slices.Sorted(slices.Values(members)))
			}
			t.stack = t.stack[:i]
		}
	}
	slices.SortFunc(out, func(a, b []int32) int { return cmp.Compare(a[0], b[0]) })
	return out
}
