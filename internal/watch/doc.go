// Package watch is the change-event hub: applied writes go in, in each
// shard's log order, and every subscriber whose filter matches receives them
// through its own bounded buffer.
//
// # What a hub sees
//
// A node's hub sees the writes applied by the shard replicas the node hosts.
// The node package feeds it from the kv state machines' change hook, which
// runs on the Raft loop after each batch commits, one call per shard in log
// order. With the default placement (3 replicas on 3 nodes) every node
// hosts every shard, so every hub sees every write; in a larger cluster a
// hub sees only the shards its node replicates. A replica that catches up by
// installing a snapshot applies no individual writes, so its hub sees none
// of the writes the snapshot covers.
//
// # Order
//
// Events of one key arrive in version order with no duplicates and no gaps
// (among the events the hub was given), also across a subscription's switch
// from replayed history to live events: Subscribe takes the history
// snapshot and registers the subscriber under the lock Publish holds. Events
// of different keys are delivered in the order they were published, which
// for keys of different shards means no particular order.
//
// # Resuming
//
// The hub keeps the last Config.History events of each namespace. A
// subscriber that passes Filter.From first receives every retained event of
// a matching key whose version is greater than From, then live events.
// Versions are Raft indexes, counted per shard, so From is exact for a
// single-key watch. For a prefix it is not: the hub replays every retained
// matching event with a larger version, whatever its shard, so a resuming
// client should pass the smallest last-seen version of any shard it follows
// and drop replayed events at or below what it already saw of their shard.
//
// Subscribe refuses From with ErrTooOld when an event the subscriber would
// need may be missing. The hub tracks, per shard, the version up to which
// its history is incomplete: the version before the first event it saw of
// the shard (it knows nothing of writes applied before it started, such as
// before a node restart), raised by every event it evicts. A single-key
// watch is checked against its key's shard when the key has a retained
// event; otherwise, and for a prefix, against every shard the hub has seen.
// A shard the hub has never seen is taken to be complete, unless the node
// seeded it (Seed): at startup and after installing a snapshot the node
// raises a shard's floor to its applied version, so a client resuming on a
// restarted node is told what it cannot replay rather than left with a gap.
//
// To read a value and then follow its changes, subscribe without From first,
// read, and ignore events at or below the version read: that needs no
// history at all.
//
// # Slow subscribers
//
// Publish never waits for a subscriber. A subscriber whose buffer is full
// when an event arrives is dropped: it receives one final event with Op
// OpLagged and its channel is closed. It may resubscribe with From set to
// the last version it saw.
package watch
