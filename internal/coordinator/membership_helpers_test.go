package coordinator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
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

// Helpers shared by the membership_*_test.go files.

// nodesOf returns the running nodes among ids (fails if one is down).
func nodesOf(t *testing.T, c *clustertest.Cluster, ids ...keyspace.NodeID) []*node.Node {
	t.Helper()
	out := make([]*node.Node, 0, len(ids))
	for _, id := range ids {
		n := c.Node(id)
		if n == nil {
			t.Fatalf("node %s is not running", id)
		}
		out = append(out, n)
	}
	return out
}

// waitMapOn is WaitMap over the given nodes only (a removed or cut-off
// node's map may never catch up).
func waitMapOn(t *testing.T, nodes []*node.Node, timeout time.Duration, what string, ok func(*membership.Map) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var last *membership.Map
		var lastNode keyspace.NodeID
		for _, n := range nodes {
			if m := n.Map(); !ok(m) {
				last, lastNode = m, n.ID()
				break
			}
		}
		if last == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %s's shard map does not have %s: epoch %d, members %+v, moves %+v, meta voters %v, %s",
				timeout, lastNode, what, last.Epoch, last.Members, last.Moves, last.MetaVoters, describeNamespaces(last))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func describeNamespaces(m *membership.Map) string {
	var parts []string
	for _, ns := range m.Namespaces {
		s := fmt.Sprintf("%s(%s, %d shards, replicas %s): %v", ns.Name, ns.Mode, ns.Shards, ns.Replicas, ns.Placement)
		if ns.Reshard != nil {
			s += fmt.Sprintf(" reshard %d->%d %s", ns.Reshard.Old.Layout.Shards, ns.Reshard.New.Layout.Shards, ns.Reshard.Phase)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func stateOf(m *membership.Map, id keyspace.NodeID) (membership.MemberState, bool) {
	mb, ok := m.Member(id)
	return mb.State, ok
}

func inState(id keyspace.NodeID, st membership.MemberState) func(*membership.Map) bool {
	return func(m *membership.Map) bool {
		s, ok := stateOf(m, id)
		return ok && s == st
	}
}

func allOf(fs ...func(*membership.Map) bool) func(*membership.Map) bool {
	return func(m *membership.Map) bool {
		for _, f := range fs {
			if !f(m) {
				return false
			}
		}
		return true
	}
}

// fullyReplicated: every shard of every namespace has exactly its
// replication factor, on distinct active members.
func fullyReplicated(m *membership.Map) bool {
	for _, ns := range m.Namespaces {
		want := ns.Replicas.N
		if ns.Replicas.All {
			want = len(m.Placeable())
		}
		for _, reps := range ns.Placement {
			if len(reps) != want {
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
	}
	return true
}

// writeKeysVia writes n keys to namespace ns round-robin through nodes.
func writeKeysVia(t *testing.T, nodes []*node.Node, ns, prefix string, n int) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := map[string]string{}
	for i := range n {
		k, v := fmt.Sprintf("%s%04d", prefix, i), fmt.Sprintf("%s-v%d", prefix, i)
		var err error
		for attempt := 0; attempt < 50; attempt++ {
			if _, err = nodes[i%len(nodes)].KV().Put(ctx, ns, []byte(k), []byte(v), kv.WriteOptions{}); err == nil {
				break
			}
			if ctx.Err() != nil {
				break
			}
			time.Sleep(20 * time.Millisecond) // a retried put of the same value is harmless
		}
		if err != nil {
			t.Fatalf("put %s/%s: %v", ns, k, err)
		}
		want[k] = v
	}
	return want
}

// checkKeysOn reads every key of want in namespace ns from every node given
// and fails on a missing or wrong value. Transient errors (an election, an
// unavailable replica) are retried until a deadline; a definite "not
// found" or a wrong value is not.
func checkKeysOn(t *testing.T, nodes []*node.Node, ns string, want map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, n := range nodes {
		for _, k := range keys {
			v := want[k]
			for {
				e, err := n.KV().Get(ctx, ns, []byte(k), kv.ReadOptions{})
				if err == nil {
					if string(e.Value) != v {
						t.Fatalf("%s: get %s/%s = %q (siblings %q); want %q", n.ID(), ns, k, e.Value, e.Siblings, v)
					}
					break
				}
				if errors.Is(err, kv.ErrNotFound) || ctx.Err() != nil {
					t.Fatalf("%s: get %s/%s: %v; want %q", n.ID(), ns, k, err, v)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// waitLeadersOn waits until every strong group the nodes' map holds has a
// leader that every given node hosting it agrees on, that leader being one
// of the nodes.
func waitLeadersOn(t *testing.T, nodes []*node.Node, timeout time.Duration) {
	t.Helper()
	ids := map[uint64]bool{}
	for _, n := range nodes {
		ids[uint64(n.ID())] = true
	}
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		m := nodes[0].Map()
		groups := []keyspace.GroupID{keyspace.MetaGroup}
		for _, ns := range m.Namespaces {
			if ns.Mode != keyspace.ModeStrong {
				continue
			}
			for s := range ns.Placement {
				groups = append(groups, ns.Shard(s).Group)
			}
		}
		for _, g := range groups {
			var leader uint64
			ok := true
			for _, n := range nodes {
				l, hosted := n.Host().Leader(uint64(g))
				if !hosted {
					continue
				}
				if l == 0 || (leader != 0 && l != leader) {
					ok = false
					break
				}
				leader = l
			}
			if !ok || !ids[leader] {
				missing = append(missing, g.String())
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("groups without an agreed leader among %v after %v: %s", keysOf(ids), timeout, strings.Join(missing, " "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func keysOf(m map[uint64]bool) []uint64 {
	out := make([]uint64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkConfs verifies, on the leader of every strong shard group (asked
// among nodes), that the group's Raft configuration is not joint and has
// exactly the replicas the map places (as voters, no learners).
func checkConfs(t *testing.T, nodes []*node.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := nodes[0].Map()
	for _, ns := range m.Namespaces {
		if ns.Mode != keyspace.ModeStrong {
			continue
		}
		for s := range ns.Placement {
			sh := ns.Shard(s)
			var want []uint64
			for _, r := range sh.ReplicaIDs {
				want = append(want, uint64(r))
			}
			slices.Sort(want)
			found := false
			for _, n := range nodes {
				d, err := n.Host().Detail(ctx, uint64(sh.Group))
				if err != nil || !d.IsLeader {
					continue
				}
				found = true
				voters := slices.Clone(d.Conf.Voters)
				slices.Sort(voters)
				if d.Conf.Joint() || len(d.Conf.Learners) > 0 || !slices.Equal(voters, want) {
					t.Fatalf("group %s (%s/%d) on leader %s: conf %+v; the map places replicas %v (%v)",
						sh.Group, ns.Name, s, n.ID(), d.Conf, sh.ReplicaIDs, sh.Replicas)
				}
			}
			if !found {
				t.Fatalf("group %s (%s/%d): no leader among the nodes given", sh.Group, ns.Name, s)
			}
		}
	}
}

// checkHosted verifies that each node hosts a strong replica of exactly
// the groups the map places on it (stale replicas were dropped), waiting
// up to timeout for reconciliation.
func checkHosted(t *testing.T, nodes []*node.Node, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var bad []string
		for _, n := range nodes {
			m := n.Map()
			var want []uint64
			for _, sh := range m.ShardsOn(n.ID()) {
				if sh.Namespace.Mode == keyspace.ModeStrong {
					want = append(want, uint64(sh.Group))
				}
			}
			slices.Sort(want)
			var have []uint64
			for _, g := range n.Host().Groups() {
				if g != uint64(keyspace.MetaGroup) {
					have = append(have, g)
				}
			}
			slices.Sort(have)
			if !slices.Equal(want, have) {
				bad = append(bad, fmt.Sprintf("%s hosts %v, the map places %v", n.ID(), groupNames(have), groupNames(want)))
			}
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("hosted replicas differ from the map after %v:\n%s", timeout, strings.Join(bad, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func groupNames(gs []uint64) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = keyspace.GroupID(g).String()
	}
	return out
}

// httpCall sends a JSON request and returns the status and body.
func httpCall(t *testing.T, method, url string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// wantAPIError checks an error answer: its status, that the body is a
// JSON api.ErrorBody with code, and that the message has every substring.
func wantAPIError(t *testing.T, what string, status int, body []byte, wantStatus int, code string, substrs ...string) api.Error {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("%s: status %d, want %d; body %s", what, status, wantStatus, body)
	}
	var eb api.ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("%s: the error body is not JSON: %v: %s", what, err, body)
	}
	if eb.Error.Code != code {
		t.Fatalf("%s: error code %q, want %q (message %q)", what, eb.Error.Code, code, eb.Error.Message)
	}
	for _, s := range substrs {
		if !strings.Contains(eb.Error.Message, s) {
			t.Fatalf("%s: error message %q does not mention %q", what, eb.Error.Message, s)
		}
	}
	return eb.Error
}

func decodeJSON[T any](t *testing.T, what string, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: undecodable answer %s: %v", what, body, err)
	}
	return v
}

// testSeed returns DISTKV_TEST_SEED if set, else a fresh seed; it is logged,
// and printed again if the test fails.
func testSeed(t *testing.T) int64 {
	seed := time.Now().UnixNano()
	if s := os.Getenv("DISTKV_TEST_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("DISTKV_TEST_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (rerun with DISTKV_TEST_SEED=%d)", seed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d: rerun with DISTKV_TEST_SEED=%d", seed, seed)
		}
	})
	return seed
}

// noReplicasOn: no namespace places a replica on id, and no move involves it.
func noReplicasOn(id keyspace.NodeID) func(*membership.Map) bool {
	return func(m *membership.Map) bool {
		if len(m.ShardsOn(id)) > 0 {
			return false
		}
		for _, mv := range m.Moves {
			if mv.From == id || mv.To == id {
				return false
			}
		}
		return !slices.Contains(m.MetaVoters, id)
	}
}

func isErr(err, target error) bool { return err != nil && errors.Is(err, target) }
