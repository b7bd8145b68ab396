package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/coordinator"
	"github.com/distkv/distkv/internal/frontend/httpapi"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/rebalance"
	"github.com/distkv/distkv/internal/replication/dynamo"
	"github.com/distkv/distkv/internal/replication/multiraft"
	"github.com/distkv/distkv/internal/storage"
	"github.com/distkv/distkv/internal/transport"
	"github.com/distkv/distkv/internal/txn"
	"github.com/distkv/distkv/internal/watch"
	"github.com/prometheus/client_golang/prometheus"
)

// Node is one running distkv server.
type Node struct {
	cfg       Config
	log       *slog.Logger
	engine    *storage.Engine
	transport transport.Transport
	host      *multiraft.Host
	meta      *membership.Store
	kv        *kv.Service
	detector  *membership.Detector
	faults    *transport.Faults
	stopTick  chan struct{}
	tickDone  chan struct{}
	closed    atomic.Bool
	metrics   *nodeMetrics
	hub       *watch.Hub
	dynamo    *dynamo.Engine
	// ready is closed once every component exists; the transport may
	// deliver before that, and its handlers wait for (or drop on) it.
	ready chan struct{}
	// muxServers serve the multiplexed connections of the handlers
	// HTTPHandler built.
	muxMu      sync.Mutex
	muxServers []*httpapi.MuxServer

	// The reconciler carries out shard map changes on this node; the
	// coordinator's driver runs while this node leads the metadata group.
	reconcileKick chan struct{}
	stopBG        chan struct{}
	reconcileDone chan struct{}
	coord         *coordinator.Driver
	coordDone     chan struct{}
	coordCancel   context.CancelFunc
	// txn coordinates transactions and resolves the locks requests meet.
	txn *txn.Coordinator
	// removed is set once the map says this node was removed.
	removed atomic.Bool
}

// New opens the node's storage, bootstraps it on first start, and starts
// its transport and Raft groups. It returns without waiting for elections.
func New(cfg Config) (*Node, error) {
	if cfg.AssignID && cfg.ID == 0 {
		if err := assignID(&cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.ID.String()), ready: make(chan struct{}), metrics: newNodeMetrics(),
		reconcileKick: make(chan struct{}, 1), stopBG: make(chan struct{})}
	if err := n.open(); err != nil {
		// Release whatever opened (storage's lock, the listener) so the
		// caller can retry in the same process.
		n.closeAll(nil)
		return nil, err
	}
	n.log.Info("node started", "peer_addr", n.peerAddr(), "data_dir", cfg.DataDir, "in_memory", cfg.InMemory)
	return n, nil
}

// open does New's work in order; on error, New closes what it opened.
func (n *Node) open() (err error) {
	cfg := n.cfg
	if n.engine, err = storage.Open(n.storageConfig()); err != nil {
		return err
	}
	if err = n.bootstrapIfNew(); err != nil {
		return err
	}
	if n.meta, err = membership.Open(n.engine); err != nil {
		return err
	}
	switch {
	case cfg.Faults != nil:
		n.faults = cfg.Faults
	case cfg.Network != nil:
		n.faults = cfg.Network.Faults() // shared by the whole in-memory cluster
	default:
		n.faults = transport.NewFaults(time.Now().UnixNano(), cfg.Clock)
	}
	if n.transport, err = n.openTransport(); err != nil {
		return err
	}
	if n.host, err = n.openHost(); err != nil {
		return err
	}
	n.hub = watch.NewHub(watch.Config{Node: n.NodeID(), Clock: cfg.Clock})
	if n.dynamo, err = n.openDynamo(); err != nil {
		return err
	}
	n.startDetector() // its ticker also drives the leaderless engine
	n.kv = kv.New(kv.Config{
		OnChange:  n.publishChanges,
		OnRestore: n.seedWatch,
		Dynamo:    n.dynamo,
		Alive:     func(id keyspace.NodeID) bool { return n.detector.State(id) == membership.Alive },
		NodeID:    cfg.ID, Engine: n.engine, Host: n.host, Meta: n.meta, Transport: n.transport,
		Logger: n.log, Timeout: cfg.RequestTimeout, Limits: cfg.Limits, TestingUnsafeLocalReads: cfg.TestingUnsafeLocalReads,
	})
	n.txn = txn.New(txn.Config{KV: n.kv, Now: n.cfg.Clock.Now, Logger: n.log.With("component", "txn"), NodeID: n.NodeID()})
	n.meta.OnChange(func(old, m *membership.Map) { n.mapChanged(old, m) })
	n.metrics.registerNode(n)
	close(n.ready)
	if err = n.startGroups(); err != nil {
		return err
	}
	n.startBackground()
	n.seedWatchHistory()
	return nil
}

