package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/replication/dynamo/dvv"
	"github.com/distkv/distkv/internal/transport"
)

// ReadOptions configure a read.
type ReadOptions struct {
	// R is how many replicas must answer (0: the namespace's R, or a
	// majority). Eventual namespaces only.
	R int
	// Token is the client's causal token (causal namespaces).
	Token string
	// Local serves the read from this node's replica alone when it has one
	// (consistency=stale): no quorum, no repair.
	Local bool
}

// WriteOptions configure a write.
type WriteOptions struct {
	// W is how many replicas must store the write (0: the namespace's W,
	// or a majority). Eventual namespaces only.
	W int
	// Context is the causal context the client read with (a token); the
	// write supersedes every sibling it covers. Empty: a blind write,
	// concurrent with everything stored.
	Context string
	// Token is the client's causal token (causal namespaces).
	Token string
}

// Result is a read's or a write's outcome.
type Result struct {
	// Found is false when no replica holds a live value.
	Found bool
	// Values are the live siblings (one unless writes were concurrent).
	Values [][]byte
	// Context is the key state's causal context, as a token to send back
	// with the next write.
	Context string
	// Token is the client's new causal token (causal namespaces).
	Token string
	// Stamp is the winning write's HLC (LWW namespaces), for display.
	Stamp dvv.Timestamp
}

func resultOf(set dvv.Set) Result {
	r := Result{Values: set.Values(), Context: dvv.EncodeToken(set.Context)}
	r.Found = len(r.Values) > 0
	for _, s := range set.Siblings {
		if r.Stamp.Less(s.Stamp) {
			r.Stamp = s.Stamp
		}
	}
	return r
}

func (e *Engine) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, e.cfg.Timeout)
}

// Special quorum sizes for ReadOptions.R and WriteOptions.W.
const (
	AllReplicas      = -1 // every replica
	MajorityReplicas = -2 // a majority of the replicas
)

// quorum resolves a requested replica count against the shard's N: 0
// takes the namespace's setting, and a namespace without one a majority.
func quorum(asked, nsDefault, n int) int {
	q := asked
	if q == 0 {
		q = nsDefault
	}
	switch {
	case q == AllReplicas:
		q = n
	case q <= 0:
		q = n/2 + 1
	}
	return min(q, n)
}

// Get reads key from an eventual or causal namespace.
func (e *Engine) Get(ctx context.Context, ns *membership.NamespaceMap, key []byte, o ReadOptions) (Result, error) {
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	if ns.Mode == keyspace.ModeCausal {
		return e.causalRead(ctx, ns, key, o.Token)
	}
	sh := ns.Locate(key)
	if o.Local && slices.Contains(sh.Replicas, e.self()) {
		set, _, err := e.store.get(uint64(sh.Group), key)
		return resultOf(set), err
	}
	r := quorum(o.R, ns.R, len(sh.Replicas))
	set, answered, err := e.gather(ctx, sh, key, r)
	if err != nil {
		return Result{}, err
	}
	if old, ok := oldShard(ns, key); ok {
		// Resharding: the key may not have been handed over yet.
		if oset, _, oerr := e.gather(ctx, old, key, 1); oerr == nil && len(oset.Context) > 0 {
			set = dvv.Merge(set, oset)
			answered = nil // repair the new replicas with the merge
			for _, n := range sh.Replicas {
				answered = append(answered, answer{node: n})
			}
		}
	}
	e.readRepair(sh, key, set, answered)
	return resultOf(set), nil
}

// answer is one replica's state of a key.
type answer struct {
	node  keyspace.NodeID
	set   dvv.Set
	found bool
	err   error
}

