package dynamo

import (
	"context"
	"slices"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/storage"
)

const (
	// hintBatch bounds how many hints one delivery pass reads per group.
	hintBatch = 5000
	// hintsPerCall is how many hints travel in one delivery call.
	hintsPerCall = 500
)

// deliverHints offers stored hints to their owners that are alive again,
// in batches; hints an owner stored are deleted (unless they changed
// meanwhile). One pass runs at a time.
func (e *Engine) deliverHints(ctx context.Context) {
	if !e.delivering.CompareAndSwap(false, true) {
		return
	}
	defer e.delivering.Store(false)
	m := e.cfg.Map()
	current := map[uint64]bool{}
	for _, ns := range m.Namespaces {
		if ns.Mode == keyspace.ModeStrong {
			continue
		}
		for s := range ns.Placement {
			sh := ns.Shard(s)
			current[uint64(sh.Group)] = true
			e.deliverGroupHints(ctx, m, sh)
		}
		if ns.Reshard != nil {
			for _, old := range ns.Reshard.Old.Shards(ns) {
				current[uint64(old.Group)] = true // the reshard's handoff takes these
			}
		}
	}
	groups, err := e.hintGroups()
	if err != nil {
		e.cfg.Logger.Warn("listing hinted groups", "err", err)
		return
	}
	for _, g := range groups {
		if ns := m.NamespaceByID(keyspace.GroupID(g).Namespace()); !current[g] && ns != nil && ns.Mode != keyspace.ModeStrong {
			e.readdressOrphanHints(ctx, ns, g)
		}
	}
}

// deliverGroupHints offers sh's hints to their owners. A hint whose owner
// no longer replicates the shard (it moved away meanwhile) is not given to
// it, which would drop it with the rest of its old replica: it goes to the
// shard's replicas now, or becomes a hint for them.
func (e *Engine) deliverGroupHints(ctx context.Context, m *membership.Map, sh membership.Shard) {
	g := uint64(sh.Group)
	hs, err := e.store.hints(g, hintBatch)
	if err != nil {
		e.cfg.Logger.Warn("reading hints", "group", g, "err", err)
		return
	}
	ws := writeShard(m, sh)
	byOwner := map[uint64][]hint{}
	for _, h := range hs {
		byOwner[h.owner] = append(byOwner[h.owner], h)
	}
	for owner, list := range byOwner {
		if !slices.Contains(ws.Replicas, keyspace.NodeID(owner)) {
			if err := e.readdress(ctx, list, func([]byte) membership.Shard { return ws }); err != nil {
				e.cfg.Logger.Debug("re-addressing hints of a former replica", "group", g, "owner", owner, "err", err)
			}
			continue
		}
		if !e.alive(keyspace.NodeID(owner)) {
			continue
		}
		for len(list) > 0 && ctx.Err() == nil {
			batch := list[:min(hintsPerCall, len(list))]
			list = list[len(batch):]
			if err := e.deliverBatch(ctx, g, keyspace.NodeID(owner), batch); err != nil {
				e.cfg.Logger.Debug("delivering hints", "group", g, "owner", owner, "err", err)
				break // try again next pass
			}
		}
	}
}

func (e *Engine) deliverBatch(ctx context.Context, g uint64, owner keyspace.NodeID, batch []hint) error {
	if owner == e.self() {
		for _, h := range batch {
			if err := e.mergeLocal(g, h.key, h.set); err != nil {
				return err
			}
		}
	} else {
		states := make([]keyState, len(batch))
		for i, h := range batch {
			states[i] = keyState{h.key, h.set}
		}
		req := &enc{}
		req.byte(opStoreBatch)
		req.uint(g)
		req.states(states)
		if _, err := e.call(ctx, owner, req.b); err != nil {
			return err
		}
	}
	if err := e.store.dropHints(batch); err != nil {
		return err
	}
	if e.cfg.Metrics.HintsDelivered != nil {
		for range batch {
			e.cfg.Metrics.HintsDelivered()
		}
	}
	return nil
}

// readdressOrphanHints sends the hints held for group g, which a reshard
// that has ended took out of ns's layout, to their keys' shards now: the
// reshard's handoff missed them if this node was down while it ran.
func (e *Engine) readdressOrphanHints(ctx context.Context, ns *membership.NamespaceMap, g uint64) {
	hs, err := e.store.hints(g, hintBatch)
	if err != nil {
		e.cfg.Logger.Warn("reading hints", "group", g, "err", err)
		return
	}
	m := e.cfg.Map()
	if err := e.readdress(ctx, hs, func(key []byte) membership.Shard { return writeShard(m, ns.Locate(key)) }); err != nil {
		e.cfg.Logger.Debug("re-addressing the hints of a resharded group", "group", g, "err", err)
	}
}

// readdress sends hints to the replicas of the shard shardOf gives for
// their key (or keeps hints for those that are down), then drops them.
func (e *Engine) readdress(ctx context.Context, hs []hint, shardOf func(key []byte) membership.Shard) error {
	for len(hs) > 0 && ctx.Err() == nil {
		batch := hs[:min(hintsPerCall, len(hs))]
		hs = hs[len(batch):]
		byShard := map[keyspace.GroupID][]keyState{}
		shards := map[keyspace.GroupID]membership.Shard{}
		for _, h := range batch {
			sh := shardOf(h.key)
			shards[sh.Group] = sh
			byShard[sh.Group] = append(byShard[sh.Group], keyState{h.key, h.set})
		}
		for sg, states := range byShard {
			if err := e.copyOrHint(ctx, shards[sg], states); err != nil {
				return err
			}
		}
		if err := e.store.dropHints(batch); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// PendingHints counts the hints this node holds for other replicas.
func (e *Engine) PendingHints() int {
	n := 0
	for _, ns := range e.cfg.Map().Namespaces {
		if ns.Mode == keyspace.ModeStrong {
			continue
		}
		for s := range ns.Placement {
			n += e.PendingHintsIn(uint64(ns.Shard(s).Group))
		}
	}
	return n
}

// PendingHintsIn counts the hints this node holds for replicas of group g.
func (e *Engine) PendingHintsIn(g uint64) int {
	n := 0
	start, end := storage.LeaderlessRange(g, subHint, nil)
	_ = e.cfg.Engine.Scan(start, end, func(k, v []byte) bool { n++; return true })
	return n
}
