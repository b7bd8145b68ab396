// Package clustertest runs an N-node distkv cluster inside one test
// process, on an in-memory network with a seeded fault switchboard and on
// in-memory (optionally crashable) file systems. It is for tests only, as
// net/http/httptest is.
package clustertest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"github.com/distkv/distkv/api"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/node"
	"github.com/distkv/distkv/internal/storage"
	"github.com/distkv/distkv/internal/transport"
)

// Options shape a test cluster. Zero values take the documented defaults.
type Options struct {
	Nodes    int   // default 3
	Shards   int   // default namespace's shards, default 4
	Replicas int   // default namespace's replicas, default 3
	Seed     int64 // fault switchboard seed
	// TickInterval and ElectionTicks: default 10ms and 10.
	TickInterval  time.Duration
	ElectionTicks int
	LogKeep       uint64 // default 10000
	// Crashable gives every node a crashable file system, so Crash loses
	// exactly what was not synced.
	Crashable bool
	// UnsafeLocalReads sets the testing switch that serves linearizable
	// reads without ReadIndex.
	UnsafeLocalReads bool
	RequestTimeout   time.Duration // default 2s
	// HeartbeatInterval paces failure detection (default 100ms: a stopped
	// node is suspected after 400ms).
	HeartbeatInterval time.Duration
	// AntiEntropyInterval and TombstoneGrace tune the leaderless engine
	// (defaults: the node's).
	AntiEntropyInterval, TombstoneGrace time.Duration
	// AllowFaultInjection enables the nodes' fault endpoints.
	AllowFaultInjection bool
	// Dir, if set, puts each node's data on the real disk under Dir
	// instead of in memory (benchmarks of the durable path).
	Dir string
	// DeadNodeTimeout is the coordinator's dead-node timeout (default
	// the node's: 5 minutes; negative: never).
	DeadNodeTimeout time.Duration
	// MaxMoves and MaxMovesPerNode bound the coordinator's moves
	// (defaults: the node's).
	MaxMoves, MaxMovesPerNode int
	// CoordinatorInterval paces the coordinator (default 50ms).
	CoordinatorInterval time.Duration
}

// Cluster is a running in-process cluster.
type Cluster struct {
	t     testing.TB
	opts  Options
	Net   *transport.Network
	peers []membership.Member // every node, joined ones included
	// bootstrap is the initial cluster the first nodes were started with.
	bootstrap []membership.Member

	mu     sync.Mutex
	nodes  map[keyspace.NodeID]*node.Node
	fs     map[keyspace.NodeID]*storage.MemFS
	joined map[keyspace.NodeID]bool // started with Join rather than the bootstrap list
}

// New starts a cluster and waits until every shard has a leader. It stops
// the cluster when the test ends.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Shards == 0 {
		opts.Shards = 4
	}
	if opts.Replicas == 0 {
		opts.Replicas = 3
	}
	if opts.TickInterval == 0 {
		opts.TickInterval = 10 * time.Millisecond
	}
	if opts.ElectionTicks == 0 {
		opts.ElectionTicks = 10
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 2 * time.Second
	}
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = 100 * time.Millisecond
	}
	if opts.CoordinatorInterval == 0 {
		opts.CoordinatorInterval = 50 * time.Millisecond
	}
	c := &Cluster{
		t: t, opts: opts,
		Net:    transport.NewNetwork(transport.NewFaults(opts.Seed, nil)),
		nodes:  make(map[keyspace.NodeID]*node.Node),
		fs:     make(map[keyspace.NodeID]*storage.MemFS),
		joined: make(map[keyspace.NodeID]bool),
	}
	for i := 1; i <= opts.Nodes; i++ {
		id := keyspace.NodeID(i)
		c.peers = append(c.peers, membership.Member{ID: id, PeerAddr: fmt.Sprintf("mem:%d", i)})
		switch {
		case opts.Dir != "":
		case opts.Crashable:
			c.fs[id] = storage.NewCrashableMemFS()
		default:
			c.fs[id] = storage.NewMemFS()
		}
	}
	c.bootstrap = append([]membership.Member(nil), c.peers...)
	for _, p := range c.bootstrap {
		c.start(p.ID)
	}
	t.Cleanup(c.Close)
	c.WaitReady(30 * time.Second)
	return c
}

// Join starts a new node id that joins the running cluster (asking a
// running node to admit it) and returns once it runs; the coordinator then
// makes it active and moves replicas to it.
func (c *Cluster) Join(id keyspace.NodeID) {
	c.t.Helper()
	c.mu.Lock()
	for _, p := range c.peers {
		if p.ID == id {
			c.mu.Unlock()
			c.t.Fatalf("Join: %s is already a node of the test cluster", id)
		}
	}
	c.peers = append(c.peers, membership.Member{ID: id, PeerAddr: fmt.Sprintf("mem:%d", id)})
	c.joined[id] = true
	if c.opts.Dir == "" {
		if c.opts.Crashable {
			c.fs[id] = storage.NewCrashableMemFS()
		} else {
			c.fs[id] = storage.NewMemFS()
		}
	}
	c.mu.Unlock()
	c.start(id)
}

