package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Config configures a TCP transport. Zero fields take the documented
// defaults.
type Config struct {
	// ID is this node's ID; it must not be 0 (fault rules use 0 for "all").
	ID uint64
	// ClusterID must match the peer's; connections from another cluster are
	// refused at handshake and logged.
	ClusterID uint64
	// Listen is the address to listen on, e.g. "127.0.0.1:7801". Listener,
	// if set, wins; the transport closes it on Close.
	Listen   string
	Listener net.Listener
	// Resolve is the address book for outgoing connections, called from
	// several goroutines. Without an entry, traffic to that node is dropped
	// (Calls: ErrUnreachable). It is consulted on every dial, so a restarted
	// node may come back at a new address.
	Resolve  func(id uint64) (string, bool)
	Handlers Handlers
	// Faults is this node's fault switchboard; nil means none. See doc.go
	// for which side applies what.
	Faults *Faults
	// Logger gets connection events; nil discards them. Records do not name
	// this node: the owner's logger is expected to (distkv's says node=n1).
	Logger *slog.Logger
	// QueueLen bounds the messages queued per destination (default 4096).
	QueueLen int
	// DialTimeout bounds dialing plus the handshake (default 3s).
	DialTimeout time.Duration
	// WriteTimeout bounds one frame write or snapshot chunk; a peer that
	// stops reading for longer loses its connection (default 10s).
	WriteTimeout time.Duration
	// MaxFrame bounds a frame, a snapshot header and a snapshot chunk, in
	// both directions (default 64 MiB). A larger incoming length closes the
	// connection.
	MaxFrame int
	// MaxCallConcurrency bounds Call handlers running at once; excess calls
	// are answered with RemoteError "overloaded" (default 1024).
	MaxCallConcurrency int
	// ServerTLS, when set, wraps the listener: peers must complete its
	// handshake (with a client certificate it verifies, for mutual TLS)
	// before the transport's own. Refusals are logged.
	ServerTLS *tls.Config
	// ClientTLS, when set, gives the configuration for dialing a peer at
	// host (the host part of its address, which its certificate must
	// name); it is called at every dial, so certificates can change.
	ClientTLS func(host string) *tls.Config
}

func (c *Config) setDefaults() error {
	switch {
	case c.ID == 0:
		return errors.New("transport: Config.ID must not be 0")
	case c.Listener == nil && c.Listen == "":
		return errors.New("transport: Config needs Listen or Listener")
	case c.QueueLen < 0 || c.DialTimeout < 0 || c.WriteTimeout < 0 || c.MaxFrame < 0 || c.MaxCallConcurrency < 0:
		return errors.New("transport: negative Config limit")
	case c.MaxFrame > 0 && c.MaxFrame < 1024:
		return errors.New("transport: Config.MaxFrame below 1 KiB")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.QueueLen, DefaultQueueLen)
	def(&c.MaxFrame, DefaultMaxFrame)
	def(&c.MaxCallConcurrency, DefaultMaxCallConcurrency)
	defDur(&c.DialTimeout, 3*time.Second)
	defDur(&c.WriteTimeout, 10*time.Second)
	if c.Resolve == nil {
		c.Resolve = func(uint64) (string, bool) { return "", false }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// TCP is a Transport over TCP: one long-lived outbound connection per
// destination for messages and RPC, inbound connections read by one
// goroutine each, and a fresh connection per snapshot.
type TCP struct {
	*core
	cfg Config
	ln  net.Listener
	mu  struct {
		sync.Mutex
		peers map[uint64]*peer
		conns map[net.Conn]struct{} // every open connection, for Close
		// warned is when a refusal involving a peer was last logged at
		// warning level; repeats within refusalLogEvery go to debug.
		warned map[uint64]time.Time
	}
}

const refusalLogEvery = 30 * time.Second

// refusalLevel rate-limits refusal warnings per peer: a misconfigured peer
// retries every backoff interval and would otherwise flood the log.
func (t *TCP) refusalLevel(peer uint64) slog.Level {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.warned == nil {
		t.mu.warned = map[uint64]time.Time{}
	}
	if time.Since(t.mu.warned[peer]) < refusalLogEvery {
		return slog.LevelDebug
	}
	t.mu.warned[peer] = time.Now()
	return slog.LevelWarn
}

var _ Transport = (*TCP)(nil)

// NewTCP validates cfg, starts listening and returns the transport.
func NewTCP(cfg Config) (*TCP, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("transport: %w", err)
		}
	}
	if cfg.ServerTLS != nil {
		ln = tls.NewListener(ln, cfg.ServerTLS)
	}
	log := cfg.Logger
	t := &TCP{
		core: newCore(cfg.ID, cfg.Handlers, cfg.Faults, log, cfg.MaxFrame, cfg.MaxCallConcurrency),
		cfg:  cfg,
		ln:   ln,
	}
	t.mu.peers = map[uint64]*peer{}
	t.mu.conns = map[net.Conn]struct{}{}
	t.enqueue = t.enqueueTo
	t.life.goFunc(t.acceptLoop)
	return t, nil
}

