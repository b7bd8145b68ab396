// Package membership holds what the cluster agrees about itself: its
// members, its namespaces and where every shard's replicas live (the shard
// map, replicated by the metadata Raft group), and which peers are
// currently reachable (the failure detector).
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
}

// NamespaceMap is a namespace's configuration and the replicas of each of
// its shards, fixed when the namespace was created.
type NamespaceMap struct {
	keyspace.Namespace
	// Placement[s] lists shard s's replicas, preferred first.
	Placement [][]keyspace.NodeID `json:"placement"`
}

// Shard is one shard of a namespace, located.
type Shard struct {
	Namespace *NamespaceMap
	Index     int
	Group     keyspace.GroupID
	Replicas  []keyspace.NodeID
}

// Locate returns the shard holding key.
func (n *NamespaceMap) Locate(key []byte) Shard {
	s := keyspace.ShardOf(key, n.Shards)
	return n.Shard(s)
}

// Shard returns shard s of the namespace.
func (n *NamespaceMap) Shard(s int) Shard {
	return Shard{Namespace: n, Index: s, Group: keyspace.ShardGroup(n.ID, s), Replicas: n.Placement[s]}
}

// Map is the cluster's shard map: an immutable value, replaced as a whole
// by each metadata change. Epoch increases with every change.
type Map struct {
	// ID identifies the cluster: fixed at bootstrap (see fingerprint) and
	// checked in every transport handshake.
	ID         uint64            `json:"cluster_id"`
	Epoch      uint64            `json:"epoch"`
	Members    []Member          `json:"members"`
	MetaVoters []keyspace.NodeID `json:"meta_voters"`
	Namespaces []*NamespaceMap   `json:"namespaces"`
	NextNSID   uint32            `json:"next_namespace_id"`
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

// Member returns the member with the given ID.
func (m *Map) Member(id keyspace.NodeID) (Member, bool) {
	for _, mb := range m.Members {
		if mb.ID == id {
			return mb, true
		}
	}
	return Member{}, false
}

// ShardsOn lists every shard with a replica on node id, across namespaces.
func (m *Map) ShardsOn(id keyspace.NodeID) []Shard {
	var out []Shard
	for _, n := range m.Namespaces {
		for s, reps := range n.Placement {
			if slices.Contains(reps, id) {
				out = append(out, n.Shard(s))
			}
		}
	}
	return out
}

// Ring returns the consistent-hash ring of the map's members.
func (m *Map) Ring() *keyspace.Ring {
	r := keyspace.NewRing(0, nil)
	for _, mb := range m.Members {
		r.Add(mb.ID)
	}
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
	return &c
}

// ErrNamespaceExists means a namespace of that name exists with a different
// configuration.
var ErrNamespaceExists = errors.New("membership: namespace exists with a different configuration")

// withNamespace returns a new map that adds ns, placed on the members'
// ring. A namespace that already exists with the same settings is not an
// error: the existing one is returned unchanged.
func (m *Map) withNamespace(ns keyspace.Namespace) (*Map, *NamespaceMap, error) {
	if err := ns.Validate(); err != nil {
		return nil, nil, err
	}
	if old := m.Namespace(ns.Name); old != nil {
		ns.ID = old.ID
		if old.Namespace != ns {
			return nil, nil, fmt.Errorf("%w: %s is %s", ErrNamespaceExists, ns.Name, describe(old.Namespace))
		}
		return m, old, nil
	}
	c := m.clone()
	ns.ID = c.NextNSID
	c.NextNSID++
	nm := &NamespaceMap{Namespace: ns, Placement: keyspace.Place(c.Ring(), ns)}
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
	for i := 1; i < len(ms); i++ {
		if ms[i].ID == ms[i-1].ID {
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
