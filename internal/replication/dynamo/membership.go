package dynamo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/replication/dynamo/dvv"
	"github.com/distkv/distkv/internal/storage"
)

// localGroups lists the groups this node holds leaderless key states of
// (hints aside).
func (e *Engine) localGroups() ([]uint64, error) { return e.groupsWith(subValue) }

// hintGroups lists the groups this node holds hints of.
func (e *Engine) hintGroups() ([]uint64, error) { return e.groupsWith(subHint) }

// groupsWith lists the groups with keys under sub, seeking from one
// group's range to the next.
func (e *Engine) groupsWith(sub byte) ([]uint64, error) {
	var out []uint64
	end := []byte{storage.LeaderlessKey(0, 0, nil)[0] + 1}
	for g := uint64(0); ; {
		var found []byte
		err := e.cfg.Engine.Scan(storage.LeaderlessKey(g, sub, nil), end, func(k, _ []byte) bool {
			found = append([]byte(nil), k...)
			return false
		})
		if err != nil || len(found) < 10 {
			return out, err
		}
		fg := binary.BigEndian.Uint64(found[1:9])
		switch {
		case fg != g:
			g = fg // look for sub in the next group that has anything
			continue
		case found[9] == sub:
			out = append(out, g)
		}
		if g == ^uint64(0) {
			return out, nil
		}
		g++
	}
}

// DropOtherGroups deletes the key states of leaderless groups this node
// holds but the map no longer places here (keep lists those it does). A
// group of a namespace the map does not know, or of a strong one, is left
// alone. Hints are kept: they are for other nodes. It returns the groups
// dropped.
//
// Each group of a leaderless namespace records the namespace's reshard
// generation its keys were last sorted by. A group whose generation is
// older than its namespace's (a reshard ran and ended while this node was
// down, so its handoff missed this node's keys) hands over the keys whose
// shard changed before anything else happens to it: the live nodes'
// handoff covered what they held, but an eventual write acknowledged by
// fewer replicas than are left (W=1, or a sloppy quorum) may be only here,
// and this node's own replicas of the new shards lack the causal writes it
// accepted before it went down (the others get them from its broadcast
// log, but a node does not broadcast to itself, and causal replicas have
// no anti-entropy to repair them).
func (e *Engine) DropOtherGroups(ctx context.Context, m *membership.Map, keep []uint64) ([]uint64, error) {
	groups, err := e.localGroups()
	if err != nil {
		return nil, err
	}
	var dropped []uint64
	var errs []error
	for _, g := range groups {
		ns := m.NamespaceByID(keyspace.GroupID(g).Namespace())
		if ns == nil || ns.Mode == keyspace.ModeStrong {
			continue
		}
		if ns.Reshard == nil {
			if err := e.catchUpLayout(ctx, m, ns, g); err != nil {
				errs = append(errs, fmt.Errorf("handing over the keys of %s that a reshard moved: %w", keyspace.GroupID(g), err))
				continue // kept, and tried again on the next pass
			}
		}
		if slices.Contains(keep, g) {
			if ns.Reshard == nil {
				if err := e.sweepMoved(ns, g); err != nil {
					errs = append(errs, fmt.Errorf("deleting the keys a reshard moved out of %s: %w", keyspace.GroupID(g), err))
				}
			}
			continue
		}
		if err := e.dropGroup(g); err != nil {
			return dropped, err
		}
		dropped = append(dropped, g)
	}
	return dropped, errors.Join(errs...)
}

func layoutKey(g uint64) []byte { return storage.LocalKey(fmt.Sprintf("dynamo/layout/%016x", g)) }

func encodeLayout(ns *membership.NamespaceMap) []byte {
	return []byte(fmt.Sprintf("gen %d, %d shards", ns.GroupGen, ns.Shards))
}

// setLayout records that group g's keys were handed over as ns's latest
// reshard places them.
func (e *Engine) setLayout(g uint64, ns *membership.NamespaceMap) error {
	return e.store.commitExtra(func(b *storage.Batch) error { return b.Set(layoutKey(g), encodeLayout(ns)) })
}