func (n *Node) storageConfig() storage.Config {
	sc := storage.Config{Dir: n.cfg.DataDir, FS: n.cfg.FS, Logger: n.log}
	if n.cfg.InMemory && n.cfg.FS == nil {
		sc.FS = storage.NewMemFS()
	}
	return sc
}

// bootstrapIfNew writes the initial shard map on a node's first start:
// the bootstrap map of a new cluster, or, for a node that joins one, the
// provisional map the cluster's answer gives.
func (n *Node) bootstrapIfNew() error {
	done, err := membership.Bootstrapped(n.engine)
	if err != nil {
		return err
	}
	if done {
		if len(n.cfg.Join) > 0 {
			s, err := membership.Open(n.engine)
			if err != nil {
				return err
			}
			return n.checkJoinTarget(s.Current())
		}
		return nil
	}
	if len(n.cfg.Join) > 0 || n.cfg.JoinFunc != nil {
		ch, err := n.join()
		if err != nil {
			return err
		}
		m, err := provisionalMap(ch)
		if err != nil {
			return err
		}
		n.log.Info(fmt.Sprintf("%s admitted to cluster %d (epoch %d); waiting for the shard map", n.cfg.ID, m.ClusterID(), ch.Epoch))
		return membership.WriteBootstrap(n.engine, m)
	}
	m, err := membership.Bootstrap(n.cfg.Peers, n.cfg.defaultNamespace())
	if err != nil {
		return err
	}
	n.log.Info("bootstrapping new node", "members", len(m.Members), "default_shards", n.cfg.DefaultShards)
	return membership.WriteBootstrap(n.engine, m)
}

func (n *Node) openTransport() (transport.Transport, error) {
	h := transport.Handlers{
		Message:  n.handleMessage,
		Call:     n.handleCall,
		Snapshot: n.handleSnapshot,
	}
	if n.cfg.Network != nil {
		return n.cfg.Network.Join(uint64(n.cfg.ID), h), nil
	}
	m := n.meta.Current()
	tc := transport.Config{
		ID:        uint64(n.cfg.ID),
		ClusterID: m.ClusterID(),
		Listen:    n.cfg.PeerAddr,
		Resolve:   n.resolve,
		Handlers:  h,
		Faults:    n.faults,
		Logger:    n.log.With("component", "transport"),
	}
	if t := n.cfg.TLS; t != nil && t.Peer != nil {
		var err error
		if tc.ServerTLS, err = t.Peer.ServerConfig(true); err != nil {
			return nil, err
		}
		tc.ClientTLS = t.Peer.ClientConfig
	}
	t, err := transport.NewTCP(tc)
	if err != nil {
		return nil, err // not a nil *TCP in the interface, which closeAll would call
	}
	return t, nil
}

// resolve finds a peer's address in the current shard map.
func (n *Node) resolve(id uint64) (string, bool) {
	mb, ok := n.meta.Current().Member(keyspace.NodeID(id))
	return mb.PeerAddr, ok && mb.PeerAddr != ""
}

func (n *Node) peerAddr() string {
	if t, ok := n.transport.(*transport.TCP); ok {
		return t.Addr().String()
	}
	return n.cfg.PeerAddr
}

