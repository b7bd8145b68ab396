// Package transport carries framed node-to-node messages, RPCs and snapshot
// streams over TCP, and offers an in-memory network with the same semantics
// for tests.
//
// # Delivery contract
//
// Send is fire-and-forget: it never blocks, and a message is lost when its
// destination queue is full, the destination is down, or a fault says so.
// The layers above (Raft, heartbeats, gossip) already tolerate loss, and a
// transport that blocked or buffered without bound would turn one slow peer
// into a stalled node. What the transport does promise is per-link FIFO
// order: messages from one sender to one receiver arrive in send order,
// except where a fault (delay jitter, reorder) deliberately breaks it.
//
// Call and SendSnapshot are request/response and report failure instead:
// ErrUnreachable when the peer cannot be reached or the connection is lost
// while waiting, the wrapped ctx error when the deadline passes first, and
// *RemoteError for the peer's own refusal or handler error. A Call is never
// retried: a request whose fate is unknown is the caller's to judge.
//
// # Wire format (TCP)
//
// Every connection starts with a 30-byte hello from the dialer, answered by
// one from the acceptor:
//
//	"DKV1" | version u8 | cluster ID u64 | sender ID u64 | target ID u64 | kind u8
//
// All integers are big-endian. The dialer's kind is the stream kind
// (1 messages, 2 snapshot); the acceptor's reply carries its own ID and a
// status in that byte (0 ok, 1 wrong cluster, 2 wrong node, 3 bad kind,
// 4 bad version). A wrong cluster or a target ID that is not the acceptor's
// is refused and logged on both sides, so a stale address book can never
// deliver a message to the wrong node.
//
// A message stream is one-way, dialer to acceptor, and is a sequence of
// frames:
//
//	frame   = length u32 | message...      (length counts the messages' bytes)
//	message = type u8 | payload length uvarint | payload
//
// Sender and receiver IDs come from the hello, not from each message. A
// writer goroutine per destination takes everything queued, encodes it into
// one frame (several only if they would exceed MaxFrame) and writes it with
// a single Write, so a burst of N messages costs one syscall. A frame whose
// length exceeds MaxFrame, or whose messages do not parse, closes the
// connection with a log line; reading never panics on bad bytes, and a huge
// announced length is not allocated before its bytes arrive.
//
// RPC rides on the message streams in the reserved types: a request (250)
// carries a call ID, the caller's remaining deadline in milliseconds (0:
// none) and the request bytes; the reply (251) carries the call ID, a status
// byte and the body or error text, and travels back on the callee's own
// outbound connection to the caller. The callee runs at most
// MaxCallConcurrency handlers and answers the excess with RemoteError
// "overloaded" at once. When either connection to a peer is lost, the calls
// waiting on it fail with ErrUnreachable rather than sitting out their
// deadline.
//
// A snapshot gets a fresh connection of kind snapshot, so megabytes of
// state never queue behind heartbeats:
//
//	header length u32 | header | (chunk length u32 | chunk)... | 0 u32
//
// after which the receiver answers with a status byte (0 ok, 1 error) and a
// length-prefixed message. Header and chunks are bounded by MaxFrame. The
// receiver drains any body its handler left unread before answering, so the
// verdict always follows the whole stream.
//
// Outbound connections are dialed on first use. A failed dial drops what is
// queued, fails waiting calls, and starts an exponential backoff (50ms
// doubling to 2s) during which traffic to that peer is dropped at Send; the
// next Send after it dials again.
//
// # Fault model
//
// Faults is a switchboard of rules: deterministic cuts (partition, cut,
// isolate, freeze) and probabilistic or timing faults (drop, delay with
// jitter, duplicate, reorder). Every random choice is drawn from one seeded
// rng, in rule order, so a failing test replays from its seed; rules may
// expire by a clock.Clock, which tests drive by hand.
//
// On the in-memory network one Faults governs every link. Send asks
// Decide(from, to) once per message: drop it, give it a due time (delay and
// jitter, so jitter may reorder), enqueue it twice, or mark it to be
// overtaken by the next message on its link (held up to 20ms waiting for
// one). Delivery checks Blocked again, so a partition also catches messages
// already in flight.
//
// Over TCP each node has its own Faults, and a cluster-wide fault is one
// applied to every node. Outgoing messages obey Decide(self, to) on the
// sender; incoming messages are dropped if Blocked(from, self), so a cut
// applied on only one node still cuts both directions of its links. Delays
// are applied on the send side only, in the per-destination writer, so they
// never hold up other destinations.
//
// Calls and snapshots obey only the deterministic cuts: probabilistic drops
// or duplicates would make a Call's fate unknowable or run it twice. A Call
// or SendSnapshot across a cut that the caller's Faults know about, in
// either direction, fails at once with ErrUnreachable. A cut known only to
// the callee drops the request on arrival: a Call then ends at ctx's
// deadline (as a silently partitioned peer would), while a snapshot is
// refused by hanging up, which the sender reports as ErrUnreachable.
//
// Delays and reorder holds are measured on the real clock even when the
// Faults clock is manual: they are latencies in flight, not rule lifetimes.
package transport
