package coordinator_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/node"
)

// everyShardHas: every shard of namespace ns has exactly n replicas in the
// map, on distinct active members, and the namespace asks for n.
func everyShardHas(ns string, n int) func(*membership.Map) bool {
	return func(m *membership.Map) bool {
		nm := m.Namespace(ns)
		if nm == nil || nm.Replicas.All || nm.Replicas.N != n {
			return false
		}
		for _, reps := range nm.Placement {
			if len(reps) != n {
				return false
			}
			seen := map[keyspace.NodeID]bool{}
			for _, id := range reps {
				if seen[id] {
					return false
				}
				seen[id] = true
				if s, ok := stateOf(m, id); !ok || s != membership.MemberActive {
					return false
				}
			}
		}
		return true
	}
}

// rfWaitConfsEverywhere waits until, on every given node hosting a shard
// group of namespace ns, the group's applied Raft configuration has exactly
// n voters, which are the replica IDs the map places, with no learners and
// no joint configuration; and at least one of the nodes leads each group.
func rfWaitConfsEverywhere(t *testing.T, nodes []*node.Node, ns string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var bad []string
		m := nodes[0].Map()
		nm := m.Namespace(ns)
		for s := range nm.Placement {
			sh := nm.Shard(s)
			want := make([]uint64, 0, len(sh.ReplicaIDs))
			for _, r := range sh.ReplicaIDs {
				want = append(want, uint64(r))
			}
			slices.Sort(want)
			led := false
			for _, nd := range nodes {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				d, err := nd.Host().Detail(ctx, uint64(sh.Group))
				cancel()
				if err != nil {
					continue // not hosted here (checkHosted checks that separately)
				}
				led = led || d.IsLeader
				voters := slices.Clone(d.Conf.Voters)
				slices.Sort(voters)
				if len(voters) != n || d.Conf.Joint() || len(d.Conf.Learners) > 0 || !slices.Equal(voters, want) {
					bad = append(bad, fmt.Sprintf("%s on %s (leader %v): conf %+v, want %d voters %v",
						sh.Group, nd.ID(), d.IsLeader, d.Conf, n, want))
				}
			}
			if !led {
				bad = append(bad, fmt.Sprintf("%s: no leader among the nodes", sh.Group))
			}
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, Raft configurations differ from %d voters as placed:\n%s", timeout, n, strings.Join(bad, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMembershipReplicationFactorChanges changes the default (strong)
// namespace's replication factor on a four-node cluster 3 -> 4 -> 2. Each
// change settles with every shard at exactly that many replicas in the map
// and exactly that many voters in its Raft group, on every replica; nodes
// host exactly the replicas placed on them; every key written before stays
// readable from every node and writes keep working. Asking for 5 replicas
// on 4 nodes is then refused, through the node API (kv.ErrInvalid) and
// the HTTP API (400 with a JSON error), and changes nothing.
func TestMembershipReplicationFactorChanges(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 4, Shards: 6})
	all := nodesOf(t, c, 1, 2, 3, 4)
	waitMapOn(t, all, 30*time.Second, "3 replicas per shard, settled", allOf(settled, everyShardHas("default", 3)))
	keys := writeKeys(t, c, "rf", 150)

	for step, rf := range []int{4, 2} {
		from := c.Node(1).Map().Namespace("default").Replicas.N
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		ch, err := c.Node(keyspace.NodeID(2+step)).UpdateNamespace(ctx, "default", api.NamespaceUpdate{Replicas: api.Replicas(fmt.Sprint(rf))})
		cancel()
		if err != nil {
			t.Fatalf("replicas %d -> %d: %v", from, rf, err)
		}
		wantStarted := fmt.Sprintf("replicas %d -> %d", from, rf)
		if !slices.Contains(ch.Started, wantStarted) || ch.Namespace.Replicas != api.Replicas(fmt.Sprint(rf)) {
			t.Fatalf("replicas %d -> %d answered %+v; want started %q and the namespace at %d", from, rf, ch, wantStarted, rf)
		}
		waitMapOn(t, all, 90*time.Second, fmt.Sprintf("%d replicas per shard, settled", rf), allOf(settled, everyShardHas("default", rf)))
		m := c.Node(1).Map()
		t.Logf("replicas %d -> %d settled at epoch %d: per node %v", from, rf, m.Epoch, replicasOn(m, "default"))
		// 6 shards of rf replicas over 4 nodes: every node holds some
		// (each of 4 nodes holds all with rf 4).
		for _, id := range []keyspace.NodeID{1, 2, 3, 4} {
			if got := replicasOn(m, "default")[id]; got == 0 || (rf == 4 && got != 6) {
				t.Errorf("with %d replicas %s holds %d of 6 shards: %v", rf, id, got, m.Namespace("default").Placement)
			}
		}
		waitLeadersOn(t, all, 30*time.Second)
		rfWaitConfsEverywhere(t, all, "default", rf, 30*time.Second)
		checkConfs(t, all)
		checkHosted(t, all, 30*time.Second)
		checkKeys(t, c, keys)
		more := writeKeys(t, c, fmt.Sprintf("rf%d-", rf), 40)
		checkKeys(t, c, more)
		keys = merge(keys, more)
		c.WaitConverged(30 * time.Second)
	}

	// Five replicas on four active nodes: refused, naming the numbers.
	before := c.Node(1).Map()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := c.Node(3).UpdateNamespace(ctx, "default", api.NamespaceUpdate{Replicas: "5"})
	if !isErr(err, kv.ErrInvalid) {
		t.Fatalf("replicas 2 -> 5 on 4 nodes: err %v, want kv.ErrInvalid", err)
	}
	for _, s := range []string{"5 replicas", "4 active nodes"} {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("replicas 5 on 4 nodes: error %q does not mention %q", err, s)
		}
	}
	srv := c.HTTP(4)
	status, body := httpCall(t, http.MethodPatch, srv.URL+"/v1/ns/default", map[string]any{"replicas": 5})
	wantAPIError(t, "PATCH replicas 5 on 4 nodes", status, body, http.StatusBadRequest, api.CodeInvalid, "5 replicas", "4 active nodes")
	t.Logf("refused: %s", body)

	// Nothing changed: same epoch, same replication factor and placement
	// on every node, and the shards keep their two voters.
	time.Sleep(300 * time.Millisecond) // a few coordinator rounds
	for _, n := range all {
		m := n.Map()
		if m.Epoch != before.Epoch {
			t.Fatalf("%s's map moved from epoch %d to %d after refused changes: moves %+v, %s",
				n.ID(), before.Epoch, m.Epoch, m.Moves, describeNamespaces(m))
		}
		got, want := m.Namespace("default"), before.Namespace("default")
		if got.Replicas != want.Replicas || !reflect.DeepEqual(got.Placement, want.Placement) {
			t.Fatalf("%s: namespace after the refusal %s %v, before %s %v", n.ID(), got.Replicas, got.Placement, want.Replicas, want.Placement)
		}
	}
	rfWaitConfsEverywhere(t, all, "default", 2, 10*time.Second)
	after := writeKeys(t, c, "rf-after", 20)
	checkKeys(t, c, merge(keys, after))
}
