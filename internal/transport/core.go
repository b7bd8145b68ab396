package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Defaults shared by both implementations.
const (
	DefaultQueueLen           = 4096
	DefaultMaxFrame           = 64 << 20
	DefaultMaxCallConcurrency = 1024
)

// Internal reasons an enqueue fails; core translates them into counters and
// Call errors.
var (
	errQueueFull = errors.New("transport: send queue full")
	errNoConn    = errors.New("transport: no connection")
)

// lifecycle owns a transport's goroutines: every one is started through
// goFunc, so shutdown can refuse new ones and wait for the rest.
type lifecycle struct {
	ctx    context.Context // cancelled by shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     struct {
		sync.Mutex
		closed bool
	}
}

func newLifecycle() *lifecycle {
	l := &lifecycle{}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l
}

// goFunc runs f on a new goroutine unless shutdown has begun.
func (l *lifecycle) goFunc(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return false
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
	return true
}

// shutdown marks the lifecycle closed and cancels ctx; only the first call
// reports true.
func (l *lifecycle) shutdown() bool {
	l.mu.Lock()
	first := !l.mu.closed
	l.mu.closed = true
	l.mu.Unlock()
	l.cancel()
	return first
}

func (l *lifecycle) closed() bool { return l.ctx.Err() != nil }

// core is the half of a transport that does not care how bytes move: the
// Send policy (faults, copying, counting), the receive dispatch, and RPC on
// top of messages. TCP and memory endpoints embed it and supply enqueue.
type core struct {
	id         uint64
	handlers   Handlers
	faults     *Faults // nil: none
	log        *slog.Logger
	maxPayload int // largest Message.Payload that fits in one frame
	life       *lifecycle
	calls      callTable
	callSlots  chan struct{} // server-side call concurrency
	stats      counters
	// enqueue hands e to the path towards node to. It returns errQueueFull,
	// errNoConn or ErrClosed, and must not block.
	enqueue func(to uint64, e entry) error
}

func newCore(id uint64, h Handlers, f *Faults, log *slog.Logger, maxFrame, maxCalls int) *core {
	return &core{
		id:         id,
		handlers:   h,
		faults:     f,
		log:        log,
		maxPayload: maxFrame - frameMsgOverhead,
		life:       newLifecycle(),
		callSlots:  make(chan struct{}, maxCalls),
	}
}

func (c *core) ID() uint64   { return c.id }
func (c *core) Stats() Stats { return c.stats.snapshot() }

func (c *core) blocked(from, to uint64) bool {
	return c.faults != nil && c.faults.Blocked(from, to)
}

// now stamps entries: zero when there are no faults, so queues stay plain
// FIFOs and Send never reads the clock.
func (c *core) now() time.Time {
	if c.faults == nil {
		return time.Time{}
	}
	return time.Now()
}

// Send implements Transport.Send.
func (c *core) Send(m Message) {
	if c.life.closed() {
		c.stats.droppedNoConn.Add(1)
		return
	}
	if m.Type >= ReservedTypes || len(m.Payload) > c.maxPayload {
		c.stats.droppedInvalid.Add(1)
		return
	}
	m.From = c.id
	var v Verdict
	if c.faults != nil {
		v = c.faults.Decide(c.id, m.To)
	}
	if v.Drop {
		c.stats.droppedFault.Add(1)
		return
	}
	copies := 1
	if v.Duplicate {
		copies = 2
	}
	now := c.now()
	for range copies {
		e := entry{m: m, due: now.Add(v.Delay), held: v.Reorder, heldUntil: now.Add(reorderHold)}
		e.m.Payload = bytes.Clone(m.Payload)
		c.count(c.enqueue(m.To, e))
	}
}

// sendControl queues a transport-internal message; only deterministic cuts
// apply to it.
func (c *core) sendControl(to uint64, typ uint8, payload []byte) error {
	if c.blocked(c.id, to) {
		c.stats.droppedFault.Add(1)
		return fmt.Errorf("%w: link to node %d is cut", ErrUnreachable, to)
	}
	err := c.enqueue(to, entry{m: Message{Type: typ, From: c.id, To: to, Payload: payload}, due: c.now()})
	c.count(err)
	return err
}

