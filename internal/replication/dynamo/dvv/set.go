package dvv

import (
	"bytes"
	"slices"
)

// Sibling is one write of a key that no other write the replica has seen
// supersedes. A tombstone (a delete) has Deleted set and a nil Value. Values
// are shared between Sets and never modified in place.
type Sibling struct {
	Dot     Dot
	Value   []byte
	Deleted bool
	// Stamp is the HLC time of the write: it picks the winner under
	// ResolveLWW and ages tombstones for garbage collection.
	Stamp Timestamp
}

// Equal reports whether x and y are the same write with the same contents.
func (x Sibling) Equal(y Sibling) bool {
	return x.Dot == y.Dot && x.Deleted == y.Deleted && x.Stamp == y.Stamp && bytes.Equal(x.Value, y.Value)
}

// Set is a key's state at one replica: Context names every write the state
// has seen, and Siblings holds the seen writes not superseded by another,
// sorted by Dot (node, then counter), each Dot covered by Context. The zero
// Set is the state of a key never written. Sets have value semantics: no
// function here modifies a Set it is given.
type Set struct {
	Context  VV
	Siblings []Sibling
}

// Update records a write coordinated by node at time ts and returns the new
// state and the write's dot. ctx is the causal context the client read
// before writing (nil for a blind write): the siblings it covers are
// superseded and dropped, the others stay as concurrent siblings.
//
// The new dot's counter is one past the highest counter of node known to s
// or ctx, so it is fresh provided s is the coordinator's own latest state of
// the key (see the package doc). The new sibling is stamped ts, or just
// after the latest stamp among the siblings it supersedes if ts is not
// after it, so stamps never contradict the causality Update can see. The
// result's context is s.Context ∪ ctx ∪ {dot}. A delete (deleted true)
// stores a tombstone and ignores value; a live value is copied.
func (s Set) Update(node uint64, ctx VV, value []byte, deleted bool, ts Timestamp) (Set, Dot) {
	dot := Dot{Node: node, Counter: max(s.Context[node], ctx[node]) + 1}
	return s.UpdateDot(dot, ctx, value, deleted, ts), dot
}

// UpdateDot is Update with the new write's dot chosen by the caller (the
// causal engine numbers each origin's writes across all keys). The dot's
// counter must exceed every counter of its node the state or ctx carries.
func (s Set) UpdateDot(dot Dot, ctx VV, value []byte, deleted bool, ts Timestamp) Set {
	sib := Sibling{Dot: dot, Deleted: deleted, Stamp: ts}
	if !deleted {
		sib.Value = append([]byte{}, value...)
	}
	out := Set{Context: s.Context.Merge(ctx), Siblings: make([]Sibling, 0, len(s.Siblings)+1)}
	out.Context[dot.Node] = max(out.Context[dot.Node], dot.Counter)
	for _, x := range s.Siblings {
		if !ctx.Covers(x.Dot) {
			out.Siblings = append(out.Siblings, x)
		} else if !x.Stamp.Less(sib.Stamp) {
			sib.Stamp = x.Stamp.next()
		}
	}
	i, _ := slices.BinarySearchFunc(out.Siblings, dot, func(x Sibling, d Dot) int { return compareDots(x.Dot, d) })
	out.Siblings = slices.Insert(out.Siblings, i, sib)
	return out
}

// Merge combines two replicas' states of one key. A sibling survives if both
// sides hold it, or if the other side has not seen it; one side has seen a
// write it does not hold only if that write was superseded there. The
// context is the union. Merge is commutative, associative and idempotent.
// Two states should never hold different contents under one dot; if they
// do, Merge keeps the greater by (Stamp, Deleted, Value) so that it stays
// commutative.
func Merge(a, b Set) Set {
	out := Set{Context: a.Context.Merge(b.Context)}
	as, bs := a.Siblings, b.Siblings
	for len(as) > 0 || len(bs) > 0 {
		switch {
		case len(bs) == 0 || len(as) > 0 && as[0].Dot.less(bs[0].Dot):
			if !b.Context.Covers(as[0].Dot) {
				out.Siblings = append(out.Siblings, as[0])
			}
			as = as[1:]
		case len(as) == 0 || bs[0].Dot.less(as[0].Dot):
			if !a.Context.Covers(bs[0].Dot) {
				out.Siblings = append(out.Siblings, bs[0])
			}
			bs = bs[1:]
		default:
			keep := as[0]
			if keep.contentLess(bs[0]) {
				keep = bs[0]
			}
			out.Siblings = append(out.Siblings, keep)
			as, bs = as[1:], bs[1:]
		}
	}
	return out
}

// contentLess orders two siblings by (Stamp, Deleted, Value), the tie-break
// Merge uses for a dot that arrives with two different contents.
func (x Sibling) contentLess(y Sibling) bool {
	if x.Stamp != y.Stamp {
		return x.Stamp.Less(y.Stamp)
	}
	if x.Deleted != y.Deleted {
		return y.Deleted
	}
	return bytes.Compare(x.Value, y.Value) < 0
}

// lwwLess orders siblings for last-writer-wins: by Stamp, then Dot.
func (x Sibling) lwwLess(y Sibling) bool {
	if x.Stamp != y.Stamp {
		return x.Stamp.Less(y.Stamp)
	}
	return x.Dot.less(y.Dot)
}

// ResolveLWW keeps only the sibling with the greatest (Stamp, Dot.Node,
// Dot.Counter) and returns the new state and how many siblings it
// discarded. The context is unchanged, so the discarded writes stay
// discarded when they arrive again from other replicas. See the package doc
// for the condition under which replicas resolving independently agree.
func (s Set) ResolveLWW() (Set, int) {
	if len(s.Siblings) <= 1 {
		return s, 0
	}
	win := s.Siblings[0]
	for _, x := range s.Siblings[1:] {
		if win.lwwLess(x) {
			win = x
		}
	}
	return Set{Context: s.Context.Clone(), Siblings: []Sibling{win}}, len(s.Siblings) - 1
}

// Values returns the values of the live (not deleted) siblings in sibling
// order. The slices are shared with s: callers must not modify them.
func (s Set) Values() [][]byte {
	var vs [][]byte
	for _, x := range s.Siblings {
		if !x.Deleted {
			vs = append(vs, x.Value)
		}
	}
	return vs
}

// IsTombstone reports whether s has siblings and all of them are deletes:
// the key reads as absent but its state must be kept (and replicated) until
// every replica has it.
func (s Set) IsTombstone() bool {
	for _, x := range s.Siblings {
		if !x.Deleted {
			return false
		}
	}
	return len(s.Siblings) > 0
}

// Equal reports whether s and o have equal contexts and equal siblings. A
// nil and an empty Value are equal.
func (s Set) Equal(o Set) bool {
	return s.Context.Equal(o.Context) && slices.EqualFunc(s.Siblings, o.Siblings, Sibling.Equal)
}
