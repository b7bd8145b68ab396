package transport

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Reconnect backoff after a failed dial. While it runs, traffic to the peer
// is dropped at Send; the next Send after it dials again.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// peer is the outbound side of one destination: a bounded queue, drained
// by one writer goroutine that owns the connection's writes.
type peer struct {
	t    *TCP
	id   uint64
	wake chan struct{} // cap 1: "the queue changed"
	mu   struct {
		sync.Mutex
		q         sendQueue
		conn      net.Conn  // nil while disconnected
		downUntil time.Time // dial failed: drop traffic until then
		backoff   time.Duration
	}
}

// enqueueTo is TCP's core.enqueue.
func (t *TCP) enqueueTo(to uint64, e entry) error {
	p := t.peer(to)
	if p == nil {
		return ErrClosed
	}
	return p.push(e)
}

// peer returns the outbound state of node id, starting its writer on first
// use; nil once the transport is closing.
func (t *TCP) peer(id uint64) *peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.mu.peers[id]; p != nil {
		return p
	}
	p := &peer{t: t, id: id, wake: make(chan struct{}, 1)}
	p.mu.q.limit = t.cfg.QueueLen
	if !t.life.goFunc(p.run) {
		return nil
	}
	t.mu.peers[id] = p
	return p
}

func (p *peer) push(e entry) error {
	p.mu.Lock()
	switch {
	case !p.mu.downUntil.IsZero() && time.Now().Before(p.mu.downUntil):
		p.mu.Unlock()
		return errNoConn
	case !p.mu.q.push(e):
		p.mu.Unlock()
		return errQueueFull
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// run is the writer: it takes everything ready, encodes it into one frame
// and writes it with one call, until the transport closes.
func (p *peer) run() {
	var (
		batch []Message
		buf   []byte
		next  time.Time
	)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		batch, next = p.mu.q.pop(time.Now(), batch[:0])
		p.mu.Unlock()
		if len(batch) > 0 {
			buf = p.write(batch, buf[:0])
			clear(batch) // release payloads while idle
			if cap(buf) > 4<<20 {
				buf = nil // don't pin a burst's buffer forever
			}
			continue
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		} else {
			timer.Stop()
		}
		select {
		case <-p.wake:
		case <-timer.C:
		case <-p.t.life.ctx.Done():
			return
		}
	}
}

// write sends batch on the connection, dialing first if needed. Messages
// that cannot be written are counted as dropped.
func (p *peer) write(batch []Message, buf []byte) []byte {
	t := p.t
	conn := p.connect(batch)
	if conn == nil {
		t.stats.droppedNoConn.Add(uint64(len(batch)))
		return buf
	}
	buf, frames, dropped := appendFrames(buf, batch, t.cfg.MaxFrame)
	t.stats.droppedInvalid.Add(uint64(dropped))
	if frames == 0 {
		return buf
	}
	conn.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
	if _, err := conn.Write(buf); err != nil {
		t.log.Debug("transport: write failed", "peer", p.id, "err", err)
		t.stats.droppedNoConn.Add(uint64(len(batch) - dropped))
		p.lost(conn)
		return buf
	}
	t.stats.sent.Add(uint64(len(batch) - dropped))
	t.stats.framesWritten.Add(uint64(frames))
	t.stats.bytesWritten.Add(uint64(len(buf)))
	return buf
}

// connect returns the live connection, dialing if there is none. On
// failure it drops the queue, starts the backoff and fails pending calls:
// those whose requests are in batch or the queue with ErrNotSent (they
// never left), the others with ErrUnreachable.
func (p *peer) connect(batch []Message) net.Conn {
	p.mu.Lock()
	c := p.mu.conn
	p.mu.Unlock()
	if c != nil {
		return c
	}
	c, err := p.t.dial(p.t.life.ctx, p.id, kindMessages)
	if err != nil {
		p.t.calls.failCalls(callIDs(batch), fmt.Errorf("%w: %v", ErrNotSent, err))
		p.down(err)
		return nil
	}
	p.mu.Lock()
	p.mu.conn = c
	p.mu.backoff = 0
	p.mu.downUntil = time.Time{}
	p.mu.Unlock()
	if !p.t.life.goFunc(func() { p.watch(c) }) {
		p.lost(c)
		return nil
	}
	p.t.log.Info("transport: peer reachable", "peer", p.id)
	return c
}

func (p *peer) down(err error) {
	p.mu.Lock()
	unsent, dropped := p.mu.q.drain()
	first := p.mu.backoff == 0
	p.mu.backoff = min(max(2*p.mu.backoff, minBackoff), maxBackoff)
	p.mu.downUntil = time.Now().Add(p.mu.backoff)
	backoff := p.mu.backoff
	p.mu.Unlock()
	p.t.stats.droppedNoConn.Add(uint64(dropped))
	p.t.calls.failCalls(unsent, fmt.Errorf("%w: %v", ErrNotSent, err))
	p.t.calls.failPeer(p.id, ErrUnreachable)
	if first && !p.t.life.closed() {
		p.t.log.Warn("transport: peer unreachable", "peer", p.id, "err", err, "retry_in", backoff)
	}
}

// watch reads the outbound connection, on which the peer never writes, to
// notice promptly when it goes away.
func (p *peer) watch(c net.Conn) {
	var b [64]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			p.lost(c)
			return
		}
	}
}

// lost forgets a failed connection and fails the calls waiting on the peer.
func (p *peer) lost(c net.Conn) {
	p.mu.Lock()
	current := p.mu.conn == c
	if current {
		p.mu.conn = nil
	}
	p.mu.Unlock()
	p.t.closeConn(c)
	if current { // the writer and watch both report a loss; fail calls once
		p.t.calls.failPeer(p.id, ErrUnreachable)
	}
}

// callIDs returns the IDs of the call requests among msgs.
func callIDs(msgs []Message) []uint64 {
	var ids []uint64
	for _, m := range msgs {
		if m.Type == typeCallRequest {
			if id, _, _, err := decodeCallRequest(m.Payload); err == nil {
				ids = append(ids, id)
			}
		}
	}
	return ids
}
