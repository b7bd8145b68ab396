package coordinator_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/node"
)

// backgroundWriter writes unique keys through nodes until stopped and
// returns the acknowledged ones.
type backgroundWriter struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	acks map[string]string
	errs int
}

func startWriter(nodes []*node.Node, ns, prefix string) *backgroundWriter {
	w := &backgroundWriter{stop: make(chan struct{}), done: make(chan struct{}), acks: map[string]string{}}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			k, v := fmt.Sprintf("%s%05d", prefix, i), fmt.Sprintf("%s-v%d", prefix, i)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := nodes[i%len(nodes)].KV().Put(ctx, ns, []byte(k), []byte(v), kv.WriteOptions{})
			cancel()
			w.mu.Lock()
			if err == nil {
				w.acks[k] = v
			} else {
				w.errs++
			}
			w.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return w
}

func (w *backgroundWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acks)
}

func (w *backgroundWriter) finish() (map[string]string, int) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acks, w.errs
}

// TestMembershipRemoveDrains removes a live node of four through the HTTP
// API: it becomes draining, its replicas, leaderships and metadata vote
// move away, it becomes removed, and every key written before and during
// the drain is readable from every remaining node.
func TestMembershipRemoveDrains(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 4, Shards: 8})
	c.WaitMap(30*time.Second, "every shard fully replicated", fullyReplicated)
	before := writeKeys(t, c, "b", 200)
	m := c.Node(1).Map()
	if replicasOn(m, "default")[3] == 0 {
		t.Fatalf("n3 holds no replica before the removal: %v", m.Namespace("default").Placement)
	}
	t.Logf("before: replicas %v, meta voters %v", replicasOn(m, "default"), m.MetaVoters)

	rest := nodesOf(t, c, 1, 2, 4)
	w := startWriter(rest, "", "d")
	srv := c.HTTP(1)
	status, body := httpCall(t, http.MethodDelete, srv.URL+"/v1/admin/members/n3", nil)
	if status != http.StatusAccepted {
		t.Fatalf("DELETE n3: %d %s", status, body)
	}
	ch := decodeJSON[api.MemberChange](t, "DELETE n3", body)
	if ch.Member.ID != "n3" || ch.Member.State != api.MemberDraining {
		t.Fatalf("DELETE n3 answered member %+v, want n3 draining", ch.Member)
	}
	// Removing it again while it drains is not an error.
	if status, body := httpCall(t, http.MethodDelete, srv.URL+"/v1/admin/members/3", nil); status != http.StatusAccepted {
		t.Fatalf("second DELETE of draining n3: %d %s", status, body)
	}

	waitMapOn(t, rest, 60*time.Second, "n3 removed, holding nothing, settled",
		allOf(inState(3, membership.MemberRemoved), noReplicasOn(3), settled, fullyReplicated))
	acked := w.count()
	during, errs := w.finish()
	t.Logf("writes during the drain: %d acknowledged, %d failed", acked, errs)
	if acked == 0 {
		t.Fatalf("no write was acknowledged while n3 drained")
	}
	m = c.Node(1).Map()
	t.Logf("after: replicas %v, meta voters %v, epoch %d", replicasOn(m, "default"), m.MetaVoters, m.Epoch)
	for _, id := range []keyspace.NodeID{1, 2, 4} {
		if replicasOn(m, "default")[id] == 0 {
			t.Errorf("%s holds no replica after the drain: %v", id, replicasOn(m, "default"))
		}
	}

	// The removed node is refused by its peers and holds nothing: stop it,
	// as an operator would, and check the rest.
	waitLeadersOn(t, rest, 30*time.Second)
	for _, n := range rest {
		for _, g := range n.Host().Groups() {
			if l, _ := n.Host().Leader(g); l == 3 {
				t.Fatalf("%s sees removed n3 leading %s", n.ID(), keyspace.GroupID(g))
			}
		}
	}
	checkConfs(t, rest)
	// The metadata group's Raft configuration no longer has n3 at all.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitFor(t, 20*time.Second, "n3 out of the metadata group's configuration", func() bool {
		for _, n := range rest {
			d, err := n.Host().Detail(ctx, uint64(keyspace.MetaGroup))
			if err == nil && d.IsLeader {
				return !d.Conf.Has(3)
			}
		}
		return false
	})
	c.Stop(3)
	checkHosted(t, rest, 20*time.Second)
	checkKeys(t, c, before)
	checkKeys(t, c, during)
	c.WaitConverged(30 * time.Second)

	// Three nodes are left and the namespace needs three: removing another
	// is refused, as is removing n3 a second time.
	status, body = httpCall(t, http.MethodDelete, srv.URL+"/v1/admin/members/n2", nil)
	wantAPIError(t, "DELETE n2 of three with replicas 3", status, body, http.StatusConflict, api.CodeConflict, "n2", "default needs 3")
	status, body = httpCall(t, http.MethodDelete, srv.URL+"/v1/admin/members/n3", nil)
	wantAPIError(t, "DELETE removed n3", status, body, http.StatusConflict, api.CodeConflict, "n3", "already removed")
	if s, _ := stateOf(c.Node(1).Map(), 2); s != membership.MemberActive {
		t.Fatalf("n2 is %s after a refused removal", s)
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s after %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMembershipRemoveRefused: removing an unknown node is 404, removing
// the last node of a cluster is 409, a malformed ID is 400, each with a
// JSON error body; through the node API the errors are kv's sentinels.
func TestMembershipRemoveRefused(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 1, Shards: 2, Replicas: 1})
	srv := c.HTTP(1)
	status, body := httpCall(t, http.MethodDelete, srv.URL+"/v1/admin/members/n9", nil)
	wantAPIError(t, "DELETE unknown n9", status, body, http.StatusNotFound, api.CodeUnknown, "n9")
	status, body = httpCall(t, http.MethodDelete, srv.URL+"/v1/admin/members/n1", nil)
	wantAPIError(t, "DELETE the last node", status, body, http.StatusConflict, api.CodeConflict, "n1", "last")
	status, body = httpCall(t, http.MethodDelete, srv.URL+"/v1/admin/members/bogus", nil)
	wantAPIError(t, "DELETE a malformed ID", status, body, http.StatusBadRequest, api.CodeInvalid, "bogus")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Node(1).RemoveMember(ctx, "n9"); !isErr(err, kv.ErrUnknownMember) {
		t.Fatalf("RemoveMember(n9) = %v, want ErrUnknownMember", err)
	}
	if _, err := c.Node(1).RemoveMember(ctx, "n1"); !isErr(err, kv.ErrConflict) {
		t.Fatalf("RemoveMember(n1) of a one-node cluster = %v, want ErrConflict", err)
	}
	if s, _ := stateOf(c.Node(1).Map(), 1); s != membership.MemberActive {
		t.Fatalf("n1 is %s after refused removals", s)
	}
	// The cluster still serves.
	want := writeKeys(t, c, "x", 10)
	checkKeys(t, c, want)
}

