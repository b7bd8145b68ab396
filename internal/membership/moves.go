package membership

import (
	"fmt"
	"slices"

	"github.com/distkv/distkv/internal/keyspace"
)

// Move is a change of one shard's replica set under way: a replica added
// on To, removed from From, or both (a move from From to To). The
// coordinator records it before it starts and carries it out step by step
// (for a strong shard: To joins the group as a learner, catches up, is
// promoted while From is demoted in one joint configuration change, and
// From is removed); every step can be redone, so a new coordinator resumes
// a move from this record after any crash.
type Move struct {
	ID        uint64           `json:"id"`
	Namespace string           `json:"namespace"`
	Shard     int              `json:"shard"`
	Group     keyspace.GroupID `json:"group"`
	// From is the replica leaving (0: a replica is only added); To the
	// replica arriving (0: one is only removed), with its generation.
	From  keyspace.NodeID `json:"from,omitempty"`
	To    keyspace.NodeID `json:"to,omitempty"`
	ToGen uint32          `json:"to_gen,omitempty"`
	// Reason says why, in words ("rebalance", "drain n2").
	Reason string `json:"reason,omitempty"`
	// Epoch is the map epoch that started the move.
	Epoch uint64 `json:"epoch"`
}

// FromReplica is the Raft replica ID of the leaving replica (0 if none),
// looked up in the namespace's placement.
func (mv Move) FromReplica(n *NamespaceMap) keyspace.ReplicaID {
	if mv.From == 0 {
		return 0
	}
	i := slices.Index(n.Placement[mv.Shard], mv.From)
	if i < 0 {
		return 0
	}
	return keyspace.MakeReplicaID(mv.From, n.gen(mv.Shard, i))
}

// ToReplica is the Raft replica ID of the arriving replica (0 if none).
func (mv Move) ToReplica() keyspace.ReplicaID {
	if mv.To == 0 {
		return 0
	}
	return keyspace.MakeReplicaID(mv.To, mv.ToGen)
}

// String describes the move in words: "default/7 n2->n4".
func (mv Move) String() string {
	switch {
	case mv.From == 0:
		return fmt.Sprintf("%s/%d +%s", mv.Namespace, mv.Shard, mv.To)
	case mv.To == 0:
		return fmt.Sprintf("%s/%d -%s", mv.Namespace, mv.Shard, mv.From)
	}
	return fmt.Sprintf("%s/%d %s->%s", mv.Namespace, mv.Shard, mv.From, mv.To)
}

// MoveFor returns the move under way on group g, if any.
func (m *Map) MoveFor(g keyspace.GroupID) (Move, bool) {
	for _, mv := range m.Moves {
		if mv.Group == g {
			return mv, true
		}
	}
	return Move{}, false
}

// withMove records a new move, checking it is one the shard can take:
// the shard is not moving or resharding already, From holds a replica, To
// is an active member that holds none.
func (m *Map) withMove(mv Move) (*Map, Move, error) {
	n := m.Namespace(mv.Namespace)
	if n == nil {
		return nil, mv, fmt.Errorf("%w: namespace %q", ErrUnknown, mv.Namespace)
	}
	if n.Reshard != nil {
		return nil, mv, fmt.Errorf("%w: namespace %s is resharding; replicas move after it finishes", ErrConflict, n.Name)
	}
	if mv.Shard < 0 || mv.Shard >= len(n.Placement) {
		return nil, mv, fmt.Errorf("%w: namespace %s has no shard %d", ErrUnknown, n.Name, mv.Shard)
	}
	mv.Group = n.group(mv.Shard)
	if old, ok := m.MoveFor(mv.Group); ok {
		return nil, mv, fmt.Errorf("%w: shard %s/%d is already moving (%s); one move at a time per shard", ErrConflict, n.Name, mv.Shard, old)
	}
	reps := n.Placement[mv.Shard]
	switch {
	case mv.From == 0 && mv.To == 0:
		return nil, mv, fmt.Errorf("%w: a move needs a source or a target", ErrInvalid)
	case mv.From == mv.To:
		return nil, mv, fmt.Errorf("%w: a move from %s to itself", ErrInvalid, mv.From)
	case mv.From != 0 && !slices.Contains(reps, mv.From):
		return nil, mv, fmt.Errorf("%w: %s holds no replica of %s/%d", ErrConflict, mv.From, n.Name, mv.Shard)
	case mv.To != 0 && slices.Contains(reps, mv.To):
		return nil, mv, fmt.Errorf("%w: %s already holds a replica of %s/%d", ErrConflict, mv.To, n.Name, mv.Shard)
	case mv.From != 0 && mv.To == 0 && len(reps) <= 1:
		return nil, mv, fmt.Errorf("%w: %s/%d has a single replica, which cannot be removed", ErrConflict, n.Name, mv.Shard)
	}
	if mv.To != 0 {
		if mb, ok := m.Member(mv.To); !ok || mb.State != MemberActive {
			return nil, mv, fmt.Errorf("%w: %s is not an active member", ErrConflict, mv.To)
		}
	}
	c := m.clone()
	nc := n.clone()
	if mv.To != 0 {
		mv.ToGen = max(nc.NextGen, 1)
		nc.NextGen = mv.ToGen + 1
	}
	c.replaceNamespace(nc)
	c.NextMoveID++
	mv.ID = c.NextMoveID
	c.Epoch++
	mv.Epoch = c.Epoch
	c.Moves = append(c.Moves, mv)
	return c, mv, nil
}