// catchUpLayout hands over the keys of group g that ns's layout puts in
// another shard, if g's recorded reshard generation is older (see
// DropOtherGroups). A group with no record (it predates the records, is
// new, or its node went down before its first pass recorded one) hands
// over whatever the current layout puts elsewhere too: nothing says it did
// not miss a reshard, and sweepMoved would otherwise delete keys that may
// be nowhere else (an eventual W=1 write). A group that missed nothing
// sends nothing.
func (e *Engine) catchUpLayout(ctx context.Context, m *membership.Map, ns *membership.NamespaceMap, g uint64) error {
	cur := encodeLayout(ns)
	was, ok, err := e.cfg.Engine.Get(layoutKey(g))
	switch {
	case err != nil:
		return err
	case ok && string(was) == string(cur):
		return nil
	}
	n, err := e.handOverMoved(ctx, m, ns, g)
	if err != nil {
		return err
	}
	if n > 0 || ok {
		e.cfg.Logger.Info(fmt.Sprintf("handed %d keys of %s over to namespace %s's shards (layout %s, was %q): this node missed a reshard's handoff",
			n, keyspace.GroupID(g), ns.Name, cur, was))
	}
	return e.setLayout(g, ns)
}

func sweptKey(g uint64) []byte { return storage.LocalKey(fmt.Sprintf("dynamo/swept/%016x", g)) }

// sweepMoved deletes, once per layout, the keys of group g (kept here, of
// a namespace with no reshard under way) that ns's layout puts in another
// shard. A reshard keeps the groups of the shards both layouts have, so a
// key that moved out of one stays behind in every replica that stored it
// while the old layout was consulted (the write was applied there before
// the reshard ended; one applied after stores it only in its new shard).
// Reads no longer look there and the key's new shard holds it (every node
// handed over, or catchUpLayout did), as for the old groups a reshard
// drops; left alone, the leftovers differ between replicas for good in a
// causal namespace (no anti-entropy), are copied by moves, and would come
// back if a later reshard moved the key back.
func (e *Engine) sweepMoved(ns *membership.NamespaceMap, g uint64) error {
	cur := encodeLayout(ns)
	was, ok, err := e.cfg.Engine.Get(sweptKey(g))
	if err != nil || (ok && string(was) == string(cur)) {
		return err
	}
	if ns.Mode == keyspace.ModeCausal {
		// A causal write reads the map under applyMu: once this returns,
		// every write still storing by the old layout has been stored, and
		// later ones store by the layout that ended the reshard.
		e.causal.applyMu.Lock()
		e.causal.applyMu.Unlock() //nolint:staticcheck // a barrier
	}
	var moved [][]byte
	err = e.store.scan(g, nil, nil, 0, func(key []byte, _ dvv.Set) bool {
		if uint64(ns.Locate(key).Group) != g {
			moved = append(moved, key)
		}
		return true
	})
	if err != nil {
		return err
	}
	// Each key is checked again against the map of the moment: a reshard
	// started meanwhile may have moved it back here.
	gone := func(key []byte) bool {
		cur := e.cfg.Map().NamespaceByID(ns.ID)
		return cur != nil && cur.Reshard == nil && uint64(cur.Locate(key).Group) != g
	}
	for _, key := range moved {
		if err := e.store.remove(g, key, gone); err != nil {
			return err
		}
	}
	if len(moved) > 0 {
		e.cfg.Logger.Info(fmt.Sprintf("deleted %d keys of %s that namespace %s's reshard moved to other shards", len(moved), keyspace.GroupID(g), ns.Name))
	}
	return e.store.commitExtra(func(b *storage.Batch) error { return b.Set(sweptKey(g), cur) })
}

// handOverMoved sends the keys of group g whose shard in ns's layout is
// another to that shard's replicas (hints for those that are down).
func (e *Engine) handOverMoved(ctx context.Context, m *membership.Map, ns *membership.NamespaceMap, g uint64) (int, error) {
	batches := map[keyspace.GroupID][]keyState{}
	shards := map[keyspace.GroupID]membership.Shard{}
	var sendErr error
	n := 0
	err := e.store.scan(g, nil, nil, 0, func(key []byte, set dvv.Set) bool {
		sh := writeShard(m, ns.Locate(key))
		if uint64(sh.Group) == g {
			return true
		}
		shards[sh.Group] = sh
		batches[sh.Group] = append(batches[sh.Group], keyState{key, set})
		n++
		if len(batches[sh.Group]) >= copyBatch {
			sendErr = e.copyOrHint(ctx, sh, batches[sh.Group])
			delete(batches, sh.Group)
		}
		return sendErr == nil
	})
	if err == nil {
		err = sendErr
	}
	for sg, states := range batches {
		if err != nil {
			break
		}
		err = e.copyOrHint(ctx, shards[sg], states)
	}
	return n, err
}

