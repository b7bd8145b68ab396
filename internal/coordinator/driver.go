// Package coordinator is the cluster coordinator's driver: on the node
// that leads the metadata group it admits joining nodes, keeps the
// metadata group's voters, declares silent nodes dead, moves replicas to
// the balance the rebalance package plans, spreads leaderships, and
// carries out reshards — each change recorded in the shard map before its
// first step and every step repeatable, so a new coordinator resumes
// whatever its predecessor left half done.
package coordinator

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/distkv/distkv/internal/clock"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/rebalance"
	"github.com/distkv/distkv/internal/replication/multiraft"
)

// Cluster is what the driver needs of its node and, through it, of the
// other nodes. Calls naming a node run there (over the transport) unless
// it is this node.
type Cluster interface {
	// Map is this node's current shard map.
	Map() *membership.Map
	// Leading reports whether this node leads the metadata group.
	Leading() bool
	// Propose applies a shard map change through the metadata group.
	Propose(ctx context.Context, c membership.Command) (membership.Result, error)
	// Nodes is the failure detector's view of every live member.
	Nodes() map[keyspace.NodeID]rebalance.NodeView
	// Epochs are the shard map epochs the members last announced.
	Epochs() map[keyspace.NodeID]uint64
	// Detail returns node's view of group (on its leader, with every
	// replica's progress).
	Detail(ctx context.Context, node keyspace.NodeID, group keyspace.GroupID) (multiraft.GroupDetail, error)
	// ChangeConf changes group's Raft configuration on its leader node.
	ChangeConf(ctx context.Context, node keyspace.NodeID, group keyspace.GroupID, changes []multiraft.Change) (multiraft.Conf, error)
	// Transfer asks group's leader node to hand leadership to replica to.
	Transfer(ctx context.Context, node keyspace.NodeID, group keyspace.GroupID, to keyspace.ReplicaID) error
	// Leaders returns the leaders of strong shard groups as the nodes
	// report them.
	Leaders(ctx context.Context) map[keyspace.GroupID]keyspace.NodeID
	// ProposeStep proposes a reshard step (an encoded shardsm.Migrate) to
	// the shard's leader and returns once it applied.
	ProposeStep(ctx context.Context, sh membership.Shard, cmd []byte) error
	// Export has a replica of source copy the keys of namespace ns that its
	// reshard moves out, with versions above since (or, with final, above
	// the watermark its record holds, deletes included), to their new
	// shards; it returns the watermark.
	Export(ctx context.Context, node keyspace.NodeID, ns string, source keyspace.GroupID, final bool) (uint64, error)
	// CopyShard has node from send its whole replica of a leaderless group
	// to node to, once (causal namespaces) its applied writes cover what
	// node to had applied when asked.
	CopyShard(ctx context.Context, from keyspace.NodeID, ns string, group keyspace.GroupID, to keyspace.NodeID) error
	// Handoff has node hand the keys of its replicas of ns's old layout
	// to their shards in the new one, once its applied writes cover
	// vector (causal namespaces; nil otherwise).
	Handoff(ctx context.Context, node keyspace.NodeID, ns string, reshard uint64) error
	// CatchUpCausal brings node, for every causal namespace it holds no
	// replica of, to the writes the live nodes have applied: the writes
	// made before it joined (or while it was dead) were pruned from their
	// origins' logs and would never reach it, and it holds none of their
	// keys, so claiming them is only advancing its vector.
	CatchUpCausal(ctx context.Context, node keyspace.NodeID) error
}

// Events report what the driver did, for metrics; any may be nil.
type Events struct {
	MoveStarted  func(mv membership.Move)
	MoveFinished func(mv membership.Move, completed bool)
	// ReplicaAdded and ReplicaRemoved count Raft configuration changes
	// of shard groups.
	ReplicaAdded, ReplicaRemoved func()
}

