package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/rebalance"
	"github.com/distkv/distkv/internal/replication/multiraft"
)

// startMoves records the planned moves; their workers start next round.
func (d *Driver) startMoves(ctx context.Context, moves []membership.Move) {
	for _, mv := range moves {
		res, err := d.callPropose(ctx, membership.Command{Op: membership.OpStartMove, Move: &mv})
		if err != nil {
			d.log.Debug("coordinator: starting a move", "move", mv.String(), "err", err)
			continue
		}
		d.log.Info(fmt.Sprintf("shard %s: move started (%s)", res.Move, res.Move.Reason))
		if d.cfg.Events.MoveStarted != nil {
			d.cfg.Events.MoveStarted(*res.Move)
		}
	}
}

// transfer hands the planned leaderships over.
func (d *Driver) transfer(ctx context.Context, m *membership.Map, ts []rebalance.Transfer) {
	for _, t := range ts {
		ns := m.Namespace(t.Namespace)
		if ns == nil {
			continue
		}
		sh := ns.Shard(t.Shard)
		i := slices.Index(sh.Replicas, t.To)
		if i < 0 {
			continue
		}
		if err := d.callTransfer(ctx, t.From, t.Group, sh.ReplicaIDs[i]); err != nil {
			d.log.Debug("coordinator: leadership transfer", "group", t.Group.String(), "err", err)
			continue
		}
		d.log.Info(fmt.Sprintf("shard %s/%d: leadership %s -> %s (%s)", t.Namespace, t.Shard, t.From, t.To, t.Reason))
		d.mu.Lock()
		d.mu.leaders = nil // refresh before balancing again
		d.mu.Unlock()
	}
}

// runMove carries out one move to its end, a step per round, while this
// node coordinates.
func (d *Driver) runMove(ctx context.Context, mv membership.Move) {
	key := moveKey(mv.ID)
	cu := &catchUp{}
	for ctx.Err() == nil {
		m := d.cl.Map()
		ns := m.Namespace(mv.Namespace)
		cur, ok := m.MoveFor(mv.Group)
		if ns == nil || !ok || cur.ID != mv.ID {
			return // finished (perhaps by a previous coordinator) or gone
		}
		var (
			st   Status
			done bool
			err  error
		)
		if ns.Mode == keyspace.ModeStrong {
			done, st, err = d.stepStrong(ctx, m, ns, mv, cu)
		} else {
			done, st, err = d.stepLeaderless(ctx, m, ns, mv)
		}
		if err != nil {
			st.Err = err.Error()
			d.log.Debug("coordinator: move step", "move", mv.String(), "step", st.Step, "err", err)
		}
		d.setStatus(key, st)
		if done {
			return
		}
		if !sleep(ctx, d.cfg.Clock, d.cfg.Interval) {
			return
		}
	}
}

// endMove records the move's end.
func (d *Driver) endMove(ctx context.Context, mv membership.Move, completed bool) error {
	if _, err := d.callPropose(ctx, membership.Command{Op: membership.OpEndMove, MoveID: mv.ID, Completed: completed}); err != nil {
		return err
	}
	if completed {
		d.log.Info(fmt.Sprintf("shard %s moved (%s)", mv, mv.Reason))
	} else {
		d.log.Warn(fmt.Sprintf("shard %s: move abandoned; the replicas stay as they were", mv))
	}
	if d.cfg.Events.MoveFinished != nil {
		d.cfg.Events.MoveFinished(mv, completed)
	}
	d.mu.Lock()
	delete(d.mu.status, moveKey(mv.ID))
	d.mu.leaders = nil
	d.mu.Unlock()
	return nil
}

// catchUp remembers, for a move's new replica, the leader's commit index
// when it was first seen replicating: the replica is caught up once its
// own applied index reaches it (asked of the replica itself, not taken
// from the leader's view, which a delayed message could mislead).
type catchUp struct {
	mark uint64
}