// WaitMap waits until every running node's shard map satisfies ok, and
// fails the test with the last map if that takes longer than timeout.
func (c *Cluster) WaitMap(timeout time.Duration, what string, ok func(*membership.Map) bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		all := true
		var last *membership.Map
		for _, n := range c.Running() {
			if m := n.Map(); !ok(m) {
				all, last = false, m
				break
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("after %v, not every node's shard map has %s; one is at epoch %d: members %+v, moves %+v",
				timeout, what, last.Epoch, last.Members, last.Moves)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Faults is the network's fault switchboard.
func (c *Cluster) Faults() *transport.Faults { return c.Net.Faults() }

// IDs lists the cluster's node IDs.
func (c *Cluster) IDs() []keyspace.NodeID {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]keyspace.NodeID, 0, len(c.peers))
	for _, p := range c.peers {
		out = append(out, p.ID)
	}
	return out
}

func logger() *slog.Logger {
	if os.Getenv("DISTKV_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Cluster) start(id keyspace.NodeID) {
	c.t.Helper()
	var fs storage.FS
	dir := "data"
	c.mu.Lock()
	if c.opts.Dir != "" {
		dir = filepath.Join(c.opts.Dir, id.String())
	} else {
		fs = c.fs[id]
	}
	joined := c.joined[id]
	c.mu.Unlock()
	cfg := node.Config{
		ID:                      id,
		Peers:                   c.bootstrap,
		FS:                      fs,
		DataDir:                 dir,
		DefaultShards:           c.opts.Shards,
		DefaultReplicas:         keyspace.Replication{N: c.opts.Replicas},
		TickInterval:            c.opts.TickInterval,
		ElectionTicks:           c.opts.ElectionTicks,
		LogKeep:                 c.opts.LogKeep,
		RequestTimeout:          c.opts.RequestTimeout,
		Network:                 c.Net,
		Logger:                  logger().With("test_node", id.String()),
		TestingUnsafeLocalReads: c.opts.UnsafeLocalReads,
		AllowFaultInjection:     c.opts.AllowFaultInjection,
		HeartbeatInterval:       c.opts.HeartbeatInterval,
		AntiEntropyInterval:     c.opts.AntiEntropyInterval,
		TombstoneGrace:          c.opts.TombstoneGrace,
		DeadNodeTimeout:         c.opts.DeadNodeTimeout,
		CoordinatorInterval:     c.opts.CoordinatorInterval,
	}
	cfg.Rebalance.MaxMoves, cfg.Rebalance.MaxMovesPerNode = c.opts.MaxMoves, c.opts.MaxMovesPerNode
	if joined {
		cfg.Peers = nil
		cfg.PeerAddr = fmt.Sprintf("mem:%d", id)
		cfg.JoinFunc = func(ctx context.Context, req api.MemberRequest) (api.MemberChange, error) {
			var last error
			for ctx.Err() == nil {
				for _, n := range c.Running() {
					ch, err := n.AddMember(ctx, req)
					if err == nil {
						return ch, nil
					}
					last = err
				}
				time.Sleep(20 * time.Millisecond)
			}
			return api.MemberChange{}, fmt.Errorf("no node admitted %s: %w", id, last)
		}
	}
	n, err := node.New(cfg)
	if err != nil {
		c.t.Fatalf("starting %s: %v", id, err)
	}
	c.mu.Lock()
	c.nodes[id] = n
	c.mu.Unlock()
}

// HTTP serves node id's HTTP API on a test server, closed with the test.
// The server keeps pointing at that node object: after a restart, call
// HTTP again.
func (c *Cluster) HTTP(id keyspace.NodeID) *httptest.Server {
	n := c.Node(id)
	if n == nil {
		c.t.Fatalf("HTTP of down node %s", id)
	}
	srv := httptest.NewServer(n.HTTPHandler())
	c.t.Cleanup(srv.Close)
	return srv
}

// Node returns a running node, or nil if it is down.
func (c *Cluster) Node(id keyspace.NodeID) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// Running lists the nodes that are up.
func (c *Cluster) Running() []*node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*node.Node
	for _, p := range c.peers {
		if n := c.nodes[p.ID]; n != nil {
			out = append(out, n)
		}
	}
	return out
}

func (c *Cluster) take(id keyspace.NodeID) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[id]
	delete(c.nodes, id)
	return n
}

// Stop shuts a node down gracefully (leadership handed off first).
func (c *Cluster) Stop(id keyspace.NodeID) {
	if n := c.take(id); n != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	}
}

// Crash kills a node abruptly. With Options.Crashable its disk keeps only
// what was synced, as after a power loss; otherwise everything written.
func (c *Cluster) Crash(id keyspace.NodeID) { c.CrashKeeping(id, 0, 0) }

