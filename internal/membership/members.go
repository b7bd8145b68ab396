package membership

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/distkv/distkv/internal/keyspace"
)

// Errors of map changes, each wrapped with a sentence naming the problem.
var (
	// ErrConflict: the change contradicts the cluster's current state (a
	// duplicate node, a second move of one shard, a reshard while one
	// runs, removing the last node).
	ErrConflict = errors.New("membership: conflicting change")
	// ErrUnknown: the change names a member, namespace or move that does
	// not exist.
	ErrUnknown = errors.New("membership: no such member, namespace or move")
	// ErrInvalid: the change is malformed or impossible as asked (more
	// replicas than nodes).
	ErrInvalid = errors.New("membership: invalid change")
	// ErrNamespaceExists means a namespace of that name exists with a
	// different configuration.
	ErrNamespaceExists = errors.New("membership: namespace exists with a different configuration")
)

// MemberState is where a member is in its life: it joins, serves, and
// leaves (or is declared dead and has its data re-created elsewhere).
type MemberState uint8

const (
	// MemberActive serves and may be given replicas. The zero value, so
	// maps written before member states existed read as all active.
	MemberActive MemberState = iota
	// MemberJoining was admitted and is catching up with the metadata
	// group; it gets replicas once the coordinator makes it active.
	MemberJoining
	// MemberDraining is being removed: its replicas and leaderships move
	// away, then it becomes removed.
	MemberDraining
	// MemberDead has been silent longer than the dead-node timeout: its
	// replicas are re-created on other nodes. If it comes back it is made
	// active again and its stale replicas are dropped.
	MemberDead
	// MemberRemoved has left the cluster for good: it holds nothing, peers
	// refuse it, and its ID is never reused.
	MemberRemoved
)

var memberStateNames = [...]string{MemberActive: "active", MemberJoining: "joining", MemberDraining: "draining",
	MemberDead: "dead", MemberRemoved: "removed"}

func (s MemberState) String() string {
	if int(s) < len(memberStateNames) {
		return memberStateNames[s]
	}
	return fmt.Sprintf("MemberState(%d)", uint8(s))
}

