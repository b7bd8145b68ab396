package multiraft

import (
	"context"
	"fmt"
	"slices"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/storage"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/confchange"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// Membership changes. A group's members are Raft replica IDs (see
// keyspace.ReplicaID: the node in the low bits, a generation above, so a
// node that rejoins a group does so as a new replica). They change only
// through Raft's own configuration changes, proposed on the leader with
// ChangeConf: one change is applied on its own; several are applied as
// one joint change (Raft thesis §4.3; etcd-io/raft's ConfChangeV2), which
// Raft leaves by itself once it is committed. A replica is added as a
// learner first, receives the log or a snapshot, and only then becomes a
// voter, so a new replica never counts towards a quorum before it holds
// the data.

// Conf is a group's Raft configuration.
type Conf struct {
	Voters, Learners []uint64
	// VotersOutgoing is non-empty during a joint change: the voters of the
	// configuration being left. LearnersNext are voters that become
	// learners when it is left.
	VotersOutgoing, LearnersNext []uint64
	AutoLeave                    bool
}

// Joint reports whether the configuration is joint.
func (c Conf) Joint() bool { return len(c.VotersOutgoing) > 0 }

// IsVoter reports whether id votes in the incoming configuration.
func (c Conf) IsVoter(id uint64) bool { return slices.Contains(c.Voters, id) }

// IsLearner reports whether id is a learner (or becomes one on leaving the
// joint configuration).
func (c Conf) IsLearner(id uint64) bool {
	return slices.Contains(c.Learners, id) || slices.Contains(c.LearnersNext, id)
}

// Has reports whether id is in the configuration in any role.
func (c Conf) Has(id uint64) bool {
	return c.IsVoter(id) || c.IsLearner(id) || slices.Contains(c.VotersOutgoing, id)
}

// ChangeType is one change of a replica's role.
type ChangeType uint8

const (
	// AddVoter adds a replica as a voter, or promotes a learner.
	AddVoter ChangeType = iota + 1
	// AddLearner adds a replica as a learner, or demotes a voter.
	AddLearner
	// Remove takes a replica out of the group.
	Remove
)

// Change is one replica's change of role.
type Change struct {
	Type    ChangeType
	Replica uint64
}

func (c Change) single() *pb.ConfChangeSingle {
	t := map[ChangeType]pb.ConfChangeType{AddVoter: pb.ConfChangeType_ConfChangeAddNode,
		AddLearner: pb.ConfChangeType_ConfChangeAddLearnerNode, Remove: pb.ConfChangeType_ConfChangeRemoveNode}[c.Type]
	return &pb.ConfChangeSingle{Type: &t, NodeId: new(c.Replica)}
}

// Progress is how far the leader knows a replica to be.
type Progress struct {
	// Match is the highest log index known to be on the replica.
	Match uint64
	// State is Raft's view: "probe", "replicate" or "snapshot".
	State        string
	Learner      bool
	RecentActive bool
}

// ChangeConf proposes changes to group's configuration on its leader
// (this node) and returns the configuration once the change is applied
// here. No changes means: leave the current joint configuration. The
// change is checked against the applied configuration first, so one Raft
// would refuse (or could not apply) fails with ErrBadConfChange and
// nothing happens; a change while another is still unapplied fails with
// ErrConfChangePending. Like Propose, it fails with *NotLeaderError on a
// follower and with ErrUnknownOutcome if ctx ends after the proposal.
func (h *Host) ChangeConf(ctx context.Context, group uint64, changes []Change) (Conf, error) {
	p := &proposal{id: h.nextProposal.Add(1), ch: make(chan result, 1), conf: true}
	if dl, ok := ctx.Deadline(); ok {
		p.deadline = dl
	}
	cc := &pb.ConfChangeV2{Context: encodeProposal(h.cfg.NodeID, p.id, nil)}
	for _, c := range changes {
		if c.Replica == 0 || c.Type < AddVoter || c.Type > Remove {
			return Conf{}, fmt.Errorf("%w: change %+v", ErrBadConfChange, c)
		}
		cc.Changes = append(cc.Changes, c.single())
	}
	if len(changes) > 1 {
		cc.Transition = pb.ConfChangeTransition_ConfChangeTransitionJointImplicit.Enum()
	}
	data, err := proto.Marshal(cc)
	if err != nil {
		return Conf{}, err
	}
	p.data, p.cc = data, cc
	if err := h.enqueue(event{kind: evPropose, group: group, prop: p}); err != nil {
		return Conf{}, err
	}
	select {
	case res := <-p.ch:
		if res.err != nil {
			return Conf{}, res.err
		}
		return res.val.(Conf), nil
	case <-ctx.Done():
		if p.state.CompareAndSwap(propQueued, propAbandoned) {
			return Conf{}, fmt.Errorf("%w before the change was proposed: %w", ErrTimeout, ctx.Err())
		}
		return Conf{}, fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
	}
}

// proposeConf hands a configuration change to Raft, or answers it at
// once. Loop-owned.
func (r *replica) proposeConf(p *proposal) {
	if !r.isLeader() {
		p.ch <- result{err: r.notLeader()}
		return
	}
	if r.confIndex > r.ls.applied.Index {
		p.ch <- result{err: fmt.Errorf("%w: the change at index %d is not applied yet (applied %d)", ErrConfChangePending, r.confIndex, r.ls.applied.Index)}
		return
	}
	if err := checkConfChange(r.ls.applied.confState(), r.ls.last.Index, p.cc); err != nil {
		p.ch <- result{err: fmt.Errorf("%w: %w", ErrBadConfChange, err)}
		return
	}
	if !p.state.CompareAndSwap(propQueued, propProposed) {
		return
	}
	if err := r.rn.ProposeConfChange(p.cc); err != nil {
		p.ch <- result{err: ErrDropped}
		return
	}
	r.proposals[p.id] = p
}

// checkConfChange reports whether Raft would accept cc against the
// configuration cs: Raft panics applying a change that breaks its
// invariants, so every change is tried on a copy first.
func checkConfChange(cs *pb.ConfState, lastIndex uint64, cc *pb.ConfChangeV2) error {
	chg := confchange.Changer{Tracker: tracker.MakeProgressTracker(1, 0), LastIndex: lastIndex}
	cfg, prs, err := confchange.Restore(chg, cs)
	if err != nil {
		return err
	}
	chg.Tracker.Config, chg.Tracker.Progress = cfg, prs
	joint := len(cs.GetVotersOutgoing()) > 0
	switch autoLeave, enter := cc.EnterJoint(); {
	case cc.LeaveJoint():
		if !joint {
			return fmt.Errorf("not in a joint configuration")
		}
		_, _, err = chg.LeaveJoint()
	case joint:
		return fmt.Errorf("the group is in a joint configuration; it must leave it first")
	case enter:
		cfg, _, err = chg.EnterJoint(autoLeave, cc.Changes...)
		if err == nil && len(cfg.Voters[0]) == 0 {
			err = fmt.Errorf("the change leaves no voter")
		}
	default:
		cfg, _, err = chg.Simple(cc.Changes...)
		if err == nil && len(cfg.Voters[0]) == 0 {
			err = fmt.Errorf("the change leaves no voter")
		}
	}
	return err
}

// progress returns the leader's view of every replica (nil on a
// follower).
func (r *replica) progress() map[uint64]Progress {
	if !r.isLeader() {
		return nil
	}
	out := map[uint64]Progress{}
	r.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		out[id] = Progress{Match: pr.Match, State: pr.State.String(), Learner: pr.IsLearner, RecentActive: pr.RecentActive}
	})
	return out
}

