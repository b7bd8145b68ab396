package transport

import (
	"slices"
	"sort"
	"time"
)

// reorderHold is how long a message marked for reordering waits for a later
// message to overtake it before it is delivered anyway.
const reorderHold = 20 * time.Millisecond

// entry is one queued message with the fault decisions taken at Send.
type entry struct {
	m Message
	// due is when the message may leave: zero when the transport has no
	// Faults, otherwise the Send time plus any fault delay.
	due time.Time
	// held asks for the next message pushed behind this one to go first;
	// heldUntil bounds the wait for it.
	held      bool
	heldUntil time.Time
}

// sendQueue is the bounded per-destination queue shared by TCP writers and
// memory links. Items are kept in delivery order: by due time, ties in push
// order, except that a held item lets its successor overtake it. Without
// faults every due is zero and push is an append. Not safe for concurrent
// use; its owner locks.
type sendQueue struct {
	limit int
	items []entry
}

// push adds e, or reports false if the queue is full.
func (q *sendQueue) push(e entry) bool {
	if len(q.items) >= q.limit {
		return false
	}
	i := len(q.items)
	if i > 0 && q.items[i-1].due.After(e.due) {
		// Delay jitter: e may leave before messages pushed earlier.
		i = sort.Search(len(q.items), func(j int) bool { return q.items[j].due.After(e.due) })
	}
	if i > 0 && q.items[i-1].held {
		// The message in front asked to be overtaken; it now leaves no
		// earlier than e so the queue stays sorted.
		i--
		h := &q.items[i]
		h.held = false
		if h.due.Before(e.due) {
			h.due = e.due
		}
	}
	q.items = slices.Insert(q.items, i, e)
	return true
}

// pop appends to dst every message ready at now, in order, stopping at the
// first that is not, and returns when that one becomes ready (zero if the
// queue is now empty).
func (q *sendQueue) pop(now time.Time, dst []Message) ([]Message, time.Time) {
	n := 0
	var next time.Time
	for ; n < len(q.items); n++ {
		it := &q.items[n]
		if it.due.After(now) {
			next = it.due
			break
		}
		if it.held && now.Before(it.heldUntil) {
			next = it.heldUntil
			break
		}
		dst = append(dst, it.m)
	}
	clear(q.items[:n]) // release payloads
	if n == len(q.items) {
		q.items = q.items[:0]
	} else {
		q.items = q.items[n:]
	}
	return dst, next
}

// drain empties the queue and returns the IDs of the calls whose requests
// it held (they were never sent) and how many messages it held.
func (q *sendQueue) drain() (unsentCalls []uint64, n int) {
	n = len(q.items)
	for _, it := range q.items {
		unsentCalls = append(unsentCalls, callIDs([]Message{it.m})...)
	}
	clear(q.items)
	q.items = q.items[:0]
	return unsentCalls, n
}

func (q *sendQueue) len() int { return len(q.items) }
