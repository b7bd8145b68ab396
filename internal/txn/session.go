package txn

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/shardsm"
)

// Interactive transactions: seed 001's propose / commit / rollback as
// explicit steps a client takes one request at a time.
//
//	Begin     opens a session on this node (nothing is locked).
//	Read      reads a key now (linearizably) and remembers the version
//	          seen; Write buffers a put or a delete.
//	Prepare   runs phase 1 of the two-phase commit with the buffered
//	          writes and, as comparisons, "every key read still has the
//	          version seen": every participant locks its keys and records
//	          its writes in its Raft log. A changed read aborts (409).
//	Commit    records the commit on the record shard (the commit point) and
//	          resolves the participants; from Active it prepares first.
//	Rollback  records the abort and releases the locks.
//
// Validating the reads under every lock makes a committed transaction
// take effect at its prepare: strict serializability, as optimistic
// concurrency control with two-phase commit gives. A session lives in the
// memory of the node that began it; its locks and its decision live in
// Raft, so if that node dies a prepared transaction is rolled back by
// whoever meets its locks once its TTL has passed, unless the commit was
// recorded, in which case they finish it.

// Interactive transactions' bounds.
const (
	DefaultTTL = 60 * time.Second
	MaxTTL     = 10 * time.Minute
	// maxSessions bounds the sessions a node keeps, finished ones included.
	maxSessions = 4096
	// keepFinished is how long a finished session stays visible to status.
	keepFinished = 5 * time.Minute
)

type session struct {
	// mu serializes the session's steps (each bounded by the kv timeout).
	mu      sync.Mutex
	id, ns  string
	started time.Time
	ttl     time.Duration
	state   string
	reads   map[string]shardsm.KeyState // the first read of each key
	order   []string                    // reads' keys in order
	writes  []shardsm.TxnOp             // one per key, in first-write order
	// attempt is the two-phase commit's ID of the prepare that stands
	// (id.N: a prepare that met a lock starts again under a new one).
	attempt int
	record  membership.Shard
	parts   []shardPart
	results []api.TxnOpResult
	reason  string
	ended   time.Time
}

type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func (s *session) attemptID() string { return fmt.Sprintf("%s.%d", s.id, s.attempt) }

// Begin opens an interactive transaction in strong namespace nsName; ttl
// 0 is DefaultTTL.
func (c *Coordinator) Begin(nsName string, ttl time.Duration) (api.TxnState, error) {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < 0 || ttl > MaxTTL {
		return api.TxnState{}, fmt.Errorf("%w: a transaction's TTL must be between 1ms and %v, got %v", kv.ErrInvalid, MaxTTL, ttl)
	}
	ns, err := c.cfg.KV.Namespace(nsName)
	if err != nil {
		return api.TxnState{}, err
	}
	if ns.Mode != keyspace.ModeStrong || ns.AllReplicas {
		return api.TxnState{}, fmt.Errorf("%w: transactions run in strong namespaces; %q is %s", kv.ErrWrongMode, ns.Name, ns.ModeName())
	}
	s := &session{id: c.cfg.NodeID + "-" + newID(), ns: ns.Name, started: c.cfg.Now(), ttl: ttl,
		state: api.TxnActive, reads: map[string]shardsm.KeyState{}}
	c.sessions.mu.Lock()
	defer c.sessions.mu.Unlock()
	if len(c.sessions.m) >= maxSessions {
		c.forgetFinishedLocked(true)
	}
	if len(c.sessions.m) >= maxSessions {
		return api.TxnState{}, fmt.Errorf("%w: %d interactive transactions are open on this node, the most it keeps", kv.ErrUnavailable, maxSessions)
	}
	c.sessions.m[s.id] = s
	return s.view(c.cfg.NodeID), nil
}

// forgetFinishedLocked drops finished sessions kept long enough (all of
// them when pressed for room). c.sessions.mu is held.
func (c *Coordinator) forgetFinishedLocked(all bool) {
	now := c.cfg.Now()
	for id, s := range c.sessions.m {
		if !s.mu.TryLock() {
			continue
		}
		if s.finished() && (all || now.Sub(s.ended) > keepFinished) {
			delete(c.sessions.m, id)
		}
		s.mu.Unlock()
	}
}

func (s *session) finished() bool { return s.state == api.TxnCommitted || s.state == api.TxnAborted }

