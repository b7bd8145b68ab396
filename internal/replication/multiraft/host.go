package multiraft

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/internal/storage"
	"github.com/distkv/distkv/internal/transport"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// StateMachine is what a group replicates. Its methods run on the Host's
// loop goroutine, one group at a time.
type StateMachine interface {
	// Apply applies the command committed at index, writing into b; reads
	// through b see earlier writes of the same cycle. It must be
	// deterministic: every replica applies the same commands in the same
	// order and must reach the same state. The result goes to the waiting
	// proposer, if it is on this node.
	Apply(b *storage.Batch, index uint64, cmd []byte) any
	// Committed is called after the batch holding this cycle's applies
	// committed; side effects that must follow durability (change events)
	// belong here.
	Committed()
	// Restored is called after a snapshot replaced the group's state with
	// the state at index, so in-memory caches can be reloaded from the
	// engine (and change feeds learn they skipped everything up to index).
	Restored(index uint64)
}

// GroupConfig describes a group replica to host.
type GroupConfig struct {
	ID uint64
	// ReplicaID is this node's Raft ID in the group; 0 means the node ID
	// (the replica of generation 0). See keyspace.ReplicaID.
	ReplicaID uint64
	// Voters are the group's initial members (replica IDs), used only when
	// the replica is new on this node and Join is false; a replica that
	// exists reloads its own state.
	Voters []uint64
	// Learners receive the log without voting (new-replica only, like
	// Voters).
	Learners []uint64
	// Join creates a new replica empty, with no configuration: it learns
	// the group's state and members from the leader's snapshot once the
	// leader has added it (as a learner). Replicas added to a running
	// group must join; only a group's initial replicas bootstrap with
	// Voters, identically on every node.
	Join bool
	// NewStateMachine makes the state machine that receives committed
	// commands. It is called only if the group is not hosted yet, on the
	// loop goroutine.
	NewStateMachine func() StateMachine
	// Campaign makes a newly bootstrapped replica start an election at
	// once instead of waiting for an election timeout.
	Campaign bool
}

// GroupStatus is a group replica's state as last seen by the loop.
type GroupStatus struct {
	Group uint64
	// ReplicaID is this node's replica ID in the group.
	ReplicaID uint64
	// Leader is the leader's node (0: unknown); LeaderReplica its replica
	// ID.
	Leader        uint64
	LeaderReplica uint64
	Term          uint64
	IsLeader      bool
	Voters        []uint64
	Commit        uint64
	Applied       uint64
	LastIndex     uint64
	// FirstIndex is the oldest log entry kept; earlier ones were truncated.
	FirstIndex uint64
}

// Host runs every Raft group replica of one node on a single loop
// goroutine: each cycle steps queued messages and proposals into the
// groups, collects every group's Ready, persists all of them in one batch
// with at most one fsync, sends the messages, applies committed entries
// and answers proposers and readers.
type Host struct {
	cfg Config

	mu struct {
		sync.Mutex
		queue   []event
		stopped bool
	}
	wake chan struct{}

	// Loop-owned state.
	groups   map[uint64]*replica
	nextRead uint64
	sending  map[snapKey]bool
	seq      uint64         // last staged cycle
	synced   uint64         // last staged cycle known durable
	pending  []*stagedCycle // staged cycles not yet released, in order

	// The syncer: the loop stores the cycle it needs durable and kicks;
	// the syncer stores the cycle its last fsync covered and wakes the
	// loop. (Not through the event queue: that queue is bounded and may
	// drop, and a lost completion would stall every staged group.)
	syncWant atomic.Uint64
	durable  atomic.Uint64
	syncKick chan struct{}
	syncDone chan struct{}

	view struct {
		sync.RWMutex
		groups map[uint64]GroupStatus
	}

	nextProposal atomic.Uint64
	stats        struct {
		dropped, snapshotsSent, snapshotsApplied atomic.Uint64
	}
	stop       chan struct{}
	done       chan struct{}
	snapCtx    context.Context
	snapCancel context.CancelFunc
	snapWG     sync.WaitGroup
}