// Config configures a Driver.
type Config struct {
	Self    keyspace.NodeID
	Cluster Cluster
	Clock   clock.Clock
	// Interval is the pause between rounds. Default 200ms.
	Interval time.Duration
	// LeaderRefresh is how often shard leaders are gathered for leader
	// balancing. Default 2s.
	LeaderRefresh time.Duration
	// Options bound plans (moves at once, dead-node timeout).
	Options rebalance.Options
	// StepTimeout bounds one step's calls. Default 10s.
	StepTimeout time.Duration
	Logger      *slog.Logger
	Events      Events
}

func (c *Config) setDefaults() {
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Interval <= 0 {
		c.Interval = 200 * time.Millisecond
	}
	if c.LeaderRefresh <= 0 {
		c.LeaderRefresh = 2 * time.Second
	}
	if c.StepTimeout <= 0 {
		c.StepTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Driver runs the coordinator's rounds while this node leads the metadata
// group. Its state beyond the shard map is only what it observed; losing
// it loses nothing.
type Driver struct {
	cfg Config
	cl  Cluster
	log *slog.Logger

	mu struct {
		sync.Mutex
		workers  map[string]context.CancelFunc // a move or reshard being carried out, by key
		status   map[string]Status             // what each worker last did
		leaders  map[keyspace.GroupID]keyspace.NodeID
		leadersT time.Time
	}
	wg sync.WaitGroup
}

// Status is what a move's or reshard's worker last did.
type Status struct {
	Step string
	// Progress of a new replica's catch-up, 0..1 (0 when not applicable).
	Progress float64
	Err      string
	Updated  time.Time
}

// New returns a driver; Run starts it.
func New(cfg Config) *Driver {
	cfg.setDefaults()
	d := &Driver{cfg: cfg, cl: cfg.Cluster, log: cfg.Logger}
	d.mu.workers = map[string]context.CancelFunc{}
	d.mu.status = map[string]Status{}
	return d
}

// Run runs rounds until ctx ends, then waits for its workers.
func (d *Driver) Run(ctx context.Context) {
	t := d.cfg.Clock.NewTicker(d.cfg.Interval)
	defer t.Stop()
	defer d.wg.Wait()
	defer d.stopWorkers()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if !d.cl.Leading() {
			d.stopWorkers()
			continue
		}
		d.round(ctx)
	}
}

// Statuses returns what the workers last did, by move ("move/ID") and
// reshard ("reshard/NS").
func (d *Driver) Statuses() map[string]Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]Status, len(d.mu.status))
	for k, v := range d.mu.status {
		out[k] = v
	}
	return out
}

func (d *Driver) setStatus(key string, s Status) {
	s.Updated = d.cfg.Clock.Now()
	d.mu.Lock()
	d.mu.status[key] = s
	d.mu.Unlock()
}

func (d *Driver) stopWorkers() {
	d.mu.Lock()
	for k, cancel := range d.mu.workers {
		cancel()
		delete(d.mu.workers, k)
	}
	d.mu.leaders = nil
	d.mu.Unlock()
}

// spawn starts fn as the worker for key unless one runs.
func (d *Driver) spawn(ctx context.Context, key string, fn func(ctx context.Context)) {
	d.mu.Lock()
	if _, ok := d.mu.workers[key]; ok {
		d.mu.Unlock()
		return
	}
	wctx, cancel := context.WithCancel(ctx)
	d.mu.workers[key] = cancel
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer func() {
			d.mu.Lock()
			delete(d.mu.workers, key)
			d.mu.Unlock()
			cancel()
		}()
		fn(wctx)
	}()
}

