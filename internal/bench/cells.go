package bench

import (
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
	// Replicas1 runs distkv in a namespace with one replica, created for
	// the cell.
	Replicas1 bool
	// PeerProg is the peer's program, a key of peerPackages.
	PeerProg string
	Peer     func(ctx context.Context, bin, dir string) (*Deployment, error)
}

// bench1Namespace is the one-replica namespace of cell etcd1.
const bench1Namespace = "bench1"

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
		Spec:  ClusterSpec{Nodes: 1}, Via: TargetDistkv, Replicas1: true, PeerProg: "etcd",
		Peer: func(ctx context.Context, bin, dir string) (*Deployment, error) { return StartEtcd(ctx, bin, dir, 1) },
	},
	{
		Name:  "redis-mem",
		Title: "in memory: distkv 3-node --in-memory cluster via its Redis front end vs Redis, no persistence",
		Spec:  ClusterSpec{Nodes: 3, InMemory: true}, Via: TargetRedis, PeerProg: "redis-server",
		Peer: func(ctx context.Context, bin, dir string) (*Deployment, error) {
			return StartRedis(ctx, bin, dir, RedisNoPersistence)
		},
	},
	{
		Name:  "redis-aof",
		Title: "durable: distkv 3-node cluster via its Redis front end vs Redis, appendfsync always",
		Spec:  ClusterSpec{Nodes: 3}, Via: TargetRedis, PeerProg: "redis-server",
		Peer: func(ctx context.Context, bin, dir string) (*Deployment, error) {
			return StartRedis(ctx, bin, dir, RedisAOFAlways)
		},
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
	d := &Deployment{Target: c.Via, Endpoints: cl.HTTP, stop: cl.Stop, pids: cl.PIDs,
		Desc: fmt.Sprintf("distkv %d-node cluster, %s, default namespace (strong, %d replicas), HTTP API", spec.Nodes, durable, min(3, spec.Nodes))}
	if c.Via == TargetRedis {
		if len(cl.Redis) == 0 {
			d.Stop()
			return nil, fmt.Errorf("this distkv build has no Redis front end (no --redis-addr)")
		}
		d.Endpoints = cl.Redis
		d.Desc = strings.Replace(d.Desc, "HTTP API", "Redis front end", 1)
	}
	if c.Replicas1 {
		if err := createNamespace(ctx, cl.HTTP, bench1Namespace, 1); err != nil {
			d.Stop()
			return nil, err
		}
		d.Namespace = bench1Namespace
		d.Desc = fmt.Sprintf("distkv %d-node cluster, %s, namespace %s (strong, 1 replica), HTTP API", spec.Nodes, durable, bench1Namespace)
	}
	return d, nil
}

// createNamespace creates namespace name with the given replicas and
// waits, at most 30 s, until each of its shards has a leader.
func createNamespace(ctx context.Context, eps []string, name string, replicas int) error {
	c, err := client.New(client.Config{Endpoints: eps, RetryTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	ns := api.Namespace{Name: name, Replicas: api.Replicas(fmt.Sprint(replicas))}
	if _, err := c.CreateNamespace(ctx, ns); err != nil {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cl, err := c.Cluster(ctx)
		if err == nil && allLed(cl, name) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s: not every shard has a leader after 30s (%v)", name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
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
