package verify

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/keyspace"
)

// The membership fault changes the cluster's shape under the workload:
// it adds a node (when Procs can start one), removes a node it added,
// changes the workload namespace's replication factor, or reshards it.
// The change is recorded and then runs in the background while later
// faults (kills, partitions, ...) hit the cluster mid-move; the judge
// waits for every move to settle before it compares replicas.

// NodeAdder is implemented by a Processes that can start a new node which
// joins the cluster. AddNode returns the new node's ID and client
// address; StopNode stops a node for good (after it was removed).
type NodeAdder interface {
	AddNode(ctx context.Context) (id, endpoint string, err error)
	StopNode(ctx context.Context, id string) error
}

// membershipChange timeouts: a change call, a node to join, and a
// removed node's drain.
const (
	changeTimeout = 10 * time.Second
	joinTimeout   = 60 * time.Second
	drainTimeout  = 120 * time.Second
	settleTimeout = 180 * time.Second
	maxNodes      = 5
)

// membership picks and starts one change of shape.
func (n *nemesis) membership(ctx context.Context, w *faultWindow) error {
	st, err := n.run.cl.Cluster(ctx)
	if err != nil {
		return err
	}
	active := 0
	for _, nd := range st.Nodes {
		if nd.Membership == "" || nd.Membership == api.MemberActive {
			active++
		}
	}
	adder, canAdd := n.run.cfg.Procs.(NodeAdder)
	var choices []string
	if canAdd && active < maxNodes {
		choices = append(choices, "add")
	}
	if canAdd && len(n.added) > 0 {
		choices = append(choices, "remove")
	}
	ns, err := n.workloadNS(ctx)
	if err != nil {
		return err
	}
	if ns.Pinned != "" {
		choices = append(choices, "repin", "reshard")
	} else {
		choices = append(choices, "replicas", "reshard")
	}
	switch choice := choices[n.rng.Intn(len(choices))]; choice {
	case "repin":
		return n.repin(ctx, w, ns, st)
	case "add":
		id, ep, err := adder.AddNode(ctx)
		if err != nil {
			return fmt.Errorf("add node: %w", err)
		}
		n.added = append(n.added, id)
		n.run.addEndpoint(ep)
		w.Detail = "add " + id
		return nil
	case "remove":
		id := n.added[n.rng.Intn(len(n.added))]
		c, cancel := context.WithTimeout(ctx, changeTimeout)
		_, err := n.run.cl.RemoveMember(c, id)
		cancel()
		if err != nil {
			return fmt.Errorf("remove %s: %w", id, err)
		}
		n.added = slices.DeleteFunc(n.added, func(s string) bool { return s == id })
		n.removing = append(n.removing, id)
		w.Detail = "remove " + id
		return nil
	case "replicas":
		cur, _ := strconv.Atoi(string(ns.Replicas))
		// A real change: 2, 3 or 4 replicas, but not as many as now nor
		// more than there are nodes.
		var options []int
		for _, r := range []int{2, 3, 4} {
			if r != cur && r <= active {
				options = append(options, r)
			}
		}
		if len(options) == 0 {
			options = []int{cur}
		}
		want := options[n.rng.Intn(len(options))]
		c, cancel := context.WithTimeout(ctx, changeTimeout)
		_, err = n.run.cl.UpdateNamespace(c, ns.Name, api.NamespaceUpdate{Replicas: api.Replicas(strconv.Itoa(want))})
		cancel()
		w.Detail = fmt.Sprintf("%s replicas %d -> %d", ns.Name, cur, want)
		return err
	default: // reshard
		want := ns.Shards * 3 / 2
		if ns.Shards > 8 || n.rng.Intn(3) == 0 {
			want = max(ns.Shards*2/3, 2)
		}
		if ns.Pinned != "" {
			// 2 <-> 3 shards of at least one node each (the new pinning is
			// the members cut anew).
			want = 5 - ns.Shards
			if want < 2 || want > 3 || want > active {
				want = 2
			}
		}
		c, cancel := context.WithTimeout(ctx, changeTimeout)
		_, err = n.run.cl.UpdateNamespace(c, ns.Name, api.NamespaceUpdate{Shards: want})
		cancel()
		w.Detail = fmt.Sprintf("%s shards %d -> %d", ns.Name, ns.Shards, want)
		return err
	}
}

