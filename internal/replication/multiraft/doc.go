// Package multiraft runs many Raft groups on one node over go.etcd.io/raft/v3
// RawNodes, sharing one loop goroutine, one storage batch per cycle and
// fsyncs pipelined behind the loop. It is the only package that imports etcd-io/raft.
//
// # The cycle
//
// Everything that touches a RawNode happens on the Host's loop goroutine.
// Callers (the transport, proposers, readers) append events to a bounded
// queue and wake the loop. Each cycle:
//
//  1. drains the queue: steps incoming messages, hands proposals to their
//     group's leader, and gathers linearizable reads into one ReadIndex
//     round per group; a tick advances every group's logical clock;
//  2. collects the Ready of every group that has one and is not staged
//     (its previous Ready still waiting for an fsync);
//  3. writes all of them into one engine batch: log entries, HardState,
//     installed snapshots, and then the committed entries applied by each
//     group's StateMachine with its new applied state;
//  4. commits the batch without sync, sends a leader's appends and
//     heartbeats at once, and, if any Ready required durability, asks the
//     syncer goroutine for an fsync of the WAL; the groups are now staged;
//  5. answers the proposers whose entries were applied: committed entries
//     are durable on a majority already, so only the entries the batch
//     appends wait for its fsync;
//  6. releases, in order, every staged cycle that a completed fsync covers
//     (or that needed none): sends the remaining messages, records read
//     indexes and releases reads whose index is applied, and calls Advance.
//
// While one fsync runs the loop keeps handling events and staging other
// groups, so the next fsync covers all of them (group commit across
// cycles). No append is acknowledged and no vote cast before the fsync
// that covers it; the syncer reports completion through an atomic and a
// non-blocking wake, never through the bounded event queue, which may drop.
// In Manual mode the fsync runs inline, so transcripts stay deterministic.
//
// Applying committed entries in the same batch as the log write is safe
// because the batch is atomic: after a crash either both are present or
// neither, and Raft replays from the persisted applied index.
//
// # Proposals
//
// Every entry is framed with the proposing node and a proposal ID. A
// proposal is answered exactly once: with the state machine's result when
// its entry applies; with ErrDropped when a different entry takes its log
// index (it can never commit, so a retry is safe); with ErrUnknownOutcome
// when the caller's deadline passes after the entry reached Raft. A
// proposal made on a follower fails with *NotLeaderError before anything
// happens — Raft's own proposal forwarding is off, because the kv layer
// forwards whole requests to the leader instead.
//
// # Reads
//
// ReadBarrier implements ReadIndex (Raft thesis §6.4): all barriers queued
// for a group in one cycle share a single round. When Raft reports the
// round's read index and the group has applied it, every waiter is
// released and may read the engine directly. Followers serve barriers too
// while the group has a known leader: Raft asks the leader for the index
// (MsgReadIndex), which confirms it with a heartbeat quorum. Any leader
// change fails the rounds still waiting for an index; callers retry.
//
// # Snapshots and truncation
//
// See snapshot.go. Logs are truncated to LogKeep entries behind the applied
// index; a follower further behind is sent a snapshot of the group's
// replicated key range.
package multiraft
