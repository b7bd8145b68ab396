package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// Message is one unit sent between nodes. Payload is opaque to the
// transport.
type Message struct {
	// Type is chosen by the layer above (e.g. raft=1, heartbeat=2). Types
	// >= ReservedTypes belong to the transport's own RPC; Send drops them.
	Type uint8
	// From is set by the transport to the sender's ID; whatever the caller
	// of Send puts here is overwritten.
	From uint64
	To   uint64
	// Payload is copied by Send, so the caller may reuse its buffer once
	// Send returns. The receiver owns the slice it is handed.
	Payload []byte
}

// ReservedTypes is the first Message.Type kept for the transport itself.
const ReservedTypes = 250

const (
	typeCallRequest = 250 // payload: call envelope, see rpc.go
	typeCallReply   = 251
)

// Handlers are the callbacks of the layer above. Any may be nil, and then
// that traffic is dropped (messages) or refused with a *RemoteError (calls,
// snapshots).
type Handlers struct {
	// Message is called for every delivered one-way message, on the
	// receiving goroutine of the link: it must not block (enqueue and
	// return). Messages from one sender arrive in send order unless a fault
	// reorders them.
	Message func(m Message)
	// Call serves an RPC from a peer on its own goroutine; ctx carries the
	// caller's remaining deadline and is cancelled when the transport
	// closes. A returned error reaches the caller as *RemoteError.
	Call func(ctx context.Context, from uint64, req []byte) ([]byte, error)
	// Snapshot receives a snapshot stream. Whatever body the handler leaves
	// unread is drained by the transport before the verdict is sent back;
	// the sender's SendSnapshot returns the error (as *RemoteError) or nil.
	Snapshot func(ctx context.Context, from uint64, header []byte, body io.Reader) error
}

// Transport moves messages, calls and snapshots between nodes. *TCP and the
// endpoints of a Network implement it; all methods are safe for concurrent
// use.
type Transport interface {
	// ID is this node's ID.
	ID() uint64
	// Send queues m for delivery to m.To and never blocks. Queues are bounded
	// per destination; when full, or when the destination cannot be
	// reached, the message is dropped and counted in Stats. Everything
	// queued for one destination is written as one frame.
	Send(m Message)
	// Call sends req to node to and waits for the reply, ctx's deadline or
	// cancellation. Errors: ErrUnreachable (no connection, link cut or lost
	// while waiting), ErrClosed, ErrTooLarge, ctx.Err() wrapped, or
	// *RemoteError. A Call is never retried by the transport.
	Call(ctx context.Context, to uint64, req []byte) ([]byte, error)
	// SendSnapshot streams header and body to node to over a stream
	// separate from the message stream and waits for the receiver's
	// verdict. A nil body is empty. Errors are those of Call plus any error
	// reading body.
	SendSnapshot(ctx context.Context, to uint64, header []byte, body io.Reader) error
	// Stats returns a snapshot of the counters.
	Stats() Stats
	// Close stops every goroutine of the transport and waits for them,
	// including running Call and Snapshot handlers (whose ctx it cancels).
	// Pending Calls fail with ErrClosed. Close is idempotent.
	Close() error
}

// Errors returned by transports. Test with errors.Is.
var (
	// ErrUnreachable means no connection to the peer could be made, a fault
	// cuts the link, or the connection was lost while a Call waited.
	ErrUnreachable = errors.New("transport: peer unreachable")
	// ErrNotSent wraps ErrUnreachable when the transport knows a Call's
	// request never left this node (the link was cut, no connection could
	// be made before it was written, or its queue refused it), so the
	// callee cannot have acted on it and the caller may safely try
	// elsewhere. An ErrUnreachable without it promises nothing either way.
	ErrNotSent = fmt.Errorf("%w: request not sent", ErrUnreachable)
	// ErrClosed means the local transport is closed.
	ErrClosed = errors.New("transport: closed")
	// ErrTooLarge means a request or snapshot header does not fit in one
	// frame (Config.MaxFrame).
	ErrTooLarge = errors.New("transport: message too large")
)

// RemoteError is an error returned by the peer's handler, or the peer's
// refusal to serve (for example "overloaded" when its call concurrency is
// exhausted).
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return "transport: remote: " + e.Msg }

// Stats are cumulative counters of one transport. Messages include the
// transport's own RPC messages.
type Stats struct {
	MessagesSent     uint64 // handed to a connection (memory: to a link)
	MessagesReceived uint64 // delivered to this node (before handler dispatch)
	// Dropped messages, by reason.
	DroppedQueueFull uint64 // destination queue at QueueLen
	DroppedFault     uint64 // a fault rule, on the send or the receive side
	DroppedNoConn    uint64 // destination down, unknown or lost with the message queued
	DroppedInvalid   uint64 // reserved type, too large, or undecodable
	FramesWritten    uint64 // memory network: delivery batches
	FramesRead       uint64
	BytesWritten     uint64 // frame bytes on the wire (memory: payload bytes)
	BytesRead        uint64
}

// counters is the live, atomic form of Stats.
type counters struct {
	sent, received                                atomic.Uint64
	droppedQueueFull, droppedFault, droppedNoConn atomic.Uint64
	droppedInvalid, framesWritten, framesRead     atomic.Uint64
	bytesWritten, bytesRead                       atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		MessagesSent:     c.sent.Load(),
		MessagesReceived: c.received.Load(),
		DroppedQueueFull: c.droppedQueueFull.Load(),
		DroppedFault:     c.droppedFault.Load(),
		DroppedNoConn:    c.droppedNoConn.Load(),
		DroppedInvalid:   c.droppedInvalid.Load(),
		FramesWritten:    c.framesWritten.Load(),
		FramesRead:       c.framesRead.Load(),
		BytesWritten:     c.bytesWritten.Load(),
		BytesRead:        c.bytesRead.Load(),
	}
}
