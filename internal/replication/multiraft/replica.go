package multiraft

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/internal/keyspace"
	"google.golang.org/protobuf/proto"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// replica is one group's Raft state on this node. Loop-owned.
type replica struct {
	id uint64
	// self is this node's ID (it frames proposals); rid is the replica's
	// Raft ID in the group.
	self uint64
	rid  uint64
	rn   *raft.RawNode
	ls   *logStore
	sm   StateMachine
	soft raft.SoftState
	term uint64
	// staged: a Ready of this group is written but not yet durable; raft
	// allows no other Ready until it is released (Advance).
	staged bool

	proposals map[uint64]*proposal // by proposal ID, once handed to Raft
	byIndex   map[uint64]uint64    // log index -> proposal ID, once appended

	readsWaiting  []*readReq            // not yet in a ReadIndex round
	readsInflight map[uint64][]*readReq // by round ID
	readsReady    []readRound           // index known, waiting for apply

	// confIndex is the index of the latest configuration change this
	// replica knows to be in the log (on becoming leader: its last
	// index, as Raft assumes); another waits until it is applied.
	confIndex uint64
	// removing: RemoveGroup was called; the replica takes no more Ready
	// and is deleted once nothing of it is staged. removed are told then.
	removing bool
	removed  []chan error
}

const (
	propQueued int32 = iota
	propProposed
	propAbandoned
)

type proposal struct {
	id   uint64
	data []byte
	// conf marks a configuration change; cc is it.
	conf     bool
	cc       *pb.ConfChangeV2
	ch       chan result
	deadline time.Time
	index    uint64 // log index once appended; loop-owned
	state    atomic.Int32
}

type result struct {
	val any
	err error
}

type readReq struct{ ch chan error }

type readRound struct {
	index uint64
	reqs  []*readReq
}

func newReplica(id, self, rid uint64, rn *raft.RawNode, ls *logStore, sm StateMachine) *replica {
	r := &replica{
		id: id, self: self, rid: rid, rn: rn, ls: ls, sm: sm,
		proposals:     make(map[uint64]*proposal),
		byIndex:       make(map[uint64]uint64),
		readsInflight: make(map[uint64][]*readReq),
	}
	bs := rn.BasicStatus()
	r.soft = bs.SoftState
	r.term = bs.HardState.GetTerm()
	return r
}

func (r *replica) isLeader() bool { return r.soft.RaftState == raft.StateLeader }

func (r *replica) status() GroupStatus {
	bs := r.rn.BasicStatus()
	return GroupStatus{
		Group:         r.id,
		ReplicaID:     r.rid,
		Leader:        nodeOf(bs.Lead),
		LeaderReplica: bs.Lead,
		Term:          bs.HardState.GetTerm(),
		IsLeader:      bs.RaftState == raft.StateLeader,
		Voters:        append([]uint64(nil), r.ls.applied.Voters...),
		Commit:        bs.HardState.GetCommit(),
		Applied:       r.ls.applied.Index,
		LastIndex:     r.ls.last.Index,
		FirstIndex:    r.ls.truncated.Index + 1,
	}
}

// member reports whether this replica is in its applied configuration, in
// any role.
func (r *replica) member() bool {
	a := &r.ls.applied
	return slices.Contains(a.Voters, r.rid) || slices.Contains(a.Learners, r.rid) ||
		slices.Contains(a.VotersOutgoing, r.rid) || slices.Contains(a.LearnersNext, r.rid)
}

// bestFollower is the voter with the highest match index, for a leadership
// transfer; 0 if none is caught up enough to be useful.
func (r *replica) bestFollower() uint64 {
	var best, match uint64
	r.rn.WithProgress(func(id uint64, typ raft.ProgressType, pr tracker.Progress) {
		if id == r.rid || typ != raft.ProgressTypePeer || !pr.RecentActive {
			return
		}
		if pr.Match > match || (pr.Match == match && id < best) {
			best, match = id, pr.Match
		}
	})
	return best
}

func (r *replica) notLeader() *NotLeaderError {
	return &NotLeaderError{Group: r.id, Leader: nodeOf(r.soft.Lead)}
}

// nodeOf is the node holding Raft replica rid.
func nodeOf(rid uint64) uint64 { return uint64(keyspace.ReplicaID(rid).Node()) }

// propose hands p to Raft, or answers it at once.
func (r *replica) propose(p *proposal) {
	if !r.isLeader() {
		p.ch <- result{err: r.notLeader()}
		return
	}
	if !p.state.CompareAndSwap(propQueued, propProposed) {
		return // the caller gave up before we got to it
	}
	if err := r.rn.Propose(p.data); err != nil {
		p.ch <- result{err: ErrDropped}
		return
	}
	r.proposals[p.id] = p
}