type snapKey struct{ group, to uint64 }

type eventKind uint8

const (
	evMessage eventKind = iota + 1
	evPropose
	evRead
	evFunc
)

type event struct {
	kind  eventKind
	group uint64
	msg   *pb.Message
	prop  *proposal
	read  *readReq
	fn    func()
}

// New starts a Host with no groups; add them with CreateGroup.
func New(cfg Config) (*Host, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	h := &Host{
		cfg:      cfg,
		wake:     make(chan struct{}, 1),
		groups:   make(map[uint64]*replica),
		sending:  make(map[snapKey]bool),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		syncKick: make(chan struct{}, 1),
		syncDone: make(chan struct{}),
	}
	h.view.groups = make(map[uint64]GroupStatus)
	h.snapCtx, h.snapCancel = context.WithCancel(context.Background())
	if !cfg.Manual {
		go h.run()
		go h.syncer()
	} else {
		close(h.syncDone)
	}
	return h, nil
}

// Close stops the loop. Waiting proposers get ErrUnknownOutcome (their
// commands may still commit elsewhere), readers ErrStopped.
func (h *Host) Close() {
	h.mu.Lock()
	if h.mu.stopped {
		h.mu.Unlock()
		return
	}
	h.mu.stopped = true
	h.mu.Unlock()
	close(h.stop)
	if h.cfg.Manual {
		h.shutdown()
		close(h.done)
	} else {
		<-h.done
	}
	<-h.syncDone
	h.snapCancel()
	h.snapWG.Wait()
}

// enqueue adds an event for the loop. Messages are dropped when the queue
// is full; other events get ErrBusy.
func (h *Host) enqueue(ev event) error {
	h.mu.Lock()
	if h.mu.stopped {
		h.mu.Unlock()
		return ErrStopped
	}
	if len(h.mu.queue) >= h.cfg.MaxQueue {
		h.mu.Unlock()
		return ErrBusy
	}
	h.mu.queue = append(h.mu.queue, ev)
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return nil
}

