package coordinator_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/node"
	"github.com/distkv/distkv/internal/storage"
)

// Leaderless namespaces (eventual and causal) through changes of shape: a
// reshard 8 -> 12, a node joining (the rebalancer moves replicas onto it)
// overlapping a reshard 12 -> 5, with writers running throughout. Every key
// has exactly one writer, which overwrites it carrying the causal context
// of its own previous acknowledged write, so the expected final state of a
// key is one value, the last acknowledged one, without siblings. A write
// that fails (its outcome unknown) ends its key's writes: that key may end
// at the last acknowledged value or at the failed one, and nothing else.
//
// Anti-entropy is off (an hour): without faults, moves, the reshard's
// handoff, hints and read repair alone must keep every acknowledged write.

func TestMembershipLeaderlessEventual(t *testing.T) {
	runLeaderlessMembership(t, api.Namespace{Name: "ev", Mode: "eventual", Replicas: "3", Shards: 8, Conflicts: "siblings"})
}

func TestMembershipLeaderlessCausal(t *testing.T) {
	runLeaderlessMembership(t, api.Namespace{Name: "cs", Mode: "causal", Replicas: "3", Shards: 8, Conflicts: "siblings"})
}

// llKey is what one key's writer knows of it.
type llKey struct {
	owner   int    // the writer (session) that alone writes the key
	last    string // the last acknowledged value ("" if none)
	ctx     string // the causal context that write returned
	writes  int    // acknowledged writes
	pending string // a write whose outcome is unknown: the key is left alone after it
	perr    error
}

// llSession is one writer: its keys and, in a causal namespace, its token.
type llSession struct {
	id    int
	token string
	keys  map[string]*llKey
	acks  *atomic.Int64
	fails *atomic.Int64
}

func (s *llSession) write(n *node.Node, ns, key string) {
	k := s.keys[key]
	if k == nil {
		k = &llKey{owner: s.id}
		s.keys[key] = k
	}
	if k.pending != "" {
		panic("write to a key left alone")
	}
	val := fmt.Sprintf("%s#%d", key, k.writes+1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	res, err := n.KV().Put(ctx, ns, []byte(key), []byte(val), kv.WriteOptions{Context: k.ctx, Token: s.token})
	cancel()
	if err != nil {
		// Whatever the error says, treat the write as possibly applied.
		k.pending, k.perr = val, fmt.Errorf("via %s: %w", n.ID(), err)
		s.fails.Add(1)
		return
	}
	k.last, k.ctx = val, res.Context
	k.writes++
	if res.Token != "" {
		s.token = res.Token
	}
	s.acks.Add(1)
}

func runLeaderlessMembership(t *testing.T, nsDef api.Namespace) {
	const (
		preKeys      = 150
		writers      = 3
		hotPerWriter = 6
		maxUnique    = 250 // new keys per writer during the changes
	)
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 2, AntiEntropyInterval: time.Hour, RequestTimeout: 5 * time.Second})
	c.CreateNamespace(nsDef)
	ns := nsDef.Name
	c.WaitMap(30*time.Second, "every shard fully replicated", fullyReplicated)
	first := nodesOf(t, c, 1, 2, 3)

	var acks, fails atomic.Int64
	newSession := func(id int) *llSession {
		return &llSession{id: id, keys: map[string]*llKey{}, acks: &acks, fails: &fails}
	}
	// Keys written before the changes, by session 0; a few of them are
	// overwritten once more.
	pre := newSession(0)
	for i := range preKeys {
		pre.write(first[i%len(first)], ns, fmt.Sprintf("p%04d", i))
	}
	for i := 0; i < preKeys; i += 10 {
		if k := fmt.Sprintf("p%04d", i); pre.keys[k].pending == "" {
			pre.write(first[(i+1)%len(first)], ns, k)
		}
	}
	if fails.Load() > 0 {
		t.Fatalf("%d of the writes before any change failed on a healthy cluster", fails.Load())
	}

	// Writers during the changes: each alternates between creating a key
	// and overwriting one of its hot keys. They write through the first
	// three nodes (a joining node refuses requests until it has the map).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	sessions := make([]*llSession, writers)
	for w := range writers {
		s := newSession(w + 1)
		sessions[w] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			unique := 0
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := first[(w+i)%len(first)]
				key := ""
				if i%2 == 0 && unique < maxUnique {
					key = fmt.Sprintf("u%d-%04d", s.id, unique)
					unique++
				} else {
					for j := range hotPerWriter {
						h := fmt.Sprintf("h%d-%d", s.id, (i/2+j)%hotPerWriter)
						if k := s.keys[h]; k == nil || k.pending == "" {
							key = h
							break
						}
					}
				}
				if key != "" {
					s.write(n, ns, key)
				}
				time.Sleep(3 * time.Millisecond)
			}
		}()
	}
	var stopOnce sync.Once
	stopWriters := func() {
		stopOnce.Do(func() {
			close(stop)
			wg.Wait()
		})
	}
	defer stopWriters()

	// during checks that writes were acknowledged while a change ran.
	during := func(what string, before int64) {
		t.Helper()
		if got := acks.Load() - before; got == 0 {
			t.Fatalf("no write was acknowledged during %s (%d failed so far)", what, fails.Load())
		} else {
			t.Logf("%s: %d writes acknowledged meanwhile", what, got)
		}
	}
	time.Sleep(200 * time.Millisecond)

	// 8 -> 12 shards.
	before := acks.Load()
	llReshard(t, c.Node(1), ns, 12)
	llWaitMap(t, first, 30*time.Second, "12 shards, settled", func(m *membership.Map) bool {
		return settled(m) && m.Namespace(ns).Shards == 12 && fullyReplicated(m)
	})
	during("the reshard 8 -> 12", before)

	// n4 joins, and the namespace reshards to 5 as soon as no move of it is
	// under way (the reshard and the moves onto n4 alternate).
	before = acks.Load()
	c.Join(4)
	llReshard(t, c.Node(1), ns, 5)
	all := func() []*node.Node { return nodesOf(t, c, 1, 2, 3, 4) }
	llWaitMap(t, all(), 30*time.Second, "n4 active and holding replicas of "+ns+", 5 shards, settled",
		allOf(inState(4, membership.MemberActive), settled, fullyReplicated, func(m *membership.Map) bool {
			return m.Namespace(ns).Shards == 5 && replicasOn(m, ns)[4] > 0
		}))
	during("n4's join and the reshard 12 -> 5", before)
	time.Sleep(200 * time.Millisecond)
	stopWriters()

	want := map[string]*llKey{}
	tokens := map[int]string{pre.id: pre.token}
	for _, s := range append([]*llSession{pre}, sessions...) {
		for k, v := range s.keys {
			want[k] = v
		}
		tokens[s.id] = s.token
	}
	left := 0
	for _, k := range want {
		if k.pending != "" {
			left++
		}
	}
	m := c.Node(1).Map()
	nsm := m.Namespace(ns)
	t.Logf("%d keys, %d acknowledged writes, %d of unknown outcome; %s placement %v, replicas per node %v, epoch %d",
		len(want), acks.Load(), left, ns, nsm.Placement, replicasOn(m, ns), m.Epoch)
	if left > len(want)/10 {
		t.Fatalf("%d of %d keys had a write fail without faults; first: %v", left, len(want), firstPending(want))
	}
	if nsm.Reshard != nil || len(nsm.Placement) != 5 {
		t.Fatalf("%s after the changes: %d shards placed, reshard %+v", ns, len(nsm.Placement), nsm.Reshard)
	}

	// Every key, from every node, has its last acknowledged value and no
	// siblings. In a causal namespace the read carries the writer's token,
	// so the serving node must not answer older state.
	ok := llCheckKeys(t, all(), ns, nsDef.Mode == "causal", want, tokens)

	// The old layouts' shards are gone: each node stores key states only
	// under groups of the current layout placed on it, and holds no hint
	// for another group (nor, the cluster being healthy, any at all).
	llCheckStoredGroups(t, all(), ns, 30*time.Second)
	if ok {
		// A second pass: dropping the old groups lost nothing.
		llCheckKeys(t, all(), ns, nsDef.Mode == "causal", want, tokens)
	}
}

