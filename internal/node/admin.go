package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/coordinator"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
)

// The membership API as the HTTP front end calls it: every change is a
// shard map command proposed through the coordinator, answered once this
// node's map has it; the work it starts (moves, reshards) is the
// coordinator's.

// AddMember admits a node (it joins as "joining").
func (n *Node) AddMember(ctx context.Context, req api.MemberRequest) (api.MemberChange, error) {
	id, err := keyspace.ParseNodeID(req.ID)
	if err != nil {
		return api.MemberChange{}, fmt.Errorf("%w: %w", kv.ErrInvalid, err)
	}
	for what, addr := range map[string]string{"peer_addr": req.PeerAddr, "client_addr": req.ClientAddr} {
		if addr == "" && what == "client_addr" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return api.MemberChange{}, fmt.Errorf("%w: %s %q is not host:port", kv.ErrInvalid, what, addr)
		}
	}
	mb := membership.Member{ID: id, PeerAddr: req.PeerAddr, ClientAddr: req.ClientAddr, RedisAddr: req.RedisAddr, FTPAddr: req.FTPAddr}
	out, err := n.kv.ProposeMeta(ctx, membership.Command{Op: membership.OpAddMember, Member: &mb})
	if err != nil {
		return api.MemberChange{}, err
	}
	return memberChange(out, id), nil
}

// RemoveMember starts draining a node; it is removed once it holds nothing.
func (n *Node) RemoveMember(ctx context.Context, idText string) (api.MemberChange, error) {
	id, err := keyspace.ParseNodeID(idText)
	if err != nil {
		return api.MemberChange{}, fmt.Errorf("%w: %w", kv.ErrInvalid, err)
	}
	out, err := n.kv.ProposeMeta(ctx, membership.Command{Op: membership.OpRemoveMember, Node: id})
	if err != nil {
		return api.MemberChange{}, err
	}
	return memberChange(out, id), nil
}

func memberChange(out kv.MetaOutcome, id keyspace.NodeID) api.MemberChange {
	ch := api.MemberChange{Epoch: out.Epoch, ClusterID: out.ClusterID}
	for _, mb := range out.Members {
		am := api.Member{ID: mb.ID.String(), PeerAddr: mb.PeerAddr, ClientAddr: mb.ClientAddr, State: mb.State.String()}
		ch.Members = append(ch.Members, am)
		if mb.ID == id {
			ch.Member = am
		}
	}
	return ch
}

// UpdateNamespace changes a namespace's replication factor and/or shard
// count; the shards move in the background.
func (n *Node) UpdateNamespace(ctx context.Context, name string, u api.NamespaceUpdate) (api.NamespaceChange, error) {
	nm := n.meta.Current().Namespace(name)
	if nm == nil {
		return api.NamespaceChange{}, fmt.Errorf("%w: namespace %q does not exist", kv.ErrNoNamespace, name)
	}
	if u.Replicas == "" && u.Shards == 0 && u.Pinned == "" {
		return api.NamespaceChange{}, fmt.Errorf("%w: nothing to change: give replicas, shards or pinned", kv.ErrInvalid)
	}
	if u.Pinned != "" && nm.Pinned == "" {
		return api.NamespaceChange{}, fmt.Errorf("%w: namespace %s is placed on the ring; only a namespace created pinned takes a pinning", kv.ErrInvalid, name)
	}
	if nm.Pinned != "" && u.Replicas != "" {
		return api.NamespaceChange{}, fmt.Errorf("%w: namespace %s is pinned: its shards' nodes are its pinning, not a replica count", kv.ErrInvalid, name)
	}
	var started []string
	var epoch uint64
	if u.Shards != 0 {
		if u.Shards < 1 || u.Shards > keyspace.MaxShards {
			return api.NamespaceChange{}, fmt.Errorf("%w: shards must be between 1 and %d, got %d", kv.ErrInvalid, keyspace.MaxShards, u.Shards)
		}
		from := nm.Shards
		cmd := membership.Command{Op: membership.OpStartReshard, NS: name, Shards: u.Shards, Pinned: keyspace.Pinning(u.Pinned)}
		if nm.Pinned != "" && cmd.Pinned == "" {
			cmd.Pinned = n.meta.Current().Repin(nm, u.Shards)
		}
		out, err := n.kv.ProposeMeta(ctx, cmd)
		if err != nil {
			return api.NamespaceChange{}, err
		}
		epoch = out.Epoch
		if from != u.Shards || nm.Sharding != keyspace.ShardingJump {
			started = append(started, fmt.Sprintf("reshard %d -> %d", from, u.Shards))
		}
	}
	if u.Pinned != "" && u.Shards == 0 {
		out, err := n.kv.ProposeMeta(ctx, membership.Command{Op: membership.OpSetPinning, NS: name, Pinned: keyspace.Pinning(u.Pinned)})
		if err != nil {
			return api.NamespaceChange{}, err
		}
		epoch = out.Epoch
		if keyspace.Pinning(u.Pinned) != nm.Pinned {
			started = append(started, fmt.Sprintf("pinning %s -> %s", nm.Pinned, u.Pinned))
		}
	}
	if u.Replicas != "" {
		r, err := keyspace.ParseReplication(string(u.Replicas))
		if err != nil {
			return api.NamespaceChange{}, fmt.Errorf("%w: %w", kv.ErrInvalid, err)
		}
		from := nm.Replicas
		out, err := n.kv.ProposeMeta(ctx, membership.Command{Op: membership.OpSetReplicas, NS: name, Replicas: &r})
		if err != nil {
			return api.NamespaceChange{}, err
		}
		epoch = out.Epoch
		if from != r {
			started = append(started, fmt.Sprintf("replicas %s -> %s", from, r))
		}
	}
	cur := n.meta.Current().Namespace(name)
	return api.NamespaceChange{Namespace: namespaceView(cur), Epoch: epoch, Started: started}, nil
}

