package node

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/replication/multiraft"
)

// Every node carries out the shard map itself: after each change it
// hosts a replica of every strong shard the map places on it (and of the
// targets of moves to it) and drops the replicas the map no longer places
// here. The coordinator only changes the map and the Raft configurations;
// no node is ever told to create or delete anything directly.

// reconcileTimeout bounds one pass.
const reconcileTimeout = 30 * time.Second

// kickReconcile asks the reconciler to run (it coalesces kicks). It may be
// called on the Raft loop.
func (n *Node) kickReconcile() {
	select {
	case n.reconcileKick <- struct{}{}:
	default:
	}
}

// runReconciler reconciles after every kick until stop closes.
func (n *Node) runReconciler(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		case <-n.reconcileKick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), reconcileTimeout)
		go func() { // stop ends a pass early
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		n.reconcile(ctx)
		cancel()
	}
}

// reconcile makes the hosted replicas match the current map.
func (n *Node) reconcile(ctx context.Context) {
	m := n.meta.Current()
	n.detector.SetEpoch(m.Epoch)
	var live []keyspace.NodeID
	for _, mb := range m.Live() {
		live = append(live, mb.ID)
	}
	n.detector.SetPeers(live, n.cfg.Clock.Now())
	if mb, ok := m.Member(n.cfg.ID); ok && mb.State == membership.MemberRemoved {
		if n.removed.CompareAndSwap(false, true) {
			n.log.Warn(fmt.Sprintf("%s was removed from the cluster: it holds no replicas and can be stopped", n.cfg.ID))
		}
	}
	want := map[uint64]multiraft.GroupConfig{}
	for _, gc := range n.groupConfigs(m) {
		want[gc.ID] = gc
	}
	hosted := n.host.Groups()
	for _, gc := range want {
		if slices.Contains(hosted, gc.ID) {
			continue
		}
		if err := n.host.CreateGroup(ctx, gc); err != nil {
			n.log.Warn("creating a replica", "group", keyspace.GroupID(gc.ID).String(), "err", err)
		}
	}
	for _, g := range hosted {
		if g == uint64(keyspace.MetaGroup) {
			continue
		}
		if _, ok := want[g]; ok || m.Epoch == 0 {
			continue // a provisional map (joining) knows no shards yet
		}
		if err := n.host.RemoveGroup(ctx, g); err != nil {
			n.log.Warn("removing a replica", "group", keyspace.GroupID(g).String(), "err", err)
			continue
		}
		n.log.Info(fmt.Sprintf("dropped the replica of %s: the shard map no longer places it on %s", keyspace.GroupID(g), n.cfg.ID))
	}
	if m.Epoch > 0 && n.dynamo != nil {
		var keep []uint64
		for _, sh := range m.ShardsOn(n.cfg.ID) {
			if sh.Namespace.Mode != keyspace.ModeStrong {
				keep = append(keep, uint64(sh.Group))
			}
		}
		if dropped, err := n.dynamo.DropOtherGroups(ctx, m, keep); err != nil {
			n.log.Warn("dropping leaderless data the map no longer places here", "err", err)
		} else if len(dropped) > 0 {
			n.log.Info("dropped leaderless shards the map no longer places here", "groups", dropped)
		}
	}
}

// groupConfigs describes every strong shard replica the map places here.
// A replica of generation 0 of a shard bootstraps with the configuration
// the shard was created with (the same on every original replica);
// replicas added by a move join empty and wait for the leader's snapshot.
func (n *Node) groupConfigs(m *membership.Map) []multiraft.GroupConfig {
	var out []multiraft.GroupConfig
	for _, sh := range m.ShardsOn(n.cfg.ID) {
		if sh.Namespace.Mode != keyspace.ModeStrong {
			continue
		}
		i := -1 // the last: a move's target comes after the shard's own replicas
		for j, id := range sh.Replicas {
			if id == n.cfg.ID {
				i = j
			}
		}
		rid := sh.ReplicaIDs[i]
		gc := multiraft.GroupConfig{
			ID: uint64(sh.Group), ReplicaID: uint64(rid),
			NewStateMachine: func() multiraft.StateMachine { return n.kv.StateMachine(sh.Namespace, uint64(sh.Group)) },
		}
		if rid.Gen() == 0 {
			origin := n.origin(sh)
			for _, id := range origin {
				gc.Voters = append(gc.Voters, uint64(id))
			}
			gc.Campaign = len(origin) > 0 && origin[0] == n.cfg.ID
		} else {
			gc.Join = true
		}
		out = append(out, gc)
	}
	return out
}

// origin returns the replicas the shard's group was created with: for a
// shard of the namespace's current layout its recorded origin, and for a
// shard a reshard is creating, its placement in the new layout.
func (n *Node) origin(sh membership.Shard) []keyspace.NodeID {
	ns := sh.Namespace
	if cur, ok := ns.ShardOfGroup(sh.Group); ok {
		return ns.Origin(cur.Index)
	}
	if r := ns.Reshard; r != nil {
		for _, l := range []*membership.Layer{&r.New, &r.Old} {
			if i := slices.Index(l.Groups, sh.Group); i >= 0 {
				return l.Placement[i]
			}
		}
	}
	return sh.Replicas
}
