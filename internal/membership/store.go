package membership

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/storage"
)

// mapKey is where the metadata group keeps the shard map, inside the
// group's replicated range.
var mapKey = storage.DataKey(uint64(keyspace.MetaGroup), []byte("map"))

// Ops of Commands.
const (
	OpCreateNamespace = "create_namespace" // Namespace
	OpAddMember       = "add_member"       // Member
	OpMemberState     = "member_state"     // Node, State
	OpRemoveMember    = "remove_member"    // Node: start draining it
	OpMetaVoters      = "meta_voters"      // Voters
	OpStartMove       = "start_move"       // Move (ID, Group and ToGen are assigned)
	OpEndMove         = "end_move"         // MoveID, Completed
	OpSetReplicas     = "set_replicas"     // NS, Replicas
	OpStartReshard    = "start_reshard"    // NS, Shards, and Pinned for a pinned namespace
	OpSetPinning      = "set_pinning"      // NS, Pinned: which nodes hold each shard
	OpReshardPhase    = "reshard_phase"    // NS, ReshardID, Phase
	OpEndReshard      = "end_reshard"      // NS, ReshardID
)

// Command is a change to the shard map, proposed through the metadata
// group. Encode it with EncodeCommand. Which fields an op reads is listed
// with the op.
type Command struct {
	Op        string                `json:"op"`
	Namespace *keyspace.Namespace   `json:"namespace,omitempty"`
	Member    *Member               `json:"member,omitempty"`
	Node      keyspace.NodeID       `json:"node,omitempty"`
	State     MemberState           `json:"state,omitempty"`
	Voters    []keyspace.NodeID     `json:"voters,omitempty"`
	Move      *Move                 `json:"move,omitempty"`
	MoveID    uint64                `json:"move_id,omitempty"`
	Completed bool                  `json:"completed,omitempty"`
	NS        string                `json:"ns,omitempty"`
	Replicas  *keyspace.Replication `json:"replicas,omitempty"`
	Shards    int                   `json:"shards,omitempty"`
	ReshardID uint64                `json:"reshard_id,omitempty"`
	Phase     ReshardPhase          `json:"phase,omitempty"`
	Pinned    keyspace.Pinning      `json:"pinned,omitempty"`
}

// Result is what applying a Command returns to its proposer: the map after
// it (unchanged if the command changed nothing), and the namespace or move
// the command made.
type Result struct {
	Map       *Map
	Namespace *NamespaceMap
	Move      *Move
	Err       error
}

// EncodeCommand encodes c for proposal.
func EncodeCommand(c Command) []byte {
	b, _ := json.Marshal(c)
	return b
}

// Apply computes the map after c, without changing base (maps are
// immutable). The metadata group's state machine is this function; tests
// and planners use it to see what a change would do.
func (c Command) Apply(base *Map) Result {
	var (
		next = base
		nm   *NamespaceMap
		mv   *Move
		err  error
	)
	switch c.Op {
	case OpCreateNamespace:
		if c.Namespace == nil {
			return Result{Err: fmt.Errorf("%w: create_namespace without a namespace", ErrInvalid)}
		}
		next, nm, err = base.withNamespace(*c.Namespace)
	case OpAddMember:
		if c.Member == nil {
			return Result{Err: fmt.Errorf("%w: add_member without a member", ErrInvalid)}
		}
		next, err = base.withMember(*c.Member)
	case OpMemberState:
		next, err = base.withMemberState(c.Node, c.State)
	case OpRemoveMember:
		next, err = base.withRemoval(c.Node)
	case OpMetaVoters:
		next, err = base.withMetaVoters(c.Voters)
	case OpStartMove:
		if c.Move == nil {
			return Result{Err: fmt.Errorf("%w: start_move without a move", ErrInvalid)}
		}
		var started Move
		next, started, err = base.withMove(*c.Move)
		mv = &started
	case OpEndMove:
		next, err = base.withMoveDone(c.MoveID, c.Completed)
	case OpSetReplicas:
		if c.Replicas == nil {
			return Result{Err: fmt.Errorf("%w: set_replicas without replicas", ErrInvalid)}
		}
		next, nm, err = base.withReplication(c.NS, *c.Replicas)
	case OpStartReshard:
		next, nm, err = base.withReshard(c.NS, c.Shards, c.Pinned)
	case OpSetPinning:
		next, nm, err = base.withPinning(c.NS, c.Pinned)
	case OpReshardPhase:
		next, err = base.withReshardPhase(c.NS, c.ReshardID, c.Phase)
	case OpEndReshard:
		next, err = base.withReshardDone(c.NS, c.ReshardID)
	default:
		return Result{Err: fmt.Errorf("%w: unknown command %q", ErrInvalid, c.Op)}
	}
	if err != nil {
		return Result{Err: err}
	}
	if nm == nil && c.NS != "" {
		nm = next.Namespace(c.NS)
	}
	return Result{Map: next, Namespace: nm, Move: mv}
}