// repin moves one node of a pinned workload namespace to another shard
// (or pins one not in any), never emptying a shard's group.
func (n *nemesis) repin(ctx context.Context, w *faultWindow, ns *api.Namespace, st *api.Cluster) error {
	gs, err := keyspace.Pinning(ns.Pinned).Groups()
	if err != nil || len(gs) < 2 {
		return fmt.Errorf("repin: namespace %s pinned %q: %v", ns.Name, ns.Pinned, err)
	}
	var movable []keyspace.NodeID
	for _, nd := range st.Nodes {
		id, err := keyspace.ParseNodeID(nd.ID)
		if err != nil || (nd.Membership != "" && nd.Membership != api.MemberActive) {
			continue
		}
		if s, ok := keyspace.Pinning(ns.Pinned).ShardOf(id); !ok || len(gs[s]) > 1 {
			movable = append(movable, id)
		}
	}
	if len(movable) == 0 {
		w.Detail = "repin: no node can move"
		return nil
	}
	id := movable[n.rng.Intn(len(movable))]
	from, pinned := keyspace.Pinning(ns.Pinned).ShardOf(id)
	to := n.rng.Intn(len(gs))
	if pinned && to == from {
		to = (to + 1) % len(gs)
	}
	for s := range gs {
		gs[s] = slices.DeleteFunc(gs[s], func(x keyspace.NodeID) bool { return x == id })
	}
	gs[to] = append(gs[to], id)
	pin := keyspace.MakePinning(gs)
	c, cancel := context.WithTimeout(ctx, changeTimeout)
	_, err = n.run.cl.UpdateNamespace(c, ns.Name, api.NamespaceUpdate{Pinned: string(pin)})
	cancel()
	w.Detail = fmt.Sprintf("%s: %s to shard %d (%s -> %s)", ns.Name, id, to, ns.Pinned, pin)
	return err
}

// workloadNS is the namespace the workload runs in.
func (n *nemesis) workloadNS(ctx context.Context) (*api.Namespace, error) {
	name := n.run.cfg.Namespace
	if name == "" {
		name = "default"
	}
	c, cancel := context.WithTimeout(ctx, changeTimeout)
	defer cancel()
	return n.run.cl.WithNamespace("").Namespace(c, name)
}

// finishRemovals waits for the nodes being removed to be drained and
// removed, then stops their processes and forgets their endpoints.
func (n *nemesis) finishRemovals(ctx context.Context) {
	adder, ok := n.run.cfg.Procs.(NodeAdder)
	if !ok {
		return
	}
	deadline := time.Now().Add(drainTimeout)
	for _, id := range n.removing {
		for {
			st, err := n.run.cl.Cluster(ctx)
			if err == nil && !slices.ContainsFunc(st.Nodes, func(nd api.Node) bool {
				return nd.ID == id && nd.Membership != api.MemberRemoved
			}) {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				n.log("%s was not removed within %v", id, drainTimeout)
				break
			}
			sleep(ctx, 250*time.Millisecond)
		}
	}
	for _, id := range n.removing {
		if ep := n.run.endpointOf(ctx, id); ep != "" {
			n.run.dropEndpoint(ep)
		}
		if err := adder.StopNode(ctx, id); err != nil {
			n.log("stop removed node %s: %v", id, err)
		}
	}
	n.removing = nil
}

// settle waits until no move or reshard is under way, so the replicas the
// judge compares are the ones the map finally places.
func (r *runState) settle(ctx context.Context) error {
	deadline := time.Now().Add(settleTimeout)
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ml, err := r.cl.Moves(c)
		cancel()
		if err == nil && len(ml.Moves) == 0 && len(ml.Reshards) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("verify: moves did not settle within %v: %w", settleTimeout, err)
			}
			return fmt.Errorf("verify: %d moves and %d reshards still under way after %v", len(ml.Moves), len(ml.Reshards), settleTimeout)
		}
		sleep(ctx, 250*time.Millisecond)
	}
}

func (r *runState) addEndpoint(ep string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.cfg.Endpoints, ep) {
		r.cfg.Endpoints = append(r.cfg.Endpoints, ep)
	}
}

func (r *runState) dropEndpoint(ep string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg.Endpoints = slices.DeleteFunc(slices.Clone(r.cfg.Endpoints), func(s string) bool { return s == ep })
}

// endpoints is a copy of the endpoints of the cluster's current nodes.
func (r *runState) endpoints() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.cfg.Endpoints)
}

func (r *runState) endpointOf(ctx context.Context, id string) string {
	st, err := r.cl.Cluster(ctx)
	if err != nil {
		return ""
	}
	for _, nd := range st.Nodes {
		if nd.ID == id {
			return nd.ClientAddr
		}
	}
	return ""
}
