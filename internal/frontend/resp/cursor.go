package resp

import (
	"container/list"
	"hash/maphash"
	"sync"
)

// maxCursors bounds the SCAN cursors a server remembers.
const maxCursors = 10000

// cursorTable remembers where unfinished scans stopped.
//
// A distkv scan resumes after a key, and a key (up to the kv key limit)
// does not fit in the unsigned 64-bit integer that Redis clients parse a
// cursor as. So a cursor is a number standing for (namespace, last key)
// in this table. It is a hash of the pair: the same position always gets
// the same cursor, and the cursors of a previous process are unknown
// rather than wrong. The table is per server (a cursor is good on the node
// that issued it, over any connection) and bounded: least recently used
// cursors are forgotten first, and presenting a cursor forgets the one it
// was issued from, so an iteration holds at most two entries — the one in
// use and, for a client that retries a call, its predecessor.
type cursorTable struct {
	seed maphash.Seed
	max  int

	mu struct {
		sync.Mutex
		byID map[uint64]*list.Element // of *cursorEntry
		lru  list.List                // most recently used at the front
	}
}

type cursorEntry struct {
	id    uint64
	ns    string
	after []byte
	prev  uint64 // the cursor this one was issued from (0: none)
}

func newCursorTable(capacity int) *cursorTable {
	t := &cursorTable{seed: maphash.MakeSeed(), max: capacity}
	t.mu.byID = make(map[uint64]*list.Element)
	return t
}

// issue returns the cursor that resumes a scan of ns after the key after,
// issued in answer to cursor prev (0 for a scan's first call).
func (t *cursorTable) issue(ns string, after []byte, prev uint64) uint64 {
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteString(ns)
	h.WriteByte(0)
	h.Write(after)
	id := h.Sum64()
	if id == 0 {
		id = 1 // 0 means "start" and "done"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.mu.byID[id]; ok {
		t.mu.lru.MoveToFront(el)
		return id
	}
	e := &cursorEntry{id: id, ns: ns, after: append([]byte(nil), after...), prev: prev}
	t.mu.byID[id] = t.mu.lru.PushFront(e)
	for t.mu.lru.Len() > t.max {
		t.removeLocked(t.mu.lru.Back())
	}
	return id
}

// lookup returns the key a cursor of namespace ns resumes after. ok is
// false for a cursor this table does not know (never issued, forgotten,
// or issued for another namespace).
func (t *cursorTable) lookup(id uint64, ns string) (after []byte, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.mu.byID[id]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cursorEntry)
	if e.ns != ns {
		return nil, false
	}
	t.mu.lru.MoveToFront(el)
	if prev, ok := t.mu.byID[e.prev]; ok && e.prev != id {
		t.removeLocked(prev)
	}
	e.prev = 0
	return e.after, true
}

func (t *cursorTable) removeLocked(el *list.Element) {
	delete(t.mu.byID, el.Value.(*cursorEntry).id)
	t.mu.lru.Remove(el)
}