// MarshalText encodes the state's name.
func (s MemberState) MarshalText() ([]byte, error) {
	if int(s) >= len(memberStateNames) {
		return nil, fmt.Errorf("membership: unknown member state %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a state's name ("" is active).
func (s *MemberState) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = MemberActive
		return nil
	}
	for i, n := range memberStateNames {
		if n == string(b) {
			*s = MemberState(i)
			return nil
		}
	}
	return fmt.Errorf("membership: unknown member state %q", b)
}

// withMember admits mb as a joining member. Admitting a node that is
// still joining with the same peer address is not an error (a joining node
// retries): the map is returned unchanged. A node asks to join only with an
// empty data directory, so the same request for a member past joining is a
// node that lost its data and would come back as a voter that forgot what
// it acknowledged: refused.
func (m *Map) withMember(mb Member) (*Map, error) {
	if mb.ID == 0 || mb.ID > keyspace.MaxNodeID {
		return nil, fmt.Errorf("%w: node ID %d is out of range", ErrInvalid, uint64(mb.ID))
	}
	if mb.PeerAddr == "" {
		return nil, fmt.Errorf("%w: %s has no peer address", ErrInvalid, mb.ID)
	}
	if old, ok := m.Member(mb.ID); ok {
		switch {
		case old.State == MemberRemoved:
			return nil, fmt.Errorf("%w: %s was removed from this cluster and node IDs are never reused; start the node with a new --id", ErrConflict, mb.ID)
		case old.PeerAddr == mb.PeerAddr && old.State == MemberJoining:
			return m, nil
		case old.PeerAddr == mb.PeerAddr:
			return nil, fmt.Errorf("%w: %s is already a member (%s) and asks to join with an empty data directory; "+
				"start it with its data directory, or remove it and join with a new --id", ErrConflict, mb.ID, old.State)
		}
		return nil, fmt.Errorf("%w: %s is already a member, with peer address %s", ErrConflict, mb.ID, old.PeerAddr)
	}
	for _, o := range m.Live() {
		if o.PeerAddr == mb.PeerAddr {
			return nil, fmt.Errorf("%w: peer address %s belongs to member %s", ErrConflict, mb.PeerAddr, o.ID)
		}
		if mb.ClientAddr != "" && o.ClientAddr == mb.ClientAddr {
			return nil, fmt.Errorf("%w: client address %s belongs to member %s", ErrConflict, mb.ClientAddr, o.ID)
		}
	}
	c := m.clone()
	mb.State = MemberJoining
	c.Members = append(c.Members, mb)
	sort.Slice(c.Members, func(i, j int) bool { return c.Members[i].ID < c.Members[j].ID })
	c.Epoch++
	return c, nil
}

// allowed lists each state's possible successors.
var allowed = map[MemberState][]MemberState{
	MemberJoining:  {MemberActive, MemberDraining, MemberDead},
	MemberActive:   {MemberDraining, MemberDead},
	MemberDead:     {MemberActive, MemberDraining},
	MemberDraining: {MemberRemoved},
	MemberRemoved:  {},
}

// withMemberState moves member id to state. Setting the state it already
// has changes nothing.
func (m *Map) withMemberState(id keyspace.NodeID, state MemberState) (*Map, error) {
	mb, ok := m.Member(id)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a member", ErrUnknown, id)
	}
	if mb.State == state {
		return m, nil
	}
	if !slices.Contains(allowed[mb.State], state) {
		return nil, fmt.Errorf("%w: %s is %s and cannot become %s", ErrConflict, id, mb.State, state)
	}
	if state == MemberRemoved {
		if on := m.ShardsOn(id); len(on) > 0 {
			return nil, fmt.Errorf("%w: %s still holds %d replicas (%s first)", ErrConflict, id, len(on), on[0].Group)
		}
		if slices.Contains(m.MetaVoters, id) {
			return nil, fmt.Errorf("%w: %s is still a metadata voter", ErrConflict, id)
		}
	}
	c := m.clone()
	for i := range c.Members {
		if c.Members[i].ID == id {
			c.Members[i].State = state
		}
	}
	c.Epoch++
	return c, nil
}

// withRemoval starts draining member id, unless the nodes left could not
// hold every namespace's replicas.
func (m *Map) withRemoval(id keyspace.NodeID) (*Map, error) {
	mb, ok := m.Member(id)
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: %s is not a member", ErrUnknown, id)
	case mb.State == MemberRemoved:
		return nil, fmt.Errorf("%w: %s was already removed", ErrConflict, id)
	case mb.State == MemberDraining:
		return m, nil
	}
	left := 0
	for _, p := range m.Placeable() {
		if p != id {
			left++
		}
	}
	if left == 0 {
		return nil, fmt.Errorf("%w: %s is the last active node; a cluster cannot remove all of its nodes", ErrConflict, id)
	}
	var short []string
	for _, ns := range m.Namespaces {
		if !ns.Replicas.All && ns.Replicas.N > left {
			short = append(short, fmt.Sprintf("%s needs %d", ns.Name, ns.Replicas.N))
		}
	}
	if len(short) > 0 {
		return nil, fmt.Errorf("%w: removing %s would leave %d active nodes, too few for namespace replicas (%s); lower them first with 'distkv ns set NAME --replicas N'",
			ErrConflict, id, left, strings.Join(short, ", "))
	}
	return m.withMemberState(id, MemberDraining)
}

// withMetaVoters records the metadata group's voters. Every voter must be
// a member that is not removed.
func (m *Map) withMetaVoters(voters []keyspace.NodeID) (*Map, error) {
	if len(voters) == 0 {
		return nil, fmt.Errorf("%w: the metadata group needs a voter", ErrInvalid)
	}
	for _, v := range voters {
		if mb, ok := m.Member(v); !ok || mb.State == MemberRemoved {
			return nil, fmt.Errorf("%w: metadata voter %s is not a live member", ErrInvalid, v)
		}
	}
	vs := slices.Clone(voters)
	slices.Sort(vs)
	if slices.Equal(vs, m.MetaVoters) {
		return m, nil
	}
	c := m.clone()
	c.MetaVoters = vs
	c.Epoch++
	return c, nil
}
