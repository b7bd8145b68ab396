package watch

// eventOverhead approximates an event's memory beyond its key and value.
const eventOverhead = 128

// history is one namespace's most recent events, oldest first, bounded in
// count and bytes, with per shard the version below which it is incomplete.
// Not safe for concurrent use; the hub's lock guards it.
type history struct {
	maxEvents, maxBytes int

	// events[head:] are the retained events in publish order; the slots
	// before head are cleared and reclaimed by compaction.
	events []Event
	head   int
	bytes  int

	// floor[shard] is the largest version of the shard that history may be
	// missing: the version before the first event seen of the shard, then
	// the version of every event evicted. Events of the shard with a larger
	// version are all retained. A shard without an entry was never seen.
	floor map[int]uint64
}

func newHistory(maxEvents, maxBytes int) history {
	return history{maxEvents: maxEvents, maxBytes: maxBytes, floor: make(map[int]uint64)}
}

func eventSize(ev *Event) int { return len(ev.Key) + len(ev.Value) + eventOverhead }

// len returns the number of retained events.
func (h *history) len() int { return len(h.events) - h.head }

// push appends ev and evicts the oldest events past the bounds.
func (h *history) push(ev Event) {
	if _, seen := h.floor[ev.Shard]; !seen && ev.Version > 0 {
		h.floor[ev.Shard] = ev.Version - 1
	}
	h.events = append(h.events, ev)
	h.bytes += eventSize(&ev)
	for h.len() > 0 && (h.len() > h.maxEvents || h.bytes > h.maxBytes) {
		h.evictOldest()
	}
	if h.head > 64 && h.head > len(h.events)/2 {
		n := copy(h.events, h.events[h.head:])
		clear(h.events[n:])
		h.events, h.head = h.events[:n], 0
	}
}

func (h *history) evictOldest() {
	ev := &h.events[h.head]
	h.bytes -= eventSize(ev)
	if ev.Version > h.floor[ev.Shard] {
		h.floor[ev.Shard] = ev.Version
	}
	*ev = Event{}
	h.head++
}

// complete reports whether history holds every event of a key matching f
// with a version greater than f.From (see the package documentation).
func (h *history) complete(f Filter) bool {
	if f.Key != "" {
		for i := len(h.events) - 1; i >= h.head; i-- {
			if h.events[i].Key == f.Key {
				return h.floor[h.events[i].Shard] <= f.From
			}
		}
	}
	for _, v := range h.floor {
		if v > f.From {
			return false
		}
	}
	return true
}

// since returns the retained events matching f with a version greater than
// f.From, in publish order.
func (h *history) since(f Filter) []Event {
	var out []Event
	for _, ev := range h.events[h.head:] {
		if ev.Version > f.From && f.matches(ev.Key) {
			out = append(out, ev)
		}
	}
	return out
}
