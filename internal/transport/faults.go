package transport

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/distkv/distkv/internal/clock"
)

// Rule kinds.
const (
	KindPartition = "partition"
	KindCut       = "cut"
	KindIsolate   = "isolate"
	KindFreeze    = "freeze"
	KindDelay     = "delay"
	KindDrop      = "drop"
	KindDuplicate = "duplicate"
	KindReorder   = "reorder"
)

// Rule is one active fault. Which fields matter depends on Kind.
type Rule struct {
	ID     uint64
	Kind   string
	Nodes  []uint64   // isolate, freeze: the node; delay, drop: the node, or empty for every link
	Groups [][]uint64 // partition
	From   uint64     // cut
	To     uint64     // cut
	Prob   float64    // drop, duplicate, reorder
	Delay  time.Duration
	Jitter time.Duration // delay: extra latency drawn uniformly from [0, Jitter]
	Until  time.Time     // zero: until removed or healed
}

// Verdict is the fate of one message.
type Verdict struct {
	Drop      bool
	Delay     time.Duration
	Duplicate bool // deliver twice
	Reorder   bool // deliver after the next message on the same link
}

// Faults holds the active fault rules. Seeded: every random decision comes
// from its rng, so the same sequence of Decide calls under the same rules
// replays exactly. Rules with a duration expire by the clock given to
// NewFaults. Safe for concurrent use.
//
// Methods that add a rule return (id, error): the error reports bad input
// (negative duration, probability outside [0, 1], a node listed in two
// groups, a cut from a node to itself) and no rule is added. A duration of
// zero means the rule lasts until removed or healed.
type Faults struct {
	clk clock.Clock
	mu  struct {
		sync.Mutex
		rng    *rand.Rand
		nextID uint64
		rules  []Rule
	}
}

var errNegativeDuration = errors.New("transport: negative fault duration")

// NewFaults returns an empty switchboard whose random decisions derive from
// seed. A nil clk means clock.Real{}.
func NewFaults(seed int64, clk clock.Clock) *Faults {
	if clk == nil {
		clk = clock.Real{}
	}
	f := &Faults{clk: clk}
	f.mu.rng = rand.New(rand.NewPCG(uint64(seed), 0x6469_7374_6b76)) // "distkv"
	return f
}

// Partition cuts, both ways, every link between nodes of different groups.
// Nodes not listed are unaffected.
func (f *Faults) Partition(groups [][]uint64, d time.Duration) (uint64, error) {
	seen := map[uint64]bool{}
	for _, g := range groups {
		for _, n := range g {
			if seen[n] {
				return 0, fmt.Errorf("transport: node %d in two partition groups", n)
			}
			seen[n] = true
		}
	}
	gs := make([][]uint64, len(groups))
	for i, g := range groups {
		gs[i] = slices.Clone(g)
	}
	return f.add(Rule{Kind: KindPartition, Groups: gs}, d)
}

// Cut cuts the link from -> to in that direction only.
func (f *Faults) Cut(from, to uint64, d time.Duration) (uint64, error) {
	if from == to {
		return 0, fmt.Errorf("transport: cut from node %d to itself", from)
	}
	return f.add(Rule{Kind: KindCut, From: from, To: to}, d)
}

// Isolate cuts every link of node, both ways.
func (f *Faults) Isolate(node uint64, d time.Duration) (uint64, error) {
	return f.add(Rule{Kind: KindIsolate, Nodes: []uint64{node}}, d)
}

// Freeze isolates node and makes Frozen(node) report true, so the node layer
// also stops serving clients: a stalled process, as seen from outside.
func (f *Faults) Freeze(node uint64, d time.Duration) (uint64, error) {
	return f.add(Rule{Kind: KindFreeze, Nodes: []uint64{node}}, d)
}

// Delay adds latency d plus up to jitter to messages from or to node (0: on
// every link) for dur.
func (f *Faults) Delay(node uint64, d, jitter, dur time.Duration) (uint64, error) {
	if d < 0 || jitter < 0 {
		return 0, errNegativeDuration
	}
	return f.add(Rule{Kind: KindDelay, Nodes: nodeList(node), Delay: d, Jitter: jitter}, dur)
}

// Drop drops messages from or to node (0: on every link) with probability
// prob.
func (f *Faults) Drop(node uint64, prob float64, dur time.Duration) (uint64, error) {
	return f.addProb(Rule{Kind: KindDrop, Nodes: nodeList(node), Prob: prob}, dur)
}

// Duplicate delivers messages twice with probability prob.
func (f *Faults) Duplicate(prob float64, dur time.Duration) (uint64, error) {
	return f.addProb(Rule{Kind: KindDuplicate, Prob: prob}, dur)
}

// Reorder lets a message be overtaken by the next one on its link with
// probability prob.
func (f *Faults) Reorder(prob float64, dur time.Duration) (uint64, error) {
	return f.addProb(Rule{Kind: KindReorder, Prob: prob}, dur)
}

