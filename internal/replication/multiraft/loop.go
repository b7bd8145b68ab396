package multiraft

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/distkv/distkv/internal/storage"
	"github.com/distkv/distkv/internal/transport"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func (h *Host) run() {
	defer close(h.done)
	ticker := h.cfg.Clock.NewTicker(h.cfg.TickInterval)
	defer ticker.Stop()
	var batch []event
	for {
		ticked := false
		select {
		case <-h.stop:
			h.shutdown()
			return
		case <-ticker.C():
			ticked = true
		case <-h.wake:
		}
		batch = h.iterate(batch, ticked)
	}
}

// iterate is one turn of the loop: take the queued events, tick if asked,
// handle the events and run a cycle. It returns batch emptied for reuse.
func (h *Host) iterate(batch []event, tick bool) []event {
	h.mu.Lock()
	batch, h.mu.queue = h.mu.queue, batch[:0]
	h.mu.Unlock()
	if tick {
		h.tick()
	}
	h.handle(batch)
	clear(batch)
	h.cycle()
	return batch[:0]
}

// Cycle runs one turn of the loop on the caller's goroutine. Only for a
// Host created with Config.Manual, whose owner drives it step by step.
func (h *Host) Cycle(tick bool) {
	if !h.cfg.Manual {
		panic("multiraft: Cycle on a host that runs its own loop")
	}
	h.iterate(nil, tick)
}

func (h *Host) shutdown() {
	for _, r := range h.groups {
		r.stop()
	}
	h.failQueued()
}

// failQueued answers events that arrived after the loop's last cycle.
func (h *Host) failQueued() {
	h.mu.Lock()
	q := h.mu.queue
	h.mu.queue = nil
	h.mu.Unlock()
	for _, ev := range q {
		switch ev.kind {
		case evPropose:
			ev.prop.ch <- result{err: ErrStopped}
		case evRead:
			ev.read.ch <- ErrStopped
		}
	}
}

func (h *Host) tick() {
	now := h.cfg.Clock.Now()
	for _, r := range h.groups {
		r.rn.Tick()
		r.sweep(now)
	}
}

func (h *Host) handle(evs []event) {
	touched := false
	for _, ev := range evs {
		switch ev.kind {
		case evFunc:
			ev.fn()
			continue
		}
		r := h.groups[ev.group]
		switch ev.kind {
		case evMessage:
			if r != nil {
				_ = r.rn.Step(ev.msg)
			}
		case evPropose:
			if r == nil {
				ev.prop.ch <- result{err: ErrGroupNotFound}
				continue
			}
			r.propose(ev.prop)
			if h.cfg.Events.Proposed != nil {
				h.cfg.Events.Proposed(r.id)
			}
		case evRead:
			if r == nil {
				ev.read.ch <- ErrGroupNotFound
				continue
			}
			if !r.isLeader() {
				ev.read.ch <- r.notLeader()
				continue
			}
			r.readsWaiting = append(r.readsWaiting, ev.read)
			touched = true
		}
	}
	if touched {
		for _, r := range h.groups {
			if len(r.readsWaiting) > 0 {
				h.nextRead++
				r.startReadRound(h.nextRead)
			}
		}
	}
}

// work is one group's share of a cycle.
type work struct {
	r        *replica
	rd       raft.Ready
	newLast  logPosition
	snapshot *appliedState // set when a snapshot was installed
	applied  bool
	results  []applyResult
	late     []*pb.Message // messages that must wait for the commit
}

// splitEarly separates the messages a leader may send before its own
// write is durable (appends and heartbeats) from the rest.
func splitEarly(msgs []*pb.Message) (early, late []*pb.Message) {
	for _, m := range msgs {
		switch m.GetType() {
		case pb.MessageType_MsgApp, pb.MessageType_MsgHeartbeat:
			early = append(early, m)
		default:
			late = append(late, m)
		}
	}
	return early, late
}

type applyResult struct {
	index uint64
	data  []byte
	val   any
}

