// Package api defines distkv's public HTTP wire types: request and response
// bodies, headers, query parameters and error codes. Servers and clients
// share it; it imports only the standard library.
package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Headers.
const (
	// HeaderNode names the node that answered a request (on every response).
	HeaderNode = "X-Distkv-Node"
	// HeaderVersion carries a key's version on a raw GET.
	HeaderVersion = "X-Distkv-Version"
	// HeaderCausal carries causal metadata in causal namespaces: the token
	// a response returns, and the latest one a client has seen on requests.
	HeaderCausal = "X-Distkv-Causal"
	// HeaderContext carries a leaderless key's causal context: returned by
	// reads, sent back by a write that supersedes what was read.
	HeaderContext = "X-Distkv-Context"
)

// Error codes, in the "code" field of an error body.
const (
	CodeNotFound          = "not_found"            // 404: no such key
	CodeNamespaceNotFound = "namespace_not_found"  // 404: no such namespace
	CodeExists            = "exists"               // 409: create-only write, key present
	CodeVersionMismatch   = "version_mismatch"     // 409: compare-and-set failed
	CodeWrongType         = "wrong_type"           // 409: the key holds a hash (written over Redis), not a string
	CodeNamespaceExists   = "namespace_exists"     // 409: namespace exists with other settings
	CodeInvalid           = "invalid"              // 400: malformed request
	CodeTooLarge          = "too_large"            // 413: key, value or body over its limit
	CodeUnavailable       = "unavailable"          // 503: no quorum; nothing was done
	CodeNotAllReplicas    = "replicas_unavailable" // 503: mode ca: a replica did not acknowledge; rolled back, nothing done
	CodeTimeout           = "timeout"              // 504: deadline passed; a write's outcome is unknown
	CodeForbidden         = "forbidden"            // 403
	CodeUnauthorized      = "unauthorized"         // 401
	CodeCausalDeps        = "causal_dependencies"  // 503: causal dependencies not yet here
	CodeUnsupported       = "unsupported"          // 501: not served by this namespace's mode
	CodeMethodNotAllowed  = "method_not_allowed"   // 405
	CodeConflict          = "conflict"             // 409: the change contradicts the cluster's state
	CodeUnknown           = "unknown"              // 404: no such member, namespace or move
	CodeInternal          = "internal"             // 500
)

// Error is the body of every error response: {"error": {...}}.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// CurrentVersion is the key's version when Code is version_mismatch
	// (0: the key does not exist).
	CurrentVersion uint64 `json:"current_version,omitempty"`
	// OutcomeUnknown is set on a write whose fate is not known.
	OutcomeUnknown bool `json:"outcome_unknown,omitempty"`
	// Key and Holder name, for a conflict with a transaction's lock, the
	// locked key and the transaction holding it.
	Key    string `json:"key,omitempty"`
	Holder string `json:"holder,omitempty"`
}

// ErrorBody wraps Error as it appears on the wire.
type ErrorBody struct {
	Error Error `json:"error"`
}

func (e *Error) String() string { return e.Code + ": " + e.Message }

// Query parameters.
const (
	QueryIf          = "if"          // PUT: "absent" (create-only) or "present" (update-only)
	QueryVersion     = "version"     // PUT, DELETE: compare-and-set on this version
	QueryConsistency = "consistency" // GET: "linearizable" (default) or "stale"
	QueryFormat      = "format"      // GET: "json" for a JSON body instead of the raw value
	QueryPrefix      = "prefix"      // list
	QueryLimit       = "limit"       // list
	QueryAfter       = "after"       // list: continue after this key (the "next" cursor)
	QueryValues      = "values"      // list: "true" to include values
	QueryNamespace   = "ns"          // locate
	QueryR           = "r"           // leaderless reads: replicas to wait for (a number, one, quorum, all)
	QueryW           = "w"           // leaderless writes: replicas to wait for
	QueryContext     = "context"     // leaderless writes: the causal context read (or header X-Distkv-Context)
	QueryCausal      = "causal"      // causal namespaces: the client's token (or header X-Distkv-Causal)
	QueryTxn         = "txn"         // GET, PUT, DELETE: inside this interactive transaction
)

// Consistency levels.
const (
	Linearizable = "linearizable"
	Stale        = "stale"
)

// Write conditions (QueryIf).
const (
	IfAbsent  = "absent"
	IfPresent = "present"
)

