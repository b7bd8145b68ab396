package bench

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
)

// ClusterSpec asks for a local distkv cluster, one OS process per node,
// as `distkv up` runs it.
type ClusterSpec struct {
	Nodes    int
	InMemory bool
	// Dir is the cluster's data directory (nodes' data, logs).
	Dir string
}

// Cluster is a running local distkv cluster.
type Cluster struct {
	HTTP  []string // the nodes' client addresses, host:port
	Redis []string // their Redis front ends; empty when the build has none
	PIDs  []int    // the node processes
	// Stop stops every node the cluster started.
	Stop func() error
}

// ClusterStarter starts a local cluster and waits until it is ready. The
// command line provides it, reusing `distkv up`'s process management.
type ClusterStarter func(ctx context.Context, spec ClusterSpec) (*Cluster, error)

// cellDef is one cell of a comparison.
type cellDef struct {
	Name  string
	Title string
	// Spec is the distkv cluster; Via the protocol distkv is driven with
	// (TargetDistkv: HTTP, TargetRedis: its Redis front end).
	Spec ClusterSpec
	Via  string
	// NS, when set, is a namespace created for the cell that distkv is
	// driven in (otherwise the default namespace: strong, 3 replicas).
	NS *api.Namespace
	// PeerProg is the peer's program, a key of peerPackages.
	PeerProg string
	Peer     func(ctx context.Context, bin, dir string) (*Deployment, error)
	// Hashes: the cell also runs the hash workloads (both sides speak
	// the Redis protocol, and distkv's namespace is strong).
	Hashes bool
	// RESP3: the cell runs every workload over RESP2 and over RESP3 (both
	// sides speak the Redis protocol; see compare_resp.go).
	RESP3 bool
}

// workloads returns the workloads of all that cell c runs, in order: the
// hash workloads only in a cell with Hashes.
func (c cellDef) workloads(all []string) []string {
	var out []string
	for _, w := range all {
		if wl, err := ParseWorkload(w); err == nil && (!wl.Hash || c.Hashes) {
			out = append(out, w)
		}
	}
	return out
}

// labels returns the run labels of the workloads of all that cell c
// runs: its workloads, each followed by its RESP3 label ("w@resp3") in a
// cell with RESP3.
func (c cellDef) labels(all []string) []string {
	var out []string
	for _, w := range c.workloads(all) {
		out = append(out, w)
		if c.RESP3 {
			out = append(out, w+resp3Suffix)
		}
	}
	return out
}

// bench1Namespace is the one-replica namespace of cell etcd1.
const bench1Namespace = "bench1"

// Leaderless namespaces of the cells that compare them with Redis. They
// are driven over the Redis front end like cell redis-mem, except causal:
// its guarantee lives in the session token (X-Distkv-Causal) that only
// the HTTP client carries, so it is driven over HTTP.
var (
	nsEventual    = &api.Namespace{Name: "benchev", Mode: "eventual", Replicas: "3"}
	nsCausal      = &api.Namespace{Name: "benchcausal", Mode: "causal", Replicas: "3"}
	nsEventualAll = &api.Namespace{Name: "benchevall", Mode: "eventual", Replicas: "all"}
)

func redisNoPersistence(ctx context.Context, bin, dir string) (*Deployment, error) {
	return StartRedis(ctx, bin, dir, RedisNoPersistence)
}

// cellDefs are the cells of the comparison, in order.
var cellDefs = []cellDef{
	{
		Name:  "etcd3",
		Title: "strong, 3 replicas, durable: distkv 3-node cluster (default namespace) over HTTP vs etcd 3 members",
		Spec:  ClusterSpec{Nodes: 3}, Via: TargetDistkv, PeerProg: "etcd",
		Peer: func(ctx context.Context, bin, dir string) (*Deployment, error) { return StartEtcd(ctx, bin, dir, 3) },
	},
	{
		Name:  "etcd1",
		Title: "strong, 1 replica, durable: distkv 1-node cluster (namespace bench1, replicas 1) over HTTP vs etcd 1 member",
		Spec:  ClusterSpec{Nodes: 1}, Via: TargetDistkv, PeerProg: "etcd",
		NS:   &api.Namespace{Name: bench1Namespace, Replicas: "1"},
		Peer: func(ctx context.Context, bin, dir string) (*Deployment, error) { return StartEtcd(ctx, bin, dir, 1) },
	},
	{
		Name:  "redis-mem",
		Title: "in memory: distkv 3-node --in-memory cluster via its Redis front end vs Redis, no persistence; with the hash workloads; every workload over RESP2 and over RESP3",
		Spec:  ClusterSpec{Nodes: 3, InMemory: true}, Via: TargetRedis, PeerProg: "redis-server",
		Peer: redisNoPersistence, Hashes: true, RESP3: true,
	},
	{
		Name:  "redis-aof",
		Title: "durable: distkv 3-node cluster via its Redis front end vs Redis, appendfsync always",
		Spec:  ClusterSpec{Nodes: 3}, Via: TargetRedis, PeerProg: "redis-server",
		Peer: func(ctx context.Context, bin, dir string) (*Deployment, error) {
			return StartRedis(ctx, bin, dir, RedisAOFAlways)
		},
	},
	{
		Name:  "eventual",
		Title: "eventual, 3 replicas, in memory: distkv 3-node --in-memory cluster (namespace benchev, quorum R=W=2) via its Redis front end vs Redis, no persistence",
		Spec:  ClusterSpec{Nodes: 3, InMemory: true}, Via: TargetRedis, NS: nsEventual, PeerProg: "redis-server",
		Peer: redisNoPersistence,
	},
	{
		Name:  "causal",
		Title: "causal, 3 replicas, in memory: distkv 3-node --in-memory cluster (namespace benchcausal) over HTTP with session tokens vs Redis, no persistence",
		Spec:  ClusterSpec{Nodes: 3, InMemory: true}, Via: TargetDistkv, NS: nsCausal, PeerProg: "redis-server",
		Peer: redisNoPersistence,
	},
	// Seed 002's experiment: the same 5-node cluster with keys on 3 of the
	// nodes (consistent hashing) and on all of them (full replication).
	{
		Name:  "eventual5-r3",
		Title: "eventual, replicas 3 of 5: distkv 5-node --in-memory cluster (namespace benchev) via its Redis front end vs Redis, no persistence",
		Spec:  ClusterSpec{Nodes: 5, InMemory: true}, Via: TargetRedis, NS: nsEventual, PeerProg: "redis-server",
		Peer: redisNoPersistence,
	},
	{
		Name:  "eventual5-all",
		Title: "eventual, replicas all (5): distkv 5-node --in-memory cluster (namespace benchevall) via its Redis front end vs Redis, no persistence",
		Spec:  ClusterSpec{Nodes: 5, InMemory: true}, Via: TargetRedis, NS: nsEventualAll, PeerProg: "redis-server",
		Peer: redisNoPersistence,
	},
}

