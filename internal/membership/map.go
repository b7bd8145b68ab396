// Package membership holds what the cluster agrees about itself: its
// members and their states, its namespaces and where every shard's
// replicas live, the replica moves and reshards under way (the shard map,
// replicated by the metadata Raft group), and which peers are currently
// reachable (the failure detector).
package membership

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/cespare/xxhash/v2"
	"github.com/distkv/distkv/internal/keyspace"
)

// MaxMetaVoters bounds the metadata group's size: beyond five voters a
// Raft group gains little availability and pays for every write.
const MaxMetaVoters = 5

// Member is a node of the cluster and how to reach it.
type Member struct {
	ID         keyspace.NodeID `json:"id"`
	PeerAddr   string          `json:"peer_addr"`
	ClientAddr string          `json:"client_addr,omitempty"`
	RedisAddr  string          `json:"redis_addr,omitempty"`
	FTPAddr    string          `json:"ftp_addr,omitempty"`
	// State is the member's place in the cluster's life cycle, as the
	// coordinator decided it (not the failure detector's view).
	State MemberState `json:"state,omitempty"`
}

// NamespaceMap is a namespace's configuration and the replicas of each of
// its shards.
type NamespaceMap struct {
	keyspace.Namespace
	// Placement[s] lists shard s's replicas, preferred leader first.
	Placement [][]keyspace.NodeID `json:"placement"`
	// Gens[s][i] is the replica generation of Placement[s][i] (see
	// keyspace.ReplicaID); missing entries are 0, the generation of every
	// replica placed when the namespace was created.
	Gens [][]uint32 `json:"gens,omitempty"`
	// Groups[s] is shard s's replication group; missing entries are
	// keyspace.ShardGroup(ID, s). Shards a reshard creates get groups of a
	// new generation.
	Groups []keyspace.GroupID `json:"groups,omitempty"`
	// Origins records, for each group whose replicas have changed since it
	// was created, the replicas it was created with: a node that creates
	// its replica of generation 0 late (it crashed before it could)
	// bootstraps it with the group's first configuration, which every
	// original replica started from.
	Origins map[keyspace.GroupID][]keyspace.NodeID `json:"origins,omitempty"`
	// NextGen is the next replica generation to hand out; generation 0
	// belongs to the replicas placed at creation.
	NextGen uint32 `json:"next_gen,omitempty"`
	// GroupGen is the generation of the groups the latest reshard created.
	GroupGen uint16 `json:"group_gen,omitempty"`
	// Reshard is the reshard under way, if any.
	Reshard *Reshard `json:"reshard,omitempty"`
}

// Shard is one shard of a namespace, located.
type Shard struct {
	Namespace *NamespaceMap
	Index     int
	Group     keyspace.GroupID
	// Replicas are the nodes holding the shard, preferred leader first;
	// ReplicaIDs their Raft replica IDs, in the same order.
	Replicas   []keyspace.NodeID
	ReplicaIDs []keyspace.ReplicaID
}

// Locate returns the shard holding key in the namespace's current layout
// (the one requests are routed by).
func (n *NamespaceMap) Locate(key []byte) Shard {
	return n.Shard(n.Layout().ShardOf(key))
}

// Shard returns shard s of the namespace.
func (n *NamespaceMap) Shard(s int) Shard {
	return Shard{Namespace: n, Index: s, Group: n.group(s), Replicas: n.Placement[s], ReplicaIDs: n.replicaIDs(s)}
}

func (n *NamespaceMap) group(s int) keyspace.GroupID {
	if s < len(n.Groups) {
		return n.Groups[s]
	}
	return keyspace.ShardGroup(n.ID, s)
}

func (n *NamespaceMap) gen(s, i int) uint32 {
	if s < len(n.Gens) && i < len(n.Gens[s]) {
		return n.Gens[s][i]
	}
	return 0
}

func (n *NamespaceMap) replicaIDs(s int) []keyspace.ReplicaID {
	out := make([]keyspace.ReplicaID, len(n.Placement[s]))
	for i, id := range n.Placement[s] {
		out[i] = keyspace.MakeReplicaID(id, n.gen(s, i))
	}
	return out
}

// ShardOfGroup returns the shard whose group is g in the current layout.
func (n *NamespaceMap) ShardOfGroup(g keyspace.GroupID) (Shard, bool) {
	s := g.Shard()
	if s < len(n.Placement) && n.group(s) == g {
		return n.Shard(s), true
	}
	return Shard{}, false
}