// lookup finds session id (an attempt's ID "id.N" names its session too)
// and locks it.
func (c *Coordinator) lookup(id string) (*session, error) {
	if i := strings.LastIndexByte(id, '.'); i > 0 {
		id = id[:i]
	}
	c.sessions.mu.Lock()
	s, ok := c.sessions.m[id]
	c.sessions.mu.Unlock()
	if !ok {
		hint := ""
		if node, _, found := strings.Cut(id, "-"); found && node != c.cfg.NodeID {
			hint = fmt.Sprintf("; interactive transactions live on the node that began them (%s)", node)
		}
		return nil, fmt.Errorf("%w: transaction %q is not open on node %s%s", kv.ErrNoTxn, id, c.cfg.NodeID, hint)
	}
	s.mu.Lock()
	return s, nil
}

// open checks that s, locked, takes reads and writes in namespace nsName.
func (c *Coordinator) open(s *session, nsName string) error {
	if nsName == "" {
		nsName = keyspace.DefaultNamespace
	}
	if nsName != s.ns {
		return fmt.Errorf("%w: transaction %s is in namespace %q, not %q", kv.ErrInvalid, s.id, s.ns, nsName)
	}
	if s.state == api.TxnActive && c.expired(s) {
		s.end(c.cfg.Now(), api.TxnAborted, fmt.Sprintf("its TTL of %v passed before it prepared", s.ttl))
	}
	if s.state != api.TxnActive {
		return fmt.Errorf("%w: transaction %s is %s: reads and writes go to an active transaction", kv.ErrConflict, s.id, s.state)
	}
	if len(s.reads)+len(s.writes) >= MaxOps {
		return fmt.Errorf("%w: transaction %s touches %d keys, the limit", kv.ErrInvalid, s.id, MaxOps)
	}
	return nil
}

func (c *Coordinator) expired(s *session) bool { return c.cfg.Now().Sub(s.started) > s.ttl }

func (s *session) end(now time.Time, state, reason string) {
	s.state, s.reason, s.ended = state, reason, now
}

// Read reads key inside transaction id: its own buffered write if any,
// else the version it read before, else the key's current state (which
// prepare will check is still current). An absent key is kv.ErrNotFound;
// a key the transaction wrote has version 0 until it commits.
func (c *Coordinator) Read(ctx context.Context, nsName, id string, key []byte) (kv.Entry, error) {
	st, err := c.read(ctx, nsName, id, key)
	if err != nil {
		return kv.Entry{}, err
	}
	if !st.Found {
		return kv.Entry{}, fmt.Errorf("%w: %q", kv.ErrNotFound, key)
	}
	return kv.Entry{Key: st.Key, Value: st.Value, Version: st.Version}, nil
}

func (c *Coordinator) read(ctx context.Context, nsName, id string, key []byte) (shardsm.KeyState, error) {
	s, err := c.lookup(id)
	if err != nil {
		return shardsm.KeyState{}, err
	}
	defer s.mu.Unlock()
	if err := c.open(s, nsName); err != nil {
		return shardsm.KeyState{}, err
	}
	if i := s.written(key); i >= 0 {
		w := s.writes[i]
		return shardsm.KeyState{Key: key, Found: w.Kind == shardsm.TxnPut, Value: w.Value}, nil
	}
	if st, ok := s.reads[string(key)]; ok {
		return st, nil
	}
	e, err := c.cfg.KV.Get(ctx, s.ns, key, kv.ReadOptions{})
	st := shardsm.KeyState{Key: slices.Clone(key)}
	switch {
	case errors.Is(err, kv.ErrNotFound):
	case err != nil:
		return shardsm.KeyState{}, err
	default:
		st.Found, st.Version, st.Value = true, e.Version, e.Value
	}
	s.reads[string(key)] = st
	s.order = append(s.order, string(key))
	return st, nil
}

func (s *session) written(key []byte) int {
	return slices.IndexFunc(s.writes, func(o shardsm.TxnOp) bool { return string(o.Key) == string(key) })
}

// Write buffers a put (or, with del, a delete) of key inside transaction
// id; a later write of the key replaces it.
func (c *Coordinator) Write(nsName, id string, key, value []byte, del bool) error {
	s, err := c.lookup(id)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := c.open(s, nsName); err != nil {
		return err
	}
	op := shardsm.TxnOp{Kind: shardsm.TxnPut, Key: slices.Clone(key), Value: slices.Clone(value)}
	if del {
		op = shardsm.TxnOp{Kind: shardsm.TxnDelete, Key: slices.Clone(key)}
	}
	if err := c.cfg.KV.CheckTxn(&shardsm.Txn{Success: []shardsm.TxnOp{op}}); err != nil {
		return err
	}
	if i := s.written(key); i >= 0 {
		s.writes[i] = op
	} else {
		s.writes = append(s.writes, op)
	}
	return nil
}