// noteAppended records where this node's proposals landed in the log, and
// drops those whose index was taken by a different entry (they can never
// commit).
func (r *replica) noteAppended(ents []*pb.Entry) {
	for _, e := range ents {
		idx := e.GetIndex()
		frame := proposalFrame(e)
		if old, ok := r.byIndex[idx]; ok {
			if node, id, _, err := decodeProposal(frame); err != nil || node != r.self || id != old {
				r.finish(old, result{err: ErrDropped})
			}
		}
		if e.GetType() != pb.EntryType_EntryNormal {
			r.confIndex = max(r.confIndex, idx)
		}
		if len(frame) == 0 {
			continue
		}
		node, id, _, err := decodeProposal(frame)
		if err == nil && node == r.self {
			if p := r.proposals[id]; p != nil {
				r.byIndex[idx] = id
				p.index = idx
			}
		}
	}
}

func (r *replica) finish(id uint64, res result) {
	p := r.proposals[id]
	if p == nil {
		return
	}
	delete(r.proposals, id)
	if p.index != 0 && r.byIndex[p.index] == id {
		delete(r.byIndex, p.index)
	}
	p.ch <- res
}

// finishApplied answers the proposer of the entry applied at index.
func (r *replica) finishApplied(index uint64, data []byte, val any) {
	node, id, _, err := decodeProposal(data)
	mine := err == nil && node == r.self && r.proposals[id] != nil
	if pid, ok := r.byIndex[index]; ok && !(mine && pid == id) {
		r.finish(pid, result{err: ErrDropped})
	}
	if mine {
		r.finish(id, result{val: val})
	}
}

// sweep forgets proposals whose callers stopped waiting long ago and whose
// fate never resolved, so the maps cannot grow without bound.
func (r *replica) sweep(now time.Time) {
	for id, p := range r.proposals {
		if !p.deadline.IsZero() && now.Sub(p.deadline) > time.Minute {
			r.finish(id, result{err: ErrUnknownOutcome})
		}
	}
}

// startReadRound puts every waiting reader into one ReadIndex round.
func (r *replica) startReadRound(id uint64) {
	if len(r.readsWaiting) == 0 {
		return
	}
	if !r.member() {
		// Removed from the group (or not yet in it): the leader would
		// answer a read index this replica never catches up to.
		r.failReads(r.readsWaiting, fmt.Errorf("%w: replica %s is not in group %d's configuration", ErrGroupNotFound, keyspace.ReplicaID(r.rid), r.id))
		r.readsWaiting = nil
		return
	}
	if r.soft.Lead == 0 {
		r.failReads(r.readsWaiting, r.notLeader())
		r.readsWaiting = nil
		return
	}
	// On a follower, Raft asks the leader for the read index (MsgReadIndex),
	// which confirms it with a heartbeat quorum before answering.
	ctx := binary.BigEndian.AppendUint64(nil, id)
	r.readsInflight[id] = r.readsWaiting
	r.readsWaiting = nil
	r.rn.ReadIndex(ctx)
}

func (r *replica) readStates(states []raft.ReadState) {
	for _, rs := range states {
		if len(rs.RequestCtx) != 8 {
			continue
		}
		id := binary.BigEndian.Uint64(rs.RequestCtx)
		reqs, ok := r.readsInflight[id]
		if !ok {
			continue
		}
		delete(r.readsInflight, id)
		r.readsReady = append(r.readsReady, readRound{index: rs.Index, reqs: reqs})
	}
	sort.SliceStable(r.readsReady, func(i, j int) bool { return r.readsReady[i].index < r.readsReady[j].index })
}

// releaseReads lets through every reader whose read index is applied.
func (r *replica) releaseReads() {
	n := 0
	for _, rr := range r.readsReady {
		if rr.index > r.ls.applied.Index {
			break
		}
		r.failReads(rr.reqs, nil)
		n++
	}
	r.readsReady = r.readsReady[n:]
}

// lostLeadership fails the reads that have no read index yet (leadership
// moved: their round may never be answered); they can be retried. Rounds
// that already have an index are still served: the index was confirmed by
// a quorum of the leader that gave it.
func (r *replica) lostLeadership() {
	err := r.notLeader()
	for id, reqs := range r.readsInflight {
		r.failReads(reqs, err)
		delete(r.readsInflight, id)
	}
	r.failReads(r.readsWaiting, err)
	r.readsWaiting = nil
}

func (r *replica) failReads(reqs []*readReq, err error) {
	for _, rq := range reqs {
		rq.ch <- err
	}
}

// stop answers everyone still waiting when the host shuts down.
func (r *replica) stop() {
	for id := range r.proposals {
		r.finish(id, result{err: ErrUnknownOutcome})
	}
	for _, rr := range r.readsReady {
		r.failReads(rr.reqs, ErrStopped)
	}
	for _, reqs := range r.readsInflight {
		r.failReads(reqs, ErrStopped)
	}
	r.failReads(r.readsWaiting, ErrStopped)
}

// proposalFrame returns the proposal framing of an entry: a normal
// entry's data, or a configuration change's context (nil for entries not
// proposed through this package, such as Raft's own leave-joint).
func proposalFrame(e *pb.Entry) []byte {
	switch e.GetType() {
	case pb.EntryType_EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if proto.Unmarshal(e.GetData(), &cc) != nil {
			return nil
		}
		return cc.GetContext()
	case pb.EntryType_EntryConfChange:
		var cc pb.ConfChange
		if proto.Unmarshal(e.GetData(), &cc) != nil {
			return nil
		}
		return cc.GetContext()
	}
	return e.GetData()
}