func (n *Node) openHost() (*multiraft.Host, error) {
	return multiraft.New(multiraft.Config{
		NodeID:        uint64(n.cfg.ID),
		Engine:        n.engine,
		Transport:     n.transport,
		Clock:         n.cfg.Clock,
		TickInterval:  n.cfg.TickInterval,
		ElectionTicks: n.cfg.ElectionTicks,
		LogKeep:       n.cfg.LogKeep,
		Logger:        n.log,
		Events: multiraft.Events{
			LeaderChanged: n.leaderChanged,
			Proposed:      func(uint64) { n.metrics.proposals.Inc() },
			SnapshotSent:  func(_ uint64, b int64) { n.metrics.snapshotBytes.Add(float64(b)) },
			Synced: func(d time.Duration, groups int) {
				n.metrics.fsync.Observe(d.Seconds())
				n.metrics.groupsSynced.Observe(float64(groups))
			},
		},
	})
}

func (n *Node) leaderChanged(group, leader, term uint64) {
	g := keyspace.GroupID(group)
	kind := "shard"
	if g == keyspace.MetaGroup {
		kind = "meta"
	}
	n.metrics.leaderChange.WithLabelValues(kind).Inc()
	switch {
	case g == keyspace.MetaGroup && leader != 0:
		n.log.Info(fmt.Sprintf("%s is now cluster coordinator", keyspace.NodeID(leader)), "term", term)
	case g == keyspace.MetaGroup:
		n.log.Info("cluster coordinator lost; electing", "term", term)
	case leader == 0:
		n.log.Debug("shard has no leader", "group", g.String(), "term", term)
	default:
		n.log.Info("shard leader changed", "group", g.String(), "leader", keyspace.NodeID(leader).String(), "term", term)
	}
}

// startGroups creates the metadata group replica and every shard replica
// this node holds in the stored map.
func (n *Node) startGroups() error {
	m := n.meta.Current()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var voters, learners []uint64
	for _, mb := range m.Members {
		if slices.Contains(m.MetaVoters, mb.ID) {
			voters = append(voters, uint64(mb.ID))
		} else {
			learners = append(learners, uint64(mb.ID))
		}
	}
	// A cluster's first map (epoch 1) bootstraps the metadata group
	// identically everywhere; a joining node's provisional map (epoch 0)
	// creates its replica empty, to be filled by the leader's snapshot.
	err := n.host.CreateGroup(ctx, multiraft.GroupConfig{
		ID: uint64(keyspace.MetaGroup), Voters: voters, Learners: learners, Join: m.Epoch == 0,
		NewStateMachine: func() multiraft.StateMachine { return n.meta }, Campaign: len(voters) > 0 && voters[0] == uint64(n.cfg.ID),
	})
	if err != nil {
		return err
	}
	for _, gc := range n.groupConfigs(m) {
		if err := n.host.CreateGroup(ctx, gc); err != nil {
			n.log.Warn("creating a replica at start", "group", keyspace.GroupID(gc.ID).String(), "err", err)
		}
	}
	return nil
}

// mapChanged runs on the Raft loop after every shard map change: it must
// not block, so it only kicks the reconciler.
func (n *Node) mapChanged(_, _ *membership.Map) { n.kickReconcile() }

