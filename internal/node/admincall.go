package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/distkv/distkv/internal/coordinator"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/rebalance"
	"github.com/distkv/distkv/internal/replication/multiraft"
	"github.com/distkv/distkv/internal/shardsm"
)

// CallAdmin is the first byte of a transport Call carrying a membership
// request from the coordinator to a node (JSON after it).
const CallAdmin byte = 4

// adminReq is one membership request to a node.
type adminReq struct {
	Op      string             `json:"op"` // detail, conf, transfer, export, copy, handoff, vector, fastforward, statuses
	Group   keyspace.GroupID   `json:"group,omitempty"`
	Changes []multiraft.Change `json:"changes,omitempty"`
	To      keyspace.ReplicaID `json:"to,omitempty"`
	NS      string             `json:"ns,omitempty"`
	Final   bool               `json:"final,omitempty"`
	Node    keyspace.NodeID    `json:"node,omitempty"`
	Reshard uint64             `json:"reshard,omitempty"`
	Vector  map[uint64]uint64  `json:"vector,omitempty"`
}

// adminResp is a node's answer.
type adminResp struct {
	Err       string                        `json:"err,omitempty"`
	NotLeader uint64                        `json:"not_leader,omitempty"` // set with Err when the node does not lead the group (the leader, 0 unknown)
	Detail    *multiraft.GroupDetail        `json:"detail,omitempty"`
	Conf      *multiraft.Conf               `json:"conf,omitempty"`
	Watermark uint64                        `json:"watermark,omitempty"`
	Vector    map[uint64]uint64             `json:"vector,omitempty"`
	Statuses  map[string]coordinator.Status `json:"statuses,omitempty"`
}

// serveAdminCall answers a peer's membership request.
func (n *Node) serveAdminCall(ctx context.Context, payload []byte) ([]byte, error) {
	var q adminReq
	if err := json.Unmarshal(payload, &q); err != nil {
		return nil, fmt.Errorf("undecodable admin call: %w", err)
	}
	r, err := n.adminLocal(ctx, q)
	if err != nil {
		r.Err = err.Error()
		var nl *multiraft.NotLeaderError
		if errors.As(err, &nl) {
			r.NotLeader = nl.Leader
			if r.NotLeader == 0 {
				r.NotLeader = ^uint64(0)
			}
		}
	}
	return json.Marshal(r)
}

// adminLocal runs a membership request on this node.
func (n *Node) adminLocal(ctx context.Context, q adminReq) (adminResp, error) {
	switch q.Op {
	case "detail":
		d, err := n.host.Detail(ctx, uint64(q.Group))
		return adminResp{Detail: &d}, err
	case "conf":
		c, err := n.host.ChangeConf(ctx, uint64(q.Group), q.Changes)
		return adminResp{Conf: &c}, err
	case "transfer":
		return adminResp{}, n.host.TransferLeadership(ctx, uint64(q.Group), uint64(q.To))
	case "export":
		w, err := n.export(ctx, q.NS, q.Group, q.Final)
		return adminResp{Watermark: w}, err
	case "copy":
		return adminResp{}, n.dynamo.CopyShard(ctx, q.NS, uint64(q.Group), q.Node, q.Vector)
	case "handoff":
		return adminResp{}, n.dynamo.Handoff(ctx, q.NS, q.Reshard, q.Vector)
	case "vector":
		v, err := n.dynamo.CausalVector(q.NS)
		return adminResp{Vector: v}, err
	case "fastforward":
		_, err := n.dynamo.FastForward(q.NS, q.Vector)
		return adminResp{}, err
	case "statuses":
		return adminResp{Statuses: n.coord.Statuses()}, nil
	}
	return adminResp{}, fmt.Errorf("unknown admin op %q", q.Op)
}

// adminCall runs q on node id: here directly, elsewhere over the transport.
func (n *Node) adminCall(ctx context.Context, id keyspace.NodeID, q adminReq) (adminResp, error) {
	if id == n.cfg.ID {
		return n.adminLocal(ctx, q)
	}
	req, _ := json.Marshal(q)
	out, err := n.transport.Call(ctx, uint64(id), append([]byte{CallAdmin}, req...))
	if err != nil {
		return adminResp{}, err
	}
	var r adminResp
	if err := json.Unmarshal(out, &r); err != nil {
		return adminResp{}, fmt.Errorf("undecodable admin answer from %s: %w", id, err)
	}
	if r.Err != "" {
		if r.NotLeader != 0 {
			l := r.NotLeader
			if l == ^uint64(0) {
				l = 0
			}
			return r, &multiraft.NotLeaderError{Group: uint64(q.Group), Leader: l}
		}
		return r, fmt.Errorf("%s: %s", id, r.Err)
	}
	return r, nil
}