// CrashKeeping is Crash where each piece of unsynced data survives with
// probability unsyncedPercent (seeded), as a torn write might leave it.
func (c *Cluster) CrashKeeping(id keyspace.NodeID, unsyncedPercent int, seed uint64) {
	n := c.take(id)
	if n == nil {
		return
	}
	// The node must not acknowledge anything its cloned disk lacks (in a
	// real crash the process stops at the instant its disk does): cut it
	// off, so peers get no more acknowledgements, then stop everything on
	// it that could answer a client or a peer, and only then clone the
	// disk, before storage closes.
	rule, err := c.Faults().Isolate(uint64(id), 0)
	if err != nil {
		c.t.Fatalf("isolating %s: %v", id, err)
	}
	defer c.Faults().Remove(rule)
	var clone *storage.MemFS
	_ = n.Crash(func() {
		if !c.opts.Crashable {
			return
		}
		cfg := storage.CrashCloneCfg{UnsyncedDataPercent: unsyncedPercent}
		if unsyncedPercent > 0 {
			cfg.RNG = rand.New(rand.NewPCG(seed, seed))
		}
		clone = c.fs[id].CrashClone(cfg)
	})
	if clone != nil {
		c.mu.Lock()
		c.fs[id] = clone
		c.mu.Unlock()
	}
}

// Restart starts a stopped or crashed node from its disk.
func (c *Cluster) Restart(id keyspace.NodeID) {
	if c.Node(id) != nil {
		c.t.Fatalf("restart of running node %s", id)
	}
	c.start(id)
}

// Close stops every node.
func (c *Cluster) Close() {
	for _, p := range c.peerList() {
		if n := c.take(p.ID); n != nil {
			_ = n.Kill()
		}
	}
}

func (c *Cluster) peerList() []membership.Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]membership.Member(nil), c.peers...)
}

// Leader returns the leader of group as the running nodes see it, or 0
// when they do not agree on one running leader.
func (c *Cluster) Leader(group keyspace.GroupID) keyspace.NodeID {
	var leader uint64
	for _, n := range c.Running() {
		l, hosted := n.Host().Leader(uint64(group))
		if !hosted {
			continue
		}
		if l == 0 || (leader != 0 && l != leader) {
			return 0
		}
		leader = l
	}
	if c.Node(keyspace.NodeID(leader)) == nil {
		return 0
	}
	return keyspace.NodeID(leader)
}

// Groups lists the metadata group and every strong shard group.
func (c *Cluster) Groups() []membership.Shard {
	m := c.anyNode().Map()
	out := []membership.Shard{{Group: keyspace.MetaGroup, Replicas: m.MetaVoters}}
	for _, ns := range m.Namespaces {
		if ns.Mode != keyspace.ModeStrong {
			continue
		}
		for s := range ns.Placement {
			out = append(out, ns.Shard(s))
		}
	}
	return out
}

func (c *Cluster) anyNode() *node.Node {
	r := c.Running()
	if len(r) == 0 {
		c.t.Fatal("no node running")
	}
	return r[0]
}

// WaitReady waits until every group has a leader that all running replicas
// agree on.
func (c *Cluster) WaitReady(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing := []string{}
		for _, g := range c.Groups() {
			if c.Leader(g.Group) == 0 {
				missing = append(missing, g.Group.String())
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("groups without a leader after %v: %s", timeout, strings.Join(missing, " "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ShardDigests returns, for every running replica of group, a hash of the
// group's replicated state (applied state and data).
func (c *Cluster) ShardDigests(group keyspace.GroupID) map[keyspace.NodeID]string {
	out := map[keyspace.NodeID]string{}
	for _, n := range c.Running() {
		if _, hosted := n.Host().Leader(uint64(group)); !hosted {
			continue
		}
		h := sha256.New()
		start, end := storage.StateRange(uint64(group))
		_ = n.Engine().Scan(start, end, func(k, v []byte) bool {
			fmt.Fprintf(h, "%x=%x;", k, v)
			return true
		})
		out[n.ID()] = fmt.Sprintf("%x", h.Sum(nil)[:8])
	}
	return out
}

// WaitConverged waits until every running replica of every group has the
// same digest, and fails the test with the digests if it does not happen
// in time.
func (c *Cluster) WaitConverged(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var diverged []string
		for _, g := range c.Groups() {
			d := c.ShardDigests(g.Group)
			if !allEqual(d) {
				diverged = append(diverged, fmt.Sprintf("%s %v", g.Group, d))
			}
		}
		if len(diverged) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(diverged)
			c.t.Fatalf("replicas did not converge within %v:\n%s", timeout, strings.Join(diverged, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func allEqual(d map[keyspace.NodeID]string) bool {
	first := ""
	for _, v := range d {
		if first == "" {
			first = v
		} else if v != first {
			return false
		}
	}
	return true
}

// CreateNamespace creates a namespace through node 1 (or the first running
// node) and waits until every running node knows it.
func (c *Cluster) CreateNamespace(ns api.Namespace) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := c.anyNode().CreateNamespace(ctx, ns); err != nil {
		c.t.Fatalf("creating namespace %s: %v", ns.Name, err)
	}
	for _, n := range c.Running() {
		for n.Map().Namespace(ns.Name) == nil {
			if ctx.Err() != nil {
				c.t.Fatalf("%s never learned namespace %s", n.ID(), ns.Name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if ns.Mode == "" || ns.Mode == "strong" || ns.Mode == "ca" {
		c.WaitReady(20 * time.Second)
	}
}
