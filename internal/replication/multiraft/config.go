package multiraft

import (
	"errors"
	"log/slog"
	"time"

	"github.com/distkv/distkv/internal/clock"
	"github.com/distkv/distkv/internal/storage"
	"github.com/distkv/distkv/internal/transport"
)

// MessageType is the transport message type carrying Raft messages.
const MessageType uint8 = 1

// Config configures a Host. Fields left zero take the documented defaults.
type Config struct {
	// NodeID is this node's ID. It frames proposals, and it is the Raft
	// replica ID in groups whose GroupConfig names none. Required.
	NodeID uint64
	// Engine is the node's storage. Required.
	Engine *storage.Engine
	// Transport sends Raft messages and snapshots. Required. Its Handlers
	// must route MessageType messages to HandleMessage and snapshots to
	// HandleSnapshot.
	Transport transport.Transport
	// Clock drives ticks. Default clock.Real{}.
	Clock clock.Clock
	// TickInterval is the length of one Raft tick. Default 50ms.
	TickInterval time.Duration
	// ElectionTicks is the election timeout in ticks (randomized up to
	// twice this by Raft). Default 10.
	ElectionTicks int
	// HeartbeatTicks is the leader's heartbeat interval in ticks. Default 1.
	HeartbeatTicks int
	// LogKeep is how many applied entries a replica keeps before truncating
	// its log; a follower that falls further behind receives a snapshot.
	// Default 10000.
	LogKeep uint64
	// MaxSnapshotBytes bounds a received snapshot. Default 1 GiB.
	MaxSnapshotBytes int64
	// MaxQueue bounds the events waiting for the loop. Default 65536.
	MaxQueue int
	// MaxSizePerMsg and MaxInflightMsgs are Raft's flow control. Defaults
	// 1 MiB and 256.
	MaxSizePerMsg   uint64
	MaxInflightMsgs int
	// Logger receives structured logs. Default: discard.
	Logger *slog.Logger
	// Events receives notifications; any field may be nil.
	Events Events
	// Manual starts no loop goroutine: the owner calls Cycle to run each
	// turn, so a test can drive the Host deterministically. Methods that
	// wait for the loop (Propose, ReadBarrier, CreateGroup, Status...)
	// then return only while the owner keeps cycling.
	Manual bool
}

// Events are callbacks from the loop. They run on the loop goroutine and
// must not block or call back into the Host synchronously.
type Events struct {
	// LeaderChanged reports a group's new leader (0 = none) as seen here.
	LeaderChanged func(group, leader, term uint64)
	// Synced reports the duration of each synced batch commit.
	Synced func(d time.Duration, groups int)
	// Proposed counts proposals handed to Raft.
	Proposed func(group uint64)
	// ConfChanged reports a group's configuration after a change applied
	// here.
	ConfChanged func(group uint64, c Conf)
	// SnapshotSent reports the bytes of each snapshot streamed to a
	// replica. It runs on the sending goroutine.
	SnapshotSent func(group uint64, bytes int64)
}

func (c *Config) setDefaults() error {
	if c.NodeID == 0 {
		return errors.New("multiraft: NodeID is required")
	}
	if c.Engine == nil || c.Transport == nil {
		return errors.New("multiraft: Engine and Transport are required")
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.TickInterval <= 0 {
		c.TickInterval = 50 * time.Millisecond
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = 1
	}
	if c.HeartbeatTicks >= c.ElectionTicks {
		return errors.New("multiraft: HeartbeatTicks must be below ElectionTicks")
	}
	if c.LogKeep == 0 {
		c.LogKeep = 10000
	}
	if c.MaxSnapshotBytes <= 0 {
		c.MaxSnapshotBytes = 1 << 30
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = 65536
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 1 << 20
	}
	if c.MaxInflightMsgs <= 0 {
		c.MaxInflightMsgs = 256
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