// startBackground starts the reconciler and the coordinator's driver.
func (n *Node) startBackground() {
	n.reconcileDone = make(chan struct{})
	go n.runReconciler(n.stopBG, n.reconcileDone)
	n.kickReconcile()
	n.coord = coordinator.New(coordinator.Config{
		Self: n.cfg.ID, Cluster: coordCluster{n}, Clock: n.cfg.Clock, Interval: n.cfg.CoordinatorInterval,
		Options: rebalance.Options{MaxMoves: n.cfg.Rebalance.MaxMoves, MaxMovesPerNode: n.cfg.Rebalance.MaxMovesPerNode,
			DeadTimeout: max(n.cfg.DeadNodeTimeout, 0)},
		Logger: n.log.With("component", "coordinator"),
		Events: n.metrics.coordinatorEvents(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	n.coordCancel, n.coordDone = cancel, make(chan struct{})
	go func() {
		defer close(n.coordDone)
		swept := make(chan struct{})
		go func() {
			defer close(swept)
			n.txn.SweepEvery(ctx, time.Second) // abandoned transactions' locks
		}()
		n.coord.Run(ctx)
		<-swept
	}()
}

// Txn runs a transaction in namespace ns ("" for the default).
func (n *Node) Txn(ctx context.Context, ns string, req api.TxnRequest) (api.TxnResponse, error) {
	res, err := n.txn.Run(ctx, ns, txn.FromAPI(req))
	if err != nil {
		return api.TxnResponse{}, err
	}
	branch := req.Failure
	if res.Succeeded {
		branch = req.Success
	}
	return res.API(branch), nil
}

// Transactions returns the node's transaction coordinator.
func (n *Node) Transactions() *txn.Coordinator { return n.txn }

// stopBackground stops the coordinator's driver and the reconciler.
func (n *Node) stopBackground() {
	if n.coordCancel != nil {
		n.coordCancel()
		<-n.coordDone
	}
	if n.reconcileDone != nil {
		close(n.stopBG)
		<-n.reconcileDone
	}
}

// fromRemoved reports whether a peer was removed from the cluster: its
// messages and calls are refused, so a node removed while it was cut off
// cannot disturb the groups it left when it comes back.
func (n *Node) fromRemoved(from uint64) bool {
	mb, ok := n.meta.Current().Member(keyspace.NodeID(from))
	return ok && mb.State == membership.MemberRemoved
}

func (n *Node) handleMessage(m transport.Message) {
	select {
	case <-n.ready:
	default:
		return // still starting: peers retransmit
	}
	if n.fromRemoved(m.From) {
		return
	}
	switch m.Type {
	case multiraft.MessageType:
		n.host.HandleMessage(m)
	case HeartbeatType:
		n.detector.Observe(m.Payload, n.cfg.Clock.Now())
	case dynamo.MessageType:
		n.dynamo.HandleMessage(m)
	}
}

func (n *Node) handleCall(ctx context.Context, from uint64, req []byte) ([]byte, error) {
	if len(req) == 0 {
		return nil, errors.New("empty call")
	}
	select {
	case <-n.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if n.fromRemoved(from) {
		return nil, fmt.Errorf("%s was removed from the cluster", keyspace.NodeID(from))
	}
	switch req[0] {
	case kv.CallKV:
		return n.kv.HandleCall(ctx, req[1:])
	case CallAdmin:
		return n.serveAdminCall(ctx, req[1:])
	case dynamo.CallDynamo:
		return n.dynamo.HandleCall(ctx, from, req[1:])
	case CallStatus:
		return n.serveStatusCall(ctx)
	}
	return nil, fmt.Errorf("unknown call kind %d", req[0])
}

func (n *Node) handleSnapshot(ctx context.Context, from uint64, header []byte, body io.Reader) error {
	select {
	case <-n.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	if n.fromRemoved(from) {
		return fmt.Errorf("%s was removed from the cluster", keyspace.NodeID(from))
	}
	return n.host.HandleSnapshot(ctx, from, header, body)
}

// KV returns the node's kv service.
func (n *Node) KV() *kv.Service { return n.kv }

// Host returns the node's Raft host.
func (n *Node) Host() *multiraft.Host { return n.host }

// Map returns the node's current shard map.
func (n *Node) Map() *membership.Map { return n.meta.Current() }

// ID returns the node's ID.
func (n *Node) ID() keyspace.NodeID { return n.cfg.ID }

// Transport returns the node's peer transport.
func (n *Node) Transport() transport.Transport { return n.transport }

// Close shuts the node down gracefully: it hands its leaderships to
// followers (bounded by ctx), then stops Raft, the transport and storage.
func (n *Node) Close(ctx context.Context) error {
	if n.closed.Load() {
		return nil
	}
	if err := n.host.TransferAllLeadership(ctx); err != nil {
		n.log.Warn("shutting down while still leading some shards", "err", err)
	}
	n.log.Info("node stopping")
	return n.closeAll(nil)
}

// Kill stops the node at once, without handing off leadership: a crash as
// far as peers can tell (storage is closed cleanly; tests that need a torn
// disk clone the file system first).
func (n *Node) Kill() error { return n.closeAll(nil) }

// Crash stops the node like Kill, and calls capture once nothing on the
// node can acknowledge anything any more (Raft host, leaderless engine,
// transport and kv stopped) but before storage is closed. A test clones
// its crashable file system there: every acknowledgement the node gave
// followed an fsync that the clone then holds, which is what a real crash
// guarantees (the process stops at the instant its disk does).
func (n *Node) Crash(capture func()) error { return n.closeAll(capture) }

func (n *Node) closeAll(beforeStorage func()) error {
	if n.closed.Swap(true) {
		return nil
	}
	n.stopBackground()
	if n.stopTick != nil {
		close(n.stopTick)
		<-n.tickDone
	}
	var errs []error
	if n.hub != nil {
		n.hub.Close()
	}
	if n.kv != nil {
		n.kv.Close()
	}
	if n.host != nil {
		n.host.Close()
	}
	if n.dynamo != nil {
		n.dynamo.Close()
	}
	if n.transport != nil {
		errs = append(errs, n.transport.Close())
	}
	if n.kv != nil {
		n.kv.Wait()
	}
	if beforeStorage != nil {
		beforeStorage()
	}
	if n.engine != nil {
		errs = append(errs, n.engine.Close())
	}
	return errors.Join(errs...)
}

// Engine returns the node's storage engine.
func (n *Node) Engine() *storage.Engine { return n.engine }

// HeartbeatType is the transport message type of failure-detector
// heartbeats.
const HeartbeatType uint8 = 2

// startDetector starts the failure detector and its ticker, the node's one
// source of heartbeat time.
func (n *Node) startDetector() {
	m := n.meta.Current()
	ids := make([]keyspace.NodeID, 0, len(m.Members))
	for _, mb := range m.Members {
		ids = append(ids, mb.ID)
	}
	n.detector = membership.NewDetector(membership.DetectorConfig{
		Self: n.cfg.ID,
		Announce: membership.Heartbeat{Started: time.Now().UnixNano(), ClientAddr: n.cfg.ClientAddr,
			RedisAddr: n.cfg.RedisAddr, FTPAddr: n.cfg.FTPAddr},
		Send: func(to keyspace.NodeID, p []byte) {
			n.transport.Send(transport.Message{Type: HeartbeatType, To: uint64(to), Payload: p})
		},
		SuspectAfter: 4 * n.cfg.HeartbeatInterval,
		DeadAfter:    15 * n.cfg.HeartbeatInterval,
		Logger:       n.log.With("component", "failure-detector"),
	}, ids, n.cfg.Clock.Now())
	n.stopTick, n.tickDone = make(chan struct{}), make(chan struct{})
	t := n.cfg.Clock.NewTicker(n.cfg.HeartbeatInterval)
	go func() {
		defer close(n.tickDone)
		defer t.Stop()
		for {
			select {
			case <-n.stopTick:
				return
			case now := <-t.C():
				n.detector.Tick(now)
				if n.dynamo != nil {
					n.dynamo.Tick(now)
				}
			}
		}
	}()
}

// Detector returns the node's failure detector.
func (n *Node) Detector() *membership.Detector { return n.detector }

// Faults returns the node's fault switchboard (nil on an in-memory
// network, whose switchboard is the network's).
func (n *Node) Faults() *transport.Faults { return n.faults }

func (n *Node) faultList() []api.Fault {
	if n.faults == nil {
		return nil
	}
	var out []api.Fault
	for _, r := range n.faults.Rules() {
		out = append(out, faultView(r))
	}
	return out
}

func faultView(r transport.Rule) api.Fault {
	f := api.Fault{ID: r.ID, Kind: r.Kind, Prob: r.Prob}
	for _, id := range r.Nodes {
		f.Nodes = append(f.Nodes, keyspace.NodeID(id).String())
	}
	for _, g := range r.Groups {
		var names []string
		for _, id := range g {
			names = append(names, keyspace.NodeID(id).String())
		}
		f.Groups = append(f.Groups, names)
	}
	if r.From != 0 {
		f.From, f.To = keyspace.NodeID(r.From).String(), keyspace.NodeID(r.To).String()
	}
	if r.Delay > 0 {
		f.Delay, f.Jitter = r.Delay.String(), r.Jitter.String()
	}
	if !r.Until.IsZero() {
		f.Until = r.Until.UTC().Format(time.RFC3339Nano)
	}
	return f
}

// Metrics returns the node's Prometheus registry.
func (n *Node) Metrics() *prometheus.Registry { return n.metrics.reg }