// Store is the metadata group's state machine and the node's cache of the
// latest applied shard map. Current is safe for concurrent use; the state
// machine methods are called by the Raft loop only.
type Store struct {
	engine  *storage.Engine
	current atomic.Pointer[Map]
	pending *Map // applied in this cycle, not yet committed

	mu struct {
		sync.Mutex
		watchers []func(old, new *Map)
	}
}

// ErrNoMap means the engine holds no shard map: the node was never
// bootstrapped.
var ErrNoMap = errors.New("membership: no shard map stored")

// Open loads the stored shard map.
func Open(e *storage.Engine) (*Store, error) {
	s := &Store{engine: e}
	m, err := s.load()
	if err != nil {
		return nil, err
	}
	s.current.Store(m)
	return s, nil
}

// WriteBootstrap stores the initial map in a new node's engine, synced.
func WriteBootstrap(e *storage.Engine, m *Map) error {
	b := e.NewWriteBatch()
	defer b.Close()
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := b.Set(mapKey, data); err != nil {
		return err
	}
	return b.Commit(true)
}

// Bootstrapped reports whether e already holds a shard map.
func Bootstrapped(e *storage.Engine) (bool, error) {
	_, ok, err := e.Get(mapKey)
	return ok, err
}

func (s *Store) load() (*Map, error) {
	data, ok, err := s.engine.Get(mapKey)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNoMap
	}
	var m Map
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("membership: decoding stored map: %w", err)
	}
	return &m, nil
}

// Current returns the latest committed shard map.
func (s *Store) Current() *Map { return s.current.Load() }

// OnChange registers fn to be called (on the Raft loop, so it must not
// block) after every committed change, with the previous and new maps.
func (s *Store) OnChange(fn func(old, new *Map)) {
	s.mu.Lock()
	s.mu.watchers = append(s.mu.watchers, fn)
	s.mu.Unlock()
}

// Apply implements the metadata group's state machine.
func (s *Store) Apply(b *storage.Batch, index uint64, cmd []byte) any {
	base := s.pending
	if base == nil {
		base = s.Current()
	}
	var c Command
	if err := json.Unmarshal(cmd, &c); err != nil {
		return Result{Err: fmt.Errorf("%w: undecodable command: %w", ErrInvalid, err)}
	}
	res := c.Apply(base)
	if res.Err != nil || res.Map == base {
		if res.Err == nil {
			res.Map = base
		}
		return res
	}
	if err := s.write(b, res.Map); err != nil {
		return Result{Err: err}
	}
	s.pending = res.Map
	return res
}

func (s *Store) write(b *storage.Batch, m *Map) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return b.Set(mapKey, data)
}

// Committed publishes the maps applied in this cycle.
func (s *Store) Committed() {
	if s.pending == nil {
		return
	}
	s.publish(s.pending)
	s.pending = nil
}

// Restored reloads the map after a snapshot replaced the group's state.
func (s *Store) Restored(uint64) {
	s.pending = nil
	m, err := s.load()
	if err != nil {
		panic(fmt.Sprintf("membership: snapshot without a shard map: %v", err))
	}
	s.publish(m)
}

func (s *Store) publish(m *Map) {
	old := s.current.Swap(m)
	s.mu.Lock()
	ws := append([]func(old, new *Map){}, s.mu.watchers...)
	s.mu.Unlock()
	for _, fn := range ws {
		fn(old, m)
	}
}
