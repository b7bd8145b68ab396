package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
)

// This file is the node's answer to "what is going on": cluster status,
// namespaces, key locations and dumps, as the HTTP API presents them.

// CallStatus is the first byte of a transport Call asking a peer for the
// state of the groups it hosts.
const CallStatus byte = 2

// groupReport is one hosted group as a node reports it to a peer.
type groupReport struct {
	Group    uint64 `json:"g"`
	Leader   uint64 `json:"l"`
	Term     uint64 `json:"t"`
	Applied  uint64 `json:"a"`
	Keys     int64  `json:"k"`
	IsLeader bool   `json:"il,omitempty"`
}

type nodeReport struct {
	Groups []groupReport `json:"groups"`
	Faults []api.Fault   `json:"faults,omitempty"`
}

func (n *Node) localReport(ctx context.Context) (nodeReport, error) {
	sts, err := n.host.Status(ctx)
	if err != nil {
		return nodeReport{}, err
	}
	var r nodeReport
	for _, st := range sts {
		r.Groups = append(r.Groups, groupReport{
			Group: st.Group, Leader: st.Leader, Term: st.Term, Applied: st.Applied,
			Keys: n.kv.KeyCount(st.Group), IsLeader: st.IsLeader,
		})
	}
	for _, sh := range n.meta.Current().ShardsOn(n.cfg.ID) {
		if sh.Namespace.Mode != keyspace.ModeStrong {
			r.Groups = append(r.Groups, groupReport{Group: uint64(sh.Group), Keys: n.dynamo.KeyCount(uint64(sh.Group))})
		}
	}
	r.Faults = n.faultList()
	return r, nil
}

