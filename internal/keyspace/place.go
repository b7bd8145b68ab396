package keyspace

import "fmt"

// Place returns, for each shard of ns, its replica nodes, preferred first.
//
// Each shard starts from its ShardPoint and walks the ring clockwise taking
// distinct nodes, as Successors does, except that it passes over a node
// whose load (replicas of this namespace already placed on it) has reached
// the cap ceil(1.25 * mean), where mean = shards*n/nodes and
// n = ns.Replicas.Count(r.Len()). This is consistent hashing with bounded
// loads: a shard usually keeps its plain successors, so adding or removing
// a node moves few replicas, but no node is handed more than its share.
//
// A cap alone leaves the light side to chance: with a few dozen replicas
// per node a node whose tokens happen to cover little of the circle ends
// up far below the mean. So Place also keeps a floor, floor(0.75 * mean).
// Shards are processed in index order, and near the end of that order a
// shard may pass over a node still under the cap, or take one further
// along the walk, when that is the only way the remaining shards can still
// bring every node between floor and cap. Such detours happen only once
// the shards left are too few to absorb the nodes' distances from the
// bounds, which is late in the order; adding a node to N still moves about
// 1/N of the replicas (see TestAddNodeMovesLittle).
//
// Guarantee: for every ring and namespace, every node on the ring ends up
// with between floor(0.75*mean) and ceil(1.25*mean) replicas of the
// namespace (both bounds hold together because they always leave a feasible
// assignment; see budget). Each shard gets exactly n distinct nodes. The
// result depends only on the ring (its nodes, vnodes and hash) and on ns.ID,
// ns.Shards and ns.Replicas, so every node computes the same placement.
//
// Place returns nil if ns.Shards < 1, and empty replica lists if the ring
// is empty.
//
// A pinned namespace (ns.Pinned) is placed by its pinning instead.
func Place(r *Ring, ns Namespace) [][]NodeID {
	if ns.Pinned != "" {
		return placePinned(r, ns)
	}
	n := ns.Replicas.Count(r.Len())
	total, nodes := ns.Shards*n, max(r.Len(), 1)
	hi := (5*total + 4*nodes - 1) / (4 * nodes) // ceil(1.25 * total/nodes)
	lo := 3 * total / (4 * nodes)               // floor(0.75 * total/nodes)
	return place(r, ns.ID, ns.Shards, n, hi, lo)
}

// place assigns n replicas to each of shards shards keeping every node's
// load within [lo, hi]. The caller must make the bounds feasible:
// lo*nodes <= shards*n <= hi*nodes, lo <= shards and n <= nodes.
// With lo = 0 and hi >= shards it reproduces plain Successors.
func place(r *Ring, nsID uint32, shards, n, hi, lo int) [][]NodeID {
	if shards < 1 {
		return nil
	}
	p := placer{n: n, hi: hi, lo: lo, load: make(map[NodeID]int, r.Len())}
	out := make([][]NodeID, shards)
	for s := range out {
		order := r.Successors(r.ShardPoint(nsID, s), r.Len())
		out[s] = p.pick(order, shards-s)
		for _, id := range out[s] {
			p.load[id]++
		}
	}
	return out
}

// placer holds the per-node loads of one namespace's placement in progress.
type placer struct {
	n, hi, lo int
	load      map[NodeID]int
}

// Node classes for the current shard, with rem shards left including it.
const (
	open   = 1 << iota // load < hi: may take this shard
	urgent             // hi - load >= rem: could take every shard left
	short              // load < lo: below the floor
	must               // lo - load == rem: needs every shard left
)

func (p *placer) class(id NodeID, rem int) int {
	c, d := p.hi-p.load[id], p.lo-p.load[id]
	f := 0
	if c > 0 {
		f |= open
	}
	if c >= rem {
		f |= urgent
	}
	if d > 0 {
		f |= short
	}
	if d >= rem {
		f |= must
	}
	return f
}

// budget is what the current shard's choice must respect so that the
// shards after it can still be placed within the bounds.
//
// With rem shards left, residual capacities c_i = hi - load_i and residual
// needs d_i = max(0, lo - load_i), an assignment of the rem shards exists
// iff sum(min(c_i, rem)) >= n*rem, sum(d_i) <= n*rem and every d_i <= rem
// (pick column totals v_i in [d_i, min(c_i, rem)] summing to n*rem, then
// deal them round-robin). Choosing set S for this shard keeps that true iff
// S leaves out at most skipUrgent urgent nodes, includes at least
// takeShort short nodes, and includes every must node.
type budget struct {
	skipUrgent int // sum(min(c_i, rem)) - n*rem
	takeShort  int // sum(d_i) - n*(rem-1)
}

func (p *placer) budget(order []NodeID, rem int) budget {
	var b budget
	for _, id := range order {
		b.skipUrgent += min(p.hi-p.load[id], rem)
		b.takeShort += max(p.lo-p.load[id], 0)
	}
	b.skipUrgent -= p.n * rem
	b.takeShort -= p.n * (rem - 1)
	return b
}

// progress counts the choices made so far for the current shard.
type progress struct {
	taken, skippedUrgent, takenShort, skippedMust int
}

func (g progress) with(f int, take bool) progress {
	switch {
	case take:
		g.taken++
		if f&short != 0 {
			g.takenShort++
		}
	case f&must != 0:
		g.skippedMust++
	case f&urgent != 0:
		g.skippedUrgent++
	}
	return g
}

// pick chooses the current shard's n replicas from order, the ring walk
// from its point, taking each node in turn unless that would leave the
// shard unable to meet its budget. Because the bounds were feasible before
// this shard and canFinish is exact, some completion always exists, so
// pick always finds n nodes.
func (p *placer) pick(order []NodeID, rem int) []NodeID {
	b := p.budget(order, rem)
	chosen := make([]NodeID, 0, p.n)
	var g progress
	for i, id := range order {
		if len(chosen) == p.n {
			break
		}
		f := p.class(id, rem)
		if f&open != 0 && p.canFinish(b, g.with(f, true), order[i+1:], rem) {
			chosen = append(chosen, id)
			g = g.with(f, true)
		} else {
			g = g.with(f, false)
		}
	}
	if len(chosen) != p.n {
		panic(fmt.Sprintf("keyspace: placement found %d of %d replicas with %d shards left", len(chosen), p.n, rem))
	}
	return chosen
}

// canFinish reports whether, after the choices in g, the nodes in rest can
// fill the shard's remaining slots within budget b.
func (p *placer) canFinish(b budget, g progress, rest []NodeID, rem int) bool {
	var musts, both, urg, shrt, other int
	for _, id := range rest {
		switch f := p.class(id, rem); {
		case f&open == 0:
		case f&must != 0:
			musts++
		case f&urgent != 0 && f&short != 0:
			both++
		case f&urgent != 0:
			urg++
		case f&short != 0:
			shrt++
		default:
			other++
		}
	}
	slots := p.n - g.taken - musts
	if g.skippedMust > 0 || slots < 0 {
		return false
	}
	// Urgent nodes still to take, short nodes still to take; must nodes
	// count as both, and nodes that are both are never a worse choice.
	needU := musts + both + urg - (b.skipUrgent - g.skippedUrgent) - musts
	needS := b.takeShort - g.takenShort - musts
	t := min(both, slots)
	needU, needS, slots = max(needU-t, 0), max(needS-t, 0), slots-t
	return needU <= urg && needS <= shrt && needU+needS <= slots && slots <= urg+shrt+other
}
