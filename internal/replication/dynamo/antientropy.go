package dynamo

import (
	"context"
	"math/rand"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/replication/dynamo/dvv"
	"github.com/distkv/distkv/internal/replication/dynamo/merkle"
)

// antiEntropyRound compares, for each local eventual shard (all of them
// when all is set, else a rotating few), this replica's Merkle tree with a
// random live other replica's and exchanges the keys of differing buckets
// both ways. It also collects old tombstones of shards this node leads
// the preference list of. It returns how many keys it exchanged.
func (e *Engine) antiEntropyRound(ctx context.Context, all bool) int {
	shards := e.localShards()
	if len(shards) == 0 {
		return 0
	}
	if !all {
		e.mu.Lock()
		start := e.mu.aeCursor % len(shards)
		e.mu.aeCursor += 4
		e.mu.Unlock()
		var pick []membership.Shard
		for i := 0; i < min(4, len(shards)); i++ {
			pick = append(pick, shards[(start+i)%len(shards)])
		}
		shards = pick
	}
	exchanged := 0
	for _, sh := range shards {
		if ctx.Err() != nil {
			break
		}
		if sh.Namespace.Mode == keyspace.ModeCausal {
			continue // causal namespaces are repaired by their broadcast's retransmission
		}
		peers := e.livePeers(sh)
		if len(peers) == 0 {
			continue
		}
		targets := peers
		if !all {
			targets = []keyspace.NodeID{peers[rand.Intn(len(peers))]}
		}
		for _, p := range targets {
			n, err := e.syncWith(ctx, sh, p)
			if err != nil {
				e.cfg.Logger.Debug("anti-entropy", "shard", sh.Group.String(), "peer", p.String(), "err", err)
			}
			exchanged += n
		}
		if sh.Replicas[0] == e.self() {
			e.collectTombstones(ctx, sh)
		}
	}
	if exchanged > 0 && e.cfg.Metrics.KeysRepaired != nil {
		e.cfg.Metrics.KeysRepaired(exchanged)
	}
	return exchanged
}

func (e *Engine) livePeers(sh membership.Shard) []keyspace.NodeID {
	var out []keyspace.NodeID
	for _, n := range sh.Replicas {
		if n != e.self() && e.alive(n) {
			out = append(out, n)
		}
	}
	return out
}

// syncWith reconciles one shard with peer p.
func (e *Engine) syncWith(ctx context.Context, sh membership.Shard, p keyspace.NodeID) (int, error) {
	g := uint64(sh.Group)
	gs, err := e.store.group(g)
	if err != nil {
		return 0, err
	}
	req := &enc{}
	req.byte(opBuckets)
	req.uint(g)
	d, err := e.call(ctx, p, req.b)
	if err != nil {
		return 0, err
	}
	remote := d.u64s()
	if d.err != nil {
		return 0, d.err
	}
	diff := merkle.DiffBuckets(gs.tree.Buckets(), remote)
	if len(diff) == 0 {
		return 0, nil
	}
	buckets := make([]uint64, len(diff))
	for i, b := range diff {
		buckets[i] = uint64(b)
	}
	// Theirs into ours.
	req = &enc{}
	req.byte(opBucketStates)
	req.uint(g)
	req.u64s(buckets)
	d, err = e.call(ctx, p, req.b)
	if err != nil {
		return 0, err
	}
	theirs := d.states()
	if d.err != nil {
		return 0, d.err
	}
	for _, ks := range theirs {
		if err := e.mergeLocal(g, ks.key, ks.set); err != nil {
			return 0, err
		}
	}
	// Ours (now merged) into theirs.
	ours, err := e.bucketStates(g, buckets)
	if err != nil {
		return len(theirs), err
	}
	req = &enc{}
	req.byte(opStoreBatch)
	req.uint(g)
	req.states(ours)
	_, err = e.call(ctx, p, req.b)
	return len(theirs) + len(ours), err
}

// collectTombstones removes tombstones older than the grace period that
// every replica holds identically.
func (e *Engine) collectTombstones(ctx context.Context, sh membership.Shard) {
	for _, n := range sh.Replicas {
		if !e.alive(n) {
			return // every replica must confirm
		}
	}
	g := uint64(sh.Group)
	horizon := e.cfg.Clock.Now().Add(-e.cfg.TombstoneGrace).UnixNano()
	var old []keyState
	_ = e.store.scan(g, nil, nil, 0, func(k []byte, set dvv.Set) bool {
		if set.IsTombstone() && newestStamp(set).Wall < horizon {
			old = append(old, keyState{k, set})
		}
		return len(old) < 1000
	})
	for _, ks := range old {
		h := ks.set.Hash()
		same := true
		for _, n := range sh.Replicas {
			a := e.fetch(ctx, n, g, ks.key)
			if a.err != nil || !a.found || a.set.Hash() != h {
				same = false
				break
			}
		}
		if !same {
			continue
		}
		for _, n := range sh.Replicas {
			if n == e.self() {
				_, _ = e.store.removeIfHash(g, ks.key, h)
				continue
			}
			req := &enc{}
			req.byte(opRemoveIfHash)
			req.uint(g)
			req.bytes(ks.key)
			req.uint(h)
			_, _ = e.call(ctx, n, req.b)
		}
	}
}

func newestStamp(s dvv.Set) dvv.Timestamp {
	var t dvv.Timestamp
	for _, sb := range s.Siblings {
		if t.Less(sb.Stamp) {
			t = sb.Stamp
		}
	}
	return t
}
