package dvv

import (
	"slices"
	"strconv"
	"strings"
)

// VV is a version vector: for each node, how many of its writes have been
// seen. An absent node and a node mapped to 0 mean the same thing, and every
// method treats them alike. VV has value semantics: no method modifies its
// receiver or arguments, and a nil VV is the empty vector.
type VV map[uint64]uint64

// Dot names one write: the Counter-th write that Node coordinated for a key.
type Dot struct {
	Node, Counter uint64
}

// String formats d as "(node,counter)".
func (d Dot) String() string {
	return "(" + strconv.FormatUint(d.Node, 10) + "," + strconv.FormatUint(d.Counter, 10) + ")"
}

// less orders dots by node, then counter.
func (d Dot) less(o Dot) bool {
	if d.Node != o.Node {
		return d.Node < o.Node
	}
	return d.Counter < o.Counter
}

// compareDots is less as a three-way comparison, for slices.SortFunc.
func compareDots(a, b Dot) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}

// Get returns the counter for node n, 0 if absent.
func (v VV) Get(n uint64) uint64 { return v[n] }

// Covers reports whether v has seen the write d, that is v[d.Node] >= d.Counter.
func (v VV) Covers(d Dot) bool { return v[d.Node] >= d.Counter }

// Merge returns a new vector holding the pointwise maximum of v and o.
func (v VV) Merge(o VV) VV {
	m := v.Clone()
	for n, c := range o {
		if c > m[n] {
			m[n] = c
		}
	}
	return m
}

// Descends reports whether v >= o pointwise: v has seen everything o has.
func (v VV) Descends(o VV) bool {
	for n, c := range o {
		if v[n] < c {
			return false
		}
	}
	return true
}

// Equal reports whether v and o hold the same non-zero counters.
func (v VV) Equal(o VV) bool { return v.Descends(o) && o.Descends(v) }

// Clone returns a copy of v without its zero entries; the copy is never nil.
func (v VV) Clone() VV {
	m := make(VV, len(v))
	for n, c := range v {
		if c != 0 {
			m[n] = c
		}
	}
	return m
}

// nodes returns the nodes with a non-zero counter, ascending.
func (v VV) nodes() []uint64 {
	ns := make([]uint64, 0, len(v))
	for n, c := range v {
		if c != 0 {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	return ns
}

// String formats v deterministically as "{1:3,2:5}", sorted by node, zero
// entries left out; the empty vector is "{}".
func (v VV) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range v.nodes() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(n, 10))
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(v[n], 10))
	}
	b.WriteByte('}')
	return b.String()
}