// clone returns a copy of n that can be changed without touching n (the
// maps n belongs to are immutable).
func (n *NamespaceMap) clone() *NamespaceMap {
	c := *n
	c.Placement = make([][]keyspace.NodeID, len(n.Placement))
	for s, r := range n.Placement {
		c.Placement[s] = slices.Clone(r)
	}
	c.Gens = make([][]uint32, len(n.Placement))
	for s := range n.Placement {
		c.Gens[s] = make([]uint32, len(n.Placement[s]))
		for i := range n.Placement[s] {
			c.Gens[s][i] = n.gen(s, i)
		}
	}
	c.Groups = make([]keyspace.GroupID, len(n.Placement))
	for s := range n.Placement {
		c.Groups[s] = n.group(s)
	}
	if n.Reshard != nil {
		r := *n.Reshard
		c.Reshard = &r
	}
	if n.Origins != nil {
		c.Origins = make(map[keyspace.GroupID][]keyspace.NodeID, len(n.Origins))
		for g, o := range n.Origins {
			c.Origins[g] = o
		}
	}
	return &c
}

// Origin returns the replicas group g of shard s was created with.
func (n *NamespaceMap) Origin(s int) []keyspace.NodeID {
	if o, ok := n.Origins[n.group(s)]; ok {
		return o
	}
	var out []keyspace.NodeID
	for i, id := range n.Placement[s] {
		if n.gen(s, i) == 0 {
			out = append(out, id)
		}
	}
	return out
}

// Map is the cluster's shard map: an immutable value, replaced as a whole
// by each metadata change. Epoch increases with every change.
type Map struct {
	// ID identifies the cluster: fixed at bootstrap (see fingerprint) and
	// checked in every transport handshake.
	ID    uint64 `json:"cluster_id"`
	Epoch uint64 `json:"epoch"`
	// Members lists every node that ever joined, removed ones included
	// (their IDs are never reused), sorted by ID.
	Members []Member `json:"members"`
	// MetaVoters are the metadata group's voting members as the
	// coordinator last set them; every other member that is not removed
	// replicates the group as a learner.
	MetaVoters []keyspace.NodeID `json:"meta_voters"`
	Namespaces []*NamespaceMap   `json:"namespaces"`
	NextNSID   uint32            `json:"next_namespace_id"`
	// Moves are the replica moves under way, at most one per shard.
	Moves      []Move `json:"moves,omitempty"`
	NextMoveID uint64 `json:"next_move_id,omitempty"`
}

// Namespace returns the named namespace, or nil.
func (m *Map) Namespace(name string) *NamespaceMap {
	i, ok := slices.BinarySearchFunc(m.Namespaces, name, func(n *NamespaceMap, name string) int {
		switch {
		case n.Name < name:
			return -1
		case n.Name > name:
			return 1
		}
		return 0
	})
	if !ok {
		return nil
	}
	return m.Namespaces[i]
}