// cycle persists, sends and applies the Ready of every group that has one.
// All groups' writes go into one batch with at most one fsync.
func (h *Host) cycle() {
	var ws []*work
	for _, r := range h.groups {
		if r.rn.HasReady() {
			ws = append(ws, &work{r: r, rd: r.rn.Ready()})
		}
	}
	if len(ws) == 0 {
		return
	}
	// A fixed order makes a cycle's effects (message order, logs)
	// reproducible.
	slices.SortFunc(ws, func(a, b *work) int { return cmp.Compare(a.r.id, b.r.id) })
	b := h.cfg.Engine.NewBatch()
	defer b.Close()
	sync := false
	for _, w := range ws {
		if err := h.persist(b, w); err != nil {
			h.fatal(w.r.id, "persisting raft state", err)
		}
		sync = sync || w.rd.MustSync
	}
	for _, w := range ws {
		if err := h.apply(b, w); err != nil {
			h.fatal(w.r.id, "applying committed entries", err)
		}
	}
	// A leader's appends and heartbeats need not wait for its own fsync
	// (Raft thesis §10.2.1): followers write in parallel with the leader,
	// and the leader still counts itself only once its write is durable.
	// Everything else (votes, acknowledgements) waits for the commit.
	for _, w := range ws {
		early, late := splitEarly(w.rd.Messages)
		h.send(w.r, early)
		w.late = late
	}
	start := time.Now()
	if err := b.Commit(sync); err != nil {
		h.fatal(0, "committing batch", err)
	}
	if sync && h.cfg.Events.Synced != nil {
		h.cfg.Events.Synced(time.Since(start), len(ws))
	}
	for _, w := range ws {
		h.afterCommit(w)
	}
	h.truncateLogs(ws)
}

func (h *Host) persist(b *storage.Batch, w *work) error {
	r, rd := w.r, w.rd
	if !raft.IsEmptySnap(rd.Snapshot) {
		a, err := installSnapshot(b, r.id, rd.Snapshot)
		if err != nil {
			return err
		}
		w.snapshot = &a
	}
	last, err := r.ls.appendEntries(b, rd.Entries)
	if err != nil {
		return err
	}
	w.newLast = last
	if w.snapshot != nil && len(rd.Entries) == 0 {
		w.newLast = logPosition{w.snapshot.Index, w.snapshot.Term}
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := b.Set(storage.HardStateKey(r.id), encodeHardState(rd.HardState)); err != nil {
			return err
		}
	}
	if r.isLeader() || len(r.byIndex) > 0 {
		r.noteAppended(rd.Entries)
	}
	return nil
}

func (h *Host) apply(b *storage.Batch, w *work) error {
	r := w.r
	if len(w.rd.CommittedEntries) == 0 {
		return nil
	}
	a := r.ls.applied
	if w.snapshot != nil {
		a = *w.snapshot
	}
	for _, e := range w.rd.CommittedEntries {
		idx := e.GetIndex()
		if idx <= a.Index {
			continue // already in the state (replay after a snapshot)
		}
		switch e.GetType() {
		case pb.EntryType_EntryNormal:
			if len(e.GetData()) > 0 {
				_, _, cmd, err := decodeProposal(e.GetData())
				if err != nil {
					return fmt.Errorf("entry %d: %w", idx, err)
				}
				val := r.sm.Apply(b, idx, cmd)
				w.results = append(w.results, applyResult{index: idx, data: e.GetData(), val: val})
			}
		case pb.EntryType_EntryConfChange, pb.EntryType_EntryConfChangeV2:
			cs, err := h.applyConfChange(r, e)
			if err != nil {
				return err
			}
			a.Voters, a.Learners = cs.GetVoters(), cs.GetLearners()
		}
		a.Index, a.Term = idx, e.GetTerm()
	}
	w.applied = true
	r.ls.applied = a // only read by this loop; committed below before anyone is answered
	return b.Set(storage.AppliedStateKey(r.id), encodeApplied(a))
}

func (h *Host) applyConfChange(r *replica, e *pb.Entry) (*pb.ConfState, error) {
	var cc pb.ConfChangeI
	if e.GetType() == pb.EntryType_EntryConfChange {
		var c pb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &c); err != nil {
			return nil, err
		}
		cc = &c
	} else {
		var c pb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &c); err != nil {
			return nil, err
		}
		cc = &c
	}
	return r.rn.ApplyConfChange(cc), nil
}

