package dynamo

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/replication/dynamo/dvv"
	"github.com/distkv/distkv/internal/storage"
	"github.com/distkv/distkv/internal/transport"
)

// Causal broadcast message kinds (first payload byte).
const (
	msgWrite byte = iota + 1 // a write: namespace, origin, seq, deps, group, key, state
	msgAck                   // the sender's applied vector of a namespace
	msgNeed                  // the same, from a node waiting on it: resend what it lacks now
)

// needEvery is how often a request waiting for dependencies asks their
// origins again for what this node lacks.
const needEvery = 200 * time.Millisecond

const (
	maxPending    = 100000 // buffered out-of-order writes per namespace
	retransmitMax = 500    // logged writes resent to one lagging peer per tick
)

// cwrite is a write travelling in the causal broadcast.
type cwrite struct {
	ns     uint32
	origin uint64
	seq    uint64
	deps   dvv.VV
	group  uint64
	key    []byte
	set    dvv.Set   // the write as a state: context deps ∪ dot, one sibling
	sent   time.Time // origin only: when it last went out
}

// resendAfter is how long an origin waits for a write to be acknowledged
// before sending it again.
const resendAfter = time.Second

func (w *cwrite) encode() []byte {
	e := &enc{}
	e.byte(msgWrite)
	e.uint(uint64(w.ns))
	e.uint(w.origin)
	e.uint(w.seq)
	e.str(dvv.EncodeToken(w.deps))
	e.uint(w.group)
	e.bytes(w.key)
	e.set(w.set)
	return e.b
}

func decodeWrite(d *dec) (*cwrite, error) {
	w := &cwrite{ns: uint32(d.uint()), origin: d.uint(), seq: d.uint()}
	tok := d.str()
	w.group, w.key, w.set = d.uint(), d.bytes(), d.set()
	if d.err != nil {
		return nil, d.err
	}
	var err error
	if w.deps, err = dvv.DecodeToken(tok); err != nil {
		return nil, err
	}
	return w, nil
}

// nsCausal is one causal namespace's delivery state on this node.
type nsCausal struct {
	v       dvv.VV                        // writes applied, per origin
	pending map[uint64]map[uint64]*cwrite // origin -> seq -> buffered write
	log     []*cwrite                     // own writes not yet acknowledged by every node
	acked   map[uint64]uint64             // peer -> how many of our writes it applied
	changed chan struct{}                 // closed and replaced when v grows
}

type causalState struct {
	e *Engine
	// inbox feeds received writes to the delivery goroutine, so the
	// transport's receive loop never waits on the disk. Bounded: a write
	// dropped here is resent by its origin.
	inbox chan *cwrite
	mu    struct {
		sync.Mutex
		ns map[uint32]*nsCausal
	}
	// applyMu serializes everything that advances a vector: this node's
	// own writes (sequence numbers are assigned and logged in order) and
	// delivered writes. Each computes the next vector, commits it with
	// the data, then publishes it, so the stored vector only grows.
	applyMu sync.Mutex
}

func newCausalState(e *Engine) *causalState {
	c := &causalState{e: e, inbox: make(chan *cwrite, 4096)}
	c.mu.ns = map[uint32]*nsCausal{}
	return c
}

// run delivers received writes until stop closes.
func (c *causalState) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case w := <-c.inbox:
			c.receive(w)
		}
	}
}

func vvKey(ns uint32) []byte { return storage.LocalKey(fmt.Sprintf("causal/%08x/v", ns)) }

func logKey(ns uint32, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(storage.LocalKey(fmt.Sprintf("causal/%08x/log/", ns)), seq)
}