// dropGroup deletes a group's key states and forgets its tree.
func (e *Engine) dropGroup(g uint64) error {
	start, end := storage.LeaderlessRange(g, subValue, nil)
	b := e.cfg.Engine.NewWriteBatch()
	defer b.Close()
	if err := b.DeleteRange(start, end); err != nil {
		return err
	}
	if err := b.Delete(layoutKey(g)); err != nil {
		return err
	}
	if err := b.Delete(sweptKey(g)); err != nil {
		return err
	}
	if err := b.Commit(e.store.sync); err != nil {
		return err
	}
	e.store.mu.Lock()
	delete(e.store.groups, g)
	e.store.mu.Unlock()
	return nil
}

// Replica sets while the cluster changes shape. A shard moving to a new
// node has that node as an extra replica for writes (and, in causal
// namespaces, for storing broadcast writes) from the moment the move is in
// the map, so once the copy made after every node knows of the move has
// arrived, it misses nothing. A leaderless reshard routes by the new
// layout at once; until it ends, reads also consult the old layout's
// shard, and causal replicas of the old layout keep storing its keys, so
// the handoff made after every node knows of it misses nothing either.

// writeShard returns sh with the target of a move under way on it added to
// its replicas.
func writeShard(m *membership.Map, sh membership.Shard) membership.Shard {
	if mv, ok := m.MoveFor(sh.Group); ok && mv.To != 0 && !slices.Contains(sh.Replicas, mv.To) {
		sh.Replicas = append(slices.Clone(sh.Replicas), mv.To)
	}
	return sh
}

// oldShard returns, during a reshard of ns, the old layout's shard of key
// when it differs from the current one.
func oldShard(ns *membership.NamespaceMap, key []byte) (membership.Shard, bool) {
	if ns.Reshard == nil {
		return membership.Shard{}, false
	}
	old := ns.Reshard.Old.Locate(ns, key)
	if old.Group == ns.Locate(key).Group {
		return membership.Shard{}, false
	}
	return old, true
}

// storeGroups lists the groups under which this node stores a key of ns:
// its shard's if this node is a replica (or the target of a move of it),
// and during a reshard also its old shard's if this node replicates that.
func (e *Engine) storeGroups(m *membership.Map, ns *membership.NamespaceMap, key []byte) []uint64 {
	var out []uint64
	if sh := writeShard(m, ns.Locate(key)); slices.Contains(sh.Replicas, e.self()) {
		out = append(out, uint64(sh.Group))
	}
	if old, ok := oldShard(ns, key); ok && slices.Contains(old.Replicas, e.self()) {
		out = append(out, uint64(old.Group))
	}
	return out
}

// causalPeers are the members that take part in causal delivery: live and
// not declared dead (a dead member is not waited for; if it returns it
// holds no replica and catches its vector up).
func causalPeers(m *membership.Map) []keyspace.NodeID {
	var out []keyspace.NodeID
	for _, mb := range m.Live() {
		if mb.State != membership.MemberDead {
			out = append(out, mb.ID)
		}
	}
	return out
}

// CausalVector returns the writes this node has applied in causal
// namespace name, per origin.
func (e *Engine) CausalVector(name string) (map[uint64]uint64, error) {
	ns := e.cfg.Map().Namespace(name)
	if ns == nil || ns.Mode != keyspace.ModeCausal {
		return nil, fmt.Errorf("%w: %q is not a causal namespace here", ErrInvalid, name)
	}
	return e.causal.vector(ns.ID), nil
}

// awaitVector waits until this node has applied every write in v of
// causal namespace ns, or ctx ends.
func (e *Engine) awaitVector(ctx context.Context, ns uint32, v map[uint64]uint64) error {
	if len(v) == 0 {
		return nil
	}
	st, err := e.causal.state(ns)
	if err != nil {
		return err
	}
	want := dvv.VV(v)
	for {
		e.causal.mu.Lock()
		ok, ch := st.v.Descends(want), st.changed
		e.causal.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting to apply %s: %w", ErrCausalDeps, want, ctx.Err())
		}
	}
}

