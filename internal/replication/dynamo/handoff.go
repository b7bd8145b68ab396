package dynamo

import (
	"context"

	"github.com/distkv/distkv/internal/keyspace"
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
	for _, ns := range m.Namespaces {
		if ns.Mode == keyspace.ModeStrong {
			continue
		}
		for s := range ns.Placement {
			e.deliverGroupHints(ctx, uint64(ns.Shard(s).Group))
		}
	}
}

func (e *Engine) deliverGroupHints(ctx context.Context, g uint64) {
	hs, err := e.store.hints(g, hintBatch)
	if err != nil {
		e.cfg.Logger.Warn("reading hints", "group", g, "err", err)
		return
	}
	byOwner := map[uint64][]hint{}
	for _, h := range hs {
		byOwner[h.owner] = append(byOwner[h.owner], h)
	}
	for owner, list := range byOwner {
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
