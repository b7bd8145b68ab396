package coordinator_test

import (
	"context"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
)

// TestMembershipDeadNodeReplaced stops one node of four: after the
// dead-node timeout it is declared dead and every shard is back at its
// replication factor on live nodes. When it restarts it is made active
// again, its stale replicas are dropped (they are not voters of any group)
// and every key, old and written while it was away, stays readable.
func TestMembershipDeadNodeReplaced(t *testing.T) {
	const deadAfter = time.Second
	c := clustertest.New(t, clustertest.Options{Nodes: 4, Shards: 8, DeadNodeTimeout: deadAfter})
	c.WaitMap(30*time.Second, "every shard fully replicated", fullyReplicated)
	before := writeKeys(t, c, "b", 200)
	m := c.Node(1).Map()
	held := m.ShardsOn(2)
	if len(held) == 0 {
		t.Fatalf("n2 holds nothing: %v", m.Namespace("default").Placement)
	}
	oldReplicas := map[keyspace.GroupID]keyspace.ReplicaID{}
	for _, sh := range held {
		for i, id := range sh.Replicas {
			if id == 2 {
				oldReplicas[sh.Group] = sh.ReplicaIDs[i]
			}
		}
	}
	t.Logf("n2 holds %d replicas before it stops: %v", len(held), oldReplicas)

	stopped := time.Now()
	c.Stop(2)
	rest := nodesOf(t, c, 1, 3, 4)
	waitMapOn(t, rest, 30*time.Second, "n2 dead", inState(2, membership.MemberDead))
	// Silence counts from n2's last heartbeat (every 100ms), which may
	// precede the call to Stop slightly.
	if took := time.Since(stopped); took < deadAfter-250*time.Millisecond {
		t.Fatalf("n2 was declared dead %v after it stopped, well before the %v timeout", took, deadAfter)
	}
	waitMapOn(t, rest, 60*time.Second, "n2's replicas re-created on live nodes, settled",
		allOf(inState(2, membership.MemberDead), settled, fullyReplicated, func(m *membership.Map) bool { return len(m.ShardsOn(2)) == 0 }))
	m = c.Node(1).Map()
	t.Logf("while n2 is dead: replicas %v, meta voters %v", replicasOn(m, "default"), m.MetaVoters)
	waitLeadersOn(t, rest, 30*time.Second)
	checkConfs(t, rest)
	checkKeys(t, c, before)
	whileDead := writeKeys(t, c, "w", 100)

	c.Restart(2)
	all := nodesOf(t, c, 1, 2, 3, 4)
	waitMapOn(t, all, 60*time.Second, "n2 active again, settled",
		allOf(inState(2, membership.MemberActive), settled, fullyReplicated))
	c.WaitReady(30 * time.Second)
	checkHosted(t, all, 20*time.Second)
	checkConfs(t, all)
	// None of n2's old replica IDs is in any group's configuration again:
	// replicas placed back on n2 are new ones, of a later generation.
	m = c.Node(1).Map()
	for _, sh := range m.ShardsOn(2) {
		for i, id := range sh.Replicas {
			if id == 2 && sh.ReplicaIDs[i] == oldReplicas[sh.Group] && oldReplicas[sh.Group] != 0 {
				t.Fatalf("group %s places n2's old replica %s again", sh.Group, sh.ReplicaIDs[i])
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for g, rid := range oldReplicas {
		for _, n := range all {
			d, err := n.Host().Detail(ctx, uint64(g))
			if err != nil {
				continue
			}
			if d.Conf.Has(uint64(rid)) {
				t.Fatalf("%s: group %s's configuration still has n2's stale replica %s: %+v", n.ID(), g, rid, d.Conf)
			}
			if n.ID() == 2 && d.ReplicaID == uint64(rid) {
				t.Fatalf("n2 still hosts its stale replica %s of %s", rid, g)
			}
		}
	}
	t.Logf("after n2's return: replicas %v, n2 hosts %d groups", replicasOn(m, "default"), len(c.Node(2).Host().Groups()))
	checkKeys(t, c, before)
	checkKeys(t, c, whileDead)
	c.WaitConverged(30 * time.Second)
	checkPlaced(t, c, "default", merge(before, whileDead))
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
