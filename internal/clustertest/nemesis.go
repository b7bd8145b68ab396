package clustertest

import (
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"time"

	"github.com/distkv/distkv/internal/keyspace"
)

// Nemesis injects a seeded sequence of faults into a cluster: partitions,
// crashes and restarts, message drops and delays, and heals. The same seed
// gives the same sequence of decisions (timing still varies with the
// scheduler). It keeps at least a majority of nodes running so the cluster
// can make progress between faults.
type Nemesis struct {
	c   *Cluster
	rng *rand.Rand

	mu      sync.Mutex
	crashed []keyspace.NodeID
	log     []string
}

// Nemesis returns a fault injector for c seeded with seed.
func (c *Cluster) Nemesis(seed int64) *Nemesis {
	return &Nemesis{c: c, rng: rand.New(rand.NewSource(seed))}
}

// Log returns what the nemesis did, in order.
func (n *Nemesis) Log() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.log)
}

func (n *Nemesis) note(format string, args ...any) {
	n.log = append(n.log, fmt.Sprintf(format, args...))
}

// Step performs one random action.
func (n *Nemesis) Step() {
	n.mu.Lock()
	defer n.mu.Unlock()
	f := n.c.Faults()
	ids := n.c.IDs()
	switch p := n.rng.Intn(100); {
	case p < 25:
		perm := n.rng.Perm(len(ids))
		cut := 1 + n.rng.Intn(len(ids)-1)
		var a, b []uint64
		for i, j := range perm {
			if i < cut {
				a = append(a, uint64(ids[j]))
			} else {
				b = append(b, uint64(ids[j]))
			}
		}
		if _, err := f.Partition([][]uint64{a, b}, 0); err == nil {
			n.note("partition %v | %v", a, b)
		}
	case p < 45:
		maxDown := (len(ids) - 1) / 2
		if len(n.crashed) >= maxDown {
			n.restartOneLocked()
			return
		}
		var up []keyspace.NodeID
		for _, id := range ids {
			if !slices.Contains(n.crashed, id) {
				up = append(up, id)
			}
		}
		victim := up[n.rng.Intn(len(up))]
		n.c.Crash(victim)
		n.crashed = append(n.crashed, victim)
		n.note("crash %s", victim)
	case p < 65:
		n.restartOneLocked()
	case p < 75:
		prob := 0.1 + 0.2*n.rng.Float64()
		if _, err := f.Drop(0, prob, 0); err == nil {
			n.note("drop %.2f", prob)
		}
	case p < 85:
		d := time.Duration(1+n.rng.Intn(10)) * time.Millisecond
		if _, err := f.Delay(0, d, d, 0); err == nil {
			n.note("delay %v±%v", d, d)
		}
	default:
		f.Heal()
		n.note("heal network")
	}
}

func (n *Nemesis) restartOneLocked() {
	if len(n.crashed) == 0 {
		return
	}
	i := n.rng.Intn(len(n.crashed))
	id := n.crashed[i]
	n.crashed = slices.Delete(n.crashed, i, i+1)
	n.c.Restart(id)
	n.note("restart %s", id)
}

// HealAll removes every network fault and restarts every crashed node.
func (n *Nemesis) HealAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.c.Faults().Heal()
	for len(n.crashed) > 0 {
		n.restartOneLocked()
	}
	n.note("heal all")
}