// FastForward raises this node's vector of causal namespace name to v if
// the node holds no replica of it: applying a write of a shard one does not
// hold is only advancing the vector, so a node without replicas may claim
// any writes another node has applied. A node that joins (or returns after
// being declared dead) does this, since the writes made before cannot be
// resent to it once their origins have pruned them.
func (e *Engine) FastForward(name string, v map[uint64]uint64) (bool, error) {
	m := e.cfg.Map()
	ns := m.Namespace(name)
	if ns == nil || ns.Mode != keyspace.ModeCausal || len(v) == 0 {
		return false, nil
	}
	for _, sh := range m.ShardsOn(e.self()) {
		if sh.Namespace.ID == ns.ID {
			return false, nil
		}
	}
	st, err := e.causal.state(ns.ID)
	if err != nil {
		return false, err
	}
	c := e.causal
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	c.mu.Lock()
	next := st.v.Merge(dvv.VV(v))
	grew := !st.v.Descends(next)
	c.mu.Unlock()
	if !grew {
		return false, nil
	}
	if err := e.store.commitExtra(func(b *storage.Batch) error { return b.Set(vvKey(ns.ID), []byte(dvv.EncodeToken(next))) }); err != nil {
		return false, err
	}
	c.mu.Lock()
	st.v = next
	close(st.changed)
	st.changed = make(chan struct{})
	c.mu.Unlock()
	return true, nil
}

// copyBatch is how many key states travel in one copy call.
const copyBatch = 500

// CopyShard sends this node's whole replica of leaderless group g of
// namespace name to node to, where the states merge (idempotently; no
// change events: the keys are not new). In a causal namespace it first
// waits until this node has applied every write in wait (to's vector when
// the move was known everywhere), so the copy holds every write to
// skipped.
func (e *Engine) CopyShard(ctx context.Context, name string, g uint64, to keyspace.NodeID, wait map[uint64]uint64) error {
	ns := e.cfg.Map().Namespace(name)
	if ns == nil || ns.Mode == keyspace.ModeStrong {
		return fmt.Errorf("%w: %q is not a leaderless namespace here", ErrInvalid, name)
	}
	if ns.Mode == keyspace.ModeCausal {
		if err := e.awaitVector(ctx, ns.ID, wait); err != nil {
			return err
		}
	}
	var batch []keyState
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := e.sendCopy(ctx, to, g, batch)
		batch = batch[:0]
		return err
	}
	var sendErr error
	err := e.store.scan(g, nil, nil, 0, func(key []byte, set dvv.Set) bool {
		batch = append(batch, keyState{key, set})
		if len(batch) >= copyBatch {
			sendErr = send()
		}
		return sendErr == nil
	})
	if err == nil {
		err = sendErr
	}
	if err == nil {
		err = send()
	}
	return err
}

// sendCopy merges states into group g on node to, without change events.
func (e *Engine) sendCopy(ctx context.Context, to keyspace.NodeID, g uint64, states []keyState) error {
	if to == e.self() {
		for _, ks := range states {
			if _, _, err := e.store.merge(g, ks.key, ks.set, e.lww(g), e.discarded); err != nil {
				return err
			}
		}
		return nil
	}
	req := &enc{}
	req.byte(opCopyBatch)
	req.uint(g)
	req.states(states)
	_, err := e.call(ctx, to, req.b)
	return err
}

func (e *Engine) serveCopyBatch(d *dec) error {
	g, states := d.uint(), d.states()
	if d.err != nil {
		return d.err
	}
	if err := e.mustStore(g); err != nil {
		return err
	}
	for _, ks := range states {
		if _, _, err := e.store.merge(g, ks.key, ks.set, e.lww(g), e.discarded); err != nil {
			return err
		}
	}
	return nil
}

