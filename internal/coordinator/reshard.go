package coordinator

import (
	"context"
	"fmt"
	"slices"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/shardsm"
)

// A strong namespace's reshard, driven phase by phase (see shardsm for a
// shard's side of each step). The phase is in the shard map; everything
// within a phase is repeatable, so a coordinator that takes over repeats
// the phase it finds:
//
//	copying:   every old shard tracks deletes of its moving keys, and
//	           copies them to their new shards while writes continue
//	           (bulk copy), recording the copy's version mark;
//	frozen:    every old shard refuses writes to its moving keys and
//	           copies what changed since the mark, deletes included; then
//	           every new shard is told it may serve reads of them;
//	committed: routing follows the new layout (the map switched when the
//	           phase was recorded); old shards refuse the moved keys, new
//	           shards take writes to them, and every shard finishes:
//	           moved keys are deleted where they were. Then the reshard
//	           ends, and shards only the old layout had are dropped.
//
// Writes to moving keys pause from the freeze to the unlock; reads never
// do (a moving key is served by its old shard until that is sealed, and by
// its new one from before routing switches).

// MigrationOf describes reshard r as group g takes part in it.
func MigrationOf(r *membership.Reshard, g keyspace.GroupID) shardsm.Migration {
	return shardsm.Migration{ID: r.ID, Old: r.Old.Layout, New: r.New.Layout,
		OldIndex: slices.Index(r.Old.Groups, g), NewIndex: slices.Index(r.New.Groups, g)}
}

// runReshard carries out namespace name's reshard id to its end.
func (d *Driver) runReshard(ctx context.Context, name string, id uint64) {
	key := reshardKey(name)
	for ctx.Err() == nil {
		ns := d.cl.Map().Namespace(name)
		if ns == nil || ns.Reshard == nil || ns.Reshard.ID != id {
			d.mu.Lock()
			delete(d.mu.status, key)
			d.mu.Unlock()
			return
		}
		var (
			step string
			err  error
		)
		if ns.Mode == keyspace.ModeStrong {
			step, err = d.reshardStrong(ctx, ns)
		} else {
			step, err = d.reshardLeaderless(ctx, ns)
		}
		st := Status{Step: step}
		if err != nil {
			st.Err = err.Error()
			d.log.Warn("coordinator: reshard step failed; retrying", "namespace", name, "step", step, "err", err)
		}
		d.setStatus(key, st)
		if err != nil && !sleep(ctx, d.cfg.Clock, d.cfg.Interval) {
			return
		}
	}
}

// reshardStrong does the work of the current phase and records the next.
func (d *Driver) reshardStrong(ctx context.Context, ns *membership.NamespaceMap) (string, error) {
	r := ns.Reshard
	olds, news := r.Old.Shards(ns), r.New.Shards(ns)
	all := append(slices.Clone(olds), news...)
	switch r.Phase {
	case membership.ReshardCopying:
		if err := d.steps(ctx, r, olds, shardsm.StepTrack, 0); err != nil {
			return "tracking deletes on the old shards", err
		}
		for _, sh := range olds {
			w, err := d.export(ctx, ns, sh, false)
			if err != nil {
				return "bulk copy from " + sh.Group.String(), err
			}
			if err := d.step(ctx, r, sh, &shardsm.Migrate{Step: shardsm.StepBulkDone, Watermark: w}); err != nil {
				return "recording the bulk copy of " + sh.Group.String(), err
			}
		}
		return "bulk copy done", d.phase(ctx, ns, membership.ReshardFrozen)
	case membership.ReshardFrozen:
		if err := d.steps(ctx, r, olds, shardsm.StepFreeze, 0); err != nil {
			return "freezing writes to moving keys", err
		}
		for _, sh := range olds {
			if _, err := d.export(ctx, ns, sh, true); err != nil {
				return "final copy from " + sh.Group.String(), err
			}
		}
		if err := d.steps(ctx, r, news, shardsm.StepReady, 0); err != nil {
			return "readying the new shards", err
		}
		return "final copy done", d.phase(ctx, ns, membership.ReshardCommitted)
	case membership.ReshardCommitted:
		if err := d.steps(ctx, r, olds, shardsm.StepSeal, r.CommitEpoch); err != nil {
			return "sealing the old shards", err
		}
		if err := d.steps(ctx, r, news, shardsm.StepUnlock, 0); err != nil {
			return "unlocking the new shards", err
		}
		if err := d.steps(ctx, r, unique(all), shardsm.StepFinish, r.CommitEpoch); err != nil {
			return "finishing on every shard", err
		}
		if _, err := d.callPropose(ctx, membership.Command{Op: membership.OpEndReshard, NS: ns.Name, ReshardID: r.ID}); err != nil {
			return "recording the end", err
		}
		d.log.Info(fmt.Sprintf("namespace %s resharded: %d -> %d shards", ns.Name, r.Old.Layout.Shards, r.New.Layout.Shards))
		return "done", nil
	}
	return "", fmt.Errorf("unknown reshard phase %s", r.Phase)
}