// NamespaceByID returns the namespace with the given ID, or nil.
func (m *Map) NamespaceByID(id uint32) *NamespaceMap {
	for _, n := range m.Namespaces {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Member returns the member with the given ID (removed ones included).
func (m *Map) Member(id keyspace.NodeID) (Member, bool) {
	i, ok := slices.BinarySearchFunc(m.Members, id, func(mb Member, id keyspace.NodeID) int {
		switch {
		case mb.ID < id:
			return -1
		case mb.ID > id:
			return 1
		}
		return 0
	})
	if !ok {
		return Member{}, false
	}
	return m.Members[i], true
}

// Live returns the members that are not removed: those that replicate the
// metadata group and receive heartbeats.
func (m *Map) Live() []Member {
	out := make([]Member, 0, len(m.Members))
	for _, mb := range m.Members {
		if mb.State != MemberRemoved {
			out = append(out, mb)
		}
	}
	return out
}

// Placeable returns the IDs of the members that may be given replicas:
// the active ones.
func (m *Map) Placeable() []keyspace.NodeID {
	var out []keyspace.NodeID
	for _, mb := range m.Members {
		if mb.State == MemberActive {
			out = append(out, mb.ID)
		}
	}
	return out
}

// ShardsOn lists every shard with a replica on node id, across namespaces:
// in the current layout, and in the other layout of a reshard under way,
// and the targets of moves under way.
func (m *Map) ShardsOn(id keyspace.NodeID) []Shard {
	var out []Shard
	for _, n := range m.Namespaces {
		for _, sh := range n.AllShards() {
			if slices.Contains(sh.Replicas, id) {
				out = append(out, sh)
			}
		}
	}
	for _, mv := range m.Moves {
		if mv.To != id {
			continue
		}
		if n := m.Namespace(mv.Namespace); n != nil {
			if sh, ok := n.ShardOfGroup(mv.Group); ok {
				sh.Replicas = append(slices.Clone(sh.Replicas), mv.To)
				sh.ReplicaIDs = append(slices.Clone(sh.ReplicaIDs), keyspace.MakeReplicaID(mv.To, mv.ToGen))
				out = append(out, sh)
			}
		}
	}
	return out
}

// Ring returns the consistent-hash ring of the members that may hold
// replicas (the active ones).
func (m *Map) Ring() *keyspace.Ring {
	r := keyspace.NewRing(0, nil)
	r.Add(m.Placeable()...)
	return r
}

// ClusterID is the cluster's ID, fixed at bootstrap.
func (m *Map) ClusterID() uint64 { return m.ID }

// fingerprint hashes what every node of a new cluster must agree on —
// member IDs, their peer addresses and the initial namespaces — so nodes
// started with different initial clusters get different cluster IDs and
// refuse to talk to each other. Front-end addresses are left out: each
// node learns those from the others' heartbeats.
func (m *Map) fingerprint() uint64 {
	type member struct {
		ID   keyspace.NodeID
		Peer string
	}
	ms := make([]member, len(m.Members))
	for i, mb := range m.Members {
		ms[i] = member{mb.ID, mb.PeerAddr}
	}
	b, _ := json.Marshal(struct {
		Members    []member
		Namespaces []*NamespaceMap
	}{ms, m.Namespaces})
	return xxhash.Sum64(b)
}

func (m *Map) clone() *Map {
	c := *m
	c.Members = slices.Clone(m.Members)
	c.MetaVoters = slices.Clone(m.MetaVoters)
	c.Namespaces = slices.Clone(m.Namespaces)
	c.Moves = slices.Clone(m.Moves)
	return &c
}

// replaceNamespace puts n in place of the namespace of the same name.
func (m *Map) replaceNamespace(n *NamespaceMap) {
	for i, o := range m.Namespaces {
		if o.Name == n.Name {
			m.Namespaces[i] = n
			return
		}
	}
	panic("membership: replacing unknown namespace " + n.Name)
}

// withNamespace returns a new map that adds ns, placed on the members'
// ring. A namespace that already exists with the same settings is not an
// error: the existing one is returned unchanged. A namespace that does not
// say how it shards gets jump hashing.
func (m *Map) withNamespace(ns keyspace.Namespace) (*Map, *NamespaceMap, error) {
	if err := ns.Validate(); err != nil {
		return nil, nil, err
	}
	if ns.Sharding == keyspace.ShardingUnset {
		ns.Sharding = keyspace.ShardingJump
	}
	if old := m.Namespace(ns.Name); old != nil {
		ns.ID = old.ID
		cmp := old.Namespace
		if cmp.Sharding == keyspace.ShardingUnset {
			cmp.Sharding = keyspace.ShardingMod
		}
		if cmp != ns {
			return nil, nil, fmt.Errorf("%w: %s is %s", ErrNamespaceExists, ns.Name, describe(old.Namespace))
		}
		return m, old, nil
	}
	if len(m.Placeable()) == 0 {
		return nil, nil, fmt.Errorf("%w: no active node to place namespace %s on", ErrConflict, ns.Name)
	}
	if ns.Pinned != "" {
		if err := m.checkPinning(ns); err != nil {
			return nil, nil, err
		}
	}
	c := m.clone()
	ns.ID = c.NextNSID
	c.NextNSID++
	nm := &NamespaceMap{Namespace: ns, Placement: keyspace.Place(c.Ring(), ns), NextGen: 1}
	c.Namespaces = append(c.Namespaces, nm)
	sort.Slice(c.Namespaces, func(i, j int) bool { return c.Namespaces[i].Name < c.Namespaces[j].Name })
	c.Epoch++
	return c, nm, nil
}

func describe(ns keyspace.Namespace) string {
	return fmt.Sprintf("mode=%s replicas=%s shards=%d", ns.Mode, ns.Replicas, ns.Shards)
}

// Bootstrap builds the initial map of a new cluster: its members, a
// metadata group on the first MaxMetaVoters of them by ID, and the default
// namespace. Every node of the cluster must call it with the same
// arguments; the result (and ClusterID) is then identical everywhere.
func Bootstrap(members []Member, defaultNS keyspace.Namespace) (*Map, error) {
	if len(members) == 0 {
		return nil, errors.New("membership: a cluster needs at least one member")
	}
	ms := slices.Clone(members)
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	for i := range ms {
		ms[i].State = MemberActive
		if i > 0 && ms[i].ID == ms[i-1].ID {
			return nil, fmt.Errorf("membership: node %s listed twice", ms[i].ID)
		}
	}
	m := &Map{Epoch: 1, Members: ms, NextNSID: 1}
	for _, mb := range ms[:min(len(ms), MaxMetaVoters)] {
		m.MetaVoters = append(m.MetaVoters, mb.ID)
	}
	defaultNS.Name = keyspace.DefaultNamespace
	m, _, err := m.withNamespace(defaultNS)
	if err != nil {
		return nil, err
	}
	m.Epoch = 1
	m.ID = m.fingerprint()
	return m, nil
}

// Provisional is the map a node that joins an existing cluster starts
// from, until the metadata group's snapshot brings the real one: the
// cluster's ID and members (to reach them), at epoch 0, with no
// namespaces.
func Provisional(clusterID uint64, members []Member) *Map {
	ms := slices.Clone(members)
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	return &Map{ID: clusterID, Members: ms}
}