// withMoveDone ends move id. With completed it applies the move to the
// shard's placement (To takes From's place, or is appended; From is
// dropped); otherwise it is abandoned and the placement stays.
func (m *Map) withMoveDone(id uint64, completed bool) (*Map, error) {
	i := slices.IndexFunc(m.Moves, func(mv Move) bool { return mv.ID == id })
	if i < 0 {
		return nil, fmt.Errorf("%w: move %d is not under way", ErrUnknown, id)
	}
	mv := m.Moves[i]
	c := m.clone()
	c.Moves = slices.Delete(c.Moves, i, i+1)
	if completed {
		n := c.Namespace(mv.Namespace)
		if n == nil || mv.Shard >= len(n.Placement) {
			return nil, fmt.Errorf("%w: move %d's shard no longer exists", ErrConflict, id)
		}
		nc := n.clone()
		nc.applyMove(mv)
		c.replaceNamespace(nc)
	}
	c.Epoch++
	return c, nil
}

// applyMove changes n's placement as mv completes.
func (n *NamespaceMap) applyMove(mv Move) {
	if _, ok := n.Origins[n.group(mv.Shard)]; !ok {
		if n.Origins == nil {
			n.Origins = map[keyspace.GroupID][]keyspace.NodeID{}
		}
		n.Origins[n.group(mv.Shard)] = n.Origin(mv.Shard)
	}
	reps, gens := n.Placement[mv.Shard], n.Gens[mv.Shard]
	i := slices.Index(reps, mv.From)
	switch {
	case mv.From != 0 && mv.To != 0 && i >= 0:
		reps[i], gens[i] = mv.To, mv.ToGen
	case mv.To != 0:
		reps, gens = append(reps, mv.To), append(gens, mv.ToGen)
	case i >= 0:
		reps, gens = slices.Delete(reps, i, i+1), slices.Delete(gens, i, i+1)
	}
	n.Placement[mv.Shard], n.Gens[mv.Shard] = reps, gens
}

// withReplication changes a namespace's replication factor. The shard
// placement is left alone: the coordinator adds or removes replicas one
// move at a time until it matches.
func (m *Map) withReplication(name string, r keyspace.Replication) (*Map, *NamespaceMap, error) {
	n := m.Namespace(name)
	if n == nil {
		return nil, nil, fmt.Errorf("%w: namespace %q", ErrUnknown, name)
	}
	if !r.All && r.N > len(m.Placeable()) {
		return nil, nil, fmt.Errorf("%w: %d replicas, but the cluster has %d active nodes", ErrInvalid, r.N, len(m.Placeable()))
	}
	ns := n.Namespace
	ns.Replicas = r
	if err := ns.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if ns == n.Namespace {
		return m, n, nil
	}
	c := m.clone()
	nc := n.clone()
	nc.Namespace = ns
	c.replaceNamespace(nc)
	c.Epoch++
	return c, nc, nil
}
