package dynamo

import (
	"context"
	"fmt"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/replication/dynamo/dvv"
	"github.com/distkv/distkv/internal/replication/dynamo/merkle"
)

// Replica-side handlers of peers' requests.

func (e *Engine) serveStore(d *dec) error {
	g, key, set, hintFor := d.uint(), d.bytes(), d.set(), d.uint()
	if d.err != nil {
		return d.err
	}
	if hintFor != 0 && keyspace.NodeID(hintFor) != e.self() {
		if err := e.store.storeHint(g, hintFor, key, set); err != nil {
			return err
		}
		if e.cfg.Metrics.HintsStored != nil {
			e.cfg.Metrics.HintsStored()
		}
		return nil
	}
	return e.mergeLocal(g, key, set)
}

// mergeLocal merges a state into this replica and reports the change.
// The node's clock observes the state's stamps, so a later write here is
// stamped after every write it may supersede (what LWW needs).
func (e *Engine) mergeLocal(g uint64, key []byte, set dvv.Set) error {
	e.observe(set)
	next, changed, err := e.store.merge(g, key, set, e.lww(g), e.discarded)
	if err == nil && changed {
		e.emit(g, key, next)
	}
	return err
}

func (e *Engine) serveFetch(d *dec, out *enc) error {
	g, key := d.uint(), d.bytes()
	if d.err != nil {
		return d.err
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

func (e *Engine) serveBuckets(d *dec, out *enc) error {
	g := d.uint()
	if d.err != nil {
		return d.err
	}
	gs, err := e.store.group(g)
	if err != nil {
		return err
	}
	out.u64s(gs.tree.Buckets())
	return nil
}

// maxExchange bounds the keys one anti-entropy message carries.
const maxExchange = 5000

func (e *Engine) serveBucketStates(d *dec, out *enc) error {
	g, idx := d.uint(), d.u64s()
	if d.err != nil {
		return d.err
	}
	states, err := e.bucketStates(g, idx)
	if err != nil {
		return err
	}
	out.states(states)
	return nil
}

// bucketStates lists the local states of the keys in the given buckets.
func (e *Engine) bucketStates(g uint64, buckets []uint64) ([]keyState, error) {
	want := make(map[int]bool, len(buckets))
	for _, b := range buckets {
		want[int(b)] = true
	}
	var out []keyState
	err := e.store.scan(g, nil, nil, 0, func(key []byte, set dvv.Set) bool {
		if want[merkle.BucketOf(key, merkleBuckets)] {
			out = append(out, keyState{key, set})
		}
		return len(out) < maxExchange
	})
	return out, err
}

func (e *Engine) serveStoreBatch(d *dec) error {
	g, states := d.uint(), d.states()
	if d.err != nil {
		return d.err
	}
	if err := e.mustStore(g); err != nil {
		return err
	}
	for _, ks := range states {
		if err := e.mergeLocal(g, ks.key, ks.set); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) serveScan(d *dec, out *enc) error {
	g, prefix, after, limit := d.uint(), d.bytes(), d.bytes(), int(d.uint())
	if d.err != nil {
		return d.err
	}
	var states []keyState
	more := false
	err := e.store.scan(g, prefix, after, 0, func(key []byte, set dvv.Set) bool {
		if set.IsTombstone() {
			return true
		}
		if len(states) == limit {
			more = true
			return false
		}
		states = append(states, keyState{key, set})
		return true
	})
	out.bool(more)
	out.states(states)
	return err
}

func (e *Engine) serveRemoveIfHash(d *dec) error {
	g, key, h := d.uint(), d.bytes(), d.uint()
	if d.err != nil {
		return d.err
	}
	_, err := e.store.removeIfHash(g, key, h)
	return err
}

func (e *Engine) servePlant(d *dec) error {
	g, key, value := d.uint(), d.bytes(), d.bytes()
	if d.err != nil {
		return d.err
	}
	return e.plantLocal(g, key, value)
}

// plantLocal replaces this replica's state of key with a stale, divergent
// one — a value under a dot every real state's context covers — without
// replicating it, so read repair or anti-entropy visibly undo it (seed
// 001's trick value).
func (e *Engine) plantLocal(g uint64, key, value []byte) error {
	stale := dvv.Set{Context: dvv.VV{}, Siblings: []dvv.Sibling{{Dot: dvv.Dot{Node: uint64(e.self()), Counter: 0}, Value: value}}}
	next, changed, err := e.store.update(g, key, func(dvv.Set, bool) (dvv.Set, bool) { return stale, true })
	if err == nil && changed {
		e.emit(g, key, next)
	}
	return err
}

// Plant places a divergent value for key on node target's replica
// (fault injection; see plantLocal).
func (e *Engine) Plant(ctx context.Context, ns string, target keyspace.NodeID, key, value []byte) error {
	nm := e.cfg.Map().Namespace(ns)
	if nm == nil || nm.Mode == keyspace.ModeStrong {
		return fmt.Errorf("%w: plant needs an eventual or causal namespace", ErrInvalid)
	}
	sh := nm.Locate(key)
	isReplica := false
	for _, r := range sh.Replicas {
		isReplica = isReplica || r == target
	}
	if !isReplica {
		return fmt.Errorf("%w: %s holds no replica of that key (replicas %v)", ErrInvalid, target, sh.Replicas)
	}
	if target == e.self() {
		return e.plantLocal(uint64(sh.Group), key, value)
	}
	req := &enc{}
	req.byte(opPlant)
	req.uint(uint64(sh.Group))
	req.bytes(key)
	req.bytes(value)
	_, err := e.call(ctx, target, req.b)
	return err
}

// observe advances the node's hybrid clock past a state's stamps.
func (e *Engine) observe(set dvv.Set) {
	if t := newestStamp(set); t.Wall != 0 {
		if _, err := e.cfg.HLC.Update(t); err != nil {
			e.cfg.Logger.Debug("clock offset", "err", err)
		}
	}
}

// mustStore refuses a batch (hints delivered, a copy, a handoff) for a
// group this node's map does not place here: merged, it would be dropped
// with the group on the next reconciliation, while the sender, whose map
// is older or newer than ours, took it as delivered. Refused, the sender
// keeps it and tries again once the maps agree.
func (e *Engine) mustStore(g uint64) error {
	for _, sh := range e.localShards() {
		if uint64(sh.Group) == g {
			return nil
		}
	}
	return fmt.Errorf("%w: %s does not hold %s at map epoch %d", ErrUnavailable, e.self(), keyspace.GroupID(g), e.cfg.Map().Epoch)
}