// TestMembershipRemoveSingleReplicaShards drains a node of a namespace with
// one replica per shard. Its shards have no other voter to hand the
// leadership to, so each move promotes the new replica beside the only one
// before the leadership moves; the drain used to wait forever here.
func TestMembershipRemoveSingleReplicaShards(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 6, Replicas: 1})
	c.WaitMap(30*time.Second, "every shard placed", fullyReplicated)
	before := writeKeys(t, c, "s", 150)
	if replicasOn(c.Node(1).Map(), "default")[3] == 0 {
		t.Fatalf("n3 holds no replica: %v", c.Node(1).Map().Namespace("default").Placement)
	}
	rest := nodesOf(t, c, 1, 2)
	w := startWriter(rest, "", "w")
	status, body := httpCall(t, http.MethodDelete, c.HTTP(1).URL+"/v1/admin/members/n3", nil)
	if status != http.StatusAccepted {
		t.Fatalf("DELETE n3: %d %s", status, body)
	}
	waitMapOn(t, rest, 60*time.Second, "n3 removed, holding nothing, settled",
		allOf(inState(3, membership.MemberRemoved), noReplicasOn(3), settled, fullyReplicated))
	// The rebalancer may even the shards out after the drain, moving
	// single replicas between n1 and n2 (the same path): wait until the
	// map has been settled at one epoch for 2s before reading the
	// groups' configurations.
	var epoch uint64
	var since time.Time
	waitFor(t, 60*time.Second, "no move for 2s", func() bool {
		m := c.Node(1).Map()
		if m.Epoch != epoch || !settled(m) {
			epoch, since = m.Epoch, time.Now()
			return false
		}
		return time.Since(since) >= 2*time.Second
	})
	during, errs := w.finish()
	t.Logf("writes during the drain: %d acknowledged, %d failed", len(during), errs)
	checkConfs(t, rest)
	c.Stop(3)
	checkHosted(t, rest, 20*time.Second)
	checkKeys(t, c, before)
	checkKeys(t, c, during)
}