// stepStrong takes the next step of a strong shard's move: add To as a
// learner, wait for it to catch up, promote it while demoting From in one
// joint change (leadership first moved off From), remove From, record.
func (d *Driver) stepStrong(ctx context.Context, m *membership.Map, ns *membership.NamespaceMap, mv membership.Move, cu *catchUp) (bool, Status, error) {
	sh := ns.Shard(mv.Shard)
	from, to := mv.FromReplica(ns), mv.ToReplica()
	candidates := append(slices.Clone(sh.Replicas), mv.To)
	leader, ld, err := d.findLeader(ctx, sh.Group, candidates)
	if err != nil {
		return false, Status{Step: "finding the shard's leader"}, err
	}
	conf := ld.Conf
	change := func(step string, cs ...multiraft.Change) (bool, Status, error) {
		_, err := d.callChangeConf(ctx, leader, sh.Group, cs)
		if err == nil {
			for _, c := range cs {
				switch {
				case c.Type == multiraft.Remove && d.cfg.Events.ReplicaRemoved != nil:
					d.cfg.Events.ReplicaRemoved()
				case c.Type == multiraft.AddLearner && c.Replica == uint64(to) && d.cfg.Events.ReplicaAdded != nil:
					d.cfg.Events.ReplicaAdded()
				}
			}
		}
		return false, Status{Step: step}, err
	}
	toLost := mv.To != 0 && !d.active(m, mv.To)
	switch {
	case conf.Joint():
		return change("leaving the joint configuration")
	case to != 0 && !conf.Has(uint64(to)):
		if toLost {
			return d.abandon(ctx, mv, "target "+mv.To.String()+" is no longer active")
		}
		cu.mark = 0
		return change("adding "+to.String()+" as a learner", multiraft.Change{Type: multiraft.AddLearner, Replica: uint64(to)})
	case to != 0 && conf.IsLearner(uint64(to)):
		if toLost {
			return change("removing the learner on lost "+mv.To.String(), multiraft.Change{Type: multiraft.Remove, Replica: uint64(to)})
		}
		st, ready := d.caughtUp(ctx, mv.To, sh.Group, ld, to, cu)
		if !ready {
			return false, st, nil
		}
		if from != 0 && conf.IsVoter(uint64(from)) {
			if ld.LeaderReplica == uint64(from) && len(conf.Voters) == 1 {
				// A single replica: no other voter can take the
				// leadership, so to votes beside from first (two
				// voters, both needed), then takes it, then from goes.
				return change("promoting "+to.String()+" beside the only voter "+from.String(),
					multiraft.Change{Type: multiraft.AddVoter, Replica: uint64(to)})
			}
			if ld.LeaderReplica == uint64(from) {
				return d.moveLeadership(ctx, leader, sh.Group, ld, from)
			}
			return change("promoting "+to.String()+" and demoting "+from.String()+" (joint change)",
				multiraft.Change{Type: multiraft.AddVoter, Replica: uint64(to)}, multiraft.Change{Type: multiraft.AddLearner, Replica: uint64(from)})
		}
		return change("promoting "+to.String(), multiraft.Change{Type: multiraft.AddVoter, Replica: uint64(to)})
	case from != 0 && conf.IsVoter(uint64(from)):
		if ld.LeaderReplica == uint64(from) {
			return d.moveLeadership(ctx, leader, sh.Group, ld, from)
		}
		return change("removing "+from.String(), multiraft.Change{Type: multiraft.Remove, Replica: uint64(from)})
	case from != 0 && conf.Has(uint64(from)):
		return change("removing the old replica "+from.String(), multiraft.Change{Type: multiraft.Remove, Replica: uint64(from)})
	}
	if err := d.endMove(ctx, mv, true); err != nil {
		return false, Status{Step: "recording the move"}, err
	}
	return true, Status{Step: "done"}, nil
}

func (d *Driver) active(m *membership.Map, id keyspace.NodeID) bool {
	mb, ok := m.Member(id)
	return ok && mb.State == membership.MemberActive
}

func (d *Driver) abandon(ctx context.Context, mv membership.Move, why string) (bool, Status, error) {
	d.log.Warn(fmt.Sprintf("shard %s: abandoning the move: %s", mv, why))
	if err := d.endMove(ctx, mv, false); err != nil {
		return false, Status{Step: "abandoning the move"}, err
	}
	return true, Status{Step: "abandoned"}, nil
}

// caughtUp reports whether the learner to has applied what the leader had
// committed when it was first seen replicating.
func (d *Driver) caughtUp(ctx context.Context, node keyspace.NodeID, g keyspace.GroupID, ld multiraft.GroupDetail, to keyspace.ReplicaID, cu *catchUp) (Status, bool) {
	pr, ok := ld.Progress[uint64(to)]
	if !ok {
		return Status{Step: "waiting for the leader to track " + to.String()}, false
	}
	if cu.mark == 0 && pr.State == "StateReplicate" {
		cu.mark = ld.Commit
	}
	td, err := d.callDetail(ctx, node, g)
	if err != nil || td.ReplicaID != uint64(to) {
		return Status{Step: "waiting for " + to.String() + " to create its replica"}, false
	}
	st := Status{Step: "catching up (" + pr.State[len("State"):] + ")"}
	if ld.Commit > 0 {
		st.Progress = min(1, float64(td.Applied)/float64(ld.Commit))
	}
	return st, cu.mark != 0 && td.Applied >= cu.mark
}

