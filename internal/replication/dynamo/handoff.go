package dynamo

import (
	"context"

	"github.com/distkv/distkv/internal/keyspace"
)

// hintBatch bounds how many hints one delivery pass reads per group.
const hintBatch = 2000

// deliverHints offers stored hints to their owners that are alive again;
// a hint the owner stored is deleted (unless it changed meanwhile).
func (e *Engine) deliverHints(ctx context.Context) {
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
	dead := map[uint64]bool{}
	for _, h := range hs {
		if ctx.Err() != nil {
			return
		}
		if dead[h.owner] || !e.alive(keyspace.NodeID(h.owner)) {
			continue
		}
		if err := e.storeAt(ctx, keyspace.NodeID(h.owner), g, h.key, h.set, 0); err != nil {
			dead[h.owner] = true // try again next pass
			continue
		}
		if err := e.store.dropHint(h); err != nil {
			e.cfg.Logger.Warn("dropping a delivered hint", "group", g, "err", err)
			continue
		}
		if e.cfg.Metrics.HintsDelivered != nil {
			e.cfg.Metrics.HintsDelivered()
		}
	}
}

// PendingHints counts the hints this node holds for other replicas.
func (e *Engine) PendingHints() int {
	n := 0
	for _, ns := range e.cfg.Map().Namespaces {
		if ns.Mode == keyspace.ModeStrong {
			continue
		}
		for s := range ns.Placement {
			hs, _ := e.store.hints(uint64(ns.Shard(s).Group), 1<<30)
			n += len(hs)
		}
	}
	return n
}