// gather asks the live replicas for key and returns the merge of the first
// r answers (and any others already in), with every answer received.
func (e *Engine) gather(ctx context.Context, sh membership.Shard, key []byte, r int) (dvv.Set, []answer, error) {
	var targets []keyspace.NodeID
	for _, n := range sh.Replicas {
		if e.alive(n) {
			targets = append(targets, n)
		}
	}
	if len(targets) < r {
		return dvv.Set{}, nil, fmt.Errorf("%w: %d of %d replicas alive, %d needed", ErrUnavailable, len(targets), len(sh.Replicas), r)
	}
	ch := make(chan answer, len(targets))
	for _, n := range targets {
		// spawn, so Close waits for a fetch still reading the store.
		if !e.spawn(func() { ch <- e.fetch(ctx, n, uint64(sh.Group), key) }) {
			ch <- answer{node: n, err: fmt.Errorf("%w: engine closing", ErrUnavailable)}
		}
	}
	var got []answer
	var merged dvv.Set
	tally := readTally{r: r, targets: len(targets)}
	for !tally.done() {
		select {
		case a := <-ch:
			tally.add(a.err == nil && a.found, a.err != nil)
			if a.err != nil {
				continue
			}
			got = append(got, a)
			if a.found {
				merged = mergeAnswer(merged, a.set, tally.found == 1)
			}
		case <-ctx.Done():
			return dvv.Set{}, nil, fmt.Errorf("%w: %d of %d replicas answered in time", ErrUnavailable, tally.answered(), r)
		}
	}
	if !tally.ok() {
		return dvv.Set{}, nil, fmt.Errorf("%w: only %d of %d replicas answered", ErrUnavailable, tally.answered(), r)
	}
	found := tally.found
	// Take whatever else has already arrived, for a better merge and repair.
	for more := true; more; {
		select {
		case a := <-ch:
			if a.err == nil {
				got = append(got, a)
				if a.found {
					merged = mergeAnswer(merged, a.set, found == 0)
					found++
				}
			}
		default:
			more = false
		}
	}
	e.observe(merged)
	if e.lww(uint64(sh.Group)) {
		merged, _ = merged.ResolveLWW()
	}
	return merged, got, nil
}

// readTally decides when a read has heard enough. A "not found" answer
// counts toward R only once every replica has answered (Riak's
// notfound_ok=false): a replica that missed a write (a hint not yet
// delivered, a restart) must not hide it from a read another replica could
// serve. Failed replicas never count.
type readTally struct {
	r, targets          int
	found, empty, fails int
}

func (t *readTally) add(found, failed bool) {
	switch {
	case failed:
		t.fails++
	case found:
		t.found++
	default:
		t.empty++
	}
}

func (t *readTally) answered() int { return t.found + t.empty }

// done: enough values found, or nobody left to hear from.
func (t *readTally) done() bool {
	return t.found >= t.r || t.answered()+t.fails == t.targets
}

// ok: the read may be answered (found values, or R replicas agreeing the
// key is absent).
func (t *readTally) ok() bool { return t.found >= t.r || t.answered() >= t.r }

// mergeAnswer folds one replica's state into the read's result. The first
// is taken as is: merging with an empty state would drop a sibling whose
// dot every context covers (a planted stale value, which a read that only
// finds that replica should still show).
func mergeAnswer(merged, in dvv.Set, first bool) dvv.Set {
	if first {
		return in
	}
	return dvv.Merge(merged, in)
}

func (e *Engine) fetch(ctx context.Context, n keyspace.NodeID, g uint64, key []byte) answer {
	if n == e.self() {
		set, found, err := e.store.get(g, key)
		return answer{node: n, set: set, found: found, err: err}
	}
	req := &enc{}
	req.byte(opFetch)
	req.uint(g)
	req.bytes(key)
	d, err := e.call(ctx, n, req.b)
	if err != nil {
		return answer{node: n, err: err}
	}
	a := answer{node: n, found: d.bool()}
	if a.found {
		a.set = d.set()
	}
	a.err = d.err
	return a
}

// readRepair writes the merged state back, in the background, to every
// replica that answered with less.
func (e *Engine) readRepair(sh membership.Shard, key []byte, merged dvv.Set, answered []answer) {
	if len(merged.Siblings) == 0 {
		return
	}
	for _, a := range answered {
		if a.found && a.set.Equal(merged) {
			continue
		}
		if e.cfg.Metrics.ReadRepairs != nil {
			e.cfg.Metrics.ReadRepairs()
		}
		e.background(func(ctx context.Context) { _ = e.storeAt(ctx, a.node, uint64(sh.Group), key, merged, 0) })
	}
}