// export copies the keys a reshard moves out of source (a replica here) to
// their new shards; see coordinator.Cluster.Export.
func (n *Node) export(ctx context.Context, nsName string, source keyspace.GroupID, final bool) (uint64, error) {
	ns := n.meta.Current().Namespace(nsName)
	if ns == nil || ns.Reshard == nil || ns.Mode != keyspace.ModeStrong {
		return 0, fmt.Errorf("namespace %q has no strong reshard under way here", nsName)
	}
	r := ns.Reshard
	if err := n.host.ReadBarrier(ctx, uint64(source)); err != nil {
		return 0, err
	}
	snap := n.engine.NewSnapshot()
	defer snap.Close()
	targets := r.New.Shards(ns)
	const batchBytes = 256 << 10
	pending := map[int]*shardsm.Migrate{}
	sizes := map[int]int{}
	flush := func(t int) error {
		m := pending[t]
		if m == nil {
			return nil
		}
		delete(pending, t)
		sizes[t] = 0
		return n.proposeIdempotent(ctx, targets[t], m)
	}
	emit := func(t int, e *shardsm.Entry, deleted []byte) error {
		if t < 0 || t >= len(targets) || targets[t].Group == source {
			return nil
		}
		m := pending[t]
		if m == nil {
			m = &shardsm.Migrate{Step: shardsm.StepIngest, Reshard: coordinator.MigrationOf(r, targets[t].Group),
				Source: slices.Index(r.Old.Groups, source), Final: final}
			pending[t] = m
		}
		if e != nil {
			m.Entries = append(m.Entries, *e)
			sizes[t] += len(e.Key) + len(e.Value) + 16
		} else {
			m.Deletes = append(m.Deletes, deleted)
			sizes[t] += len(deleted) + 4
		}
		if sizes[t] >= batchBytes {
			return flush(t)
		}
		return nil
	}
	w, err := shardsm.Export(snap, uint64(source), final, emit)
	if err != nil {
		return 0, err
	}
	for t := range targets {
		if err := flush(t); err != nil {
			return 0, err
		}
	}
	return w, nil
}