// Prepare runs phase 1 for transaction id (see the top of the file).
func (c *Coordinator) Prepare(ctx context.Context, id string) (api.TxnState, error) {
	s, err := c.lookup(id)
	if err != nil {
		return api.TxnState{}, err
	}
	defer s.mu.Unlock()
	err = c.prepareSession(ctx, s)
	return s.view(c.cfg.NodeID), err
}

// prepareSession prepares s (locked) if it is active; a prepared session
// is left as it is.
func (c *Coordinator) prepareSession(ctx context.Context, s *session) error {
	switch {
	case s.state == api.TxnPrepared:
		return nil
	case s.state != api.TxnActive:
		return fmt.Errorf("%w: transaction %s is %s", kv.ErrConflict, s.id, s.state)
	case c.expired(s):
		s.end(c.cfg.Now(), api.TxnAborted, fmt.Sprintf("its TTL of %v passed before it prepared", s.ttl))
		return fmt.Errorf("%w: transaction %s %s", kv.ErrTxnAborted, s.id, s.reason)
	}
	t := &shardsm.Txn{Success: s.writes}
	for _, k := range s.order {
		t.Compares = append(t.Compares, shardsm.Compare{Key: []byte(k), Target: shardsm.TargetVersion, Op: shardsm.OpEqual, Version: s.reads[k].Version})
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.KV.Timeout())
	defer cancel()
	fail := func(err error) error {
		s.end(c.cfg.Now(), api.TxnAborted, "prepare failed: "+err.Error())
		return err
	}
	backoff := 2 * time.Millisecond
	for {
		ns, err := c.cfg.KV.Namespace(s.ns)
		if err != nil {
			return fail(err)
		}
		s.attempt++
		s.record, s.parts = ns.Shard(0), split(ns, t)
		for _, p := range s.parts {
			p.txn.ID, p.txn.Record, p.txn.Start, p.txn.TTL = s.attemptID(), uint64(s.record.Group), s.started.UnixNano(), int64(s.ttl)
		}
		reads, err := c.prepare(ctx, s.record, s.attemptID(), s.parts)
		if err == nil {
			for _, cmp := range t.Compares {
				if now := reads[string(cmp.Key)]; !cmp.Holds(now) {
					fctx, fcancel := c.finishing(ctx)
					c.abort(fctx, s.record, s.attemptID(), s.parts)
					fcancel()
					return fail(fmt.Errorf("%w: key %q changed since transaction %s read it (version %d, now %d)",
						kv.ErrTxnAborted, cmp.Key, s.id, cmp.Version, now.Version))
				}
			}
			s.state = api.TxnPrepared
			return nil
		}
		s.parts = nil
		again, werr := c.settle(ctx, err)
		if !again {
			return fail(werr)
		}
		if !sleep(ctx, backoff/2+mrand.N(backoff)) {
			return fail(giveUp(err))
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// Commit commits transaction id, preparing it first if it is active.
func (c *Coordinator) Commit(ctx context.Context, id string) (api.TxnState, error) {
	s, err := c.lookup(id)
	if err != nil {
		return api.TxnState{}, err
	}
	defer s.mu.Unlock()
	if s.state == api.TxnCommitted {
		return s.view(c.cfg.NodeID), nil
	}
	if err := c.prepareSession(ctx, s); err != nil {
		return s.view(c.cfg.NodeID), err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.KV.Timeout())
	defer cancel()
	// The commit point. An unknown outcome leaves the session prepared:
	// committing again asks the record, which answers what stands.
	d, err := c.decide(ctx, s.record, s.attemptID(), true, true)
	if err != nil {
		return s.view(c.cfg.NodeID), err
	}
	if c.stopAfter == "decide" && d.Commit {
		return s.view(c.cfg.NodeID), errStopped
	}
	c.finish(ctx, s, d.Commit)
	if !d.Commit {
		return s.view(c.cfg.NodeID), fmt.Errorf("%w: transaction %s was rolled back before it committed: %s", kv.ErrTxnAborted, s.id, s.reason)
	}
	return s.view(c.cfg.NodeID), nil
}

// finish resolves s's participants by the decision that stands and ends
// the session accordingly.
func (c *Coordinator) finish(ctx context.Context, s *session, commit bool) {
	fctx, cancel := c.finishing(ctx)
	defer cancel()
	versions := c.resolveAll(fctx, s.parts, s.attemptID(), commit, commit)
	if !commit {
		if s.reason == "" {
			s.reason = fmt.Sprintf("a resolver rolled it back: its TTL of %v had passed", s.ttl)
		}
		s.end(c.cfg.Now(), api.TxnAborted, s.reason)
		return
	}
	s.results = nil
	for _, w := range s.writes {
		s.results = append(s.results, api.TxnOpResult{Op: string(w.Kind), Key: string(w.Key), Version: versions[string(w.Key)]})
	}
	s.end(c.cfg.Now(), api.TxnCommitted, "")
}

// Rollback rolls transaction id back; a committed one stays committed
// (409).
func (c *Coordinator) Rollback(ctx context.Context, id string) (api.TxnState, error) {
	s, err := c.lookup(id)
	if err != nil {
		return api.TxnState{}, err
	}
	defer s.mu.Unlock()
	err = c.rollback(ctx, s, "rolled back by the client")
	return s.view(c.cfg.NodeID), err
}

func (c *Coordinator) rollback(ctx context.Context, s *session, reason string) error {
	switch s.state {
	case api.TxnAborted:
		return nil
	case api.TxnCommitted:
		return fmt.Errorf("%w: transaction %s is committed", kv.ErrConflict, s.id)
	case api.TxnActive:
		s.end(c.cfg.Now(), api.TxnAborted, reason)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.KV.Timeout())
	defer cancel()
	d, err := c.decide(ctx, s.record, s.attemptID(), false, false)
	if err != nil {
		return err
	}
	if !d.Commit {
		s.reason = reason
	}
	c.finish(ctx, s, d.Commit)
	if d.Commit {
		return fmt.Errorf("%w: transaction %s was committed before the rollback", kv.ErrConflict, s.id)
	}
	return nil
}

// Status describes transaction id.
func (c *Coordinator) Status(id string) (api.TxnState, error) {
	s, err := c.lookup(id)
	if err != nil {
		return api.TxnState{}, err
	}
	defer s.mu.Unlock()
	return s.view(c.cfg.NodeID), nil
}

// sweepSessions rolls back sessions past their TTL (a prepared one's
// locks would otherwise wait for whoever meets them) and forgets finished
// ones kept long enough.
func (c *Coordinator) sweepSessions(ctx context.Context) {
	c.sessions.mu.Lock()
	c.forgetFinishedLocked(false)
	var late []*session
	for _, s := range c.sessions.m {
		late = append(late, s)
	}
	c.sessions.mu.Unlock()
	for _, s := range late {
		if !s.mu.TryLock() {
			continue // a step is running; it checks the TTL itself
		}
		if !s.finished() && c.expired(s) {
			if err := c.rollback(ctx, s, fmt.Sprintf("its TTL of %v passed before it committed", s.ttl)); err != nil {
				c.cfg.Logger.Warn("txn: rolling back an expired transaction failed; its locks resolve when met", "txn", s.id, "err", err)
			}
		}
		s.mu.Unlock()
	}
}

// view is s's state for the API (s is locked).
func (s *session) view(node string) api.TxnState {
	v := api.TxnState{Txn: s.id, Namespace: s.ns, State: s.state, Node: node, Started: s.started.UTC(),
		TTLMillis: s.ttl.Milliseconds(), Reason: s.reason, Results: s.results}
	for _, k := range s.order {
		v.Reads = append(v.Reads, api.TxnRead{Key: k, Version: s.reads[k].Version})
	}
	for _, w := range s.writes {
		v.Writes = append(v.Writes, api.TxnOp{Op: string(w.Kind), Key: string(w.Key), Value: string(w.Value)})
	}
	recordIn := false
	for _, p := range s.parts {
		tp := api.TxnParticipant{Shard: p.shard.Index, Group: uint64(p.shard.Group), Record: p.shard.Group == s.record.Group}
		recordIn = recordIn || tp.Record
		for _, k := range p.txn.Keys() {
			tp.Keys = append(tp.Keys, string(k))
		}
		v.Participants = append(v.Participants, tp)
	}
	if len(s.parts) > 0 && !recordIn {
		v.Participants = append(v.Participants, api.TxnParticipant{Shard: s.record.Index, Group: uint64(s.record.Group), Record: true, Keys: []string{}})
	}
	sort.SliceStable(v.Participants, func(i, j int) bool { return v.Participants[i].Shard < v.Participants[j].Shard })
	return v
}
