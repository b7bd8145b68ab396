package coordinator

import (
	"context"
	"fmt"
	"slices"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/rebalance"
	"github.com/distkv/distkv/internal/replication/multiraft"
)

// applyStates records members' state changes, each logged once, in words.
func (d *Driver) applyStates(ctx context.Context, changes []rebalance.StateChange) {
	for _, sc := range changes {
		if sc.State == membership.MemberActive {
			// Before it may be given replicas (only active members are),
			// a joining or returning node skips the causal writes it can
			// no longer receive.
			c, cancel := context.WithTimeout(ctx, 10*d.cfg.StepTimeout)
			err := d.cl.CatchUpCausal(c, sc.Node)
			cancel()
			if err != nil {
				d.log.Warn("coordinator: catching a node up with the causal namespaces; will retry", "node", sc.Node.String(), "err", err)
				continue
			}
		}
		_, err := d.callPropose(ctx, membership.Command{Op: membership.OpMemberState, Node: sc.Node, State: sc.State})
		if err != nil {
			d.log.Warn("coordinator: recording a member's state", "node", sc.Node.String(), "state", sc.State.String(), "err", err)
			continue
		}
		switch sc.State {
		case membership.MemberActive:
			d.log.Info(fmt.Sprintf("%s joined the cluster: active (%s)", sc.Node, sc.Reason))
		case membership.MemberDead:
			d.log.Warn(fmt.Sprintf("%s declared dead (%s); its replicas will be re-created on other nodes", sc.Node, sc.Reason))
		case membership.MemberRemoved:
			d.log.Info(fmt.Sprintf("%s removed from the cluster (%s)", sc.Node, sc.Reason))
		default:
			d.log.Info(fmt.Sprintf("%s is now %s (%s)", sc.Node, sc.State, sc.Reason))
		}
	}
}

// syncMetaConf brings the metadata group's Raft configuration one step
// closer to the map: every live member a learner or voter, the intended
// voters (want, or the map's when nil) voting, removed members out. It
// adds before it removes, so the group never has fewer voters than it
// needs, and records the voters in the map once Raft has them.
func (d *Driver) syncMetaConf(ctx context.Context, m *membership.Map, meta multiraft.GroupDetail, want []keyspace.NodeID) {
	if want == nil {
		want = m.MetaVoters
	}
	live := map[uint64]bool{}
	for _, mb := range m.Live() {
		live[uint64(mb.ID)] = true
	}
	conf := meta.Conf
	change := func(what string, cs ...multiraft.Change) {
		if _, err := d.callChangeConf(ctx, d.cfg.Self, keyspace.MetaGroup, cs); err != nil {
			d.log.Debug("coordinator: metadata group change", "change", what, "err", err)
			return
		}
		d.log.Info("metadata group: " + what)
	}
	if conf.Joint() {
		change("leave joint configuration")
		return
	}
	for _, mb := range m.Live() {
		if id := uint64(mb.ID); !conf.Has(id) {
			change(fmt.Sprintf("%s added as a learner", mb.ID), multiraft.Change{Type: multiraft.AddLearner, Replica: id})
			return
		}
	}
	for _, v := range want {
		if id := uint64(v); conf.IsLearner(id) && caughtUp(meta, id) {
			change(fmt.Sprintf("%s promoted to voter", v), multiraft.Change{Type: multiraft.AddVoter, Replica: id})
			return
		}
	}
	for _, id := range conf.Voters {
		if slices.Contains(want, keyspace.NodeID(id)) || len(conf.Voters) <= 1 {
			continue
		}
		if id == meta.ReplicaID {
			// The coordinator itself is to stop voting: hand the group to
			// a voter that stays, which carries on.
			for _, o := range conf.Voters {
				if o != id && slices.Contains(want, keyspace.NodeID(o)) {
					if err := d.callTransfer(ctx, d.cfg.Self, keyspace.MetaGroup, keyspace.ReplicaID(o)); err == nil {
						d.log.Info(fmt.Sprintf("coordinator handing over to %s before leaving the metadata voters", keyspace.NodeID(o)))
					}
					return
				}
			}
			continue
		}
		typ, what := multiraft.AddLearner, fmt.Sprintf("%s demoted to learner", keyspace.NodeID(id))
		if !live[id] {
			typ, what = multiraft.Remove, fmt.Sprintf("%s removed", keyspace.NodeID(id))
		}
		change(what, multiraft.Change{Type: typ, Replica: id})
		return
	}
	for _, id := range conf.Learners {
		if !live[id] {
			change(fmt.Sprintf("%s removed", keyspace.NodeID(id)), multiraft.Change{Type: multiraft.Remove, Replica: id})
			return
		}
	}
	voters := make([]keyspace.NodeID, len(conf.Voters))
	for i, id := range conf.Voters {
		voters[i] = keyspace.NodeID(id)
	}
	slices.Sort(voters)
	if !slices.Equal(voters, m.MetaVoters) {
		if _, err := d.callPropose(ctx, membership.Command{Op: membership.OpMetaVoters, Voters: voters}); err != nil {
			d.log.Debug("coordinator: recording metadata voters", "err", err)
		}
	}
}
