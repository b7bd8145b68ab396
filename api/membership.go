package api

// Membership: the HTTP API that changes the cluster's shape.
//
//	POST   /v1/admin/members       MemberRequest  -> 202 MemberChange (a node joins)
//	DELETE /v1/admin/members/{id}                 -> 202 MemberChange (a node is drained, then removed)
//	PATCH  /v1/ns/{name}           NamespaceUpdate -> 202 NamespaceChange (replicas, shards)
//	GET    /v1/admin/moves                        -> 200 MoveList
//
// Errors: 400 invalid (more replicas than nodes), 404 unknown (no such
// member or namespace), 409 conflict (a duplicate node, removing the last
// node, a reshard while one runs).

// Membership states (Node.Membership).
const (
	MemberJoining  = "joining"
	MemberActive   = "active"
	MemberDraining = "draining"
	MemberDead     = "dead"
	MemberRemoved  = "removed"
)

// HeaderEpoch carries the answering node's shard map epoch on every
// response, so a client routing by an older map knows to refresh it.
const HeaderEpoch = "X-Distkv-Epoch"

// MemberRequest asks the cluster to admit a node (POST /v1/admin/members).
type MemberRequest struct {
	ID         string `json:"id"`
	PeerAddr   string `json:"peer_addr"`
	ClientAddr string `json:"client_addr,omitempty"`
	RedisAddr  string `json:"redis_addr,omitempty"`
	FTPAddr    string `json:"ftp_addr,omitempty"`
}

// Member is a node as the shard map records it.
type Member struct {
	ID         string `json:"id"`
	PeerAddr   string `json:"peer_addr"`
	ClientAddr string `json:"client_addr,omitempty"`
	State      string `json:"state"`
}

// MemberChange answers a join or a removal: the member as recorded, the
// map epoch that recorded it, and (for a joining node) the cluster it
// joined.
type MemberChange struct {
	Member Member `json:"member"`
	Epoch  uint64 `json:"epoch"`
	// ClusterID and Members let a joining node reach its new peers before
	// it has the shard map.
	ClusterID uint64   `json:"cluster_id"`
	Members   []Member `json:"members"`
}

// NamespaceUpdate changes a namespace (PATCH /v1/ns/{name}); fields left
// empty stay as they are.
type NamespaceUpdate struct {
	Replicas Replicas `json:"replicas,omitempty"`
	Shards   int      `json:"shards,omitempty"`
	// Pinned changes a pinned namespace's groups (see Namespace.Pinned).
	// A pinned namespace resharded without it has its live members cut
	// anew into the new count of groups, each node staying near its shard.
	Pinned string `json:"pinned,omitempty"`
}

// NamespaceChange answers a NamespaceUpdate: the namespace as it is now
// configured (its shards move to it in the background) and what started.
type NamespaceChange struct {
	Namespace Namespace `json:"namespace"`
	Epoch     uint64    `json:"epoch"`
	// Started lists the changes begun, in words ("replicas 3 -> 5",
	// "reshard 16 -> 24").
	Started []string `json:"started"`
}

// Move is a replica move under way.
type Move struct {
	ID        uint64 `json:"id"`
	Namespace string `json:"namespace"`
	Shard     int    `json:"shard"`
	Group     string `json:"group"`
	// From is the node losing a replica, To the node gaining one (either
	// may be empty: a replica only added or only removed).
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Step is the coordinator's last step ("adding learner", "catching
	// up", "joint change", "removing old replica"), empty if the
	// coordinator could not be asked.
	Step string `json:"step,omitempty"`
	// Progress is the new replica's catch-up, 0..1, when known.
	Progress float64 `json:"progress,omitempty"`
	// Epoch is the map epoch that started the move.
	Epoch uint64 `json:"epoch"`
}

// Reshard is a change of a namespace's shard count under way.
type Reshard struct {
	Namespace string `json:"namespace"`
	From      int    `json:"from"`
	To        int    `json:"to"`
	Phase     string `json:"phase"`
	// Step is the coordinator's last step, when known.
	Step string `json:"step,omitempty"`
}

// MoveList answers GET /v1/admin/moves.
type MoveList struct {
	Epoch    uint64    `json:"epoch"`
	Moves    []Move    `json:"moves"`
	Reshards []Reshard `json:"reshards"`
}