// proposeIdempotent proposes a reshard step, retrying an unknown outcome
// (steps may repeat) until ctx ends.
func (n *Node) proposeIdempotent(ctx context.Context, sh membership.Shard, m *shardsm.Migrate) error {
	cmd := m.Encode()
	for {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := n.kv.ProposeStep(c, sh, cmd)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		n.log.Debug("reshard step failed; retrying", "group", sh.Group.String(), "step", m.Step, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// coordCluster is the node as the coordinator's driver sees it.
type coordCluster struct{ n *Node }

func (c coordCluster) Map() *membership.Map { return c.n.meta.Current() }

func (c coordCluster) Leading() bool {
	l, _ := c.n.host.Leader(uint64(keyspace.MetaGroup))
	return keyspace.NodeID(l) == c.n.cfg.ID && !c.n.closed.Load()
}

func (c coordCluster) Propose(ctx context.Context, cmd membership.Command) (membership.Result, error) {
	out, err := c.n.kv.ProposeMeta(ctx, cmd)
	if err != nil {
		return membership.Result{}, err
	}
	return membership.Result{Map: c.n.meta.Current(), Move: out.Move}, nil
}

func (c coordCluster) Nodes() map[keyspace.NodeID]rebalance.NodeView {
	now := c.n.cfg.Clock.Now()
	states := c.n.detector.Status(now)
	out := map[keyspace.NodeID]rebalance.NodeView{}
	for _, mb := range c.n.meta.Current().Live() {
		ps, ok := states[mb.ID]
		v := rebalance.NodeView{Alive: ok && ps.State == membership.Alive}
		if !v.Alive && ok && !ps.LastSeen.IsZero() {
			v.SilentFor = now.Sub(ps.LastSeen)
		}
		out[mb.ID] = v
	}
	return out
}

func (c coordCluster) Epochs() map[keyspace.NodeID]uint64 {
	out := map[keyspace.NodeID]uint64{}
	for id, ps := range c.n.detector.Status(c.n.cfg.Clock.Now()) {
		out[id] = ps.Info.Epoch
	}
	out[c.n.cfg.ID] = c.n.meta.Current().Epoch
	return out
}

func (c coordCluster) Detail(ctx context.Context, node keyspace.NodeID, g keyspace.GroupID) (multiraft.GroupDetail, error) {
	r, err := c.n.adminCall(ctx, node, adminReq{Op: "detail", Group: g})
	if err != nil || r.Detail == nil {
		return multiraft.GroupDetail{}, errors.Join(err, errIf(r.Detail == nil, "no detail"))
	}
	return *r.Detail, nil
}

func (c coordCluster) ChangeConf(ctx context.Context, node keyspace.NodeID, g keyspace.GroupID, cs []multiraft.Change) (multiraft.Conf, error) {
	r, err := c.n.adminCall(ctx, node, adminReq{Op: "conf", Group: g, Changes: cs})
	if err != nil || r.Conf == nil {
		return multiraft.Conf{}, errors.Join(err, errIf(r.Conf == nil, "no configuration"))
	}
	return *r.Conf, nil
}

func (c coordCluster) Transfer(ctx context.Context, node keyspace.NodeID, g keyspace.GroupID, to keyspace.ReplicaID) error {
	_, err := c.n.adminCall(ctx, node, adminReq{Op: "transfer", Group: g, To: to})
	return err
}

func (c coordCluster) Leaders(ctx context.Context) map[keyspace.GroupID]keyspace.NodeID {
	out := map[keyspace.GroupID]keyspace.NodeID{}
	for id, r := range c.n.gatherReports(ctx, c.n.meta.Current()) {
		for _, g := range r.Groups {
			if g.IsLeader {
				out[keyspace.GroupID(g.Group)] = id
			}
		}
	}
	return out
}

func (c coordCluster) ProposeStep(ctx context.Context, sh membership.Shard, cmd []byte) error {
	return c.n.kv.ProposeStep(ctx, sh, cmd)
}

func (c coordCluster) Export(ctx context.Context, node keyspace.NodeID, ns string, source keyspace.GroupID, final bool) (uint64, error) {
	r, err := c.n.adminCall(ctx, node, adminReq{Op: "export", NS: ns, Group: source, Final: final})
	return r.Watermark, err
}

func (c coordCluster) CopyShard(ctx context.Context, from keyspace.NodeID, ns string, g keyspace.GroupID, to keyspace.NodeID) error {
	var vec map[uint64]uint64
	if nm := c.n.meta.Current().Namespace(ns); nm != nil && nm.Mode == keyspace.ModeCausal {
		r, err := c.n.adminCall(ctx, to, adminReq{Op: "vector", NS: ns})
		if err != nil {
			return fmt.Errorf("reading %s's causal vector: %w", to, err)
		}
		vec = r.Vector
	}
	_, err := c.n.adminCall(ctx, from, adminReq{Op: "copy", NS: ns, Group: g, Node: to, Vector: vec})
	return err
}

func (c coordCluster) Handoff(ctx context.Context, node keyspace.NodeID, ns string, reshard uint64) error {
	var vec map[uint64]uint64
	if nm := c.n.meta.Current().Namespace(ns); nm != nil && nm.Mode == keyspace.ModeCausal {
		// Every write applied anywhere before the handoff must be in the
		// handed-over state: wait until the node has applied all of them.
		vec = map[uint64]uint64{}
		for id, v := range c.Nodes() {
			if !v.Alive {
				continue
			}
			r, err := c.n.adminCall(ctx, id, adminReq{Op: "vector", NS: ns})
			if err != nil {
				return fmt.Errorf("reading %s's causal vector: %w", id, err)
			}
			for o, s := range r.Vector {
				vec[o] = max(vec[o], s)
			}
		}
	}
	_, err := c.n.adminCall(ctx, node, adminReq{Op: "handoff", NS: ns, Reshard: reshard, Vector: vec})
	return err
}

// CatchUpCausal raises node's vector of every causal namespace it holds
// no replica of to the writes the live nodes have applied; see
// coordinator.Cluster.
func (c coordCluster) CatchUpCausal(ctx context.Context, node keyspace.NodeID) error {
	for _, nm := range c.n.meta.Current().Namespaces {
		if nm.Mode != keyspace.ModeCausal {
			continue
		}
		vec := map[uint64]uint64{}
		for id, v := range c.Nodes() {
			if !v.Alive || id == node {
				continue
			}
			r, err := c.n.adminCall(ctx, id, adminReq{Op: "vector", NS: nm.Name})
			if err != nil {
				return fmt.Errorf("reading %s's causal vector of %s: %w", id, nm.Name, err)
			}
			for o, s := range r.Vector {
				vec[o] = max(vec[o], s)
			}
		}
		if _, err := c.n.adminCall(ctx, node, adminReq{Op: "fastforward", NS: nm.Name, Vector: vec}); err != nil {
			return fmt.Errorf("bringing %s's causal vector of %s forward: %w", node, nm.Name, err)
		}
	}
	return nil
}

func errIf(cond bool, msg string) error {
	if cond {
		return errors.New(msg)
	}
	return nil
}