// WriteResult answers a successful PUT (201 created, 200 replaced) or DELETE.
type WriteResult struct {
	Key     string `json:"key"`
	Version uint64 `json:"version"`
	Created bool   `json:"created,omitempty"`
	// Context is a leaderless key's new causal context.
	Context string `json:"context,omitempty"`
	// Causal is the client's new token in a causal namespace.
	Causal string `json:"causal,omitempty"`
	// Txn, for a write inside an interactive transaction, names it: the
	// write is buffered until the transaction commits (Version is 0).
	Txn string `json:"txn,omitempty"`
}

// KV is a key with its version and, when asked for, its value. A value
// that is not valid UTF-8 is base64 with Encoding "base64".
type KV struct {
	Key      string  `json:"key"`
	Value    *string `json:"value,omitempty"`
	Encoding string  `json:"encoding,omitempty"`
	Version  uint64  `json:"version"`
	// Siblings are every concurrent value of a leaderless key that kept
	// them (conflicts=siblings); the answer is then 300 Multiple Choices.
	Siblings []Value `json:"siblings,omitempty"`
	// Context is a leaderless key's causal context: send it back with the
	// next write to supersede these values.
	Context string `json:"context,omitempty"`
	// Causal is the client's new token in a causal namespace.
	Causal string `json:"causal,omitempty"`
}

// Value is one value of a key, encoded like KV.Value.
type Value struct {
	Value    string `json:"value"`
	Encoding string `json:"encoding,omitempty"`
}

// ListResult is one page of GET /v1/kv?prefix=...
type ListResult struct {
	Keys []KV `json:"keys"`
	// Next, when set, is the cursor for the next page (pass it as after=).
	Next string `json:"next,omitempty"`
}

// Replicas is a replication factor on the wire: a number, or "all".
type Replicas string

// All is full replication.
const All Replicas = "all"

// MarshalJSON writes a number, or "all".
func (r Replicas) MarshalJSON() ([]byte, error) {
	if n, err := strconv.Atoi(string(r)); err == nil {
		return []byte(strconv.Itoa(n)), nil
	}
	return json.Marshal(string(r))
}

// UnmarshalJSON accepts 3, "3" or "all".
func (r *Replicas) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		*r = Replicas(strconv.Itoa(n))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("replicas must be a number or \"all\", got %s", b)
	}
	*r = Replicas(s)
	return nil
}

// Namespace is a namespace's configuration (PUT /v1/ns/{name} body, and
// listings).
type Namespace struct {
	Name      string   `json:"name,omitempty"`
	ID        uint32   `json:"id,omitempty"`
	Mode      string   `json:"mode,omitempty"`     // strong (default), eventual, causal
	Replicas  Replicas `json:"replicas,omitempty"` // default 3
	Shards    int      `json:"shards,omitempty"`   // default 16
	R         int      `json:"r,omitempty"`
	W         int      `json:"w,omitempty"`
	Conflicts string   `json:"conflicts,omitempty"` // lww or siblings
	// Sharding is how keys map to shards: jump (the default) or mod
	// (namespaces created before jump hashing).
	Sharding string `json:"sharding,omitempty"`
	// Pinned, if set, fixes each shard's nodes instead of the ring:
	// "n1,n2,n3;n4,n5,n6" is shard 0 on n1-n3 and shard 1 on n4-n6
	// (seed 004's shards). The groups partition the nodes they name.
	Pinned string `json:"pinned,omitempty"`
	// Reshard is the change of shard count under way, if any.
	Reshard *Reshard `json:"reshard,omitempty"`
}

// NamespaceList answers GET /v1/ns.
type NamespaceList struct {
	Namespaces []Namespace `json:"namespaces"`
}

// Node states from the failure detector.
const (
	StateAlive   = "alive"
	StateSuspect = "suspect"
	StateDead    = "dead"
)

// Node is one member as GET /v1/cluster reports it.
type Node struct {
	ID         string `json:"id"`
	ClientAddr string `json:"client_addr,omitempty"`
	PeerAddr   string `json:"peer_addr,omitempty"`
	RedisAddr  string `json:"redis_addr,omitempty"`
	FTPAddr    string `json:"ftp_addr,omitempty"`
	// State is the failure detector's view, as seen by the answering node:
	// alive, suspect or dead.
	State string `json:"state"`
	// Membership is the node's place in the cluster, as the coordinator
	// recorded it: joining, active, draining, dead or removed.
	Membership string `json:"membership,omitempty"`
	// LastSeenMs is how long ago the answering node last heard from it.
	LastSeenMs int64 `json:"last_seen_ms,omitempty"`
}