// storeAt merges a state into node n's replica (or hint, for hintFor).
func (e *Engine) storeAt(ctx context.Context, n keyspace.NodeID, g uint64, key []byte, set dvv.Set, hintFor keyspace.NodeID) error {
	if n == e.self() && hintFor == 0 {
		return e.mergeLocal(g, key, set)
	}
	req := &enc{}
	req.byte(opStore)
	req.uint(g)
	req.bytes(key)
	req.set(set)
	req.uint(uint64(hintFor))
	_, err := e.call(ctx, n, req.b)
	return err
}

// Write stores value (or, with deleted, a tombstone) for key.
func (e *Engine) Write(ctx context.Context, ns *membership.NamespaceMap, key, value []byte, deleted bool, o WriteOptions) (Result, error) {
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	if ns.Mode == keyspace.ModeCausal {
		return e.causalWrite(ctx, ns, key, value, deleted, o)
	}
	sh := ns.Locate(key)
	for _, coord := range e.coordinators(sh) {
		if coord == e.self() {
			return e.coordinate(ctx, ns, sh, key, value, deleted, o)
		}
		res, err := e.forwardWrite(ctx, coord, ns, key, value, deleted, o)
		if errors.Is(err, transport.ErrNotSent) {
			continue // certainly not there: try the next replica
		}
		if err != nil && !isEngineErr(err) {
			return Result{}, fmt.Errorf("%w: forwarded to %s: %v", ErrUnknownOutcome, coord, err)
		}
		return res, err
	}
	return Result{}, fmt.Errorf("%w: no replica of the key could be reached", ErrUnavailable)
}

func isEngineErr(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnknownOutcome) || errors.Is(err, ErrCausalDeps) ||
		errors.Is(err, ErrBadToken) || errors.Is(err, ErrInvalid)
}

// coordinators lists the replicas that may coordinate a request for the
// shard, in the order to try them: this node when it is one, then those
// the failure detector has heard from lately, then the rest, which may be
// unheard-of only because this node has just started (a request tries
// them after every live replica has failed it, not instead).
func (e *Engine) coordinators(sh membership.Shard) []keyspace.NodeID {
	var out, rest []keyspace.NodeID
	if slices.Contains(sh.Replicas, e.self()) {
		out = append(out, e.self())
	}
	for _, n := range sh.Replicas {
		switch {
		case n == e.self():
		case e.alive(n):
			out = append(out, n)
		default:
			rest = append(rest, n)
		}
	}
	return append(out, rest...)
}

func (e *Engine) forwardWrite(ctx context.Context, to keyspace.NodeID, ns *membership.NamespaceMap, key, value []byte, deleted bool, o WriteOptions) (Result, error) {
	req := &enc{}
	req.byte(opCoordinate)
	req.str(ns.Name)
	req.bytes(key)
	req.bytes(value)
	req.bool(deleted)
	req.uint(uint64(o.W - MajorityReplicas)) // quorum sizes may be negative constants
	req.str(o.Context)
	req.str(o.Token)
	d, err := e.call(ctx, to, req.b)
	if err != nil {
		return Result{}, err
	}
	return decodeResult(d)
}

func (e *Engine) serveCoordinate(ctx context.Context, d *dec, out *enc) error {
	nsName, key, value, deleted := d.str(), d.bytes(), d.bytes(), d.bool()
	o := WriteOptions{W: int(d.uint()) + MajorityReplicas, Context: d.str(), Token: d.str()}
	if d.err != nil {
		return d.err
	}
	ns := e.cfg.Map().Namespace(nsName)
	if ns == nil {
		return fmt.Errorf("%w: namespace %q unknown here", ErrInvalid, nsName)
	}
	var res Result
	var err error
	if ns.Mode == keyspace.ModeCausal {
		res, err = e.causalWriteLocal(ctx, ns, key, value, deleted, o)
	} else {
		res, err = e.coordinate(ctx, ns, ns.Locate(key), key, value, deleted, o)
	}
	if err == nil {
		encodeResult(out, res)
	}
	return err
}