// GroupDetail is a group replica's state with the leader's view of every
// replica, for membership decisions.
type GroupDetail struct {
	GroupStatus
	Conf Conf
	// Progress is set on the leader only.
	Progress map[uint64]Progress
}

// Detail returns one group's state and, on its leader, every replica's
// progress. ErrGroupNotFound if the group is not hosted here.
func (h *Host) Detail(ctx context.Context, group uint64) (GroupDetail, error) {
	var (
		d     GroupDetail
		found bool
	)
	err := h.do(ctx, func() {
		r := h.groups[group]
		if r == nil || r.removing {
			return
		}
		found = true
		d = GroupDetail{GroupStatus: r.status(), Conf: r.ls.applied.conf(), Progress: r.progress()}
	})
	switch {
	case err != nil:
		// The closure may still run later: never read what it writes.
		return GroupDetail{}, err
	case !found:
		return GroupDetail{}, ErrGroupNotFound
	}
	return d, nil
}

// RemoveGroup destroys this node's replica of group: it stops it, answers
// everyone waiting on it, deletes its log, state and data, and leaves a
// tombstone so that the same replica ID is never created here again (a
// replica that rejoins must do so under a new ID). Removing a group that
// is not hosted does nothing.
func (h *Host) RemoveGroup(ctx context.Context, group uint64) error {
	done := make(chan error, 1)
	err := h.do(ctx, func() {
		r := h.groups[group]
		if r == nil {
			done <- nil
			return
		}
		r.removing = true
		r.removed = append(r.removed, done)
		if !r.staged {
			h.finishRemove(r)
		} // else release finishes it once its Ready is durable
	})
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finishRemove deletes a replica marked for removal. Loop-owned; the
// replica must not be staged.
func (h *Host) finishRemove(r *replica) {
	r.stop()
	// Unpublish first: a reader that read the engine checks afterwards that
	// the replica it read is still published (Replica), so it never takes
	// the absence of deleted data for an answer.
	h.view.Lock()
	delete(h.view.groups, r.id)
	h.view.Unlock()
	b := h.cfg.Engine.NewWriteBatch()
	defer b.Close()
	rs, re := storage.RaftRange(r.id)
	ss, se := storage.StateRange(r.id)
	err := b.DeleteRange(rs, re)
	if err == nil {
		err = b.DeleteRange(ss, se)
	}
	if err == nil {
		err = b.Set(tombstoneKey(r.id, r.rid), nil)
	}
	if err == nil {
		err = b.Commit(true)
	}
	if err != nil {
		h.fatal(r.id, "deleting a removed replica", err)
	}
	delete(h.groups, r.id)
	if d, ok := r.sm.(interface{ Destroyed() }); ok {
		d.Destroyed()
	}
	h.cfg.Logger.Debug("removed replica", "group", r.id, "replica", keyspace.ReplicaID(r.rid).String())
	for _, ch := range r.removed {
		ch <- nil
	}
}

// tombstoneKey marks replica rid of group as destroyed on this node.
func tombstoneKey(group, rid uint64) []byte {
	return storage.LocalKey(fmt.Sprintf("replica-tombstone/%d/%d", group, rid))
}