// Moves lists the moves and reshards under way, with what the coordinator
// last did for each when it can be asked.
func (n *Node) Moves(ctx context.Context) api.MoveList {
	m := n.meta.Current()
	out := api.MoveList{Epoch: m.Epoch, Moves: n.moveViews(ctx, m), Reshards: []api.Reshard{}}
	sts := n.coordinatorStatuses(ctx)
	for _, ns := range m.Namespaces {
		if r := ns.Reshard; r != nil {
			v := api.Reshard{Namespace: ns.Name, From: r.Old.Layout.Shards, To: r.New.Layout.Shards, Phase: r.Phase.String()}
			if st, ok := sts["reshard/"+ns.Name]; ok {
				v.Step = st.Step
			}
			out.Reshards = append(out.Reshards, v)
		}
	}
	return out
}

func (n *Node) moveViews(ctx context.Context, m *membership.Map) []api.Move {
	if len(m.Moves) == 0 {
		return []api.Move{}
	}
	sts := n.coordinatorStatuses(ctx)
	out := make([]api.Move, 0, len(m.Moves))
	for _, mv := range m.Moves {
		v := api.Move{ID: mv.ID, Namespace: mv.Namespace, Shard: mv.Shard, Group: mv.Group.String(), Reason: mv.Reason, Epoch: mv.Epoch}
		if mv.From != 0 {
			v.From = mv.From.String()
		}
		if mv.To != 0 {
			v.To = mv.To.String()
		}
		if st, ok := sts[fmt.Sprintf("move/%d", mv.ID)]; ok {
			v.Step, v.Progress = st.Step, st.Progress
			if st.Err != "" {
				v.Step += " (retrying: " + firstLine(st.Err) + ")"
			}
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// coordinatorStatuses asks the coordinator (this node or the metadata
// leader) what its workers last did; empty if it cannot be asked quickly.
func (n *Node) coordinatorStatuses(ctx context.Context) map[string]coordinator.Status {
	l, _ := n.host.Leader(uint64(keyspace.MetaGroup))
	if l == 0 {
		return nil
	}
	if keyspace.NodeID(l) == n.cfg.ID {
		return n.coord.Statuses()
	}
	c, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	r, err := n.adminCall(c, keyspace.NodeID(l), adminReq{Op: "statuses"})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		n.log.Debug("asking the coordinator for move statuses", "err", err)
	}
	return r.Statuses
}
func (n *Node) Epoch() uint64 { return n.meta.Current().Epoch }