func encodeResult(out *enc, r Result) {
	out.bool(r.Found)
	out.uint(uint64(len(r.Values)))
	for _, v := range r.Values {
		out.bytes(v)
	}
	out.str(r.Context)
	out.str(r.Token)
}

func decodeResult(d *dec) (Result, error) {
	r := Result{Found: d.bool()}
	n := d.uint()
	if n > uint64(len(d.b)) {
		return r, errTruncated
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		r.Values = append(r.Values, d.bytes())
	}
	r.Context, r.Token = d.str(), d.str()
	return r, d.err
}

// coordinate makes the write here (a replica) and replicates it: W stores
// (this one included) make it succeed. Replicas thought down are replaced
// by fallback nodes that keep the state as a hint.
func (e *Engine) coordinate(ctx context.Context, ns *membership.NamespaceMap, sh membership.Shard, key, value []byte, deleted bool, o WriteOptions) (Result, error) {
	cctx, err := decodeContext(o.Context)
	if err != nil {
		return Result{}, err
	}
	g := uint64(sh.Group)
	ts := e.cfg.HLC.Now()
	lww := e.lww(g)
	set, _, err := e.store.update(g, key, func(old dvv.Set, _ bool) (dvv.Set, bool) {
		// A blind write (no context) supersedes what this replica has
		// seen, as a client that read here first would: a plain DELETE
		// deletes. Writes the coordinator has not seen stay as siblings.
		wctx := cctx
		if len(wctx) == 0 {
			wctx = old.Context
		}
		// The dot is issued from the state under the key's lock, so this
		// node's dots for a key grow in the order its writes are stored.
		s, _ := old.Update(uint64(e.self()), wctx, value, deleted, ts)
		if lww {
			var n int
			s, n = s.ResolveLWW()
			e.discarded(n)
		}
		return s, true
	})
	if err != nil {
		return Result{}, err
	}
	e.emit(g, key, set)
	w := quorum(o.W, ns.W, len(sh.Replicas))
	acks := e.replicate(ctx, writeShard(e.cfg.Map(), sh), key, set, w-1)
	if acks+1 < w {
		return Result{}, fmt.Errorf("%w: stored on %d of %d replicas needed", ErrUnknownOutcome, acks+1, w)
	}
	return resultOf(set), nil
}

// replicate sends set to the shard's other replicas (or fallbacks for
// those thought down) and returns once need of them stored it, or every
// attempt ended, or ctx did. Sends still in flight carry on in the
// background.
func (e *Engine) replicate(ctx context.Context, sh membership.Shard, key []byte, set dvv.Set, need int) int {
	type target struct{ node, hintFor keyspace.NodeID }
	var targets []target
	var down []keyspace.NodeID
	for _, n := range sh.Replicas {
		switch {
		case n == e.self():
		case e.alive(n):
			targets = append(targets, target{node: n})
		default:
			down = append(down, n)
		}
	}
	fbs := e.fallbacks(sh, len(down))
	for i, d := range down {
		if i < len(fbs) {
			targets = append(targets, target{node: fbs[i], hintFor: d})
			continue
		}
		// No stand-in left: keep the hint here (it does not count toward
		// W: this node already did), and try the replica itself, which
		// may only be suspected.
		if err := e.store.storeHint(uint64(sh.Group), uint64(d), key, set); err != nil {
			e.cfg.Logger.Warn("storing a hint", "for", d.String(), "err", err)
		}
		targets = append(targets, target{node: d})
	}
	if len(targets) == 0 {
		return 0
	}
	done := make(chan error, len(targets))
	for _, t := range targets {
		started := e.spawn(func() {
			bctx, cancel := context.WithTimeout(e.root, e.cfg.Timeout)
			defer cancel()
			done <- e.storeAt(bctx, t.node, uint64(sh.Group), key, set, t.hintFor)
		})
		if !started {
			done <- ErrUnavailable
		}
	}
	acks := 0
	for i := 0; i < len(targets) && acks < need; i++ {
		select {
		case err := <-done:
			if err == nil {
				acks++
			}
		case <-ctx.Done():
			return acks
		}
	}
	return acks
}

