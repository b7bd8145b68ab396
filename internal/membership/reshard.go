package membership

import (
	"fmt"
	"slices"

	"github.com/distkv/distkv/internal/keyspace"
)

// ReshardPhase is how far a reshard has gone. Each phase's work can be
// redone, so a coordinator that takes over repeats the current phase.
type ReshardPhase uint8

const (
	// ReshardCopying: the new shards' groups exist; every source shard's
	// moving keys are copied to their new shards while writes continue
	// (strong), or every replica hands its moving keys over (leaderless).
	ReshardCopying ReshardPhase = iota + 1
	// ReshardFrozen (strong): sources refuse writes to moving keys, and
	// the keys written since the bulk copy follow them.
	ReshardFrozen
	// ReshardCommitted (strong): requests are routed by the new layout;
	// sources refuse moved keys and targets accept writes to them.
	ReshardCommitted
)

var reshardPhaseNames = [...]string{ReshardCopying: "copying", ReshardFrozen: "frozen", ReshardCommitted: "committed"}

func (p ReshardPhase) String() string {
	if p >= ReshardCopying && int(p) < len(reshardPhaseNames) {
		return reshardPhaseNames[p]
	}
	return fmt.Sprintf("ReshardPhase(%d)", uint8(p))
}

// MarshalText encodes the phase's name.
func (p ReshardPhase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText decodes a phase's name.
func (p *ReshardPhase) UnmarshalText(b []byte) error {
	for i, n := range reshardPhaseNames {
		if n != "" && n == string(b) {
			*p = ReshardPhase(i)
			return nil
		}
	}
	return fmt.Errorf("membership: unknown reshard phase %q", b)
}

// Layer is one layout of a namespace with its shards' groups and replicas.
type Layer struct {
	Layout    keyspace.Layout     `json:"layout"`
	Groups    []keyspace.GroupID  `json:"groups"`
	Placement [][]keyspace.NodeID `json:"placement"`
	Gens      [][]uint32          `json:"gens"`
}

// Reshard is a namespace's change of layout under way. The namespace's own
// fields always describe the layout requests are routed by: for a strong
// namespace Old until the reshard commits and New after; for a leaderless
// one New from the start (reads consult Old too until it finishes).
type Reshard struct {
	ID    uint64       `json:"id"`
	Phase ReshardPhase `json:"phase"`
	Old   Layer        `json:"old"`
	New   Layer        `json:"new"`
	// Epoch is the map epoch that started the reshard; CommitEpoch the one
	// that switched a strong namespace's routing (0 before).
	Epoch       uint64 `json:"epoch"`
	CommitEpoch uint64 `json:"commit_epoch,omitempty"`
}

// Shards returns the layer's shards as Shard values of namespace n.
func (l *Layer) Shards(n *NamespaceMap) []Shard {
	out := make([]Shard, len(l.Placement))
	for s := range l.Placement {
		ids := make([]keyspace.ReplicaID, len(l.Placement[s]))
		for i, id := range l.Placement[s] {
			ids[i] = keyspace.MakeReplicaID(id, l.Gens[s][i])
		}
		out[s] = Shard{Namespace: n, Index: s, Group: l.Groups[s], Replicas: l.Placement[s], ReplicaIDs: ids}
	}
	return out
}

// Locate returns the shard of key in this layer.
func (l *Layer) Locate(n *NamespaceMap, key []byte) Shard {
	s := l.Layout.ShardOf(key)
	return l.Shards(n)[s]
}

// AllShards lists the namespace's shards in its current layout and, during
// a reshard, the other layout's shards whose groups are not in the current
// one (each group once).
func (n *NamespaceMap) AllShards() []Shard {
	out := make([]Shard, 0, len(n.Placement))
	seen := map[keyspace.GroupID]bool{}
	for s := range n.Placement {
		sh := n.Shard(s)
		seen[sh.Group] = true
		out = append(out, sh)
	}
	if n.Reshard != nil {
		for _, l := range []*Layer{&n.Reshard.Old, &n.Reshard.New} {
			for _, sh := range l.Shards(n) {
				if !seen[sh.Group] {
					seen[sh.Group] = true
					out = append(out, sh)
				}
			}
		}
	}
	return out
}

// layer returns the namespace's current layout as a Layer (copied).
func (n *NamespaceMap) layer() Layer {
	c := n.clone()
	return Layer{Layout: n.Layout(), Groups: c.Groups, Placement: c.Placement, Gens: c.Gens}
}

// setLayer makes l the namespace's current layout.
func (n *NamespaceMap) setLayer(l Layer) {
	n.Shards, n.Sharding = l.Layout.Shards, l.Layout.Sharding
	n.Groups, n.Placement, n.Gens = slices.Clone(l.Groups), l.Placement, l.Gens
}

// withReshard starts changing namespace name to shards shards (jump
// hashing). Shards kept from the old layout keep their groups and
// replicas; new shards get groups of a new generation, placed on the
// active members' ring.
func (m *Map) withReshard(name string, shards int, pinned keyspace.Pinning) (*Map, *NamespaceMap, error) {
	n := m.Namespace(name)
	switch {
	case n == nil:
		return nil, nil, fmt.Errorf("%w: namespace %q", ErrUnknown, name)
	case n.Reshard != nil:
		return nil, nil, fmt.Errorf("%w: namespace %s is already resharding (%d -> %d shards, %s)", ErrConflict, name,
			n.Reshard.Old.Layout.Shards, n.Reshard.New.Layout.Shards, n.Reshard.Phase)
	case shards < 1 || shards > keyspace.MaxShards:
		return nil, nil, fmt.Errorf("%w: shards must be between 1 and %d, got %d", ErrInvalid, keyspace.MaxShards, shards)
	case (pinned != "") != (n.Pinned != ""):
		return nil, nil, fmt.Errorf("%w: namespace %s is resharded with a pinning exactly when it is pinned", ErrInvalid, name)
	}
	to := keyspace.Layout{Shards: shards, Sharding: keyspace.ShardingJump}
	if to == n.Layout() {
		return m, n, nil
	}
	for _, mv := range m.Moves {
		if mv.Namespace == name {
			return nil, nil, fmt.Errorf("%w: replicas of namespace %s are moving (%s); reshard once they are done", ErrConflict, name, mv)
		}
	}
	if len(m.Placeable()) == 0 {
		return nil, nil, fmt.Errorf("%w: no active node to place new shards on", ErrConflict)
	}
	c := m.clone()
	nc := n.clone()
	old := nc.layer()
	nc.GroupGen++
	ns := nc.Namespace
	ns.Shards = shards
	if pinned != "" {
		ns.Pinned = pinned
		if err := m.checkPinning(ns); err != nil {
			return nil, nil, err
		}
		nc.Pinned = pinned
	}
	target := keyspace.Place(c.Ring(), ns)
	nl := Layer{Layout: to}
	for s := range shards {
		if s < len(old.Placement) {
			nl.Groups = append(nl.Groups, old.Groups[s])
			nl.Placement = append(nl.Placement, slices.Clone(old.Placement[s]))
			nl.Gens = append(nl.Gens, slices.Clone(old.Gens[s]))
			continue
		}
		nl.Groups = append(nl.Groups, keyspace.ShardGroupGen(nc.ID, s, nc.GroupGen))
		nl.Placement = append(nl.Placement, target[s])
		nl.Gens = append(nl.Gens, make([]uint32, len(target[s])))
	}
	c.NextMoveID++
	c.Epoch++
	nc.Reshard = &Reshard{ID: c.NextMoveID, Phase: ReshardCopying, Old: old, New: nl, Epoch: c.Epoch}
	if nc.Mode != keyspace.ModeStrong {
		nc.setLayer(nl) // leaderless namespaces route by the new layout at once
	}
	c.replaceNamespace(nc)
	return c, nc, nil
}

// withReshardPhase advances reshard id of namespace name to phase. Moving
// a strong namespace to ReshardCommitted switches its routing to the new
// layout. Repeating the current phase changes nothing; going back is an
// error.
func (m *Map) withReshardPhase(name string, id uint64, phase ReshardPhase) (*Map, error) {
	n, err := m.reshardOf(name, id)
	if err != nil {
		return nil, err
	}
	if phase == n.Reshard.Phase {
		return m, nil
	}
	if phase < n.Reshard.Phase || phase > ReshardCommitted || (n.Mode != keyspace.ModeStrong && phase != ReshardCopying) {
		return nil, fmt.Errorf("%w: reshard %d of %s cannot go from %s to %s", ErrInvalid, id, name, n.Reshard.Phase, phase)
	}
	c := m.clone()
	nc := n.clone()
	nc.Reshard.Phase = phase
	c.Epoch++
	if phase == ReshardCommitted {
		nc.setLayer(nc.Reshard.New)
		nc.Reshard.CommitEpoch = c.Epoch
	}
	c.replaceNamespace(nc)
	return c, nil
}

// withReshardDone ends reshard id: the namespace keeps only the new
// layout, and groups of the old one that the new one lacks are gone.
func (m *Map) withReshardDone(name string, id uint64) (*Map, error) {
	n, err := m.reshardOf(name, id)
	if err != nil {
		return nil, err
	}
	if n.Mode == keyspace.ModeStrong && n.Reshard.Phase != ReshardCommitted {
		return nil, fmt.Errorf("%w: reshard %d of %s is %s, not committed", ErrConflict, id, name, n.Reshard.Phase)
	}
	c := m.clone()
	nc := n.clone()
	nc.setLayer(nc.Reshard.New)
	nc.Reshard = nil
	for g := range nc.Origins {
		if !slices.Contains(nc.Groups, g) {
			delete(nc.Origins, g) // a dropped group
		}
	}
	c.replaceNamespace(nc)
	c.Epoch++
	return c, nil
}

func (m *Map) reshardOf(name string, id uint64) (*NamespaceMap, error) {
	n := m.Namespace(name)
	switch {
	case n == nil:
		return nil, fmt.Errorf("%w: namespace %q", ErrUnknown, name)
	case n.Reshard == nil || n.Reshard.ID != id:
		return nil, fmt.Errorf("%w: namespace %s has no reshard %d under way", ErrUnknown, name, id)
	}
	return n, nil
}

// withPinning changes which nodes hold each shard of pinned namespace
// name; the planner then moves replicas to match.
func (m *Map) withPinning(name string, pinned keyspace.Pinning) (*Map, *NamespaceMap, error) {
	n := m.Namespace(name)
	switch {
	case n == nil:
		return nil, nil, fmt.Errorf("%w: namespace %q", ErrUnknown, name)
	case n.Pinned == "" || pinned == "":
		return nil, nil, fmt.Errorf("%w: namespace %s is placed on the ring, not pinned", ErrInvalid, name)
	case n.Reshard != nil:
		return nil, nil, fmt.Errorf("%w: namespace %s is resharding; change its pinning once that is done", ErrConflict, name)
	}
	ns := n.Namespace
	ns.Pinned = pinned
	if err := m.checkPinning(ns); err != nil {
		return nil, nil, err
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

// checkPinning validates ns's pinning against the members: every pinned
// node is a member that has not been removed or begun draining.
func (m *Map) checkPinning(ns keyspace.Namespace) error {
	if err := ns.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	gs, _ := ns.Pinned.Groups()
	for _, g := range gs {
		for _, id := range g {
			mb, ok := m.Member(id)
			if !ok || mb.State == MemberRemoved || mb.State == MemberDraining {
				return fmt.Errorf("%w: %s is pinned to a shard of %s but is not a member", ErrInvalid, id, ns.Name)
			}
		}
	}
	return nil
}

// Repin cuts the members that may hold data (not removed or draining)
// into shards groups for pinned namespace ns: in the order of its current
// groups, then the unpinned members by ID, cut into runs whose sizes
// differ by at most one, so a node stays in or next to its shard.
func (m *Map) Repin(ns *NamespaceMap, shards int) keyspace.Pinning {
	live := map[keyspace.NodeID]bool{}
	for _, mb := range m.Members {
		if mb.State != MemberRemoved && mb.State != MemberDraining {
			live[mb.ID] = true
		}
	}
	var order []keyspace.NodeID
	gs, _ := ns.Pinned.Groups()
	for _, g := range gs {
		for _, id := range g {
			if live[id] {
				order = append(order, id)
			}
		}
	}
	for _, mb := range m.Members {
		if live[mb.ID] && !slices.Contains(order, mb.ID) {
			order = append(order, mb.ID)
		}
	}
	return keyspace.MakePinning(keyspace.CutIntoShards(order, shards))
}

// LiveGroups is ns's pinning less the nodes that are no longer members
// that may hold data.
func (m *Map) LiveGroups(ns *NamespaceMap) [][]keyspace.NodeID {
	gs, _ := ns.Pinned.Groups()
	for s := range gs {
		gs[s] = slices.DeleteFunc(gs[s], func(id keyspace.NodeID) bool {
			mb, ok := m.Member(id)
			return !ok || mb.State == MemberRemoved || mb.State == MemberDraining
		})
	}
	return gs
}
