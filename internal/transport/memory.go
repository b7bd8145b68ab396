package transport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/distkv/distkv/internal/clock"
)

// Network is an in-memory network for tests: endpoints joined to it
// exchange messages, calls and snapshots with the same semantics as TCP,
// under one shared Faults. Each (sender, receiver) pair has its own bounded
// queue drained by its own goroutine, so a slow receiver stalls only its
// incoming links.
type Network struct {
	faults *Faults
	mu     struct {
		sync.Mutex
		eps map[uint64]*endpoint
	}
}

// NewNetwork returns an empty network. A nil faults gets a fresh
// switchboard (seed 0, real clock) so Faults never returns nil.
func NewNetwork(faults *Faults) *Network {
	if faults == nil {
		faults = NewFaults(0, clock.Real{})
	}
	n := &Network{faults: faults}
	n.mu.eps = map[uint64]*endpoint{}
	return n
}

// Faults returns the switchboard every link of the network obeys.
func (n *Network) Faults() *Faults { return n.faults }

// Join creates the endpoint of node id. Joining again after the previous
// endpoint was Closed models a restart: messages still queued towards id
// reach the new endpoint. Join panics if id is 0 or already joined.
func (n *Network) Join(id uint64, h Handlers) Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	if id == 0 || n.mu.eps[id] != nil {
		panic(fmt.Sprintf("transport: node %d cannot join: zero or already joined", id))
	}
	ep := &endpoint{
		core: newCore(id, h, n.faults, slog.New(slog.DiscardHandler), DefaultMaxFrame, DefaultMaxCallConcurrency),
		net:  n,
	}
	ep.mu.links = map[uint64]*link{}
	ep.enqueue = ep.enqueueTo
	n.mu.eps[id] = ep
	return ep
}

func (n *Network) lookup(id uint64) *endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.eps[id]
}

// endpoint is one node's Transport on a Network.
type endpoint struct {
	*core
	net *Network
	// recvMu is read-held by every delivery into this endpoint, so Close
	// can wait out the ones in progress: no handler runs after Close.
	recvMu sync.RWMutex
	mu     struct {
		sync.Mutex
		links map[uint64]*link // outgoing, by destination
	}
}

// link carries messages from one endpoint to one destination ID.
type link struct {
	from *endpoint
	to   uint64
	wake chan struct{}
	mu   struct {
		sync.Mutex
		q sendQueue
	}
}

func (ep *endpoint) enqueueTo(to uint64, e entry) error {
	if ep.net.lookup(to) == nil {
		return errNoConn
	}
	l := ep.link(to)
	if l == nil {
		return ErrClosed
	}
	l.mu.Lock()
	ok := l.mu.q.push(e)
	l.mu.Unlock()
	if !ok {
		return errQueueFull
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

func (ep *endpoint) link(to uint64) *link {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if l := ep.mu.links[to]; l != nil {
		return l
	}
	l := &link{from: ep, to: to, wake: make(chan struct{}, 1)}
	l.mu.q.limit = DefaultQueueLen
	if !ep.life.goFunc(l.run) {
		return nil
	}
	ep.mu.links[to] = l
	return l
}

// run delivers the link's messages as they become ready, one batch (the
// memory network's "frame") at a time.
func (l *link) run() {
	var batch []Message
	var next time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	st := &l.from.stats
	for {
		l.mu.Lock()
		batch, next = l.mu.q.pop(time.Now(), batch[:0])
		l.mu.Unlock()
		if len(batch) > 0 {
			st.framesWritten.Add(1)
			for _, m := range batch {
				l.deliver(m)
			}
			clear(batch)
			continue
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		} else {
			timer.Stop()
		}
		select {
		case <-l.wake:
		case <-timer.C:
		case <-l.from.life.ctx.Done():
			return
		}
	}
}

func (l *link) deliver(m Message) {
	st := &l.from.stats
	dst := l.from.net.lookup(l.to)
	if dst == nil {
		st.droppedNoConn.Add(1)
		return
	}
	dst.recvMu.RLock()
	defer dst.recvMu.RUnlock()
	if dst.life.closed() {
		st.droppedNoConn.Add(1)
		return
	}
	st.sent.Add(1)
	st.bytesWritten.Add(uint64(len(m.Payload)))
	dst.stats.framesRead.Add(1)
	dst.stats.bytesRead.Add(uint64(len(m.Payload)))
	dst.receive(l.from.id, m)
}

// Close implements Transport.Close. Calls waiting on this node elsewhere in
// the network fail with ErrUnreachable, as a lost connection would make
// them.
func (ep *endpoint) Close() error {
	if !ep.life.shutdown() {
		return nil
	}
	ep.recvMu.Lock() // deliveries in progress finish; later ones see closed
	ep.recvMu.Unlock()
	ep.calls.close()
	ep.life.wg.Wait()
	n := ep.net
	n.mu.Lock()
	if n.mu.eps[ep.id] == ep {
		delete(n.mu.eps, ep.id)
	}
	others := make([]*endpoint, 0, len(n.mu.eps))
	for _, o := range n.mu.eps {
		others = append(others, o)
	}
	n.mu.Unlock()
	for _, o := range others {
		o.calls.failPeer(ep.id, ErrUnreachable)
	}
	return nil
}

// SendSnapshot implements Transport.SendSnapshot: the body flows through a
// pipe to the receiver's handler, so it streams as over TCP.
func (ep *endpoint) SendSnapshot(ctx context.Context, to uint64, header []byte, body io.Reader) error {
	if ep.life.closed() {
		return ErrClosed
	}
	if len(header) > ep.maxPayload {
		return fmt.Errorf("%w: snapshot header of %d bytes", ErrTooLarge, len(header))
	}
	dst := ep.net.lookup(to)
	if dst == nil || ep.blocked(ep.id, to) || ep.blocked(to, ep.id) {
		return fmt.Errorf("%w: node %d", ErrUnreachable, to)
	}
	if body == nil {
		body = bytes.NewReader(nil)
	}
	pr, pw := io.Pipe()
	verdict := make(chan error, 1)
	hdr := bytes.Clone(header)
	if !dst.life.goFunc(func() { verdict <- dst.pipeSnapshot(ep.id, hdr, pr) }) {
		return fmt.Errorf("%w: node %d", ErrUnreachable, to)
	}
	stop := context.AfterFunc(ctx, func() { pw.CloseWithError(ctx.Err()) })
	defer stop()
	if _, err := io.Copy(pw, body); err != nil {
		pw.CloseWithError(err)
		if ctx.Err() != nil {
			return fmt.Errorf("transport: snapshot to node %d: %w", to, ctx.Err())
		}
		return fmt.Errorf("transport: snapshot to node %d: %w", to, err)
	}
	pw.Close()
	select {
	case err := <-verdict:
		return err
	case <-ctx.Done():
		return fmt.Errorf("transport: snapshot to node %d: %w", to, ctx.Err())
	}
}

// pipeSnapshot is the receiving side of SendSnapshot.
func (ep *endpoint) pipeSnapshot(from uint64, header []byte, body *io.PipeReader) error {
	err := ep.serveSnapshot(from, header, body)
	if ep.life.closed() {
		err = fmt.Errorf("%w: node %d closed", ErrUnreachable, ep.id)
	}
	body.CloseWithError(err) // unblock a sender still writing
	return err
}