// fallbacks picks up to k live nodes clockwise beyond the shard's
// replicas on the ring (the sloppy quorum's stand-ins).
func (e *Engine) fallbacks(sh membership.Shard, k int) []keyspace.NodeID {
	if k == 0 {
		return nil
	}
	m := e.cfg.Map()
	ring := m.Ring()
	var out []keyspace.NodeID
	ring.Walk(ring.ShardPoint(sh.Namespace.ID, sh.Index), func(n keyspace.NodeID) bool {
		if !slices.Contains(sh.Replicas, n) && n != e.self() && e.alive(n) {
			out = append(out, n)
		}
		return len(out) < k
	})
	return out
}

// decodeContext reads a causal context or token. A client may send several
// tokens, comma-separated (concurrent requests of one session); they are
// merged.
func decodeContext(tok string) (dvv.VV, error) {
	out := dvv.VV{}
	for _, part := range strings.Split(tok, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		v, err := dvv.DecodeToken(part)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadToken, err)
		}
		out = out.Merge(v)
	}
	return out, nil
}

// ScanEntry is a key listed by Scan.
type ScanEntry struct {
	Key    []byte
	Values [][]byte
}

// Scan lists live keys with prefix after after, in order, across the
// namespace's shards, asking one live replica of each (this node when it
// is one): eventually consistent.
func (e *Engine) Scan(ctx context.Context, ns *membership.NamespaceMap, prefix, after []byte, limit int) ([]ScanEntry, bool, error) {
	ctx, cancel := e.withTimeout(ctx)
	defer cancel()
	more := false
	byKey := map[string]dvv.Set{}
	// During a reshard the old layout's shards still hold keys not yet
	// handed over: scan them too and merge.
	for _, sh := range ns.AllShards() {
		states, m, err := e.scanShard(ctx, sh, prefix, after, limit)
		if err != nil {
			return nil, false, err
		}
		more = more || m
		for _, ks := range states {
			if prev, ok := byKey[string(ks.key)]; ok {
				ks.set = dvv.Merge(prev, ks.set)
			}
			byKey[string(ks.key)] = ks.set
		}
	}
	out := make([]ScanEntry, 0, len(byKey))
	for k, set := range byKey {
		if !set.IsTombstone() {
			out = append(out, ScanEntry{Key: []byte(k), Values: set.Values()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].Key) < string(out[j].Key) })
	if len(out) > limit {
		out, more = out[:limit], true
	}
	return out, more, nil
}

func (e *Engine) scanShard(ctx context.Context, sh membership.Shard, prefix, after []byte, limit int) ([]keyState, bool, error) {
	var lastErr error
	for _, n := range e.coordinators(sh) {
		if n == e.self() {
			var out []keyState
			more := false
			err := e.store.scan(uint64(sh.Group), prefix, after, 0, func(k []byte, set dvv.Set) bool {
				if set.IsTombstone() {
					return true
				}
				if len(out) == limit {
					more = true
					return false
				}
				out = append(out, keyState{k, set})
				return true
			})
			return out, more, err
		}
		req := &enc{}
		req.byte(opScan)
		req.uint(uint64(sh.Group))
		req.bytes(prefix)
		req.bytes(after)
		req.uint(uint64(limit))
		d, err := e.call(ctx, n, req.b)
		if err != nil {
			lastErr = err
			continue
		}
		more := d.bool()
		states := d.states()
		return states, more, d.err
	}
	return nil, false, fmt.Errorf("%w: no replica of shard %d answered: %v", ErrUnavailable, sh.Index, lastErr)
}

// Repair runs one anti-entropy round over every local shard now.
func (e *Engine) Repair(ctx context.Context) (int, error) { return e.antiEntropyRound(ctx, true), nil }

func isNotSent(err error) bool { return errors.Is(err, transport.ErrNotSent) }