// Addr is the listening address.
func (t *TCP) Addr() net.Addr { return t.ln.Addr() }

// Close implements Transport.Close.
func (t *TCP) Close() error {
	if !t.life.shutdown() {
		return nil
	}
	err := t.ln.Close()
	t.calls.close()
	t.mu.Lock()
	for c := range t.mu.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.life.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// track registers c for Close, or reports false if closing has begun.
func (t *TCP) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.life.closed() {
		return false
	}
	t.mu.conns[c] = struct{}{}
	return true
}

func (t *TCP) closeConn(c net.Conn) {
	t.mu.Lock()
	delete(t.mu.conns, c)
	t.mu.Unlock()
	c.Close()
}

func (t *TCP) acceptLoop() {
	delay := 5 * time.Millisecond
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.life.closed() || errors.Is(err, net.ErrClosed) {
				return
			}
			t.log.Warn("transport: accept failed", "err", err, "retry", delay)
			select {
			case <-time.After(delay):
			case <-t.life.ctx.Done():
				return
			}
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		if !t.track(c) {
			c.Close()
			return
		}
		if !t.life.goFunc(func() { t.serveConn(c) }) {
			t.closeConn(c)
		}
	}
}

// serveConn answers the handshake of an accepted connection and reads it.
func (t *TCP) serveConn(c net.Conn) {
	defer t.closeConn(c)
	if tc, ok := c.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(t.life.ctx, t.cfg.DialTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			t.log.Log(context.Background(), t.refusalLevel(0), "transport: refused a peer's TLS handshake", "remote", c.RemoteAddr(), "err", err)
			return
		}
	}
	h, ok := t.acceptHello(c)
	if !ok {
		return
	}
	switch h.kind {
	case kindMessages:
		t.readMessages(c, h.from)
	case kindSnapshot:
		t.receiveSnapshot(c, h.from)
	}
}

func (t *TCP) acceptHello(c net.Conn) (hello, bool) {
	c.SetDeadline(time.Now().Add(t.cfg.DialTimeout))
	h, err := readHello(c)
	if err != nil {
		t.log.Warn("transport: bad handshake", "remote", c.RemoteAddr(), "err", err)
		return h, false
	}
	status := uint8(ackOK)
	switch {
	case h.version != wireVersion:
		status = ackBadVersion
	case h.cluster != t.cfg.ClusterID:
		status = ackWrongCluster
	case h.to != t.id || h.from == 0:
		status = ackWrongNode
	case h.kind != kindMessages && h.kind != kindSnapshot:
		status = ackBadKind
	}
	ack := hello{version: wireVersion, cluster: t.cfg.ClusterID, from: t.id, to: h.from, kind: status}
	_, err = c.Write(ack.appendTo(nil))
	if status != ackOK {
		t.log.Log(context.Background(), t.refusalLevel(h.from), "transport: refused connection (different cluster or wrong node)", "remote", c.RemoteAddr(), "peer", h.from,
			"peer_cluster", h.cluster, "wanted_node", h.to, "version", h.version, "status", status)
		return h, false
	}
	c.SetDeadline(time.Time{})
	return h, err == nil
}