// CellNames lists the cells of a comparison, in the order they run.
func CellNames() []string {
	var names []string
	for _, c := range cellDefs {
		names = append(names, c.Name)
	}
	return names
}

// selectCells returns the cells named (all for nil), in run order.
func selectCells(names []string) ([]cellDef, error) {
	for _, n := range names {
		if !slices.Contains(CellNames(), n) {
			return nil, fmt.Errorf("unknown cell %q (want some of %s)", n, strings.Join(CellNames(), ","))
		}
	}
	var out []cellDef
	for _, c := range cellDefs {
		if names == nil || slices.Contains(names, c.Name) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no cells selected")
	}
	return out, nil
}

// peerSystem is the peer's system name: "etcd" or "redis".
func (c cellDef) peerSystem() string {
	if c.PeerProg == "redis-server" {
		return "redis"
	}
	return c.PeerProg
}

// deployDistkv starts c's distkv cluster in dir and returns how to drive
// it: HTTP or the Redis front ends of every node, and, for a one-replica
// cell, a namespace created for it whose every shard has a leader.
func deployDistkv(ctx context.Context, start ClusterStarter, c cellDef, dir string) (*Deployment, error) {
	spec := c.Spec
	spec.Dir = dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cl, err := start(ctx, spec)
	if err != nil {
		return nil, err
	}
	durable := "durable"
	if spec.InMemory {
		durable = "in memory"
	}
	via := "HTTP API"
	d := &Deployment{Target: c.Via, Endpoints: cl.HTTP, stop: cl.Stop, pids: cl.PIDs}
	if c.Via == TargetRedis {
		if len(cl.Redis) == 0 {
			d.Stop()
			return nil, fmt.Errorf("this distkv build has no Redis front end (no --redis-addr)")
		}
		d.Endpoints = cl.Redis
		via = "Redis front end"
	}
	d.Desc = fmt.Sprintf("distkv %d-node cluster, %s, default namespace (strong, %d replicas), %s", spec.Nodes, durable, min(3, spec.Nodes), via)
	if c.NS != nil {
		if err := createNamespace(ctx, cl.HTTP, *c.NS); err != nil {
			d.Stop()
			return nil, err
		}
		d.Namespace = c.NS.Name
		d.Desc = fmt.Sprintf("distkv %d-node cluster, %s, namespace %s (%s, %s replicas), %s",
			spec.Nodes, durable, c.NS.Name, cmp.Or(c.NS.Mode, "strong"), c.NS.Replicas, via)
	}
	return d, nil
}

// createNamespace creates namespace ns and waits, at most 30 s, until it
// can serve: each shard of a strong namespace has a leader; a leaderless
// namespace is known to every node.
func createNamespace(ctx context.Context, eps []string, ns api.Namespace) error {
	c, err := client.New(client.Config{Endpoints: eps, RetryTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	if _, err := c.CreateNamespace(ctx, ns); err != nil {
		return fmt.Errorf("creating namespace %s: %w", ns.Name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready, err := namespaceReady(ctx, c, eps, ns)
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s: not ready to serve after 30s (%v)", ns.Name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func namespaceReady(ctx context.Context, c *client.Client, eps []string, ns api.Namespace) (bool, error) {
	if ns.Mode == "" || ns.Mode == "strong" {
		cl, err := c.Cluster(ctx)
		return err == nil && allLed(cl, ns.Name), err
	}
	for _, ep := range eps {
		one, err := client.New(client.Config{Endpoints: []string{ep}, RetryTimeout: time.Second})
		if err != nil {
			return false, err
		}
		if _, err := one.Namespace(ctx, ns.Name); err != nil {
			return false, fmt.Errorf("node %s: %w", ep, err)
		}
	}
	return true, nil
}

// allLed reports whether namespace ns has shards and each has a leader.
func allLed(cl *api.Cluster, ns string) bool {
	n := 0
	for _, s := range cl.Shards {
		if s.Namespace == ns {
			if s.Leader == "" {
				return false
			}
			n++
		}
	}
	return n > 0
}
