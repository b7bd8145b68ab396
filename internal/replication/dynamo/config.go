package dynamo

import (
	"errors"
	"log/slog"
	"time"

	"github.com/distkv/distkv/internal/clock"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/replication/dynamo/dvv"
	"github.com/distkv/distkv/internal/storage"
	"github.com/distkv/distkv/internal/transport"
)

// Errors returned by the engine; the kv service translates them.
var (
	// ErrUnavailable: not enough replicas could be reached; nothing was
	// stored anywhere.
	ErrUnavailable = errors.New("dynamo: not enough replicas reachable")
	// ErrUnknownOutcome: the write was stored on fewer than W replicas
	// before the deadline; it may still spread (it is on at least one).
	ErrUnknownOutcome = errors.New("dynamo: write reached fewer replicas than required")
	// ErrCausalDeps: this node has not applied the client's causal
	// dependencies within the wait bound.
	ErrCausalDeps = errors.New("dynamo: causal dependencies not yet applied here")
	// ErrBadToken: a causal context or token could not be decoded.
	ErrBadToken = errors.New("dynamo: malformed causal token")
)

// Metrics are counters the node exports; any may be nil.
type Metrics struct {
	LWWDiscarded   func(n int) // writes dropped by last-writer-wins
	ReadRepairs    func()      // replicas repaired by a read
	HintsStored    func()
	HintsDelivered func()
	KeysRepaired   func(n int) // keys exchanged by anti-entropy
}

// Config configures an Engine. Zero fields take the documented defaults.
type Config struct {
	NodeID    keyspace.NodeID
	Engine    *storage.Engine
	Transport transport.Transport
	// Map returns the current shard map.
	Map func() *membership.Map
	// Alive reports the failure detector's view of a node.
	Alive func(keyspace.NodeID) bool
	// Clock is for intervals and waits; HLC stamps writes.
	Clock clock.Clock
	HLC   *dvv.Clock
	// Sync makes stores wait for the disk (false for --in-memory nodes).
	Sync bool
	// Timeout bounds a request without a deadline. Default 5s.
	Timeout time.Duration
	// AntiEntropyInterval is how often each replica compares one shard
	// with another replica. Default 10s.
	AntiEntropyInterval time.Duration
	// HintInterval is how often stored hints are offered to their owners.
	// Default 500ms.
	HintInterval time.Duration
	// TombstoneGrace is how old a tombstone must be before it may be
	// removed. Default 1 minute.
	TombstoneGrace time.Duration
	// CausalWait bounds how long a causal request waits for its
	// dependencies. Default 1s.
	CausalWait time.Duration
	// OnChange receives every state a replica stores for a key (after it
	// is durable).
	OnChange func(ns *membership.NamespaceMap, changes []Change)
	Metrics  Metrics
	Logger   *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.NodeID == 0 || c.Engine == nil || c.Transport == nil || c.Map == nil {
		return errors.New("dynamo: NodeID, Engine, Transport and Map are required")
	}
	if c.Alive == nil {
		c.Alive = func(keyspace.NodeID) bool { return true }
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.HLC == nil {
		c.HLC = dvv.NewClock(c.Clock.Now, 500*time.Millisecond)
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.AntiEntropyInterval <= 0 {
		c.AntiEntropyInterval = 10 * time.Second
	}
	if c.HintInterval <= 0 {
		c.HintInterval = 500 * time.Millisecond
	}
	if c.TombstoneGrace <= 0 {
		c.TombstoneGrace = time.Minute
	}
	if c.CausalWait <= 0 {
		c.CausalWait = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Change is one key's new state on this replica.
type Change struct {
	Group uint64
	Key   []byte
	// Value is the first live sibling (nil for a tombstone); Deleted marks
	// a state with no live sibling.
	Value   []byte
	Deleted bool
	// Siblings counts live values.
	Siblings int
	// Token is the state's causal context as a client token.
	Token string
}