// readMessages reads frames from peer until the connection fails. Losing it
// fails calls waiting on that peer: their replies would have come this way.
func (t *TCP) readMessages(c net.Conn, from uint64) {
	defer t.calls.failPeer(from, ErrUnreachable)
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		body, err := readBlock(br, t.cfg.MaxFrame)
		if err != nil {
			t.logReadErr(from, err)
			return
		}
		t.stats.framesRead.Add(1)
		t.stats.bytesRead.Add(uint64(frameHdrLen + len(body)))
		err = decodeFrame(body, func(m Message) {
			m.From, m.To = from, t.id
			t.receive(from, m)
		})
		if err != nil {
			t.stats.droppedInvalid.Add(1)
			t.log.Warn("transport: closing connection with malformed frame", "peer", from, "err", err)
			return
		}
	}
}

func (t *TCP) logReadErr(from uint64, err error) {
	switch {
	case errors.Is(err, errFrameTooLarge):
		t.log.Warn("transport: closing connection", "peer", from, "err", err)
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), t.life.closed():
	default:
		t.log.Debug("transport: connection lost", "peer", from, "err", err)
	}
}

// dial connects to node to and completes the handshake for a stream of
// kind. Errors wrap ErrUnreachable, or are ErrClosed or ctx's error.
func (t *TCP) dial(ctx context.Context, to uint64, kind uint8) (net.Conn, error) {
	addr, ok := t.cfg.Resolve(to)
	if !ok {
		return nil, fmt.Errorf("%w: no address for node %d", ErrUnreachable, to)
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	defer cancel()
	stop := context.AfterFunc(t.life.ctx, cancel)
	defer stop()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: node %d at %s: %v", ErrUnreachable, to, addr, err)
	}
	if t.cfg.ClientTLS != nil {
		host, _, _ := net.SplitHostPort(addr)
		tc := tls.Client(c, t.cfg.ClientTLS(host))
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			t.log.Log(context.Background(), t.refusalLevel(to), "transport: TLS handshake with a peer failed", "peer", to, "addr", addr, "err", err)
			return nil, fmt.Errorf("%w: node %d at %s: TLS: %v", ErrUnreachable, to, addr, err)
		}
		c = tc
	}
	if !t.track(c) {
		c.Close()
		return nil, ErrClosed
	}
	if err := t.clientHello(ctx, c, to, kind); err != nil {
		t.closeConn(c)
		return nil, fmt.Errorf("%w: node %d at %s: %v", ErrUnreachable, to, addr, err)
	}
	return c, nil
}

func (t *TCP) clientHello(ctx context.Context, c net.Conn, to uint64, kind uint8) error {
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	h := hello{version: wireVersion, cluster: t.cfg.ClusterID, from: t.id, to: to, kind: kind}
	if _, err := c.Write(h.appendTo(nil)); err != nil {
		return err
	}
	ack, err := readHello(c)
	if err != nil {
		return err
	}
	if ack.kind != ackOK || ack.cluster != t.cfg.ClusterID || ack.from != to {
		t.log.Log(context.Background(), t.refusalLevel(to), "transport: handshake refused (different cluster or wrong node)", "peer", to, "status", ack.kind,
			"peer_cluster", ack.cluster, "peer_id", ack.from)
		return fmt.Errorf("handshake refused (status %d, cluster %d, node %d)", ack.kind, ack.cluster, ack.from)
	}
	if !stop() {
		return ctx.Err()
	}
	return c.SetDeadline(time.Time{})
}