// Handoff sends the keys of namespace name that this node holds in its
// replicas of the old layout of reshard id, and that the new layout puts
// in another shard, to every live replica of their new shard. In a causal
// namespace it first waits until this node has applied every write in
// wait (every node's vector once all knew of the reshard).
func (e *Engine) Handoff(ctx context.Context, name string, id uint64, wait map[uint64]uint64) error {
	ns := e.cfg.Map().Namespace(name)
	if ns == nil || ns.Mode == keyspace.ModeStrong || ns.Reshard == nil || ns.Reshard.ID != id {
		return fmt.Errorf("%w: namespace %q has no leaderless reshard %d under way here", ErrInvalid, name, id)
	}
	if ns.Mode == keyspace.ModeCausal {
		if err := e.awaitVector(ctx, ns.ID, wait); err != nil {
			return err
		}
	}
	for _, old := range ns.Reshard.Old.Shards(ns) {
		if err := e.handOverHints(ctx, ns, old); err != nil {
			return fmt.Errorf("handing over the hints held for %s: %w", old.Group, err)
		}
		if !slices.Contains(old.Replicas, e.self()) {
			continue
		}
		if _, err := e.handOverMoved(ctx, e.cfg.Map(), ns, uint64(old.Group)); err != nil {
			return fmt.Errorf("handing over %s: %w", old.Group, err)
		}
		// Recorded so that the group is not handed over again once the
		// reshard ends (DropOtherGroups does that for a node that missed
		// this handoff).
		if err := e.setLayout(uint64(old.Group), ns); err != nil {
			return err
		}
	}
	return nil
}

// copyOrHint sends states to every replica of sh that is up, and keeps a
// hint for each one that is down (delivered when it is back), so a replica
// of the new layout misses nothing even without anti-entropy.
func (e *Engine) copyOrHint(ctx context.Context, sh membership.Shard, states []keyState) error {
	for _, r := range sh.Replicas {
		if r == e.self() || e.alive(r) {
			if err := e.sendCopy(ctx, r, uint64(sh.Group), states); err != nil {
				return err
			}
			continue
		}
		for _, ks := range states {
			if err := e.store.storeHint(uint64(sh.Group), uint64(r), ks.key, ks.set); err != nil {
				return err
			}
		}
	}
	return nil
}

// handOverHints sends the hints this node holds for old's replicas, of
// keys whose shard changed, to the keys' new shards: once the reshard ends
// the old group is gone and its hints would never be delivered, and a
// write acknowledged by a sloppy quorum may live only in hints. A new
// replica that is down gets a hint of the new group instead.
func (e *Engine) handOverHints(ctx context.Context, ns *membership.NamespaceMap, old membership.Shard) error {
	var moving []hint
	err := e.store.scanHints(uint64(old.Group), func(h hint) bool {
		if ns.Locate(h.key).Group != old.Group {
			moving = append(moving, h)
		}
		return true
	})
	if err != nil {
		return err
	}
	return e.readdress(ctx, moving, ns.Locate)
}

// causalFetchOld reads key's state from its old shard during a reshard:
// locally if this node replicates it, else from a replica of it that has
// applied every write this node has (it waits for that, bounded), so the
// state is at least as new as what this node would have had.
func (e *Engine) causalFetchOld(ctx context.Context, ns *membership.NamespaceMap, old membership.Shard, key []byte) (dvv.Set, error) {
	if slices.Contains(old.Replicas, e.self()) {
		set, _, err := e.store.get(uint64(old.Group), key)
		return set, err
	}
	vec := e.causal.vector(ns.ID)
	var lastErr error = fmt.Errorf("%w: no replica of the key's old shard is alive", ErrUnavailable)
	for _, n := range old.Replicas {
		if !e.alive(n) {
			continue
		}
		req := &enc{}
		req.byte(opCausalFetch)
		req.uint(uint64(ns.ID))
		req.uint(uint64(old.Group))
		req.bytes(key)
		req.str(dvv.EncodeToken(vec))
		d, err := e.call(ctx, n, req.b)
		if err != nil {
			lastErr = err
			continue
		}
		found := d.bool()
		var set dvv.Set
		if found {
			set = d.set()
		}
		return set, d.err
	}
	return dvv.Set{}, lastErr
}

func (e *Engine) serveCausalFetch(ctx context.Context, d *dec, out *enc) error {
	ns, g, key, tok := uint32(d.uint()), d.uint(), d.bytes(), d.str()
	if d.err != nil {
		return d.err
	}
	v, err := dvv.DecodeToken(tok)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	wctx, cancel := context.WithTimeout(ctx, e.cfg.CausalWait)
	defer cancel()
	if err := e.awaitVector(wctx, ns, v); err != nil {
		return err
	}
	set, found, err := e.store.get(g, key)
	if err != nil {
		return err
	}
	out.bool(found)
	if found {
		out.set(set)
	}
	return nil
}