// Shard is one shard's replicas and leader.
type Shard struct {
	Namespace string `json:"namespace"`
	// Mode is the namespace's mode; eventual and causal shards have no
	// leader.
	Mode     string   `json:"mode,omitempty"`
	ID       int      `json:"id"`
	Group    string   `json:"group"`
	Replicas []string `json:"replicas"`
	Leader   string   `json:"leader,omitempty"`
	Term     uint64   `json:"term,omitempty"`
	// Keys is the leader's key count (-1 when no replica answered).
	Keys int64 `json:"keys"`
	// Applied is the leader's applied log index.
	Applied uint64 `json:"applied,omitempty"`
}

// Fault is an active injected fault.
type Fault struct {
	ID     uint64     `json:"id"`
	Kind   string     `json:"kind"`
	Nodes  []string   `json:"nodes,omitempty"`
	Groups [][]string `json:"groups,omitempty"`
	From   string     `json:"from,omitempty"`
	To     string     `json:"to,omitempty"`
	Prob   float64    `json:"prob,omitempty"`
	Delay  string     `json:"delay,omitempty"`
	Jitter string     `json:"jitter,omitempty"`
	Until  string     `json:"until,omitempty"`
	// Node is the node reporting the fault.
	Node string `json:"node,omitempty"`
}

// Cluster answers GET /v1/cluster.
type Cluster struct {
	// Node is the node that answered.
	Node string `json:"node"`
	// ClusterID identifies the cluster (fixed at bootstrap).
	ClusterID uint64 `json:"cluster_id,omitempty"`
	// Coordinator is the metadata group's leader.
	Coordinator string      `json:"coordinator"`
	Epoch       uint64      `json:"epoch"`
	Nodes       []Node      `json:"nodes"`
	Namespaces  []Namespace `json:"namespaces"`
	Shards      []Shard     `json:"shards"`
	Faults      []Fault     `json:"faults,omitempty"`
	// Moves are the replica moves under way.
	Moves []Move `json:"moves,omitempty"`
}

// Location answers GET /v1/locate/{key}.
type Location struct {
	Namespace string   `json:"namespace"`
	Key       string   `json:"key"`
	Shard     int      `json:"shard"`
	Group     string   `json:"group"`
	Replicas  []string `json:"replicas"`
	Leader    string   `json:"leader,omitempty"`
}

// DumpEntry is one line of GET /v1/admin/dump (JSON lines): a key held by
// the answering node's replica of a shard.
type DumpEntry struct {
	Namespace string `json:"namespace"`
	Shard     int    `json:"shard"`
	Key       string `json:"key"`
	Value     string `json:"value"`
	Encoding  string `json:"encoding,omitempty"`
	Version   uint64 `json:"version"`
	// Leader is true when the answering node leads the shard.
	Leader bool `json:"leader,omitempty"`
	// Leaderless namespaces: the key's causal context, its number of live
	// values (siblings), and whether it is a tombstone (Value empty).
	Context  string `json:"context,omitempty"`
	Siblings int    `json:"siblings,omitempty"`
	Deleted  bool   `json:"deleted,omitempty"`
}

// Health answers /healthz and /readyz.
type Health struct {
	Status string `json:"status"` // "ok" or "unavailable"
	Node   string `json:"node"`
	// Reason explains a not-ready answer.
	Reason string `json:"reason,omitempty"`
}

// Fault kinds accepted by POST /v1/admin/faults.
const (
	FaultFreeze    = "freeze"    // Nodes stop all peer and client traffic
	FaultUnfreeze  = "unfreeze"  // undo a freeze of Nodes
	FaultPartition = "partition" // Groups cannot reach each other
	FaultIsolate   = "isolate"   // Nodes cut from every peer (clients still served)
	FaultCut       = "cut"       // one direction, From -> To
	FaultDelay     = "delay"     // added latency (Delay ± Jitter) on messages of Nodes (all if empty)
	FaultDrop      = "drop"      // drop a fraction Prob of messages of Nodes (all if empty)
)

// FaultRequest is the body of POST /v1/admin/faults. For is how long the
// fault lasts before it heals itself ("10s"; empty: until healed).
type FaultRequest struct {
	Kind   string     `json:"kind"`
	Nodes  []string   `json:"nodes,omitempty"`
	Groups [][]string `json:"groups,omitempty"`
	From   string     `json:"from,omitempty"`
	To     string     `json:"to,omitempty"`
	Prob   float64    `json:"prob,omitempty"`
	Delay  string     `json:"delay,omitempty"`
	Jitter string     `json:"jitter,omitempty"`
	For    string     `json:"for,omitempty"`
}

// FaultList answers GET and POST /v1/admin/faults: the node's active faults.
type FaultList struct {
	Node   string  `json:"node"`
	Faults []Fault `json:"faults"`
}