// moveLeadership hands the group's leadership from replica off to the most
// caught-up other voter.
func (d *Driver) moveLeadership(ctx context.Context, leader keyspace.NodeID, g keyspace.GroupID, ld multiraft.GroupDetail, off keyspace.ReplicaID) (bool, Status, error) {
	var best uint64
	var match uint64
	for id, pr := range ld.Progress {
		if id == uint64(off) || pr.Learner || !ld.Conf.IsVoter(id) || !pr.RecentActive {
			continue
		}
		if best == 0 || pr.Match > match || (pr.Match == match && id < best) {
			best, match = id, pr.Match
		}
	}
	st := Status{Step: "moving leadership off " + off.String()}
	if best == 0 {
		return false, st, errors.New("no other live voter to take the leadership")
	}
	return false, st, d.callTransfer(ctx, leader, g, keyspace.ReplicaID(best))
}

// findLeader asks the candidates (a hint first) for the group's leader and
// returns its node and its detail, which holds every replica's progress.
func (d *Driver) findLeader(ctx context.Context, g keyspace.GroupID, candidates []keyspace.NodeID) (keyspace.NodeID, multiraft.GroupDetail, error) {
	d.mu.Lock()
	hint := d.mu.leaders[g]
	d.mu.Unlock()
	tried := map[keyspace.NodeID]bool{}
	order := candidates
	if hint != 0 {
		order = append([]keyspace.NodeID{hint}, candidates...)
	}
	var lastErr error = errors.New("no replica answered")
	for i := 0; i < len(order); i++ {
		n := order[i]
		if n == 0 || tried[n] {
			continue
		}
		tried[n] = true
		dt, err := d.callDetail(ctx, n, g)
		if err != nil {
			lastErr = err
			continue
		}
		if dt.IsLeader {
			return n, dt, nil
		}
		if dt.Leader != 0 && !tried[keyspace.NodeID(dt.Leader)] {
			order = append(order[:i+1], append([]keyspace.NodeID{keyspace.NodeID(dt.Leader)}, order[i+1:]...)...)
		}
		lastErr = fmt.Errorf("%s is not the leader (it sees %s)", n, keyspace.NodeID(dt.Leader))
	}
	return 0, multiraft.GroupDetail{}, lastErr
}

// stepLeaderless carries out a leaderless shard's move: once every live
// node knows of it (so every write of the shard reaches To too), a live
// replica copies its whole replica to To, and the move is recorded; a
// replica only removed needs no copy. Merging states is idempotent and
// commutative, so a repeated copy is harmless.
func (d *Driver) stepLeaderless(ctx context.Context, m *membership.Map, ns *membership.NamespaceMap, mv membership.Move) (bool, Status, error) {
	if mv.To != 0 {
		if !d.active(m, mv.To) {
			return d.abandon(ctx, mv, "target "+mv.To.String()+" is no longer active")
		}
		if lag := d.lagging(mv.Epoch); len(lag) > 0 {
			return false, Status{Step: "waiting for every node to learn of the move (" + lag[0].String() + " behind)"}, nil
		}
		// Copy from every live replica, not one: a leaderless write is
		// acknowledged by W of them, a replica just back from a crash
		// may still be owed hints, and a causal replica is never repaired
		// by anti-entropy, so only the union is sure to hold every
		// acknowledged write. Merging is idempotent; a round that fails
		// on one source is repeated whole.
		sh := ns.Shard(mv.Shard)
		nodes := d.cl.Nodes()
		copied, seen := 0, map[keyspace.NodeID]bool{}
		for _, src := range append([]keyspace.NodeID{mv.From}, sh.Replicas...) {
			if src == 0 || src == mv.To || seen[src] || !nodes[src].Alive {
				continue
			}
			seen[src] = true
			if err := d.callCopyShard(ctx, src, ns.Name, sh.Group, mv.To); err != nil {
				return false, Status{Step: "copying the shard to " + mv.To.String() + " from " + src.String()}, err
			}
			copied++
		}
		if copied == 0 {
			return false, Status{Step: "copying the shard to " + mv.To.String()}, errors.New("no live replica to copy from")
		}
		if d.cfg.Events.ReplicaAdded != nil {
			d.cfg.Events.ReplicaAdded()
		}
	}
	if mv.From != 0 && d.cfg.Events.ReplicaRemoved != nil {
		d.cfg.Events.ReplicaRemoved()
	}
	if err := d.endMove(ctx, mv, true); err != nil {
		return false, Status{Step: "recording the move"}, err
	}
	return true, Status{Step: "done"}, nil
}

// lagging lists the live members whose announced map epoch is below epoch.
func (d *Driver) lagging(epoch uint64) []keyspace.NodeID {
	nodes := d.cl.Nodes()
	epochs := d.cl.Epochs()
	var out []keyspace.NodeID
	for id, v := range nodes {
		if id != d.cfg.Self && v.Alive && epochs[id] < epoch {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
