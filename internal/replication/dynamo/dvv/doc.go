// Package dvv tracks causality for one key of a leaderless store with
// dotted version vectors and stamps writes with a hybrid logical clock.
//
// # Model
//
// A key's state at a replica is a Set: a causal context (a VV naming every
// write the replica has seen for the key, or that a write it has seen was
// made after) and the siblings, the seen writes that no other seen write
// supersedes. Each sibling carries its Dot, the unique name its coordinator
// gave it. This is the "dotted causal container" form of Almeida et al.'s
// dotted version vectors: the dot is kept apart from the context, so a
// write is exactly as concurrent as the client's context says it is, and
// siblings never multiply beyond the truly concurrent writes.
//
// The context is a plain VV, not a set of dots, because every state's seen
// set is downward closed per node: node n issues dots n:1, n:2, ... for a
// key in order, each from a state that already holds all earlier ones. That
// holds as long as the engine keeps two rules:
//
//   - A coordinator calls Update on its own latest, durable state of the
//     key, so that state holds every dot the node has issued for it.
//   - Replicas exchange whole Sets (Merge), never single siblings.
//
// Under those rules Merge is a join: commutative, associative and
// idempotent, so replicas that have exchanged everything are Equal
// whatever the order, loss or duplication of messages on the way.
//
// # Last writer wins
//
// ResolveLWW keeps only the sibling with the greatest (Stamp, Dot) and
// leaves the others' dots in the context, so they stay discarded wherever
// they show up. Replicas resolving at different times agree on the outcome
// only if stamps never contradict causality (a write is stamped after every
// write its context covers): otherwise two replicas can discard each
// other's winner and lose both writes (testdata/lww shows how). Update
// enforces this for the writes it supersedes in the state it is given, so
// under LWW it is safe to pass Update a nil ctx (a blind write) or the
// coordinator's own s.Context. A client's context from elsewhere is safe
// only if ts comes from a Clock that has observed (Clock.Update) the stamps
// of every write that context covers.
//
// A dot with counter 0 is covered by every context, even an empty one, so a
// sibling carrying it is superseded by any real state it meets. Real writes
// never get one; the engine uses it to plant a stale, divergent value on a
// replica (fault injection) that read repair and anti-entropy then undo.
package dvv