func unique(shs []membership.Shard) []membership.Shard {
	seen := map[keyspace.GroupID]bool{}
	var out []membership.Shard
	for _, sh := range shs {
		if !seen[sh.Group] {
			seen[sh.Group] = true
			out = append(out, sh)
		}
	}
	return out
}

// steps proposes one step to every shard given.
func (d *Driver) steps(ctx context.Context, r *membership.Reshard, shs []membership.Shard, step string, epoch uint64) error {
	for _, sh := range shs {
		if err := d.step(ctx, r, sh, &shardsm.Migrate{Step: step, Epoch: epoch}); err != nil {
			return fmt.Errorf("%s on %s: %w", step, sh.Group, err)
		}
	}
	return nil
}

func (d *Driver) step(ctx context.Context, r *membership.Reshard, sh membership.Shard, m *shardsm.Migrate) error {
	m.Reshard = MigrationOf(r, sh.Group)
	return d.callProposeStep(ctx, sh, m.Encode())
}

// export has a replica of sh (its leader if known) copy its moving keys.
func (d *Driver) export(ctx context.Context, ns *membership.NamespaceMap, sh membership.Shard, final bool) (uint64, error) {
	d.mu.Lock()
	hint := d.mu.leaders[sh.Group]
	d.mu.Unlock()
	order := sh.Replicas
	if hint != 0 {
		order = append([]keyspace.NodeID{hint}, sh.Replicas...)
	}
	nodes := d.cl.Nodes()
	var lastErr error = fmt.Errorf("no live replica of %s", sh.Group)
	for _, n := range order {
		if !nodes[n].Alive {
			continue
		}
		c, cancel := context.WithTimeout(ctx, 10*d.cfg.StepTimeout)
		w, err := d.cl.Export(c, n, ns.Name, sh.Group, final)
		cancel()
		if err == nil {
			return w, nil
		}
		lastErr = err
	}
	return 0, lastErr
}

func (d *Driver) phase(ctx context.Context, ns *membership.NamespaceMap, p membership.ReshardPhase) error {
	_, err := d.callPropose(ctx, membership.Command{Op: membership.OpReshardPhase, NS: ns.Name, ReshardID: ns.Reshard.ID, Phase: p})
	if err == nil {
		d.log.Info(fmt.Sprintf("namespace %s reshard %d -> %d: %s", ns.Name, ns.Reshard.Old.Layout.Shards, ns.Reshard.New.Layout.Shards, p))
	}
	return err
}

// reshardLeaderless: routing already follows the new layout (reads
// consult the old one too until the end). Once every live node knows of
// the reshard, each hands the keys its old-layout replicas hold over to
// their new shards; then the reshard ends and the old shards go.
func (d *Driver) reshardLeaderless(ctx context.Context, ns *membership.NamespaceMap) (string, error) {
	r := ns.Reshard
	if lag := d.lagging(r.Epoch); len(lag) > 0 {
		return "waiting for every node to learn of the reshard", fmt.Errorf("%s has not applied epoch %d yet", lag[0], r.Epoch)
	}
	for id, v := range d.cl.Nodes() {
		if !v.Alive {
			continue
		}
		c, cancel := context.WithTimeout(ctx, 10*d.cfg.StepTimeout)
		err := d.cl.Handoff(c, id, ns.Name, r.ID)
		cancel()
		if err != nil {
			return "handing keys over on " + id.String(), err
		}
	}
	if _, err := d.callPropose(ctx, membership.Command{Op: membership.OpEndReshard, NS: ns.Name, ReshardID: r.ID}); err != nil {
		return "recording the end", err
	}
	d.log.Info(fmt.Sprintf("namespace %s resharded: %d -> %d shards", ns.Name, r.Old.Layout.Shards, r.New.Layout.Shards))
	return "done", nil
}
