package watch

import (
	"strings"
	"time"
)

// Filter selects the events a subscriber receives.
type Filter struct {
	// NS is the namespace, matched exactly against Event.NS.
	NS string
	// Prefix selects keys that start with it; empty selects every key.
	Prefix string
	// Key, if not empty, selects exactly this key and Prefix is ignored.
	Key string
	// From, if not 0, first replays the retained events of matching keys
	// with a version greater than From (see the package documentation for
	// what that means for a prefix), or fails with ErrTooOld. A single-key
	// watch never receives a version at or below From, even live (this
	// node may apply a write later than the node the client last saw).
	From uint64
	// Values asks for the values of puts; without it events carry none.
	Values bool
}

func (f *Filter) matches(key string) bool {
	if f.Key != "" {
		return key == f.Key
	}
	return strings.HasPrefix(key, f.Prefix)
}

// wantsLive reports whether a live event goes to the subscriber.
func (f *Filter) wantsLive(ev *Event) bool {
	if f.Key != "" {
		return ev.Key == f.Key && ev.Version > f.From
	}
	return strings.HasPrefix(ev.Key, f.Prefix)
}

// Subscription is one subscriber's feed.
type Subscription struct {
	hub    *Hub
	ns     *namespace
	filter Filter
	// ch has room for the replayed events, Buffer live events and the
	// terminal OpLagged event. Only the hub sends on it and closes it, with
	// hub.mu held.
	ch     chan Event
	closed bool // guarded by hub.mu
}

// Subscribe registers a subscriber for the events f selects. With f.From
// set it first queues the retained events after From, taken atomically with
// the registration, so nothing is lost or repeated between the replay and
// live events. It fails with ErrTooOld if the history cannot cover From,
// and with ErrClosed after Close.
func (h *Hub) Subscribe(f Filter) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		return nil, ErrClosed
	}
	st := h.nsLocked(f.NS)
	var replay []Event
	if f.From > 0 {
		if !st.history.complete(f) {
			return nil, ErrTooOld
		}
		replay = st.history.since(f)
	}
	s := &Subscription{hub: h, ns: st, filter: f, ch: make(chan Event, len(replay)+h.cfg.Buffer+1)}
	for _, ev := range replay {
		s.ch <- s.strip(ev)
	}
	st.subs[s] = struct{}{}
	return s, nil
}

// Events returns the subscriber's channel. It is closed after an OpLagged
// event, after Close, and when the hub closes.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Close unsubscribes. Events already buffered can still be received; then
// the channel is closed. Close may be called more than once.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.closeLocked()
}

// offerLocked queues ev, or, when the buffer is full, queues the terminal
// OpLagged event in the slot kept for it and closes the subscription.
// hub.mu must be held.
func (s *Subscription) offerLocked(ev Event, now time.Time) {
	if len(s.ch) < cap(s.ch)-1 {
		s.ch <- s.strip(ev)
		return
	}
	s.ch <- Event{NS: s.filter.NS, Key: s.filter.Key, Op: OpLagged, Node: s.hub.cfg.Node, Time: now}
	s.closeLocked()
}

// closeLocked closes the channel once. hub.mu must be held.
func (s *Subscription) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	delete(s.ns.subs, s)
	close(s.ch)
}

func (s *Subscription) strip(ev Event) Event {
	if !s.filter.Values {
		ev.Value = nil
	}
	return ev
}
