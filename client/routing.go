package client

import (
	"context"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/keyspace"
)

// routeRefresh is how old a routing table may grow before a write triggers
// a refresh; a table older than that is still used while the refresh runs
// (a stale leader only costs the forwarding hop it was meant to save).
const routeRefresh = 3 * time.Second

// router maps a write in a strong namespace to its shard leader's endpoint,
// from GET /v1/cluster, refreshed in the background. It is shared by every
// copy of a Client and never decides correctness: the node that receives a
// write forwards it to the leader anyway.
type router struct {
	c          *Client
	table      atomic.Pointer[routeTable]
	refreshing atomic.Bool
	mu         sync.Mutex
	next       time.Time // no refresh before this (after a failure: backoff)
}

// routeTable is one snapshot of the cluster's namespaces and leaders.
type routeTable struct {
	namespaces map[string]routeNS
	// epoch is the shard map epoch the table was built from.
	epoch uint64
}

type routeNS struct {
	layout  keyspace.Layout
	leaders []string // per shard: the leader's endpoint URL, "" if unknown or not ours
}

// preferred returns the endpoint of the leader of key's shard in namespace
// ns, or "" when it is unknown, not one of the client's endpoints, or the
// namespace is not strong. It may start a background refresh.
func (rt *router) preferred(ns, key string) string {
	rt.maybeRefresh()
	t := rt.table.Load()
	if t == nil {
		return ""
	}
	if ns == "" {
		ns = DefaultNamespace
	}
	n, ok := t.namespaces[ns]
	if !ok || n.layout.Shards <= 0 {
		return ""
	}
	return n.leaders[n.layout.ShardOf([]byte(key))]
}

// sawEpoch notes the shard map epoch a node answered with: a table built
// from an older map is refreshed now rather than when it ages out, so
// writes follow moves and reshards promptly (DESIGN.md item 2).
func (rt *router) sawEpoch(e uint64) {
	t := rt.table.Load()
	if e == 0 || t == nil || e <= t.epoch {
		return
	}
	rt.mu.Lock()
	rt.next = time.Time{}
	rt.mu.Unlock()
	rt.maybeRefresh()
}

func (rt *router) maybeRefresh() {
	rt.mu.Lock()
	due := !time.Now().Before(rt.next)
	if due {
		rt.next = time.Now().Add(routeRefresh)
	}
	rt.mu.Unlock()
	if !due || !rt.refreshing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer rt.refreshing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), rt.c.timeout)
		defer cancel()
		t, err := rt.fetch(ctx)
		if err != nil {
			return // keep the old table; the next refresh is routeRefresh away
		}
		rt.table.Store(t)
	}()
}

// fetch builds a table from one GET /v1/cluster.
func (rt *router) fetch(ctx context.Context) (*routeTable, error) {
	cl, err := rt.c.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	return buildRouteTable(cl, rt.c.eps.urls), nil
}

// buildRouteTable maps each strong namespace's shard leaders to the
// client's own endpoint URLs. A leader whose client address is not among
// urls gets "" (the client only ever talks to the endpoints it was given).
func buildRouteTable(cl *api.Cluster, urls []string) *routeTable {
	byHost := map[string]string{}
	for _, u := range urls {
		if p, err := url.Parse(u); err == nil {
			byHost[p.Host] = u
		}
	}
	endpointOf := map[string]string{}
	for _, n := range cl.Nodes {
		if u, ok := byHost[n.ClientAddr]; ok {
			endpointOf[n.ID] = u
		}
	}
	t := &routeTable{namespaces: map[string]routeNS{}, epoch: cl.Epoch}
	for _, ns := range cl.Namespaces {
		if ns.Mode != "" && ns.Mode != "strong" || ns.Shards <= 0 {
			continue
		}
		sch, err := keyspace.ParseSharding(ns.Sharding)
		if err != nil {
			continue // a scheme this client does not know: route nothing there
		}
		t.namespaces[ns.Name] = routeNS{layout: keyspace.Layout{Shards: ns.Shards, Sharding: sch}, leaders: make([]string, ns.Shards)}
	}
	for _, s := range cl.Shards {
		n, ok := t.namespaces[s.Namespace]
		if !ok || s.ID < 0 || s.ID >= n.layout.Shards {
			continue
		}
		n.leaders[s.ID] = endpointOf[s.Leader]
	}
	return t
}