func firstPending(want map[string]*llKey) string {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if want[k].pending != "" {
			return fmt.Sprintf("%s (%q): %v", k, want[k].pending, want[k].perr)
		}
	}
	return "none"
}

// llWaitMap is waitMapOn that, on a timeout, first logs the changes under
// way with the coordinator's last step of each.
func llWaitMap(t *testing.T, nodes []*node.Node, timeout time.Duration, what string, ok func(*membership.Map) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		done := true
		for _, n := range nodes {
			if !ok(n.Map()) {
				done = false
				break
			}
		}
		if done {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	ml := nodes[0].Moves(ctx)
	cancel()
	t.Logf("changes under way at epoch %d: moves %+v, reshards %+v", ml.Epoch, ml.Moves, ml.Reshards)
	waitMapOn(t, nodes, 0, what, ok)
}

// llReshard starts a reshard of ns to shards, retrying while replicas of
// the namespace are moving (a reshard waits for them).
func llReshard(t *testing.T, n *node.Node, ns string, shards int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := n.UpdateNamespace(ctx, ns, api.NamespaceUpdate{Shards: shards})
		cancel()
		if err == nil {
			return
		}
		if !errors.Is(err, kv.ErrConflict) && !errors.Is(err, kv.ErrUnavailable) && !errors.Is(err, kv.ErrTimeout) {
			t.Fatalf("reshard %s to %d: %v", ns, shards, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("reshard %s to %d still refused after 60s: %v", ns, shards, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// llCheckKeys reads every key of want from every node, in parallel per
// node, and reports (t.Errorf) what is wrong. A read error is retried for
// up to 10s per key; a wrong value, a missing key or siblings are wrong at
// once. It returns whether every read was right.
func llCheckKeys(t *testing.T, nodes []*node.Node, ns string, causal bool, want map[string]*llKey, tokens map[int]string) bool {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var mu sync.Mutex
	var bad []string
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nbad := 0
			for _, key := range keys {
				k := want[key]
				opts := kv.ReadOptions{}
				if causal {
					opts.Token = tokens[k.owner]
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				var e kv.Entry
				var err error
				for {
					e, err = n.KV().Get(ctx, ns, []byte(key), opts)
					if err == nil || errors.Is(err, kv.ErrNotFound) || ctx.Err() != nil {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				cancel()
				problem := llJudge(k, e, err)
				if problem == "" {
					continue
				}
				if causal {
					// What the node holds, read without the session's token.
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					e2, err2 := n.KV().Get(ctx, ns, []byte(key), kv.ReadOptions{})
					cancel()
					problem += fmt.Sprintf(" [without the token: %q, %v]", e2.Value, err2)
				}
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%s: get %s/%s (replicas %v): %s", n.ID(), ns, key, n.Map().Namespace(ns).Locate([]byte(key)).Replicas, problem))
				mu.Unlock()
				if nbad++; nbad >= 3 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		sort.Strings(bad)
		t.Errorf("%d wrong reads (the first 3 per node):\n%s", len(bad), strings.Join(bad, "\n"))
		return false
	}
	return true
}

// llJudge describes what is wrong with a read of k, or returns "".
func llJudge(k *llKey, e kv.Entry, err error) string {
	allowed := []string{}
	if k.last != "" {
		allowed = append(allowed, k.last)
	}
	if k.pending != "" {
		allowed = append(allowed, k.pending)
	}
	desc := fmt.Sprintf("want %q (after %d acknowledged writes)", k.last, k.writes)
	if k.pending != "" {
		desc = fmt.Sprintf("want %q or the write of unknown outcome %q", k.last, k.pending)
	}
	switch {
	case errors.Is(err, kv.ErrNotFound):
		if k.last == "" {
			return "" // only a write of unknown outcome, which may have been lost
		}
		return "not found; " + desc
	case err != nil:
		return fmt.Sprintf("%v; %s", err, desc)
	case len(e.Siblings) > 0:
		var sib []string
		for _, s := range e.Siblings {
			sib = append(sib, string(s))
		}
		return fmt.Sprintf("siblings %q; %s", sib, desc)
	case !slices.Contains(allowed, string(e.Value)):
		return fmt.Sprintf("%q; %s", e.Value, desc)
	}
	return ""
}

// llStored lists, for node n, the groups of namespace nsID under which it
// stores key states, and those under which it holds hints (with counts).
func llStored(n *node.Node, nsID uint32) (values, hints map[keyspace.GroupID]int, err error) {
	values, hints = map[keyspace.GroupID]int{}, map[keyspace.GroupID]int{}
	start := storage.LeaderlessKey(uint64(keyspace.ShardGroupGen(nsID, 0, 0)), 0, nil)[:9]
	end := storage.LeaderlessKey(uint64(keyspace.ShardGroupGen(nsID+1, 0, 0)), 0, nil)[:9]
	err = n.Engine().Scan(start, end, func(k, _ []byte) bool {
		if len(k) < 10 {
			return true
		}
		g := keyspace.GroupID(uint64(k[1])<<56 | uint64(k[2])<<48 | uint64(k[3])<<40 | uint64(k[4])<<32 |
			uint64(k[5])<<24 | uint64(k[6])<<16 | uint64(k[7])<<8 | uint64(k[8]))
		switch k[9] {
		case 'v':
			values[g]++
		case 'h':
			hints[g]++
		}
		return true
	})
	return values, hints, err
}

// llCheckStoredGroups waits until every node stores ns's key states only
// under the current layout's groups placed on it and holds no hints of ns.
func llCheckStoredGroups(t *testing.T, nodes []*node.Node, ns string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var bad []string
		for _, n := range nodes {
			m := n.Map()
			nsm := m.Namespace(ns)
			placed := map[keyspace.GroupID]bool{}
			for _, sh := range m.ShardsOn(n.ID()) {
				if sh.Namespace.Name == ns {
					placed[sh.Group] = true
				}
			}
			values, hints, err := llStored(n, nsm.ID)
			if err != nil {
				t.Fatalf("%s: scanning its leaderless data: %v", n.ID(), err)
			}
			for g, cnt := range values {
				if !placed[g] {
					bad = append(bad, fmt.Sprintf("%s stores %d keys of %s under %s, which the map (%d shards) does not place there", n.ID(), cnt, ns, g, nsm.Shards))
				}
			}
			for g, cnt := range hints {
				bad = append(bad, fmt.Sprintf("%s holds %d hints of %s under %s (current layout: %v)", n.ID(), cnt, ns, g, placed[g]))
			}
			if len(values) == 0 && len(placed) > 0 {
				bad = append(bad, fmt.Sprintf("%s stores nothing of %s, though the map places %d shards there", n.ID(), ns, len(placed)))
			}
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(bad)
			t.Fatalf("after %v, leaderless data outside the current layout:\n%s", timeout, strings.Join(bad, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
