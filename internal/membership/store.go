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

// Command is a change to the shard map, proposed through the metadata
// group. Encode it with EncodeCommand.
type Command struct {
	// Op is "create_namespace".
	Op        string              `json:"op"`
	Namespace *keyspace.Namespace `json:"namespace,omitempty"`
}

// Result is what applying a Command returns to its proposer.
type Result struct {
	Map       *Map
	Namespace *NamespaceMap
	Err       error
}

// EncodeCommand encodes c for proposal.
func EncodeCommand(c Command) []byte {
	b, _ := json.Marshal(c)
	return b
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
		return Result{Err: fmt.Errorf("membership: undecodable command: %w", err)}
	}
	switch c.Op {
	case "create_namespace":
		if c.Namespace == nil {
			return Result{Err: errors.New("membership: create_namespace without a namespace")}
		}
		next, nm, err := base.withNamespace(*c.Namespace)
		if err != nil {
			return Result{Err: err}
		}
		if next != base {
			if err := s.write(b, next); err != nil {
				return Result{Err: err}
			}
			s.pending = next
		}
		return Result{Map: next, Namespace: nm}
	default:
		return Result{Err: fmt.Errorf("membership: unknown command %q", c.Op)}
	}
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