// PlantRequest is the body of POST /v1/admin/plant: put a stale, divergent
// value of a leaderless key on one of its replicas, without replication
// (fault injection: read repair and anti-entropy should undo it).
type PlantRequest struct {
	Namespace string `json:"ns"`
	Node      string `json:"node"`
	Key       string `json:"key"`
	Value     string `json:"value"`
}

// RepairResult answers POST /v1/admin/repair: one anti-entropy round of
// every leaderless shard replica of the answering node.
type RepairResult struct {
	Node string `json:"node"`
	// Keys counts the keys exchanged with other replicas.
	Keys int `json:"keys"`
}

// TxnRequest is a transaction (POST /v1/txn, /v1/ns/{ns}/txn): if every
// comparison holds, the success operations run, else the failure ones, all
// or nothing, over any keys of a strong namespace on any of its shards.
type TxnRequest struct {
	Compare []TxnCompare `json:"compare,omitempty"`
	Success []TxnOp      `json:"success,omitempty"`
	Failure []TxnOp      `json:"failure,omitempty"`
}

// TxnCompare is one condition: the key's version (0: absent), its value,
// or whether it exists, against Version, Value or Exists with Op.
type TxnCompare struct {
	Key     string `json:"key"`
	Target  string `json:"target"`       // version, value or exists
	Op      string `json:"op,omitempty"` // =, !=, < or > (default =)
	Version uint64 `json:"version,omitempty"`
	Value   string `json:"value,omitempty"`
	Exists  bool   `json:"exists,omitempty"`
}

// TxnOp is one operation of a branch: put (with Value), delete or get.
type TxnOp struct {
	Op    string `json:"op"`
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// TxnResponse is a committed transaction.
type TxnResponse struct {
	// Succeeded: the comparisons held and the success branch ran.
	Succeeded bool `json:"succeeded"`
	// Txn names a transaction that spanned shards (two-phase commit).
	Txn string `json:"txn,omitempty"`
	// Shards is how many shards took part.
	Shards int `json:"shards"`
	// Results has one entry per operation of the branch that ran.
	Results []TxnOpResult `json:"results"`
}

// TxnOpResult is an operation's result: a get's value and version (Found
// false: no such key), a put's or a delete's version. A get sees the
// transaction's earlier writes.
type TxnOpResult struct {
	Op      string `json:"op"`
	Key     string `json:"key"`
	Found   bool   `json:"found,omitempty"`
	Value   string `json:"value,omitempty"`
	Version uint64 `json:"version,omitempty"`
}

// Interactive transaction states (TxnState.State).
const (
	TxnActive    = "active"    // reading and buffering writes; nothing locked
	TxnPrepared  = "prepared"  // every participant locked its keys and recorded its writes
	TxnCommitted = "committed" // the commit is recorded; the writes are applied
	TxnAborted   = "aborted"   // rolled back (by the client, a conflict or the timeout)
)

// TxnBegin is the optional body of POST /v1/txn/begin.
type TxnBegin struct {
	// TTLMillis is how long the transaction may stay open, prepared
	// included, before whoever meets its locks may roll it back (default
	// 60000, at most 600000).
	TTLMillis int64 `json:"ttl_ms,omitempty"`
}

// TxnState describes an interactive transaction (POST /v1/txn/begin,
// /v1/txn/{id}/prepare, /commit, /rollback and GET /v1/txn/{id}).
type TxnState struct {
	Txn       string    `json:"txn"`
	Namespace string    `json:"namespace"`
	State     string    `json:"state"`
	Node      string    `json:"node"` // the node holding the transaction (send its requests there)
	Started   time.Time `json:"started"`
	TTLMillis int64     `json:"ttl_ms"`
	// Reads are the keys read and the versions seen (0: absent); prepare
	// fails if any has changed since.
	Reads []TxnRead `json:"reads,omitempty"`
	// Writes are the buffered writes (put or delete), in order.
	Writes []TxnOp `json:"writes,omitempty"`
	// Participants are the shards that prepared (from prepare on).
	Participants []TxnParticipant `json:"participants,omitempty"`
	// Results, once committed, are the writes' new versions.
	Results []TxnOpResult `json:"results,omitempty"`
	// Reason says why an aborted transaction was rolled back.
	Reason string `json:"reason,omitempty"`
}

// TxnRead is a key an interactive transaction read.
type TxnRead struct {
	Key     string `json:"key"`
	Version uint64 `json:"version"`
}

// TxnParticipant is one shard of a prepared transaction.
type TxnParticipant struct {
	Shard int      `json:"shard"`
	Group uint64   `json:"group"`
	Keys  []string `json:"keys"`
	// Record marks the shard holding the transaction's record (its commit
	// point), which is the namespace's shard 0 whether or not it has keys.
	Record bool `json:"record,omitempty"`
}