func (c *core) count(err error) {
	switch {
	case err == nil:
	case errors.Is(err, errQueueFull):
		c.stats.droppedQueueFull.Add(1)
	default:
		c.stats.droppedNoConn.Add(1)
	}
}

// receive is the single entry point of a message arriving from node from.
// It runs on the link's goroutine.
func (c *core) receive(from uint64, m Message) {
	if c.blocked(from, c.id) {
		c.stats.droppedFault.Add(1)
		return
	}
	c.stats.received.Add(1)
	switch m.Type {
	case typeCallRequest:
		c.serveCall(from, m.Payload)
	case typeCallReply:
		id, r, err := decodeCallReply(m.Payload)
		if err != nil {
			c.stats.droppedInvalid.Add(1)
			return
		}
		c.calls.complete(from, id, r)
	default:
		if m.Type >= ReservedTypes {
			c.stats.droppedInvalid.Add(1)
		} else if c.handlers.Message != nil {
			c.handlers.Message(m)
		}
	}
}

// Call implements Transport.Call.
func (c *core) Call(ctx context.Context, to uint64, req []byte) ([]byte, error) {
	if c.life.closed() {
		return nil, ErrClosed
	}
	if len(req) > c.maxPayload-callOverhead {
		return nil, fmt.Errorf("%w: call request of %d bytes", ErrTooLarge, len(req))
	}
	if c.blocked(c.id, to) || c.blocked(to, c.id) {
		return nil, fmt.Errorf("%w: link to node %d is cut", ErrNotSent, to)
	}
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return nil, fmt.Errorf("transport: call to node %d: %w", to, context.DeadlineExceeded)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("transport: call to node %d: %w", to, err)
	}
	id, pc, err := c.calls.add(to)
	if err != nil {
		return nil, err
	}
	if err := c.sendControl(to, typeCallRequest, encodeCallRequest(id, timeout, req)); err != nil {
		c.calls.remove(id)
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: node %d: %v", ErrNotSent, to, err)
	}
	select {
	case r := <-pc.done:
		if err := expired(ctx); r.err != nil && err != nil {
			// The callee's copy of the deadline fired first; report the
			// caller's own deadline rather than the callee's echo of it.
			return nil, fmt.Errorf("transport: call to node %d: %w", to, err)
		}
		return r.body, r.err
	case <-ctx.Done():
		c.calls.remove(id)
		return nil, fmt.Errorf("transport: call to node %d: %w", to, ctx.Err())
	}
}

// expired is ctx.Err(), also reporting a deadline that has passed before
// ctx's own timer has fired.
func expired(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// serveCall runs the Call handler for one request, bounded by callSlots.
func (c *core) serveCall(from uint64, payload []byte) {
	id, timeout, req, err := decodeCallRequest(payload)
	if err != nil {
		c.stats.droppedInvalid.Add(1)
		return
	}
	if c.handlers.Call == nil {
		c.reply(from, id, nil, errors.New("no call handler"))
		return
	}
	select {
	case c.callSlots <- struct{}{}:
	default:
		c.reply(from, id, nil, errors.New("overloaded"))
		return
	}
	ok := c.life.goFunc(func() {
		defer func() { <-c.callSlots }()
		ctx, cancel := c.life.ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, timeout)
		}
		defer cancel()
		resp, err := c.handlers.Call(ctx, from, req)
		c.reply(from, id, resp, err)
	})
	if !ok {
		<-c.callSlots
	}
}

func (c *core) reply(to, id uint64, body []byte, err error) {
	if err != nil {
		err = remoteMsg(err)
	} else if len(body) > c.maxPayload-callOverhead {
		err = fmt.Errorf("reply of %d bytes too large", len(body))
	}
	_ = c.sendControl(to, typeCallReply, encodeCallReply(id, body, err)) // counted; the caller times out
}

// serveSnapshot runs the Snapshot handler over body, drains what it left,
// and returns the verdict for the sender.
func (c *core) serveSnapshot(from uint64, header []byte, body io.Reader) error {
	var err error
	if c.handlers.Snapshot == nil {
		err = errors.New("no snapshot handler")
	} else {
		err = c.handlers.Snapshot(c.life.ctx, from, header, body)
	}
	if _, derr := io.Copy(io.Discard, body); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return &RemoteError{Msg: remoteMsg(err).Error()}
	}
	return nil
}
