package dvv

import (
	"flag"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed for the randomized tests (0: a new one per run)")

// seeds returns the seeds a randomized test runs: -seed alone if given,
// else n fresh ones (1 under -short). Each test reports its seed on
// failure so the run replays with -seed.
func seeds(t *testing.T, n int) []uint64 {
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	if testing.Short() {
		n = 1
	}
	base := uint64(time.Now().UnixNano())
	out := make([]uint64, n)
	for i := range out {
		out[i] = base + uint64(i)
	}
	return out
}

// bitset is a set of write IDs: the naive model's explicit histories.
type bitset []uint64

func (b bitset) has(i int) bool { return i/64 < len(b) && b[i/64]&(1<<(i%64)) != 0 }

func (b bitset) with(i int) bitset {
	out := b.or(nil)
	for len(out) <= i/64 {
		out = append(out, 0)
	}
	out[i/64] |= 1 << (i % 64)
	return out
}

// or returns the union as a new set.
func (b bitset) or(o bitset) bitset {
	out := make(bitset, max(len(b), len(o)))
	copy(out, b)
	for i, w := range o {
		out[i] |= w
	}
	return out
}

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

func (b bitset) each(fn func(i int)) {
	for wi, w := range b {
		for ; w != 0; w &= w - 1 {
			fn(wi*64 + bits.TrailingZeros64(w))
		}
	}
}

// mWrite is one write in the naive model: its dot (to find it among real
// siblings), contents, and past, every write it causally follows.
type mWrite struct {
	dot     Dot
	value   []byte
	deleted bool
	past    bitset
}

// mState pairs a real Set with the model's view of it: seen, every write
// the state has seen. A replica, a client's last read and a message in
// flight are all mStates.
type mState struct {
	set  Set
	seen bitset
}

// world is one key replicated on some replicas, with clients, messages in
// flight, and every write ever made.
type world struct {
	t        *testing.T
	seed     uint64
	rng      *rand.Rand
	writes   []mWrite
	dots     map[Dot]int
	replicas []mState
	clients  []mState
	inflight []struct {
		to int
		mState
	}
}

// TestModel drives random writes, reads, deliveries (reordered, duplicated,
// dropped) and syncs over 3 to 5 replicas of several keys, and after every
// step checks each touched replica against the naive model: its siblings
// are exactly the frontier of the writes it has seen (those no other seen
// write follows), and its context covers exactly those writes. At the end
// every replica merges everything and all must be equal.
func TestModel(t *testing.T) {
	const keys, ops = 8, 12000
	for _, seed := range seeds(t, 3) {
		rng := rand.New(rand.NewPCG(seed, 0))
		nrep := 3 + rng.IntN(3)
		worlds := make([]*world, keys)
		for i := range worlds {
			worlds[i] = &world{t: t, seed: seed, rng: rng, dots: map[Dot]int{},
				replicas: make([]mState, nrep), clients: make([]mState, 3)}
		}
		for range ops {
			worlds[rng.IntN(keys)].step()
		}
		for _, w := range worlds {
			w.converge()
		}
	}
}

func (w *world) step() {
	r := w.rng.IntN(len(w.replicas))
	switch p := w.rng.IntN(100); {
	case p < 35:
		w.write(r)
	case p < 50:
		w.clients[w.rng.IntN(len(w.clients))] = w.replicas[r]
	case p < 80 && len(w.inflight) > 0:
		i := w.rng.IntN(len(w.inflight))
		m := w.inflight[i]
		if w.rng.IntN(10) > 0 { // else leave it in flight to arrive again
			w.inflight = append(w.inflight[:i], w.inflight[i+1:]...)
		}
		w.merge(m.to, m.mState)
	case p < 85 && len(w.inflight) > 0:
		i := w.rng.IntN(len(w.inflight))
		w.inflight = append(w.inflight[:i], w.inflight[i+1:]...)
	default:
		w.merge(r, w.replicas[w.rng.IntN(len(w.replicas))])
	}
}

// write makes a write coordinated by replica r (node r+1) with a context
// read from nowhere (blind), r itself, another replica, or a client's
// possibly stale last read, then sends r's new state to some replicas.
func (w *world) write(r int) {
	var from mState
	switch w.rng.IntN(4) {
	case 1:
		from = w.replicas[r]
	case 2:
		from = w.replicas[w.rng.IntN(len(w.replicas))]
	case 3:
		from = w.clients[w.rng.IntN(len(w.clients))]
	}
	id := len(w.writes)
	mw := mWrite{value: fmt.Appendf(nil, "w%d", id), deleted: w.rng.IntN(10) == 0, past: from.seen}
	rep := &w.replicas[r]
	var dot Dot
	rep.set, dot = rep.set.Update(uint64(r+1), from.set.Context, mw.value, mw.deleted, Timestamp{Wall: int64(id)})
	if prev, dup := w.dots[dot]; dup {
		w.fatalf("write %d got dot %v, already given to write %d", id, dot, prev)
	}
	mw.dot = dot
	w.dots[dot] = id
	if mw.deleted {
		mw.value = nil // a tombstone has no value
	}
	w.writes = append(w.writes, mw)
	rep.seen = rep.seen.or(from.seen).with(id)
	w.check(r)
	if w.rng.IntN(2) == 0 {
		w.clients[w.rng.IntN(len(w.clients))] = *rep
	}
	for to := range w.replicas {
		if to != r && w.rng.IntN(2) == 0 {
			w.inflight = append(w.inflight, struct {
				to int
				mState
			}{to, *rep})
		}
	}
}

// merge delivers state in to replica r.
func (w *world) merge(r int, in mState) {
	rep := &w.replicas[r]
	rep.set = Merge(rep.set, in.set)
	rep.seen = rep.seen.or(in.seen)
	w.check(r)
}

// check compares replica r's real state with the model.
func (w *world) check(r int) {
	rep := w.replicas[r]
	var followed bitset
	rep.seen.each(func(i int) { followed = followed.or(w.writes[i].past) })
	want := map[Dot]int{}
	rep.seen.each(func(i int) {
		if !followed.has(i) {
			want[w.writes[i].dot] = i
		}
	})
	s := rep.set
	for i, x := range s.Siblings {
		id, ok := want[x.Dot]
		switch {
		case i > 0 && !s.Siblings[i-1].Dot.less(x.Dot):
			w.fatalf("replica %d: siblings out of order: %v", r, s.Siblings)
		case !ok:
			w.fatalf("replica %d: sibling %v (write %d) is not on the frontier of seen writes", r, x.Dot, w.dots[x.Dot])
		case x.Deleted != w.writes[id].deleted || string(x.Value) != string(w.writes[id].value):
			w.fatalf("replica %d: sibling %v has contents %q/%t, write %d had %q/%t", r, x.Dot, x.Value, x.Deleted, id, w.writes[id].value, w.writes[id].deleted)
		}
		delete(want, x.Dot)
	}
	if len(want) > 0 {
		w.fatalf("replica %d: frontier writes missing from siblings: %v", r, want)
	}
	covered := uint64(0)
	for _, c := range s.Context {
		covered += c
	}
	rep.seen.each(func(i int) {
		if !s.Context.Covers(w.writes[i].dot) {
			w.fatalf("replica %d: context %v does not cover seen write %d %v", r, s.Context, i, w.writes[i].dot)
		}
	})
	if covered != uint64(rep.seen.count()) {
		w.fatalf("replica %d: context %v covers %d dots, but %d writes were seen", r, s.Context, covered, rep.seen.count())
	}
}

// converge delivers what is in flight, then has every replica merge every
// other twice over; all replicas must then be equal, having seen all writes.
func (w *world) converge() {
	for len(w.inflight) > 0 {
		m := w.inflight[0]
		w.inflight = w.inflight[1:]
		w.merge(m.to, m.mState)
	}
	for range 2 {
		for a := range w.replicas {
			for b := range w.replicas {
				w.merge(a, w.replicas[b])
			}
		}
	}
	for r, rep := range w.replicas {
		if !rep.set.Equal(w.replicas[0].set) {
			w.fatalf("replicas 0 and %d differ after full exchange:\n%v\n%v", r, showSet("0", w.replicas[0].set), showSet(fmt.Sprint(r), rep.set))
		}
		if rep.seen.count() != len(w.writes) {
			w.fatalf("replica %d saw %d of %d writes after full exchange", r, rep.seen.count(), len(w.writes))
		}
	}
}

func (w *world) fatalf(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("seed %d (rerun with -seed=%d): %s", w.seed, w.seed, fmt.Sprintf(format, args...))
}