// round observes the cluster, plans, and starts what the plan says.
func (d *Driver) round(ctx context.Context) {
	m := d.cl.Map()
	nodes := d.cl.Nodes()
	meta, err := d.callDetail(ctx, d.cfg.Self, keyspace.MetaGroup)
	if err != nil {
		d.log.Debug("coordinator: reading the metadata group", "err", err)
		return
	}
	for id, v := range nodes {
		v.MetaCaughtUp = caughtUp(meta, uint64(id))
		nodes[id] = v
	}
	in := rebalance.Input{Map: m, Nodes: nodes, Leaders: d.leaders(ctx), Options: d.cfg.Options}
	p := rebalance.Make(in)
	d.applyStates(ctx, p.States)
	d.syncMetaConf(ctx, m, meta, p.MetaVoters)
	d.startMoves(ctx, p.Moves)
	d.transfer(ctx, m, p.Transfers)
	m = d.cl.Map()
	for _, mv := range m.Moves {
		mv := mv
		d.spawn(ctx, moveKey(mv.ID), func(ctx context.Context) { d.runMove(ctx, mv) })
	}
	for _, ns := range m.Namespaces {
		if ns.Reshard != nil {
			name, id := ns.Name, ns.Reshard.ID
			d.spawn(ctx, reshardKey(name), func(ctx context.Context) { d.runReshard(ctx, name, id) })
		}
	}
}

// The Cluster's calls, each bounded by StepTimeout.

func (d *Driver) callPropose(ctx context.Context, c membership.Command) (membership.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StepTimeout)
	defer cancel()
	return d.cl.Propose(ctx, c)
}

func (d *Driver) callDetail(ctx context.Context, n keyspace.NodeID, g keyspace.GroupID) (multiraft.GroupDetail, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StepTimeout)
	defer cancel()
	return d.cl.Detail(ctx, n, g)
}

func (d *Driver) callChangeConf(ctx context.Context, n keyspace.NodeID, g keyspace.GroupID, cs []multiraft.Change) (multiraft.Conf, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StepTimeout)
	defer cancel()
	return d.cl.ChangeConf(ctx, n, g, cs)
}

func (d *Driver) callTransfer(ctx context.Context, n keyspace.NodeID, g keyspace.GroupID, to keyspace.ReplicaID) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StepTimeout)
	defer cancel()
	return d.cl.Transfer(ctx, n, g, to)
}

func (d *Driver) callLeaders(ctx context.Context) map[keyspace.GroupID]keyspace.NodeID {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StepTimeout)
	defer cancel()
	return d.cl.Leaders(ctx)
}

func (d *Driver) callCopyShard(ctx context.Context, from keyspace.NodeID, ns string, g keyspace.GroupID, to keyspace.NodeID) error {
	ctx, cancel := context.WithTimeout(ctx, 10*d.cfg.StepTimeout)
	defer cancel()
	return d.cl.CopyShard(ctx, from, ns, g, to)
}

func (d *Driver) callProposeStep(ctx context.Context, sh membership.Shard, cmd []byte) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StepTimeout)
	defer cancel()
	return d.cl.ProposeStep(ctx, sh, cmd)
}

// leaders returns the shard leaders, gathered at most every LeaderRefresh.
func (d *Driver) leaders(ctx context.Context) map[keyspace.GroupID]keyspace.NodeID {
	d.mu.Lock()
	l, at := d.mu.leaders, d.mu.leadersT
	d.mu.Unlock()
	now := d.cfg.Clock.Now()
	if l != nil && now.Sub(at) < d.cfg.LeaderRefresh {
		return l
	}
	l = d.callLeaders(ctx)
	d.mu.Lock()
	d.mu.leaders, d.mu.leadersT = l, now
	d.mu.Unlock()
	return l
}

// caughtUp reports whether replica id of the metadata group has what the
// leader has committed (per the leader's progress).
func caughtUp(meta multiraft.GroupDetail, id uint64) bool {
	if id == meta.ReplicaID {
		return true
	}
	pr, ok := meta.Progress[id]
	return ok && pr.State == "StateReplicate" && pr.Match >= meta.Commit
}

func moveKey(id uint64) string    { return "move/" + strconv.FormatUint(id, 10) }
func reshardKey(ns string) string { return "reshard/" + ns }

// sleep waits d on clock c, or until ctx ends (false).
func sleep(ctx context.Context, c clock.Clock, d time.Duration) bool {
	t := c.NewTicker(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}
