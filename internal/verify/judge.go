package verify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
	"github.com/distkv/distkv/internal/lincheck"
)

// judge waits for the healed cluster to settle, then checks the history,
// convergence and durability and computes the figures.
func (r *runState) judge(ctx context.Context) (*Report, error) {
	rep := &Report{Seed: r.cfg.Seed, Duration: r.cfg.Duration, Faults: r.cfg.Faults}
	fmt.Fprintf(r.cfg.Log, "verify: faults healed; waiting for the cluster to settle\n")
	if err := r.waitReady(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	rep.Mode = r.mode
	if r.mode == "strong" {
		r.finalReads(ctx)
	} else {
		r.repairAll(ctx) // anti-entropy now rather than at its next period
	}
	r.figures(rep)

	if r.mode == "strong" {
		res := lincheck.Check(r.rec.History(), 2*time.Minute)
		rep.Histories, rep.Verdict = res.Keys, res.Verdict
		rep.FailingKey, rep.FailingOps = res.FailingKey, res.FailingOps
		if res.Verdict != lincheck.Linearizable && r.cfg.Out != "" {
			path := filepath.Join(r.cfg.Out, fmt.Sprintf("history-seed%d.html", r.cfg.Seed))
			if err := os.MkdirAll(r.cfg.Out, 0o755); err == nil && res.Visualize(path) == nil {
				rep.Visualization = path
			}
		}
	}
	r.mu.Lock()
	rep.SessionViolations = append([]string(nil), r.violations...)
	r.mu.Unlock()
	if err := r.settle(ctx); err != nil {
		rep.Converged, rep.Divergence = false, err.Error()
	} else {
		rep.Converged, rep.ConvergeTime, rep.Divergence = r.converge(ctx, 60*time.Second)
	}
	rep.Acked, rep.LostKeys = r.durability(ctx)
	if r.bank != nil {
		r.finalAudit(ctx)
		rep.Bank = r.bank
	}
	if r.appends != nil {
		rep.Append = r.judgeAppend()
	}
	rep.Clean = (r.mode != "strong" || rep.Verdict == lincheck.Linearizable) && rep.Converged &&
		len(rep.LostKeys) == 0 && len(rep.SessionViolations) == 0 && (rep.Bank == nil || len(rep.Bank.Violations) == 0) &&
		(rep.Append == nil || len(rep.Append.Anomalies) == 0)
	return rep, nil
}

func (r *runState) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for _, ep := range r.endpoints() {
		for {
			c, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := r.cl.Ready(c, ep)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("verify: %s not ready %v after the faults healed: %w", ep, limit, err)
			}
			sleep(ctx, 100*time.Millisecond)
		}
	}
	return nil
}

// finalReads reads every register once more after the heal, so each key's
// final state is part of the checked history.
func (r *runState) finalReads(ctx context.Context) {
	w := &worker{run: r, id: r.cfg.Clients, seen: map[string]uint64{}}
	for i := 0; i < r.cfg.Keys; i++ {
		for try := 0; try < 5; try++ {
			c, cancel := context.WithTimeout(ctx, 5*time.Second)
			before := len(r.rec.History())
			w.get(c, r.key(i), time.Now())
			cancel()
			if len(r.rec.History()) > before {
				break
			}
		}
	}
}

// converge waits until every replica of every shard holds the same keys,
// values and versions (compared through each node's dump).
func (r *runState) converge(ctx context.Context, limit time.Duration) (bool, time.Duration, string) {
	start := time.Now()
	var last string
	for time.Since(start) < limit {
		diff, err := r.divergence(ctx)
		if err == nil && diff == "" {
			return true, time.Since(start), ""
		}
		if err != nil {
			last = err.Error()
		} else {
			last = diff
		}
		sleep(ctx, 250*time.Millisecond)
	}
	return false, time.Since(start), last
}