// load restores every causal namespace's vector and unacknowledged log.
func (c *causalState) load() error {
	for _, ns := range c.e.cfg.Map().Namespaces {
		if ns.Mode == keyspace.ModeCausal {
			if _, err := c.state(ns.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// state returns a namespace's delivery state, loading it on first use.
func (c *causalState) state(ns uint32) (*nsCausal, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.mu.ns[ns]; st != nil {
		return st, nil
	}
	st := &nsCausal{v: dvv.VV{}, pending: map[uint64]map[uint64]*cwrite{}, acked: map[uint64]uint64{}, changed: make(chan struct{})}
	eng := c.e.cfg.Engine
	if raw, ok, err := eng.Get(vvKey(ns)); err != nil {
		return nil, err
	} else if ok {
		if st.v, err = dvv.DecodeToken(string(raw)); err != nil {
			return nil, err
		}
	}
	var err error
	if st.log, err = loadLog(eng, ns); err != nil {
		return nil, err
	}
	c.mu.ns[ns] = st
	return st, nil
}

// loadLog reads ns's logged own writes, oldest first. Each is decoded
// from a copy: Scan's slices are valid only during its callback, and a
// logged write outlives it (it is resent from memory until every peer
// has it), so aliasing them would resend whatever the engine later put in
// that memory, under this origin's sequence numbers.
func loadLog(r storage.Reader, ns uint32) ([]*cwrite, error) {
	var out []*cwrite
	var derr error
	start := storage.LocalKey(fmt.Sprintf("causal/%08x/log/", ns))
	end := storage.LocalKey(fmt.Sprintf("causal/%08x/log0", ns))
	err := r.Scan(start, end, func(k, v []byte) bool {
		d := &dec{b: slices.Clone(v)}
		d.byte()
		w, err := decodeWrite(d)
		if err != nil {
			derr = fmt.Errorf("dynamo: causal log of namespace %d, entry %x: %w", ns, k[len(start):], err)
			return false
		}
		out = append(out, w)
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}

// waitFor blocks until this node has applied everything in token for ns,
// or the wait bound passes.
func (c *causalState) waitFor(ctx context.Context, ns uint32, token dvv.VV) error {
	st, err := c.state(ns)
	if err != nil {
		return err
	}
	timer := time.NewTimer(c.e.cfg.CausalWait)
	defer timer.Stop()
	var asked time.Time
	for {
		c.mu.Lock()
		ok, ch := st.v.Descends(token), st.changed
		var lacking []uint64
		if !ok && time.Since(asked) >= needEvery {
			for o, seq := range token {
				if st.v[o] < seq && o != uint64(c.e.self()) {
					lacking = append(lacking, o)
				}
			}
		}
		need := c.need(ns, st, lacking)
		c.mu.Unlock()
		if ok {
			return nil
		}
		if len(lacking) > 0 {
			// Ask the origins directly rather than wait for their resend
			// timer: after a partition heals, the first sends may have been
			// lost to a reconnecting link.
			asked = time.Now()
			for _, o := range lacking {
				c.e.cfg.Transport.Send(transport.Message{Type: MessageType, To: o, Payload: need})
			}
		}
		select {
		case <-time.After(needEvery):
		case <-ch:
		case <-timer.C:
			c.mu.Lock()
			have := st.v.String()
			c.mu.Unlock()
			return fmt.Errorf("%w: waited %v; need %s, have %s", ErrCausalDeps, c.e.cfg.CausalWait, token, have)
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrCausalDeps, ctx.Err())
		}
	}
}

// vector returns a copy of ns's applied vector.
func (c *causalState) vector(ns uint32) dvv.VV {
	st, err := c.state(ns)
	if err != nil {
		return dvv.VV{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return st.v.Clone()
}

// advance records that w was applied (c.mu must be held) and wakes waiters.
func (st *nsCausal) advance(w *cwrite) {
	st.v[w.origin] = w.seq
	close(st.changed)
	st.changed = make(chan struct{})
}

// causalRead serves a read at a replica of the key, or forwards it to one.
func (e *Engine) causalRead(ctx context.Context, ns *membership.NamespaceMap, key []byte, token string) (Result, error) {
	sh := ns.Locate(key)
	if slices.Contains(sh.Replicas, e.self()) {
		return e.causalReadLocal(ctx, ns, key, token)
	}
	var lastErr error
	for _, n := range e.coordinators(sh) {
		req := &enc{}
		req.byte(opCausalRead)
		req.str(ns.Name)
		req.bytes(key)
		req.str(token)
		d, err := e.call(ctx, n, req.b)
		if err != nil {
			if isEngineErr(err) {
				return Result{}, err
			}
			lastErr = err
			continue
		}
		return decodeResult(d)
	}
	return Result{}, fmt.Errorf("%w: no replica of the key answered: %v", ErrUnavailable, lastErr)
}

func (e *Engine) serveCausalRead(ctx context.Context, d *dec, out *enc) error {
	nsName, key, token := d.str(), d.bytes(), d.str()
	if d.err != nil {
		return d.err
	}
	ns := e.cfg.Map().Namespace(nsName)
	if ns == nil {
		return fmt.Errorf("%w: namespace %q unknown here", ErrInvalid, nsName)
	}
	res, err := e.causalReadLocal(ctx, ns, key, token)
	if err == nil {
		encodeResult(out, res)
	}
	return err
}

func (e *Engine) causalReadLocal(ctx context.Context, ns *membership.NamespaceMap, key []byte, token string) (Result, error) {
	t, err := decodeContext(token)
	if err != nil {
		return Result{}, err
	}
	if err := e.causal.waitFor(ctx, ns.ID, t); err != nil {
		return Result{}, err
	}
	set, _, err := e.store.get(uint64(ns.Locate(key).Group), key)
	if err != nil {
		return Result{}, err
	}
	if old, ok := oldShard(ns, key); ok {
		// Resharding: the key may not have been handed over here yet; a
		// replica of its old shard that has applied everything this node
		// has holds it.
		oset, err := e.causalFetchOld(ctx, ns, old, key)
		if err != nil {
			return Result{}, err
		}
		set = dvv.Merge(set, oset)
	}
	res := resultOf(set)
	// The state read may already hold a write whose vector update is a
	// moment behind (stored, not yet advanced), so the token covers the
	// state's context as well as the vector.
	res.Token = dvv.EncodeToken(t.Merge(e.causal.vector(ns.ID)).Merge(set.Context))
	return res, nil
}

// causalWrite accepts a write at a replica of the key (forwarding from
// elsewhere).
func (e *Engine) causalWrite(ctx context.Context, ns *membership.NamespaceMap, key, value []byte, deleted bool, o WriteOptions) (Result, error) {
	sh := ns.Locate(key)
	for _, coord := range e.coordinators(sh) {
		if coord == e.self() {
			return e.causalWriteLocal(ctx, ns, key, value, deleted, o)
		}
		res, err := e.forwardWrite(ctx, coord, ns, key, value, deleted, o)
		if errorsIsNotSent(err) {
			continue
		}
		if err != nil && !isEngineErr(err) {
			return Result{}, fmt.Errorf("%w: forwarded to %s: %v", ErrUnknownOutcome, coord, err)
		}
		return res, err
	}
	return Result{}, fmt.Errorf("%w: no replica of the key could be reached", ErrUnavailable)
}

func errorsIsNotSent(err error) bool { return err != nil && isNotSent(err) }

// causalWriteLocal applies a write here once the client's dependencies
// are, logs it with the next sequence number of this origin, and
// broadcasts it.
func (e *Engine) causalWriteLocal(ctx context.Context, ns *membership.NamespaceMap, key, value []byte, deleted bool, o WriteOptions) (Result, error) {
	t, err := decodeContext(o.Token)
	if err != nil {
		return Result{}, err
	}
	kctx, err := decodeContext(o.Context)
	if err != nil {
		return Result{}, err
	}
	if err := e.causal.waitFor(ctx, ns.ID, t); err != nil {
		return Result{}, err
	}
	if old, ok := oldShard(ns, key); ok && len(kctx) == 0 {
		// Resharding, a blind write: supersede what the key's old shard
		// holds, as a write where it was would have.
		if oset, err := e.causalFetchOld(ctx, ns, old, key); err == nil {
			kctx = oset.Context
		}
	}
	st, err := e.causal.state(ns.ID)
	if err != nil {
		return Result{}, err
	}
	c := e.causal
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	c.mu.Lock()
	seq := st.v[uint64(e.self())] + 1
	vNext := st.v.Clone()
	c.mu.Unlock()
	dot := dvv.Dot{Node: uint64(e.self()), Counter: seq}
	deps := t.Merge(kctx)
	ts := e.cfg.HLC.Now()
	g := uint64(ns.Locate(key).Group)
	w := &cwrite{ns: ns.ID, origin: dot.Node, seq: seq, deps: t, group: g, key: key}
	lww := e.lww(g)
	vNext[dot.Node] = seq
	set, _, err := e.store.updateWith(g, key, func(old dvv.Set, _ bool) (dvv.Set, bool) {
		sup := deps
		if len(kctx) == 0 {
			sup = deps.Merge(old.Context) // a blind write supersedes what this replica has seen
		}
		w.set = dvv.Set{}.UpdateDot(dot, sup, value, deleted, ts)
		// A receiver must not apply the write before what it supersedes:
		// its context would claim writes the receiver has not stored,
		// and merging them later would drop them.
		w.deps = t.Merge(sup)
		s := old.UpdateDot(dot, sup, value, deleted, ts)
		if lww {
			var n int
			s, n = s.ResolveLWW()
			e.discarded(n)
		}
		return s, true
	}, func(b *storage.Batch) error {
		if err := b.Set(logKey(ns.ID, seq), w.encode()); err != nil {
			return err
		}
		return b.Set(vvKey(ns.ID), []byte(dvv.EncodeToken(vNext)))
	})
	if err != nil {
		return Result{}, err
	}
	c.mu.Lock()
	st.advance(w)
	w.sent = time.Now()
	st.log = append(st.log, w)
	c.mu.Unlock()
	e.emit(g, key, set)
	for _, og := range e.storeGroups(e.cfg.Map(), ns, key) {
		if og != g { // resharding: this node also replicates the key's old shard
			if _, _, err := e.store.merge(og, key, w.set, e.lww(og), e.discarded); err != nil {
				e.cfg.Logger.Warn("storing a causal write in the old layout", "group", og, "err", err)
			}
		}
	}
	e.broadcast(w)
	res := resultOf(set)
	// The client now depends on the write and on everything it superseded.
	res.Token = dvv.EncodeToken(w.deps.Merge(dvv.VV{dot.Node: seq}))
	return res, nil
}

// broadcast sends a write to every other member taking part.
func (e *Engine) broadcast(w *cwrite) {
	p := w.encode()
	for _, id := range causalPeers(e.cfg.Map()) {
		if id != e.self() {
			e.cfg.Transport.Send(transport.Message{Type: MessageType, To: uint64(id), Payload: p})
		}
	}
}

// handle takes a causal broadcast message.
func (c *causalState) handle(m transport.Message) {
	d := &dec{b: m.Payload}
	switch d.byte() {
	case msgWrite:
		w, err := decodeWrite(d)
		if err != nil {
			return
		}
		select {
		case c.inbox <- w:
		default: // full: the origin resends
		}
	case msgAck, msgNeed:
		kind := m.Payload[0]
		ns, tok := uint32(d.uint()), d.str()
		v, err := dvv.DecodeToken(tok)
		if d.err != nil || err != nil {
			return
		}
		c.acknowledge(ns, m.From, v, kind == msgNeed)
	}
}

// receive buffers a write and applies whatever became deliverable. It runs
// on the transport's receive goroutine: applying stores to disk, which is
// the backpressure the broadcast needs.
func (c *causalState) receive(w *cwrite) {
	st, err := c.state(w.ns)
	if err != nil || w.origin == uint64(c.e.self()) {
		return
	}
	c.mu.Lock()
	// A full buffer still takes an origin's next write: the buffer may be
	// full of later writes waiting for exactly that one, and refusing it
	// would wedge delivery for good (at most one extra per origin).
	if st.v[w.origin] >= w.seq || (countPending(st) >= maxPending && w.seq != st.v[w.origin]+1) {
		c.mu.Unlock()
		return // already applied, or buffered too much: retransmission will bring it again
	}
	if st.pending[w.origin] == nil {
		st.pending[w.origin] = map[uint64]*cwrite{}
	}
	st.pending[w.origin][w.seq] = w
	c.mu.Unlock()
	c.deliver(st)
}

func countPending(st *nsCausal) int {
	n := 0
	for _, m := range st.pending {
		n += len(m)
	}
	return n
}

// deliver applies buffered writes in causal order while any is ready.
func (c *causalState) deliver(st *nsCausal) {
	for {
		c.mu.Lock()
		var next *cwrite
		for origin, ws := range st.pending {
			if w := ws[st.v[origin]+1]; w != nil && st.v.Descends(w.deps) {
				next = w
				break
			}
		}
		if next == nil {
			c.mu.Unlock()
			return
		}
		delete(st.pending[next.origin], next.seq)
		c.mu.Unlock()
		if err := c.applyDelivered(st, next); err != nil {
			c.e.cfg.Logger.Warn("applying a causal write", "origin", next.origin, "seq", next.seq, "err", err)
			return // it will be retransmitted
		}
	}
}

// applyDelivered applies a deliverable write under applyMu and publishes
// the grown vector.
func (c *causalState) applyDelivered(st *nsCausal, w *cwrite) error {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	c.mu.Lock()
	vNext := st.v.Clone()
	c.mu.Unlock()
	if vNext[w.origin] >= w.seq {
		return nil
	}
	vNext[w.origin] = w.seq
	if err := c.apply(w, vNext); err != nil {
		return err
	}
	c.mu.Lock()
	st.advance(w)
	c.mu.Unlock()
	return nil
}

// apply stores a delivered write (on a replica of its shard) and the new
// vector, atomically.
func (c *causalState) apply(w *cwrite, vNext dvv.VV) error {
	e := c.e
	saveV := func(b *storage.Batch) error { return b.Set(vvKey(w.ns), []byte(dvv.EncodeToken(vNext))) }
	m := e.cfg.Map()
	ns := m.NamespaceByID(w.ns)
	var groups []uint64
	if ns != nil {
		groups = e.storeGroups(m, ns, w.key)
	}
	if len(groups) == 0 {
		return e.store.commitExtra(saveV)
	}
	// The groups are this node's own view (the origin's may be older or
	// newer during a move or a reshard). Extra groups (an old layout's
	// shard during a reshard) get the write first; the vector goes with
	// the last.
	for _, g := range groups[1:] {
		if _, _, err := e.store.merge(g, w.key, w.set, e.lww(g), e.discarded); err != nil {
			return err
		}
	}
	group := groups[0]
	lww := e.lww(group)
	e.observe(w.set)
	next, changed, err := e.store.updateWith(group, w.key, func(old dvv.Set, found bool) (dvv.Set, bool) {
		m := w.set
		if found {
			m = dvv.Merge(old, w.set)
		}
		if lww {
			var n int
			m, n = m.ResolveLWW()
			e.discarded(n)
		}
		return m, true
	}, saveV)
	if err == nil && changed {
		e.emit(group, w.key, next)
	}
	return err
}

// acknowledge records a peer's vector: its count of our writes lets us
// prune our log and resend what it lacks.
// A peer that needs the writes now (urgent) gets them without waiting
// for resendAfter.
func (c *causalState) acknowledge(ns uint32, from uint64, v dvv.VV, urgent bool) {
	st, err := c.state(ns)
	if err != nil {
		return
	}
	self := uint64(c.e.self())
	c.mu.Lock()
	st.acked[from] = v[self]
	var resend []*cwrite
	now := time.Now()
	for _, w := range st.log {
		if w.seq > v[self] && (urgent || now.Sub(w.sent) >= resendAfter) && len(resend) < retransmitMax {
			w.sent = now
			resend = append(resend, w)
		}
	}
	c.mu.Unlock()
	for _, w := range resend {
		c.e.cfg.Transport.Send(transport.Message{Type: MessageType, To: from, Payload: w.encode()})
	}
}

// need encodes a msgNeed of ns's vector (c.mu held), or nil when nothing
// is lacking.
func (c *causalState) need(ns uint32, st *nsCausal, lacking []uint64) []byte {
	if len(lacking) == 0 {
		return nil
	}
	e := &enc{}
	e.byte(msgNeed)
	e.uint(uint64(ns))
	e.str(dvv.EncodeToken(st.v))
	return e.b
}

// tick sends this node's vectors to every member and prunes the writes
// every member has.
func (c *causalState) tick() {
	m := c.e.cfg.Map()
	for _, ns := range m.Namespaces {
		if ns.Mode != keyspace.ModeCausal {
			continue
		}
		st, err := c.state(ns.ID)
		if err != nil {
			continue
		}
		c.mu.Lock()
		e := &enc{}
		e.byte(msgAck)
		e.uint(uint64(ns.ID))
		e.str(dvv.EncodeToken(st.v))
		minAck := uint64(1<<63 - 1)
		peers := causalPeers(m)
		for _, id := range peers {
			if id != c.e.self() {
				minAck = min(minAck, st.acked[uint64(id)])
			}
		}
		var prune []uint64
		keep := st.log[:0]
		for _, w := range st.log {
			if w.seq <= minAck {
				prune = append(prune, w.seq)
			} else {
				keep = append(keep, w)
			}
		}
		st.log = keep
		c.mu.Unlock()
		for _, id := range peers {
			if id != c.e.self() {
				c.e.cfg.Transport.Send(transport.Message{Type: MessageType, To: uint64(id), Payload: e.b})
			}
		}
		if len(prune) > 0 {
			_ = c.e.store.commitExtra(func(b *storage.Batch) error {
				for _, s := range prune {
					if err := b.Delete(logKey(ns.ID, s)); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
}
