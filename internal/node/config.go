// Package node assembles one distkv server: storage, the peer transport,
// the Raft host, the shard map, the kv service and the front ends. It is the
// only place that touches real time and real listeners.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clock"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/storage"
	"github.com/distkv/distkv/internal/transport"
)

// Config configures a node. Fields left zero take the documented defaults.
type Config struct {
	// ID is this node's ID. Required.
	ID keyspace.NodeID
	// TLS secures the node's listeners and peer links; nil: none.
	TLS *TLS
	// PeerAddr is where the node listens for peers (host:port). Required
	// unless Network is set.
	PeerAddr string
	// ClientAddr, RedisAddr, FTPAddr are the front ends' addresses, which
	// the node announces to its peers (for status and redirects).
	ClientAddr, RedisAddr, FTPAddr string
	// Peers is the initial cluster, this node included. Every node of a
	// new cluster must be given the same list. Ignored after the first
	// start: the node then follows its stored shard map.
	Peers []membership.Member
	// Join, if set, lists client addresses (host:port) of members of an
	// existing cluster. A node whose data directory is new asks them, in
	// turn, to admit it, and starts from what the one that answers tells
	// it, ignoring Peers. A node that has data checks it belongs to that
	// cluster and carries on. JoinFunc, if set, replaces the HTTP request
	// (tests); the check that a data directory belongs to the cluster asks
	// Join's addresses, so with JoinFunc alone it does not run.
	Join     []string
	JoinFunc func(ctx context.Context, req api.MemberRequest) (api.MemberChange, error)
	// DeadNodeTimeout is how long a member may be silent before the
	// coordinator declares it dead and re-creates its replicas on other
	// nodes. Default 5 minutes; negative turns it off.
	DeadNodeTimeout time.Duration
	// Rebalance bounds the coordinator's moves: MaxMoves under way at
	// once, MaxMovesPerNode per node (defaults 4 and 2).
	Rebalance struct{ MaxMoves, MaxMovesPerNode int }
	// CoordinatorInterval is the coordinator's pause between rounds.
	// Default 200ms.
	CoordinatorInterval time.Duration
	// DataDir holds the node's data. Required unless InMemory.
	DataDir string
	// InMemory keeps everything in memory: an acknowledged write is then
	// in memory on a majority, and a restart loses the node's data.
	InMemory bool
	// FS, if set, is the file system for the data (tests).
	FS storage.FS
	// DefaultShards and DefaultReplicas shape the default namespace at
	// bootstrap. Defaults 16 and 3.
	DefaultShards   int
	DefaultReplicas keyspace.Replication
	// Compat are the seed interfaces served on the client address
	// ("seed001", "seed002", "seed003"); CompatToken is seed 002's bearer
	// token.
	Compat      []string
	CompatToken string
	// DefaultMode, if its Mode is set, gives the default namespace's mode
	// and quorums at bootstrap (Mode, AllReplicas, R, W); default strong.
	DefaultMode keyspace.Namespace
	// DefaultPinned, if set, pins the default namespace's shards to these
	// nodes (seed 004's shards).
	DefaultPinned keyspace.Pinning
	// AssignID: the node has no ID yet (ID is 0) and takes, when it joins,
	// the one the cluster has for its peer address or the next free one;
	// it is kept in the data directory for later starts.
	AssignID bool
	// Raft timing. Defaults: 50ms ticks, election after 10 ticks.
	TickInterval  time.Duration
	ElectionTicks int
	// LogKeep is how many applied Raft entries each replica keeps.
	LogKeep uint64
	// RequestTimeout bounds requests without a deadline. Default 5s.
	RequestTimeout time.Duration
	// HeartbeatInterval paces the failure detector; a peer is suspect
	// after 4 silent intervals and dead after 15. Default 200ms.
	HeartbeatInterval time.Duration
	// Limits bound keys, values and scans (kv defaults when zero).
	Limits kv.Limits
	// AntiEntropyInterval and TombstoneGrace tune the leaderless engine
	// (defaults 10s and 1 minute).
	AntiEntropyInterval, TombstoneGrace time.Duration

	// Network, if set, connects the node to an in-memory network instead of
	// TCP (tests).
	Network *transport.Network
	// Faults is the node's fault switchboard for its TCP transport.
	Faults *transport.Faults
	// Clock drives Raft ticks. Default real time.
	Clock clock.Clock
	// Logger receives the node's logs. Default: discard.
	Logger *slog.Logger
	// AllowFaultInjection enables the fault-injection endpoints.
	AllowFaultInjection bool
	// EnablePprof serves /debug/pprof/.
	EnablePprof bool
	// TestingUnsafeLocalReads: see kv.Config. Tests only.
	TestingUnsafeLocalReads bool
}

func (c *Config) setDefaults() error {
	if c.ID == 0 {
		return errors.New("node: an ID is required")
	}
	if c.DataDir == "" && !c.InMemory && c.FS == nil {
		return errors.New("node: a data directory is required (or run in memory)")
	}
	if c.PeerAddr == "" && c.Network == nil {
		return errors.New("node: a peer address is required")
	}
	if c.DefaultShards == 0 {
		c.DefaultShards = keyspace.DefaultShards
	}
	if c.DefaultReplicas == (keyspace.Replication{}) {
		c.DefaultReplicas = keyspace.Replication{N: keyspace.DefaultReplicas}
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 200 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DeadNodeTimeout == 0 {
		c.DeadNodeTimeout = 5 * time.Minute
	}
	if len(c.Join) > 0 || c.JoinFunc != nil {
		return nil // the cluster tells a joining node its peers
	}
	if len(c.Peers) == 0 {
		c.Peers = []membership.Member{{ID: c.ID, PeerAddr: c.PeerAddr}}
	}
	if !slices.ContainsFunc(c.Peers, func(m membership.Member) bool { return m.ID == c.ID }) {
		return fmt.Errorf("node: %s is not in the initial cluster", c.ID)
	}
	return nil
}

func (c *Config) defaultNamespace() keyspace.Namespace {
	ns := keyspace.Namespace{
		Name:     keyspace.DefaultNamespace,
		Mode:     keyspace.ModeStrong,
		Replicas: c.DefaultReplicas,
		Shards:   c.DefaultShards,
	}
	if c.DefaultMode.Mode != 0 {
		ns.Mode, ns.AllReplicas, ns.R, ns.W = c.DefaultMode.Mode, c.DefaultMode.AllReplicas, c.DefaultMode.R, c.DefaultMode.W
	}
	ns.Pinned = c.DefaultPinned
	return ns
}
