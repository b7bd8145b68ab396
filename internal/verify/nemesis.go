package verify

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"time"

	"github.com/distkv/distkv/api"
)

// faultWindow is one injected fault, from injection to heal.
type faultWindow struct {
	Kind   string
	Detail string
	Start  time.Time
	Heal   time.Time
	// ProbeKey, for a kill, is a key on the shard whose leader was killed;
	// Failover is the time from the kill to the first write on it that
	// succeeded (0 if none did while the fault lasted).
	ProbeKey string
	Failover time.Duration
	failover chan time.Duration
}

// nemesis runs the seeded fault schedule: one fault at a time, held for
// 1–3 s, then healed, then a 1 s pause so availability can recover and be
// told apart from the next fault.
type nemesis struct {
	run *runState
	rng *rand.Rand
	// killed and paused nodes, to restore on healAll.
	killed, paused []string
	// added are the nodes the membership fault started; removing, those
	// it has asked the cluster to remove.
	added, removing []string
}

func (n *nemesis) log(format string, args ...any) {
	fmt.Fprintf(n.run.cfg.Log, "  %6.1fs  %s\n", time.Since(n.run.start).Seconds(), fmt.Sprintf(format, args...))
}

func (n *nemesis) drive(ctx context.Context, d time.Duration) {
	end := time.Now().Add(d)
	sleep(ctx, time.Second) // a quiet second to start
	for time.Now().Add(2*time.Second).Before(end) && ctx.Err() == nil {
		kind := n.run.cfg.Faults[n.rng.Intn(len(n.run.cfg.Faults))]
		hold := time.Duration(1000+n.rng.Intn(2000)) * time.Millisecond
		w, err := n.inject(ctx, kind)
		if err != nil {
			n.log("could not inject %s: %v", kind, err)
			sleep(ctx, time.Second)
			continue
		}
		n.log("inject %s %s (for %v)", w.Kind, w.Detail, hold)
		sleep(ctx, hold)
		n.heal(ctx, &w)
		n.log("heal %s", w.Kind)
		n.run.mu.Lock()
		n.run.nem = append(n.run.nem, w)
		n.run.mu.Unlock()
		sleep(ctx, time.Second)
	}
	if rest := time.Until(end); rest > 0 {
		sleep(ctx, rest)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// nodes returns the cluster's node IDs.
func (n *nemesis) nodes(ctx context.Context) ([]string, error) {
	st, err := n.run.cl.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, nd := range st.Nodes {
		// Nodes on their way out are left to the membership fault.
		if nd.Membership == api.MemberRemoved || nd.Membership == api.MemberDraining || slices.Contains(n.removing, nd.ID) {
			continue
		}
		ids = append(ids, nd.ID)
	}
	return ids, nil
}

func (n *nemesis) inject(ctx context.Context, kind string) (faultWindow, error) {
	ids, err := n.nodes(ctx)
	if err != nil {
		return faultWindow{}, err
	}
	w := faultWindow{Kind: kind, Start: time.Now()}
	victim := ids[n.rng.Intn(len(ids))]
	switch kind {
	case FaultPartition:
		perm := n.rng.Perm(len(ids))
		cut := 1 + n.rng.Intn(len(ids)-1)
		var a, b []string
		for i, j := range perm {
			if i < cut {
				a = append(a, ids[j])
			} else {
				b = append(b, ids[j])
			}
		}
		w.Detail = strings.Join(a, ",") + " | " + strings.Join(b, ",")
		return w, n.everyNode(ctx, api.FaultRequest{Kind: api.FaultPartition, Groups: [][]string{a, b}})
	case FaultFreeze:
		w.Detail = victim
		return w, n.everyNode(ctx, api.FaultRequest{Kind: api.FaultFreeze, Nodes: []string{victim}})
	case FaultDelay:
		d := time.Duration(20+n.rng.Intn(180)) * time.Millisecond
		w.Detail = fmt.Sprintf("%s %v", victim, d)
		return w, n.everyNode(ctx, api.FaultRequest{Kind: api.FaultDelay, Nodes: []string{victim}, Delay: d.String(), Jitter: (d / 2).String()})
	case FaultDrop:
		p := 0.1 + 0.3*n.rng.Float64()
		w.Detail = fmt.Sprintf("%.2f", p)
		return w, n.everyNode(ctx, api.FaultRequest{Kind: api.FaultDrop, Prob: p})
	case FaultKill:
		// Kill the leader of a shard, and time the first write to it.
		probe, loc, err := n.probeKey(ctx)
		if err != nil {
			return w, err
		}
		role := "leader"
		switch {
		case loc.Leader != "":
			victim = loc.Leader
		case len(loc.Replicas) > 0: // leaderless: a replica
			victim, role = loc.Replicas[n.rng.Intn(len(loc.Replicas))], "replica"
		}
		w.ProbeKey = probe
		w.Detail = fmt.Sprintf("%s (%s of %s/%d)", victim, role, loc.Namespace, loc.Shard)
		w.Start = time.Now()
		if err := n.run.cfg.Procs.Kill(ctx, victim); err != nil {
			return w, err
		}
		n.killed = append(n.killed, victim)
		w.failover = make(chan time.Duration, 1)
		go n.timeFailover(ctx, probe, w.Start, w.failover)
		return w, nil
	case FaultMembership:
		return w, n.membership(ctx, &w)
	case FaultPause:
		w.Detail = victim
		if err := n.run.cfg.Procs.Pause(ctx, victim); err != nil {
			return w, err
		}
		n.paused = append(n.paused, victim)
		return w, nil
	}
	return w, fmt.Errorf("unknown fault %q", kind)
}

// everyNode installs a fault on every node that can be reached; it fails
// only if none can.
func (n *nemesis) everyNode(ctx context.Context, req api.FaultRequest) error {
	var firstErr error
	applied := 0
	for _, ep := range n.run.endpoints() {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := n.run.cl.AddFault(c, ep, req)
		cancel()
		if err == nil {
			applied++
		} else if firstErr == nil {
			firstErr = err
		}
	}
	if applied == 0 {
		return firstErr
	}
	return nil
}

// probeKey picks a key of its own (outside the checked workload) and
// locates its shard.
func (n *nemesis) probeKey(ctx context.Context) (string, *api.Location, error) {
	k := fmt.Sprintf("%sfailover/%d", n.run.prefix, n.rng.Intn(1<<30))
	loc, err := n.run.cl.Locate(ctx, k)
	return k, loc, err
}

// timeFailover writes key until a write succeeds (at most 15s) and reports
// how long after since that was.
func (n *nemesis) timeFailover(ctx context.Context, key string, since time.Time, out chan<- time.Duration) {
	for time.Since(since) < 15*time.Second && ctx.Err() == nil {
		c, cancel := context.WithTimeout(ctx, time.Second)
		_, err := n.run.cl.Put(c, key, []byte("probe"))
		cancel()
		if err == nil {
			out <- time.Since(since)
			return
		}
		sleep(ctx, 10*time.Millisecond)
	}
	out <- 0
}

func (n *nemesis) heal(ctx context.Context, w *faultWindow) {
	if w.failover != nil {
		select {
		case w.Failover = <-w.failover:
		case <-time.After(15 * time.Second):
		}
	}
	switch w.Kind {
	case FaultMembership:
		// The change carries on in the background; nothing to undo.
	case FaultKill, FaultPause:
		n.restoreProcesses(ctx)
	default:
		for _, ep := range n.run.endpoints() {
			c, cancel := context.WithTimeout(ctx, 2*time.Second)
			if _, err := n.run.cl.HealFaults(c, ep); err != nil {
				n.log("heal on %s: %v", ep, err)
			}
			cancel()
		}
	}
	w.Heal = time.Now()
}

func (n *nemesis) restoreProcesses(ctx context.Context) {
	for _, id := range n.killed {
		if err := n.run.cfg.Procs.Restart(ctx, id); err != nil {
			n.log("restart %s: %v", id, err)
		}
	}
	for _, id := range n.paused {
		if err := n.run.cfg.Procs.Resume(ctx, id); err != nil {
			n.log("resume %s: %v", id, err)
		}
	}
	n.killed, n.paused = nil, nil
}

// healAll removes every fault and restores every process, at the end.
func (n *nemesis) healAll(ctx context.Context) {
	n.restoreProcesses(ctx)
	defer n.finishRemovals(ctx)
	for _, ep := range n.run.endpoints() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, _ = n.run.cl.HealFaults(c, ep)
		cancel()
	}
}