// do runs fn on the loop and waits for it, or for ctx.
func (h *Host) do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	if err := h.enqueue(event{kind: evFunc, fn: func() { fn(); close(done) }}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-h.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CreateGroup starts hosting a group replica. It is idempotent: a group
// already hosted is left alone. A replica new to this node is bootstrapped
// with cfg.Voters and synced to disk before CreateGroup returns.
func (h *Host) CreateGroup(ctx context.Context, cfg GroupConfig) error {
	var err error
	if derr := h.do(ctx, func() { err = h.createGroup(cfg) }); derr != nil {
		return derr
	}
	return err
}

// EnsureGroup is CreateGroup without waiting, for callers that run on the
// loop (change hooks). Failures are logged.
func (h *Host) EnsureGroup(cfg GroupConfig) {
	err := h.enqueue(event{kind: evFunc, fn: func() {
		if err := h.createGroup(cfg); err != nil {
			h.cfg.Logger.Error("creating group", "group", cfg.ID, "err", err)
		}
	}})
	if err != nil && err != ErrStopped {
		h.cfg.Logger.Error("queueing group creation", "group", cfg.ID, "err", err)
	}
}

// HandleMessage accepts a Raft message from the transport. It decodes on
// the caller's goroutine and never blocks; on overload the message is
// dropped (Raft retransmits).
func (h *Host) HandleMessage(m transport.Message) {
	group, n := binary.Uvarint(m.Payload)
	if n <= 0 {
		h.cfg.Logger.Warn("dropping malformed raft message", "from", m.From)
		return
	}
	msg := &pb.Message{}
	if err := proto.Unmarshal(m.Payload[n:], msg); err != nil {
		h.cfg.Logger.Warn("dropping undecodable raft message", "from", m.From, "err", err)
		return
	}
	if err := h.enqueue(event{kind: evMessage, group: group, msg: msg}); err != nil {
		h.stats.dropped.Add(1)
	}
}

// Propose replicates cmd through group's log and returns the state
// machine's result once it is applied on this node. This node must be the
// leader (otherwise *NotLeaderError, nothing done). If ctx ends after the
// command reached Raft, the error is ErrUnknownOutcome.
func (h *Host) Propose(ctx context.Context, group uint64, cmd []byte) (any, error) {
	p := &proposal{id: h.nextProposal.Add(1), ch: make(chan result, 1)}
	if dl, ok := ctx.Deadline(); ok {
		p.deadline = dl
	}
	p.data = encodeProposal(h.cfg.NodeID, p.id, cmd)
	if err := h.enqueue(event{kind: evPropose, group: group, prop: p}); err != nil {
		return nil, err
	}
	select {
	case res := <-p.ch:
		return res.val, res.err
	case <-ctx.Done():
		if p.state.CompareAndSwap(propQueued, propAbandoned) {
			return nil, fmt.Errorf("%w before the command was proposed: %w", ErrTimeout, ctx.Err())
		}
		return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
	}
}

// ReadBarrier returns once this replica's applied state is at least as new
// as every write acknowledged before the call began (Raft ReadIndex), so a
// read of the local engine afterwards is linearizable. Concurrent barriers
// on a group share one ReadIndex round. Any replica can serve one while the
// group has a known leader (a follower asks the leader for the index);
// otherwise it fails with *NotLeaderError.
func (h *Host) ReadBarrier(ctx context.Context, group uint64) error {
	rq := &readReq{ch: make(chan error, 1)}
	if err := h.enqueue(event{kind: evRead, group: group, read: rq}); err != nil {
		return err
	}
	select {
	case err := <-rq.ch:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
}

// Stats are cumulative counters of a Host.
type Stats struct {
	// MessagesDropped counts incoming Raft messages dropped because the
	// loop's queue was full.
	MessagesDropped  uint64
	SnapshotsSent    uint64
	SnapshotsApplied uint64
}

// Stats returns the host's counters.
func (h *Host) Stats() Stats {
	return Stats{
		MessagesDropped:  h.stats.dropped.Load(),
		SnapshotsSent:    h.stats.snapshotsSent.Load(),
		SnapshotsApplied: h.stats.snapshotsApplied.Load(),
	}
}

// Leader returns the group's leader as last seen here (0 when unknown) and
// whether this node hosts the group.
func (h *Host) Leader(group uint64) (leader uint64, hosted bool) {
	h.view.RLock()
	defer h.view.RUnlock()
	st, ok := h.view.groups[group]
	return st.Leader, ok
}

// Replica returns this node's replica ID in group (as last published) and
// whether the group is hosted here. Replica IDs are never reused on a
// node, so a reader that finds the same ID before and after reading the
// engine read one replica's state, not a removed one's remains.
func (h *Host) Replica(group uint64) (rid uint64, hosted bool) {
	h.view.RLock()
	defer h.view.RUnlock()
	st, ok := h.view.groups[group]
	return st.ReplicaID, ok
}

// Status returns a snapshot of every hosted group's state.
func (h *Host) Status(ctx context.Context) ([]GroupStatus, error) {
	var out []GroupStatus
	err := h.do(ctx, func() {
		for _, r := range h.groups {
			out = append(out, r.status())
		}
	})
	if err != nil {
		return nil, err // the closure may still run: never read out
	}
	return out, nil
}

// Groups returns the IDs of hosted groups (from the published view).
func (h *Host) Groups() []uint64 {
	h.view.RLock()
	defer h.view.RUnlock()
	ids := make([]uint64, 0, len(h.view.groups))
	for id := range h.view.groups {
		ids = append(ids, id)
	}
	return ids
}

// TransferLeadership asks group's leader (this node) to hand leadership to
// replica to. It returns without waiting for the transfer.
func (h *Host) TransferLeadership(ctx context.Context, group, to uint64) error {
	return h.do(ctx, func() {
		if r := h.groups[group]; r != nil {
			r.rn.TransferLeader(to)
		}
	})
}

// TransferAllLeadership hands every group this node leads to its most
// up-to-date follower and waits until this node leads none that has one,
// or ctx ends. A group with no live follower (a single replica) stays led
// here: there is nobody to hand it to. Used for graceful shutdown.
func (h *Host) TransferAllLeadership(ctx context.Context) error {
	for {
		leading := 0
		err := h.do(ctx, func() {
			for _, r := range h.groups {
				if !r.isLeader() {
					continue
				}
				to := r.bestFollower()
				if to == 0 {
					continue
				}
				leading++
				if r.rn.BasicStatus().LeadTransferee == 0 {
					r.rn.TransferLeader(to)
				}
			}
		})
		if err != nil {
			return err
		}
		if leading == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("multiraft: %d groups still led here: %w", leading, ctx.Err())
		case <-time.After(h.cfg.TickInterval):
		}
	}
}

// Campaign makes this replica start an election for group.
func (h *Host) Campaign(ctx context.Context, group uint64) error {
	return h.do(ctx, func() {
		if r := h.groups[group]; r != nil {
			_ = r.rn.Campaign()
		}
	})
}

func (h *Host) publish(r *replica) {
	st := r.status()
	h.view.Lock()
	h.view.groups[r.id] = st
	h.view.Unlock()
}

func (h *Host) createGroup(cfg GroupConfig) error {
	if r, ok := h.groups[cfg.ID]; ok && !r.removing {
		return nil
	} else if ok {
		return fmt.Errorf("%w: group %d is being removed here", ErrGroupNotFound, cfg.ID)
	}
	rid := cfg.ReplicaID
	if rid == 0 {
		rid = h.cfg.NodeID
	}
	ls, found, err := loadLogStore(h.cfg.Engine, cfg.ID)
	if err != nil {
		return err
	}
	fresh := !found
	if fresh {
		if _, dead, err := h.cfg.Engine.Get(tombstoneKey(cfg.ID, rid)); err != nil || dead {
			return fmt.Errorf("%w: replica %d of group %d was removed from this node and is never recreated (err %v)", ErrTombstoned, rid, cfg.ID, err)
		}
		if len(cfg.Voters) == 0 && !cfg.Join {
			return fmt.Errorf("multiraft: group %d is new here and has no voters", cfg.ID)
		}
		b := h.cfg.Engine.NewWriteBatch()
		if cfg.Join {
			ls, err = writeEmpty(b, cfg.ID)
		} else {
			ls, err = writeBootstrap(b, cfg.ID, cfg.Voters, cfg.Learners)
		}
		if err == nil {
			err = b.Commit(true)
		}
		b.Close()
		if err != nil {
			return err
		}
		ls.engine = h.cfg.Engine
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        rid,
		ElectionTick:              h.cfg.ElectionTicks,
		HeartbeatTick:             h.cfg.HeartbeatTicks,
		Storage:                   ls,
		Applied:                   ls.applied.Index,
		MaxSizePerMsg:             h.cfg.MaxSizePerMsg,
		MaxInflightMsgs:           h.cfg.MaxInflightMsgs,
		MaxUncommittedEntriesSize: 64 << 20,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		DisableProposalForwarding: true,
		StepDownOnRemoval:         true,
		Logger:                    newRaftLogger(h.cfg.Logger, cfg.ID),
	})
	if err != nil {
		return err
	}
	r := newReplica(cfg.ID, h.cfg.NodeID, rid, rn, ls, cfg.NewStateMachine())
	h.groups[cfg.ID] = r
	if fresh && cfg.Campaign && !cfg.Join {
		_ = rn.Campaign()
	}
	h.publish(r)
	return nil
}
