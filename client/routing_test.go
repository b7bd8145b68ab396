package client

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/keyspace"
)

// routedCluster is three fake nodes that all answer GET /v1/cluster with
// the same map (namespace "default": strong, 4 shards, shard s led by node
// s%4 -- node 3 being an endpoint nothing listens on; namespace "ev":
// eventual) and record which node received each written key.
type routedCluster struct {
	mu       sync.Mutex
	got      map[string]string // key -> node that received its write
	clusters int
	urls     []string
	ids      []string
}

const routedShards = 4

func newRoutedCluster(t *testing.T) *routedCluster {
	rc := &routedCluster{got: map[string]string{}}
	var cl api.Cluster
	for i := range 3 {
		id := fmt.Sprintf("n%d", i)
		s := newServer(t, id, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/cluster" {
				rc.mu.Lock()
				rc.clusters++
				rc.mu.Unlock()
				writeJSON(w, http.StatusOK, cl)
				return
			}
			key := strings.TrimPrefix(r.URL.Path, "/v1/kv/")
			if rest, ok := strings.CutPrefix(r.URL.Path, "/v1/ns/ev/kv/"); ok {
				key = "ev:" + rest
			}
			rc.mu.Lock()
			rc.got[key] = id
			rc.mu.Unlock()
			writeJSON(w, http.StatusOK, api.WriteResult{Version: 1})
		})
		rc.urls = append(rc.urls, s.URL)
		rc.ids = append(rc.ids, id)
		cl.Nodes = append(cl.Nodes, api.Node{ID: id, ClientAddr: strings.TrimPrefix(s.URL, "http://")})
	}
	dead := deadEndpoint(t)
	rc.urls = append(rc.urls, "http://"+dead)
	rc.ids = append(rc.ids, "n3")
	cl.Nodes = append(cl.Nodes, api.Node{ID: "n3", ClientAddr: dead})
	cl.Namespaces = []api.Namespace{{Name: "default", Mode: "strong", Shards: routedShards, Sharding: "jump"}, {Name: "ev", Mode: "eventual", Shards: routedShards}}
	for s := range routedShards {
		cl.Shards = append(cl.Shards,
			api.Shard{Namespace: "default", ID: s, Leader: fmt.Sprintf("n%d", s%4)},
			api.Shard{Namespace: "ev", ID: s, Mode: "eventual"})
	}
	return rc
}

func TestRouteWritesToShardLeader(t *testing.T) {
	rc := newRoutedCluster(t)
	c, err := New(Config{Endpoints: rc.urls, Timeout: 2 * time.Second, RouteWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 20*time.Second)
	// The first write starts the table's refresh; wait for the table.
	if _, err := c.Put(ctx, "warmup", []byte("v")); err != nil {
		t.Fatal(err)
	}
	for c.router.table.Load() == nil {
		if ctx.Err() != nil {
			t.Fatal("the routing table never loaded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 40 {
		key := fmt.Sprintf("key-%d", i)
		wr, err := c.Put(ctx, key, []byte("v"))
		if err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		shard := keyspace.Layout{Shards: routedShards, Sharding: keyspace.ShardingJump}.ShardOf([]byte(key))
		want := fmt.Sprintf("n%d", shard%4)
		if want == "n3" {
			want = "n0" // the leader is down: the write fails over to the sticky endpoint
		}
		rc.mu.Lock()
		got := rc.got[key]
		rc.mu.Unlock()
		if got != want || wr.Node != want {
			t.Errorf("put %s (shard %d) reached %s (answer from %s), want %s", key, shard, got, wr.Node, want)
		}
	}
	// Leaderless namespaces are not routed: every write goes to the
	// sticky endpoint.
	ev := c.WithNamespace("ev")
	for i := range 8 {
		if _, err := ev.Put(ctx, fmt.Sprintf("e%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i := range 8 {
		if got := rc.got[fmt.Sprintf("ev:e%d", i)]; got != "n0" {
			t.Errorf("eventual write e%d reached %s, want the sticky endpoint n0", i, got)
		}
	}
	// 49 writes within a few seconds fetch the map once or twice, not per write.
	if rc.clusters < 1 || rc.clusters > 3 {
		t.Errorf("GET /v1/cluster %d times for 49 writes", rc.clusters)
	}
}

func TestRouteTableSkipsForeignAddresses(t *testing.T) {
	cl := &api.Cluster{
		Nodes:      []api.Node{{ID: "n1", ClientAddr: "127.0.0.1:7701"}, {ID: "n2", ClientAddr: "10.0.0.2:7701"}},
		Namespaces: []api.Namespace{{Name: "default", Shards: 2}},
		Shards:     []api.Shard{{Namespace: "default", ID: 0, Leader: "n1"}, {Namespace: "default", ID: 1, Leader: "n2"}, {Namespace: "default", ID: 7, Leader: "n1"}},
	}
	rt := buildRouteTable(cl, []string{"http://127.0.0.1:7701"})
	got := rt.namespaces["default"].leaders
	if len(got) != 2 || got[0] != "http://127.0.0.1:7701" || got[1] != "" {
		t.Errorf("leaders = %q; want n1's endpoint for shard 0 and nothing for n2, which is not an endpoint", got)
	}
}
