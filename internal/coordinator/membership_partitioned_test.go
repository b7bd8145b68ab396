package coordinator_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
)

// TestMembershipRemovedWhilePartitioned removes a node that is cut off
// from the rest: its replicas are re-created from the others (they hold
// quorums without it), it is removed from the map and from every group's
// configuration, and once the partition heals it does not come back as a
// voter or leader of anything, while every key stays readable.
func TestMembershipRemovedWhilePartitioned(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 4, Shards: 8})
	c.WaitMap(30*time.Second, "every shard fully replicated", fullyReplicated)
	before := writeKeys(t, c, "b", 100)
	m := c.Node(1).Map()
	var stale []keyspace.ReplicaID
	groupsOf4 := map[keyspace.GroupID]keyspace.ReplicaID{}
	for _, sh := range m.ShardsOn(4) {
		for i, id := range sh.Replicas {
			if id == 4 {
				stale = append(stale, sh.ReplicaIDs[i])
				groupsOf4[sh.Group] = sh.ReplicaIDs[i]
			}
		}
	}
	if len(stale) == 0 {
		t.Fatalf("n4 holds no replica: %v", m.Namespace("default").Placement)
	}
	if _, err := c.Faults().Isolate(4, 0); err != nil {
		t.Fatal(err)
	}
	rest := nodesOf(t, c, 1, 2, 3)
	status, body := httpCall(t, http.MethodDelete, c.HTTP(1).URL+"/v1/admin/members/n4", nil)
	if status != http.StatusAccepted {
		t.Fatalf("DELETE n4: %d %s", status, body)
	}
	waitMapOn(t, rest, 90*time.Second, "n4 removed, holding nothing, settled",
		allOf(inState(4, membership.MemberRemoved), noReplicasOn(4), settled, fullyReplicated))
	during := writeKeysVia(t, rest, "", "p", 50)
	c.Faults().Heal()
	// Give the stale node time to try: campaigns, appends, snapshots.
	time.Sleep(2 * time.Second)
	waitLeadersOn(t, rest, 30*time.Second)
	checkConfs(t, rest)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range rest {
		for _, g := range n.Host().Groups() {
			if l, _ := n.Host().Leader(g); l == 4 {
				t.Fatalf("%s sees removed n4 leading %s", n.ID(), keyspace.GroupID(g))
			}
			d, err := n.Host().Detail(ctx, g)
			if err != nil || !d.IsLeader {
				continue
			}
			if rid, ok := groupsOf4[keyspace.GroupID(g)]; ok && d.Conf.Has(uint64(rid)) {
				t.Fatalf("group %s still has n4's replica %s: %+v", keyspace.GroupID(g), rid, d.Conf)
			}
			if g == uint64(keyspace.MetaGroup) && d.Conf.Has(4) {
				t.Fatalf("the metadata group still has n4: %+v", d.Conf)
			}
		}
	}
	checkKeysOn(t, rest, "", before)
	checkKeysOn(t, rest, "", during)
	t.Logf("n4's %d stale replicas stayed out after the heal", len(stale))
}
