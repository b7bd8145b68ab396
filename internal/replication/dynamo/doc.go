// Package dynamo is distkv's leaderless replication engine, serving
// eventual and causal namespaces beside Raft.
//
// # Eventual namespaces
//
// A key's preference list is its shard's replicas from the shard map (the
// first N distinct nodes clockwise on the ring from the shard's point). Any
// node takes a request. A write is coordinated by the first replica the
// failure detector thinks alive (a node that is not a replica forwards it
// there, one hop): the coordinator folds the write into its stored state of
// the key as a new sibling with a fresh dot (dotted version vectors, package
// dvv), superseding every sibling the client's causal context covers, stores
// it, and sends the resulting state to the other replicas, which merge it.
// The write succeeds once W replicas (the coordinator included) have it on
// disk. A replica the detector thinks down is replaced by the next node
// clockwise on the ring beyond the preference list (sloppy quorum), which
// stores the state as a hint naming the intended owner and delivers it when
// the owner is back. A read asks the live replicas, returns once R
// answered, merges their states, and writes the merged state back to any
// replica that answered with less (read repair).
//
// With conflicts=siblings concurrent writes are all kept and returned
// together with their causal context; a write carrying that context
// resolves them. With conflicts=lww every state is reduced to the sibling
// with the greatest hybrid-logical-clock stamp, and discarded writes are
// counted.
//
// Anti-entropy: every replica keeps a Merkle tree per shard (package
// merkle) updated on every store; periodically each replica compares its
// tree with a random other replica's and both exchange the keys of the
// buckets that differ. Deletes are tombstones; a tombstone is removed only
// once every replica holds the same tombstone and it is older than the GC
// grace period (so no hint or repair in flight can bring the old value
// back).
//
// # Causal namespaces
//
// Every node keeps, per causal namespace, a vector V of how many writes
// originated at each node it has applied. A write is accepted by a replica
// of its key (others forward it), which gives it the next sequence number
// of its own origin counter and the client's token as dependencies,
// applies it locally, logs it durably, and broadcasts it to every node.
// A node applies a received write only when V covers its dependencies and
// every earlier write of the same origin (causal delivery); nodes that do
// not replicate the key's shard only advance V, so one vector covers every
// shard. Origins retransmit logged writes to nodes whose acknowledged V
// lags, and prune what everyone has. A request carries the client's token;
// a node whose V does not cover it waits (bounded) and then refuses with
// ErrCausalDeps, so it never serves state older than what the client has
// seen. Responses return V joined with the token.
package dynamo
