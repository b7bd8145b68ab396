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
	h.release() // groups whose sync finished may have a new Ready
	h.cycle()
	h.release()
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
		if r.removing {
			continue
		}
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
			// A message for another replica ID of the group is for a
			// replica that no longer exists here (or not yet): drop it.
			if r != nil && !r.removing && ev.msg.GetTo() == r.rid {
				_ = r.rn.Step(ev.msg)
			}
		case evPropose:
			if r == nil || r.removing {
				ev.prop.ch <- result{err: ErrGroupNotFound}
				continue
			}
			if ev.prop.conf {
				r.proposeConf(ev.prop)
			} else {
				r.propose(ev.prop)
			}
			if h.cfg.Events.Proposed != nil {
				h.cfg.Events.Proposed(r.id)
			}
		case evRead:
			if r == nil || r.removing {
				ev.read.ch <- ErrGroupNotFound
				continue
			}
			if r.soft.Lead == 0 {
				ev.read.ch <- r.notLeader() // no leader to confirm a read index
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

// cycle stages the Ready of every group that has one (and is not still
// waiting for an earlier Ready's sync): all of them are written into one
// batch — entries, HardState, snapshots, then committed entries applied —
// and committed without waiting for the disk. A leader's appends and
// heartbeats go out at once; everything else waits until the batch is
// durable (see release). If any Ready asked for durability the syncer is
// asked for an fsync; meanwhile the loop keeps taking events and staging
// other groups, so one fsync covers every cycle staged while the previous
// one ran (group commit across cycles).
func (h *Host) cycle() {
	var ws []*work
	for _, r := range h.groups {
		if !r.staged && !r.removing && r.rn.HasReady() {
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
	// and the leader still counts itself only once its write is durable
	// (Advance, in release). Votes and acknowledgements wait.
	for _, w := range ws {
		early, late := splitEarly(w.rd.Messages)
		h.send(w.r, early)
		w.late = late
		w.r.staged = true
		if w.rd.SoftState != nil {
			h.softStateChanged(w.r, *w.rd.SoftState)
			if w.r.isLeader() {
				// As Raft does, assume the log may hold an unapplied
				// configuration change until this term's first entry.
				w.r.confIndex = max(w.r.confIndex, w.r.ls.last.Index, w.newLast.Index)
			}
		}
	}
	if err := b.Commit(false); err != nil {
		h.fatal(0, "committing batch", err)
	}
	// Committed entries are already durable on a majority (a replica
	// acknowledges an append only after its fsync, the leader counts itself
	// only after its own), and their effects are now visible in the engine:
	// their proposers can be answered without waiting for this batch's
	// fsync, which only protects the entries it appends. (After a crash the
	// applies are redone from the log.) A Ready that installs a snapshot is
	// answered at release, after Restored.
	for _, w := range ws {
		if w.snapshot == nil {
			for _, res := range w.results {
				w.r.finishApplied(res.index, res.data, res.val)
			}
			w.results = nil
		}
	}
	h.seq++
	h.pending = append(h.pending, &stagedCycle{seq: h.seq, ws: ws, sync: sync})
	switch {
	case !sync:
	case h.cfg.Manual:
		h.syncNow(h.seq)
	default:
		h.requestSync(h.seq)
	}
}

// stagedCycle is a cycle whose batch is committed, waiting (if sync) for
// an fsync before its Readies are released.
type stagedCycle struct {
	seq  uint64
	ws   []*work
	sync bool
}

// release finishes, in order, every staged cycle that is durable enough:
// it needs no sync, or a sync covering it has completed.
func (h *Host) release() {
	if !h.cfg.Manual {
		h.synced = h.durable.Load()
	}
	n := 0
	for _, c := range h.pending {
		if c.sync && c.seq > h.synced {
			break
		}
		var removing []*replica
		for _, w := range c.ws {
			h.afterCommit(w)
			w.r.staged = false
			if w.r.removing {
				removing = append(removing, w.r)
			}
		}
		h.truncateLogs(c.ws)
		for _, r := range removing {
			if h.groups[r.id] == r {
				h.finishRemove(r)
			}
		}
		n++
	}
	if n > 0 {
		clear(h.pending[:n])
		h.pending = h.pending[n:]
	}
}

// requestSync asks the syncer for an fsync covering cycle seq.
func (h *Host) requestSync(seq uint64) {
	h.syncWant.Store(seq)
	select {
	case h.syncKick <- struct{}{}:
	default:
	}
}

// syncer runs fsyncs one after another while the loop keeps working; each
// covers every batch committed before it started.
func (h *Host) syncer() {
	defer close(h.syncDone)
	for {
		select {
		case <-h.stop:
			return
		case <-h.syncKick:
		}
		want := h.syncWant.Load()
		start := time.Now()
		if err := h.cfg.Engine.SyncWAL(); err != nil {
			h.fatal(0, "syncing the write-ahead log", err)
		}
		if h.cfg.Events.Synced != nil {
			h.cfg.Events.Synced(time.Since(start), 0)
		}
		if want > h.durable.Load() {
			h.durable.Store(want) // only this goroutine stores
		}
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// syncNow syncs on the loop (manual mode: deterministic transcripts).
func (h *Host) syncNow(seq uint64) {
	start := time.Now()
	if err := h.cfg.Engine.SyncWAL(); err != nil {
		h.fatal(0, "syncing the write-ahead log", err)
	}
	if h.cfg.Events.Synced != nil {
		h.cfg.Events.Synced(time.Since(start), len(h.pending[len(h.pending)-1].ws))
	}
	h.synced = seq
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
			a = a.withConf(cs)
			if frame := proposalFrame(e); len(frame) > 0 {
				w.results = append(w.results, applyResult{index: idx, data: frame, val: a.conf()})
			}
			if h.cfg.Events.ConfChanged != nil {
				h.cfg.Events.ConfChanged(r.id, a.conf())
			}
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
	if rd.SoftState == nil && !raft.IsEmptyHardState(rd.HardState) && rd.HardState.GetTerm() != r.term {
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
	if (wasLeader && !r.isLeader()) || ss.Lead != oldLead {
		r.lostLeadership() // read rounds in flight may never be answered
	}
	h.publish(r)
	if ss.Lead != oldLead {
		if h.cfg.Events.LeaderChanged != nil {
			h.cfg.Events.LeaderChanged(r.id, nodeOf(ss.Lead), r.term)
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
		h.cfg.Transport.Send(transport.Message{Type: MessageType, From: h.cfg.NodeID, To: nodeOf(m.GetTo()), Payload: buf})
	}
}

// truncateLogs drops applied entries beyond LogKeep from every group that
// has at least twice that many. The batch is not synced: it only ever
// follows (in the engine's write-ahead log) the applies it depends on.
func (h *Host) truncateLogs(ws []*work) {
	var b *storage.Batch
	for _, w := range ws {
		ls := w.r.ls
		if !w.applied || w.r.removing || ls.applied.Index < ls.truncated.Index+2*h.cfg.LogKeep {
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