// divergence describes the first difference between the replicas of a
// shard, "" if none. Every replica the shard map lists is compared; one
// that holds none of the shard's keys counts as empty.
func (r *runState) divergence(ctx context.Context) (string, error) {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := r.cl.Cluster(c)
	cancel()
	if err != nil {
		return "", err
	}
	type shardID struct {
		ns    string
		shard int
	}
	// node -> shard -> key -> what the node holds of it
	contents := map[string]map[shardID]map[string]string{}
	for _, n := range st.Nodes {
		if n.Membership == api.MemberRemoved {
			continue // holds nothing the map places; its process may be gone
		}
		per := map[shardID]map[string]string{}
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := r.cl.Dump(c, n.ClientAddr, func(e api.DumpEntry) error {
			id := shardID{e.Namespace, e.Shard}
			if per[id] == nil {
				per[id] = map[string]string{}
			}
			per[id][e.Key] = fmt.Sprintf("%q@%d/%s/%d/%v", e.Value, e.Version, e.Context, e.Siblings, e.Deleted)
			return nil
		})
		cancel()
		if err != nil {
			return "", fmt.Errorf("dump of %s: %w", n.ID, err)
		}
		contents[n.ID] = per
	}
	for _, sh := range st.Shards {
		id := shardID{sh.Namespace, sh.ID}
		first := sh.Replicas[0]
		for _, rep := range sh.Replicas[1:] {
			if d := describeDiff(contents[first][id], contents[rep][id], first, rep); d != "" {
				return fmt.Sprintf("shard %s/%d differs between replicas %s and %s: %s", sh.Namespace, sh.ID, first, rep, d), nil
			}
		}
	}
	return "", nil
}

// durability reads back every acknowledged probe write.
func (r *runState) durability(ctx context.Context) (int, []string) {
	r.mu.Lock()
	acked := make(map[string]string, len(r.acked))
	for k, v := range r.acked {
		acked[k] = v
	}
	r.mu.Unlock()
	var lost []string
	var opts []client.ReadOption
	if r.mode == "eventual" {
		opts = append(opts, client.ReadQuorum("all"))
	}
	for k, v := range acked {
		var e *client.Entry
		var err error
		for try := 0; try < 5; try++ {
			c, cancel := context.WithTimeout(ctx, 5*time.Second)
			e, err = r.cl.Get(c, k, opts...)
			cancel()
			if err == nil || errors.Is(err, client.ErrNotFound) {
				break
			}
		}
		if err != nil || !holds(e, v) {
			lost = append(lost, k)
		}
	}
	sort.Strings(lost)
	return len(acked), lost
}

// holds reports whether an entry's value, or one of its siblings, is v.
func holds(e *client.Entry, v string) bool {
	if string(e.Value) == v {
		return true
	}
	for _, s := range e.Siblings {
		if string(s) == v {
			return true
		}
	}
	return false
}

// repairAll asks every node for an anti-entropy round.
func (r *runState) repairAll(ctx context.Context) {
	for _, ep := range r.endpoints() {
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		if _, err := r.cl.Repair(c, ep); err != nil {
			fmt.Fprintf(r.cfg.Log, "verify: repair on %s: %v\n", ep, err)
		}
		cancel()
	}
}

// describeDiff says how two replicas' contents of a shard differ ("" if
// they do not): how many keys each holds, how many differ, and a few of
// them, so a failed run shows which replica is missing what.
func describeDiff(a, b map[string]string, an, bn string) string {
	var differ []string
	for k, v := range a {
		if b[k] != v {
			differ = append(differ, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			differ = append(differ, k)
		}
	}
	if len(differ) == 0 {
		return ""
	}
	sort.Strings(differ)
	onlyA, onlyB := 0, 0
	for _, k := range differ {
		_, inA := a[k]
		_, inB := b[k]
		switch {
		case !inB:
			onlyA++
		case !inA:
			onlyB++
		}
	}
	var eg []string
	for _, k := range differ[:min(3, len(differ))] {
		show := func(m map[string]string) string {
			if v, ok := m[k]; ok {
				return v
			}
			return "absent"
		}
		eg = append(eg, fmt.Sprintf("%s (%s: %s; %s: %s)", k, an, show(a), bn, show(b)))
	}
	return fmt.Sprintf("%s holds %d keys, %s %d; %d differ (%d only on %s, %d only on %s), e.g. %s",
		an, len(a), bn, len(b), len(differ), onlyA, an, onlyB, bn, strings.Join(eg, ", "))
}