// afterCommit runs once the cycle's batch is durable (as the Ready asked):
// it updates in-memory log positions, sends messages, answers proposers and
// readers, and tells Raft the Ready was handled.
func (h *Host) afterCommit(w *work) {
	r, rd := w.r, w.rd
	if w.snapshot != nil {
		r.ls.truncated = logPosition{w.snapshot.Index, w.snapshot.Term}
		r.ls.applied = *w.snapshot
		r.ls.cache.reset()
	}
	r.ls.last = w.newLast
	r.ls.cache.add(rd.Entries)
	if !raft.IsEmptyHardState(rd.HardState) {
		r.ls.hard = rd.HardState
	}
	h.send(r, w.late)
	if w.snapshot != nil {
		h.stats.snapshotsApplied.Add(1)
		h.cfg.Logger.Info("installed snapshot", "group", r.id, "index", w.snapshot.Index)
		r.sm.Restored(w.snapshot.Index)
	}
	if w.applied {
		r.sm.Committed()
	}
	for _, res := range w.results {
		r.finishApplied(res.index, res.data, res.val)
	}
	if len(rd.ReadStates) > 0 {
		r.readStates(rd.ReadStates)
	}
	if rd.SoftState != nil {
		h.softStateChanged(r, *rd.SoftState)
	} else if !raft.IsEmptyHardState(rd.HardState) && rd.HardState.GetTerm() != r.term {
		r.term = rd.HardState.GetTerm()
		h.publish(r)
	}
	r.rn.Advance(rd)
	r.releaseReads()
}

func (h *Host) softStateChanged(r *replica, ss raft.SoftState) {
	wasLeader := r.isLeader()
	oldLead := r.soft.Lead
	r.soft = ss
	r.term = r.rn.BasicStatus().HardState.GetTerm()
	if wasLeader && !r.isLeader() {
		r.lostLeadership()
	}
	h.publish(r)
	if ss.Lead != oldLead {
		if h.cfg.Events.LeaderChanged != nil {
			h.cfg.Events.LeaderChanged(r.id, ss.Lead, r.term)
		}
	}
}

// send hands messages to the transport, one Raft message per transport
// message (the transport writes everything queued for a node as one frame).
// Snapshots go out on their own goroutine.
func (h *Host) send(r *replica, msgs []*pb.Message) {
	for _, m := range msgs {
		if m.GetType() == pb.MessageType_MsgSnap {
			h.sendSnapshot(r, m)
			continue
		}
		buf := binary.AppendUvarint(make([]byte, 0, 64), r.id)
		buf, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
		if err != nil {
			h.cfg.Logger.Error("encoding raft message", "group", r.id, "err", err)
			continue
		}
		h.cfg.Transport.Send(transport.Message{Type: MessageType, From: h.cfg.NodeID, To: m.GetTo(), Payload: buf})
	}
}

// truncateLogs drops applied entries beyond LogKeep from every group that
// has at least twice that many. The batch is not synced: it only ever
// follows (in the engine's write-ahead log) the applies it depends on.
func (h *Host) truncateLogs(ws []*work) {
	var b *storage.Batch
	for _, w := range ws {
		ls := w.r.ls
		if !w.applied || ls.applied.Index < ls.truncated.Index+2*h.cfg.LogKeep {
			continue
		}
		if b == nil {
			b = h.cfg.Engine.NewWriteBatch()
			defer b.Close()
		}
		upTo := ls.applied.Index - h.cfg.LogKeep
		pos, err := ls.truncate(b, upTo)
		if err != nil {
			h.fatal(w.r.id, "truncating log", err)
		}
		ls.truncated = pos
		ls.cache.dropThrough(upTo)
	}
	if b != nil {
		if err := b.Commit(false); err != nil {
			h.fatal(0, "committing log truncation", err)
		}
	}
}

// fatal stops the process: a node whose storage fails cannot keep the
// promises it made to its peers.
func (h *Host) fatal(group uint64, what string, err error) {
	h.cfg.Logger.Error("fatal storage error", "group", group, "during", what, "err", err)
	panic(fmt.Sprintf("multiraft: group %d: %s: %v", group, what, err))
}