func (n *Node) serveStatusCall(ctx context.Context) ([]byte, error) {
	r, err := n.localReport(ctx)
	if err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

// NodeID implements httpapi.Cluster.
func (n *Node) NodeID() string { return n.cfg.ID.String() }

// Status gathers every node's report (peers over the transport, each
// bounded by a short timeout) into the cluster view.
func (n *Node) Status(ctx context.Context) (api.Cluster, error) {
	m := n.meta.Current()
	reports := n.gatherReports(ctx, m)
	now := n.cfg.Clock.Now()
	out := api.Cluster{Node: n.NodeID(), Epoch: m.Epoch, ClusterID: m.ClusterID()}
	if l, _ := n.host.Leader(uint64(keyspace.MetaGroup)); l != 0 {
		out.Coordinator = keyspace.NodeID(l).String()
	}
	states := n.detector.Status(now)
	for _, mb := range m.Members {
		ps := states[mb.ID]
		node := api.Node{ID: mb.ID.String(), PeerAddr: mb.PeerAddr, ClientAddr: mb.ClientAddr,
			RedisAddr: mb.RedisAddr, FTPAddr: mb.FTPAddr, State: ps.State.String(), Membership: mb.State.String()}
		if mb.State == membership.MemberRemoved {
			node.State = api.StateDead // not heartbeated any more
		}
		if ps.Info.ClientAddr != "" {
			node.ClientAddr, node.RedisAddr, node.FTPAddr = ps.Info.ClientAddr, ps.Info.RedisAddr, ps.Info.FTPAddr
		}
		if !ps.LastSeen.IsZero() && mb.ID != n.cfg.ID {
			node.LastSeenMs = now.Sub(ps.LastSeen).Milliseconds()
		}
		out.Nodes = append(out.Nodes, node)
	}
	out.Namespaces = n.Namespaces()
	out.Shards = shardViews(m, reports)
	for id, r := range reports {
		for _, f := range r.Faults {
			f.Node = id.String()
			out.Faults = append(out.Faults, f)
		}
	}
	sort.Slice(out.Faults, func(i, j int) bool { return out.Faults[i].Node < out.Faults[j].Node })
	out.Moves = n.moveViews(ctx, m)
	return out, nil
}

func (n *Node) gatherReports(ctx context.Context, m *membership.Map) map[keyspace.NodeID]nodeReport {
	var mu sync.Mutex
	out := map[keyspace.NodeID]nodeReport{}
	var wg sync.WaitGroup
	for _, mb := range m.Live() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			var r nodeReport
			var err error
			if mb.ID == n.cfg.ID {
				r, err = n.localReport(c)
			} else {
				var b []byte
				if b, err = n.transport.Call(c, uint64(mb.ID), []byte{CallStatus}); err == nil {
					err = json.Unmarshal(b, &r)
				}
			}
			if err == nil {
				mu.Lock()
				out[mb.ID] = r
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// shardViews merges the nodes' reports: a shard's leader is the one a
// replica claims to be leader at the highest term, and its key count is
// that leader's.
func shardViews(m *membership.Map, reports map[keyspace.NodeID]nodeReport) []api.Shard {
	best := map[uint64]groupReport{}
	for _, r := range reports {
		for _, g := range r.Groups {
			cur, ok := best[g.Group]
			switch {
			case !ok, g.IsLeader && (!cur.IsLeader || g.Term > cur.Term), !cur.IsLeader && g.Term > cur.Term:
				best[g.Group] = g
			case g.Term == 0 && cur.Term == 0 && g.Keys > cur.Keys:
				best[g.Group] = g // leaderless: the fullest replica
			}
		}
	}
	var out []api.Shard
	for _, ns := range m.Namespaces {
		for s := range ns.Placement {
			sh := ns.Shard(s)
			v := api.Shard{Namespace: ns.Name, Mode: ns.Mode.String(), ID: s, Group: sh.Group.String(), Keys: -1}
			for _, r := range sh.Replicas {
				v.Replicas = append(v.Replicas, r.String())
			}
			if g, ok := best[uint64(sh.Group)]; ok {
				if g.Leader != 0 {
					v.Leader = keyspace.NodeID(g.Leader).String()
				}
				v.Term, v.Applied, v.Keys = g.Term, g.Applied, g.Keys
			}
			out = append(out, v)
		}
	}
	return out
}

// Namespaces lists the namespaces in API form.
func (n *Node) Namespaces() []api.Namespace {
	m := n.meta.Current()
	out := make([]api.Namespace, 0, len(m.Namespaces))
	for _, ns := range m.Namespaces {
		out = append(out, namespaceView(ns))
	}
	return out
}

// Namespace returns one namespace in API form.
func (n *Node) Namespace(name string) (api.Namespace, bool) {
	ns := n.meta.Current().Namespace(name)
	if ns == nil {
		return api.Namespace{}, false
	}
	return namespaceView(ns), true
}

func toAPINamespace(ns keyspace.Namespace) api.Namespace {
	out := api.Namespace{Name: ns.Name, ID: ns.ID, Mode: ns.ModeName(), Replicas: api.Replicas(ns.Replicas.String()),
		Shards: ns.Shards, R: ns.R, W: ns.W, Sharding: ns.Sharding.String()}
	if ns.Sharding == keyspace.ShardingUnset {
		out.Sharding = keyspace.ShardingMod.String()
	}
	if ns.Conflicts != 0 {
		out.Conflicts = ns.Conflicts.String()
	}
	out.Pinned = string(ns.Pinned)
	return out
}

// namespaceView is a namespace as the API shows it, with its reshard.
func namespaceView(nm *membership.NamespaceMap) api.Namespace {
	out := toAPINamespace(nm.Namespace)
	if r := nm.Reshard; r != nil {
		out.Reshard = &api.Reshard{Namespace: nm.Name, From: r.Old.Layout.Shards, To: r.New.Layout.Shards, Phase: r.Phase.String()}
	}
	return out
}

// fromAPINamespace fills defaults and parses an API namespace.
func fromAPINamespace(in api.Namespace) (keyspace.Namespace, error) {
	ns := keyspace.Namespace{Name: in.Name, Mode: keyspace.ModeStrong, Replicas: keyspace.Replication{N: keyspace.DefaultReplicas},
		Shards: in.Shards, R: in.R, W: in.W}
	if ns.Shards == 0 {
		ns.Shards = keyspace.DefaultShards
	}
	var err error
	if ns.Sharding, err = keyspace.ParseSharding(in.Sharding); err != nil {
		return ns, err
	}
	switch {
	case strings.EqualFold(strings.TrimSpace(in.Mode), "ca"):
		ns.AllReplicas = true // mode ca: a strong namespace whose writes every replica acknowledges
	case in.Mode != "":
		if ns.Mode, err = keyspace.ParseMode(in.Mode); err != nil {
			return ns, fmt.Errorf("%w (or ca)", err)
		}
	}
	if in.Replicas != "" {
		if ns.Replicas, err = keyspace.ParseReplication(string(in.Replicas)); err != nil {
			return ns, err
		}
	}
	if in.Conflicts != "" {
		if ns.Conflicts, err = keyspace.ParseConflicts(in.Conflicts); err != nil {
			return ns, err
		}
	}
	ns.Pinned = keyspace.Pinning(in.Pinned)
	return ns, ns.Validate()
}

// CreateNamespace creates a namespace through the coordinator.
func (n *Node) CreateNamespace(ctx context.Context, in api.Namespace) (api.Namespace, bool, error) {
	ns, err := fromAPINamespace(in)
	if err != nil {
		return api.Namespace{}, false, fmt.Errorf("%w: %w", kv.ErrInvalid, err)
	}
	existed := n.meta.Current().Namespace(ns.Name) != nil
	nm, err := n.kv.CreateNamespace(ctx, ns)
	if err != nil {
		return api.Namespace{}, false, err
	}
	return toAPINamespace(nm.Namespace), !existed, nil
}

// Locate says where a key lives.
func (n *Node) Locate(nsName, key string) (api.Location, error) {
	if nsName == "" {
		nsName = keyspace.DefaultNamespace
	}
	ns := n.meta.Current().Namespace(nsName)
	if ns == nil {
		return api.Location{}, fmt.Errorf("%w: namespace %q does not exist", kv.ErrNoNamespace, nsName)
	}
	sh := ns.Locate([]byte(key))
	loc := api.Location{Namespace: ns.Name, Key: key, Shard: sh.Index, Group: sh.Group.String()}
	for _, r := range sh.Replicas {
		loc.Replicas = append(loc.Replicas, r.String())
	}
	if l := n.kv.Leader(sh.Group); l != 0 {
		loc.Leader = l.String()
	}
	return loc, nil
}

// Dump streams this node's local replicas' contents.
func (n *Node) Dump(ctx context.Context, fn func(api.DumpEntry) error) error {
	m := n.meta.Current()
	for _, sh := range m.ShardsOn(n.cfg.ID) {
		if sh.Namespace.Mode != keyspace.ModeStrong {
			if err := n.dumpLeaderless(ctx, sh, fn); err != nil {
				return err
			}
			continue
		}
		leader, hosted := n.host.Leader(uint64(sh.Group))
		if !hosted {
			continue
		}
		err := n.kv.DumpLocal(ctx, uint64(sh.Group), func(e kv.Entry) error {
			v, enc := api.EncodeValue(e.Value)
			return fn(api.DumpEntry{Namespace: sh.Namespace.Name, Shard: sh.Index, Key: string(e.Key),
				Value: v, Encoding: enc, Version: e.Version, Leader: leader == uint64(n.cfg.ID)})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Ready reports whether the node serves: the cluster has a coordinator and
// every shard replica here knows its leader.
func (n *Node) Ready() (bool, string) {
	if n.closed.Load() {
		return false, "shutting down"
	}
	if n.removed.Load() {
		return false, n.cfg.ID.String() + " was removed from the cluster"
	}
	if n.meta.Current().Epoch == 0 {
		return false, "joining: waiting for the shard map from the cluster"
	}
	if l, _ := n.host.Leader(uint64(keyspace.MetaGroup)); l == 0 {
		return false, "no cluster coordinator elected yet"
	}
	var missing []string
	for _, sh := range n.meta.Current().ShardsOn(n.cfg.ID) {
		if sh.Namespace.Mode != keyspace.ModeStrong {
			continue
		}
		if l, hosted := n.host.Leader(uint64(sh.Group)); !hosted || l == 0 {
			missing = append(missing, sh.Group.String())
		}
	}
	if len(missing) > 0 {
		return false, fmt.Sprintf("%d local shards have no leader yet (%v)", len(missing), missing)
	}
	return true, ""
}

var errNoFaults = errors.New("fault injection is not enabled")