func nodeList(node uint64) []uint64 {
	if node == 0 {
		return nil
	}
	return []uint64{node}
}

func (f *Faults) addProb(r Rule, d time.Duration) (uint64, error) {
	if math.IsNaN(r.Prob) || r.Prob < 0 || r.Prob > 1 {
		return 0, fmt.Errorf("transport: probability %v outside [0, 1]", r.Prob)
	}
	return f.add(r, d)
}

func (f *Faults) add(r Rule, d time.Duration) (uint64, error) {
	if d < 0 {
		return 0, errNegativeDuration
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if d > 0 {
		r.Until = f.clk.Now().Add(d)
	}
	f.mu.nextID++
	r.ID = f.mu.nextID
	f.mu.rules = append(f.mu.rules, r)
	return r.ID, nil
}

// Remove deletes rule id and reports whether it was active.
func (f *Faults) Remove(id uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.mu.rules)
	f.mu.rules = slices.DeleteFunc(f.mu.rules, func(r Rule) bool { return r.ID == id })
	return len(f.mu.rules) < n
}

// Unfreeze removes every freeze rule of node.
func (f *Faults) Unfreeze(node uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.rules = slices.DeleteFunc(f.mu.rules, func(r Rule) bool {
		return r.Kind == KindFreeze && r.Nodes[0] == node
	})
}

// Heal removes every rule.
func (f *Faults) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.rules = nil
}

// Rules returns copies of the active rules, oldest first.
func (f *Faults) Rules() []Rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked()
	out := make([]Rule, len(f.mu.rules))
	for i, r := range f.mu.rules {
		r.Nodes = slices.Clone(r.Nodes)
		if r.Groups != nil {
			gs := make([][]uint64, len(r.Groups))
			for j, g := range r.Groups {
				gs[j] = slices.Clone(g)
			}
			r.Groups = gs
		}
		out[i] = r
	}
	return out
}

// Frozen reports whether a freeze rule holds node.
func (f *Faults) Frozen(node uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked()
	for _, r := range f.mu.rules {
		if r.Kind == KindFreeze && r.Nodes[0] == node {
			return true
		}
	}
	return false
}

// Blocked reports whether a deterministic rule (partition, cut, isolate,
// freeze) cuts the link from -> to. It draws nothing from the rng.
func (f *Faults) Blocked(from, to uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked()
	return f.blockedLocked(from, to)
}

// Decide returns the fate of one message from -> to. A blocked link drops
// it; otherwise each matching probabilistic rule draws from the rng in rule
// order, and delays add up.
func (f *Faults) Decide(from, to uint64) Verdict {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked()
	if f.blockedLocked(from, to) {
		return Verdict{Drop: true}
	}
	var v Verdict
	rng := f.mu.rng
	for _, r := range f.mu.rules {
		switch r.Kind {
		case KindDelay:
			if touches(r.Nodes, from, to) {
				v.Delay += r.Delay
				if r.Jitter > 0 {
					v.Delay += time.Duration(rng.Int64N(int64(r.Jitter) + 1))
				}
			}
		case KindDrop:
			if touches(r.Nodes, from, to) && rng.Float64() < r.Prob {
				v.Drop = true
			}
		case KindDuplicate:
			v.Duplicate = v.Duplicate || rng.Float64() < r.Prob
		case KindReorder:
			v.Reorder = v.Reorder || rng.Float64() < r.Prob
		}
	}
	if v.Drop {
		return Verdict{Drop: true}
	}
	return v
}

// touches reports whether a rule on nodes (empty: all) applies to from->to.
func touches(nodes []uint64, from, to uint64) bool {
	return len(nodes) == 0 || slices.Contains(nodes, from) || slices.Contains(nodes, to)
}

// blockedLocked is Blocked; f.mu must be held.
func (f *Faults) blockedLocked(from, to uint64) bool {
	if from == to {
		return false
	}
	for _, r := range f.mu.rules {
		switch r.Kind {
		case KindCut:
			if r.From == from && r.To == to {
				return true
			}
		case KindIsolate, KindFreeze:
			if r.Nodes[0] == from || r.Nodes[0] == to {
				return true
			}
		case KindPartition:
			gf, gt := groupOf(r.Groups, from), groupOf(r.Groups, to)
			if gf >= 0 && gt >= 0 && gf != gt {
				return true
			}
		}
	}
	return false
}

func groupOf(groups [][]uint64, n uint64) int {
	for i, g := range groups {
		if slices.Contains(g, n) {
			return i
		}
	}
	return -1
}

// pruneLocked drops expired rules; f.mu must be held.
func (f *Faults) pruneLocked() {
	if len(f.mu.rules) == 0 {
		return
	}
	now := f.clk.Now()
	f.mu.rules = slices.DeleteFunc(f.mu.rules, func(r Rule) bool {
		return !r.Until.IsZero() && !now.Before(r.Until)
	})
}
