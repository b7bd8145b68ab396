package watch

import (
	"errors"
	"sync"
	"time"

	"github.com/distkv/distkv/internal/clock"
)

// Event operations.
const (
	OpPut    = "put"
	OpDelete = "delete"
	// OpLagged is the last event of a subscriber that fell behind; its
	// channel is closed right after it.
	OpLagged = "lagged"
)

// Errors returned by Subscribe.
var (
	// ErrTooOld means Filter.From is older than the history the hub
	// retains, so events the subscriber asked for may be missing.
	ErrTooOld = errors.New("watch: events after the requested version are no longer retained")
	// ErrClosed means the hub has been closed.
	ErrClosed = errors.New("watch: hub closed")
)

// Event is one applied write, or the terminal OpLagged notice.
type Event struct {
	NS  string `json:"ns"`
	Key string `json:"key"`
	// Op is OpPut, OpDelete or OpLagged.
	Op string `json:"op"`
	// Version is the write's version: its Raft index within its shard.
	Version uint64 `json:"version,omitempty"`
	// Value is the value written by a put. Subscribers that did not ask
	// for values receive events without it. Front ends encode it.
	Value []byte `json:"-"`
	// Node is the node that emitted the event; Publish fills it in from
	// Config.Node when empty.
	Node string `json:"node"`
	// Time is when the event was published, unless the publisher set it.
	Time  time.Time `json:"time"`
	Shard int       `json:"shard"`
}

// Config configures a Hub. The zero value is valid.
type Config struct {
	// Node names this node in events.
	Node string
	// Buffer is how many undelivered events a subscriber may have before
	// it is dropped as lagged. Default 1024.
	Buffer int
	// History is how many events are kept per namespace for resuming
	// subscribers. Default 10000.
	History int
	// HistoryBytes bounds the keys and values kept per namespace, so large
	// values cannot make History events a memory problem. Default 64 MiB.
	HistoryBytes int
	// Clock stamps events. Default: the real clock.
	Clock clock.Clock
}

func (c *Config) setDefaults() {
	if c.Buffer <= 0 {
		c.Buffer = 1024
	}
	if c.History <= 0 {
		c.History = 10000
	}
	if c.HistoryBytes <= 0 {
		c.HistoryBytes = 64 << 20
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
}

// Hub fans published events out to subscribers. Safe for concurrent use.
type Hub struct {
	cfg Config

	mu struct {
		sync.Mutex
		closed bool
		ns     map[string]*namespace
	}
}

// namespace is one namespace's history and subscribers; guarded by Hub.mu.
type namespace struct {
	history history
	subs    map[*Subscription]struct{}
}

// NewHub returns a hub with cfg's defaults filled in.
func NewHub(cfg Config) *Hub {
	cfg.setDefaults()
	h := &Hub{cfg: cfg}
	h.mu.ns = make(map[string]*namespace)
	return h
}

// nsLocked returns the named namespace's state, creating it. h.mu must be
// held.
func (h *Hub) nsLocked(name string) *namespace {
	st := h.mu.ns[name]
	if st == nil {
		st = &namespace{
			history: newHistory(h.cfg.History, h.cfg.HistoryBytes),
			subs:    make(map[*Subscription]struct{}),
		}
		h.mu.ns[name] = st
	}
	return st
}

// Seed tells the hub that its history of a shard cannot go back beyond
// version: events at or below it were applied without passing through the
// hub (before this node started, or in a snapshot it installed), so a
// Subscribe with a From below it gets ErrTooOld.
func (h *Hub) Seed(ns string, shard int, version uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		return
	}
	st := h.nsLocked(ns)
	if version > st.history.floor[shard] {
		st.history.floor[shard] = version
	}
}

// Publish records evs in their namespaces' histories and offers each to
// every matching subscriber, in order. Events of one shard must be
// published in log order. It never waits for a subscriber: one whose buffer
// is full is dropped as lagged. Publish keeps the events' Key and Value
// bytes (not the evs slice), so the caller must not modify them afterwards.
// After Close it does nothing.
func (h *Hub) Publish(evs []Event) {
	if len(evs) == 0 {
		return
	}
	now := h.cfg.Clock.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		return
	}
	for _, ev := range evs {
		if ev.Node == "" {
			ev.Node = h.cfg.Node
		}
		if ev.Time.IsZero() {
			ev.Time = now
		}
		st := h.nsLocked(ev.NS)
		st.history.push(ev)
		for s := range st.subs {
			if s.filter.wantsLive(&ev) {
				s.offerLocked(ev, now)
			}
		}
	}
}

// Subscribers returns the number of open subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, st := range h.mu.ns {
		n += len(st.subs)
	}
	return n
}

// Close closes every subscription; later Subscribe calls fail with
// ErrClosed and Publish does nothing. Subscribers see their channels close
// without an OpLagged event.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mu.closed = true
	for _, st := range h.mu.ns {
		for s := range st.subs {
			s.closeLocked()
		}
	}
}
