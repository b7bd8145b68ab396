package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/distkv/distkv/api"
)

// Bounds of a multiplexed connection, client side.
const (
	// muxQueue bounds the request frames waiting for the writer; a caller
	// waits (within its deadline) when it is full.
	muxQueue = 1024
	// muxDialTimeout bounds connecting and upgrading when the call's own
	// deadline is further away, and each write to a node that stopped
	// reading.
	muxDialTimeout = 5 * time.Second
	// muxHeadroom is what a response frame may hold beyond its body.
	muxHeadroom = 64 << 10
)

// muxPool holds one multiplexed connection per endpoint (Config.Multiplex).
// It is shared by every copy of a Client.
type muxPool struct {
	mu     sync.Mutex
	slots  map[string]*muxSlot // by base URL
	closed bool
	tls    *tls.Config // for https endpoints; nil: Go's defaults
}

// muxSlot is an endpoint's connection, redialed when it dies. dial holds
// mu, so concurrent callers wait for one dial (bounded by muxDialTimeout)
// instead of each opening a connection.
type muxSlot struct {
	mu          sync.Mutex
	conn        *muxConn
	unsupported bool // the node answered the upgrade with "no such endpoint"
}

func newMuxPool(tc *tls.Config) *muxPool { return &muxPool{slots: map[string]*muxSlot{}, tls: tc} }

// errMuxUnsupported: the endpoint does not serve multiplexed connections;
// the caller uses plain HTTP.
var errMuxUnsupported = errors.New("endpoint does not serve multiplexed connections")

// roundTrip sends r to base on its multiplexed connection and waits for
// the answer. sent is false when the request certainly never left this
// process. errMuxUnsupported means: use plain HTTP for this endpoint.
func (p *muxPool) roundTrip(ctx context.Context, base string, r *request) (resp *response, sent bool, err error) {
	c, err := p.conn(ctx, base)
	if err != nil {
		return nil, false, err
	}
	return c.roundTrip(ctx, r)
}

// conn returns base's live connection, dialing one if needed.
func (p *muxPool) conn(ctx context.Context, base string) (*muxConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("client is closed")
	}
	s := p.slots[base]
	if s == nil {
		s = &muxSlot{}
		p.slots[base] = s
	}
	p.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unsupported {
		return nil, errMuxUnsupported
	}
	if s.conn != nil && !s.conn.dead() {
		return s.conn, nil
	}
	c, err := dialMux(ctx, base, p.tls)
	if errors.Is(err, errMuxUnsupported) {
		s.unsupported = true
	}
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.fail(errors.New("client is closed"))
		return nil, errors.New("client is closed")
	}
	p.mu.Unlock()
	s.conn = c
	return c, nil
}

// close ends every connection.
func (p *muxPool) close() {
	p.mu.Lock()
	p.closed = true
	slots := p.slots
	p.mu.Unlock()
	for _, s := range slots {
		s.mu.Lock()
		if s.conn != nil {
			s.conn.fail(errors.New("client closed"))
		}
		s.mu.Unlock()
	}
}

// dialMux connects to base and upgrades the connection.
func dialMux(ctx context.Context, base string, tc *tls.Config) (*muxConn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, muxDialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "https" {
		cfg := &tls.Config{}
		if tc != nil {
			cfg = tc.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tlsConn := tls.Client(nc, cfg)
		if err := tlsConn.HandshakeContext(dctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tlsConn
	}
	if dl, ok := dctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	_, err = io.WriteString(nc, "GET "+api.MuxPath+" HTTP/1.1\r\nHost: "+u.Host+
		"\r\nConnection: Upgrade\r\nUpgrade: "+api.MuxProtocol+"\r\n\r\n")
	if err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	hr, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("upgrading to a multiplexed connection: %w", err)
	}
	if hr.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, io.LimitReader(hr.Body, 64<<10))
		hr.Body.Close()
		nc.Close()
		switch hr.StatusCode {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return nil, errMuxUnsupported
		}
		return nil, fmt.Errorf("upgrading to a multiplexed connection: HTTP %d", hr.StatusCode)
	}
	_ = nc.SetDeadline(time.Time{})
	c := &muxConn{nc: nc, br: br, out: make(chan []byte, muxQueue), done: make(chan struct{}),
		pending: map[uint64]chan *api.MuxResponse{}}
	go c.reader()
	go c.writer()
	return c, nil
}

// muxConn is one multiplexed connection: a writer goroutine sends every
// queued request frame in one write, a reader goroutine hands each
// response to the call waiting for its ID.
type muxConn struct {
	nc   net.Conn
	br   *bufio.Reader
	out  chan []byte
	done chan struct{} // closed by fail

	mu      sync.Mutex
	pending map[uint64]chan *api.MuxResponse
	nextID  uint64
	err     error
}

func (c *muxConn) dead() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// fail ends the connection with err; calls waiting on it return err.
func (c *muxConn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	close(c.done)
	c.mu.Unlock()
	_ = c.nc.Close()
}

func (c *muxConn) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *muxConn) roundTrip(ctx context.Context, r *request) (*response, bool, error) {
	ch := make(chan *api.MuxResponse, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, false, err
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	mr := api.MuxRequest{ID: id, Method: r.method, Target: r.path, Body: r.body}
	if len(r.query) > 0 {
		mr.Target += "?" + r.query.Encode()
	}
	if r.body != nil {
		mr.Header = append(mr.Header, api.MuxHeader{Name: "Content-Type", Value: "application/octet-stream"})
	}
	if len(r.causal) > 0 {
		mr.Header = append(mr.Header, api.MuxHeader{Name: api.HeaderCausal, Value: strings.Join(r.causal, ",")})
	}
	select {
	case c.out <- api.AppendMuxRequest(nil, &mr):
	case <-c.done:
		return nil, false, c.failure()
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	select {
	case resp := <-ch:
		h := make(http.Header, len(resp.Header))
		for _, kv := range resp.Header {
			h.Add(kv.Name, kv.Value)
		}
		return &response{status: resp.Status, header: h, body: resp.Body}, true, nil
	case <-c.done:
		return nil, true, c.failure()
	case <-ctx.Done():
		return nil, true, ctx.Err()
	}
}

func (c *muxConn) reader() {
	for {
		id, n, err := api.ReadMuxFrameHeader(c.br)
		if err != nil {
			c.fail(fmt.Errorf("multiplexed connection: %w", err))
			return
		}
		if n > maxResponseBytes+muxHeadroom {
			c.fail(fmt.Errorf("multiplexed connection: response of %d bytes over the limit", n))
			return
		}
		p, err := api.ReadMuxPayload(c.br, n)
		if err != nil {
			c.fail(fmt.Errorf("multiplexed connection: %w", err))
			return
		}
		resp, err := api.ParseMuxResponse(id, p)
		if err != nil {
			c.fail(fmt.Errorf("multiplexed connection: response %d: %w", id, err))
			return
		}
		c.mu.Lock()
		ch := c.pending[id] // absent when its caller gave up
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- resp: // buffered for the one response of each ID
			default: // a duplicate ID from a confused server: drop it
			}
		}
	}
}

func (c *muxConn) writer() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	armDeadline := func() { _ = c.nc.SetWriteDeadline(time.Now().Add(muxDialTimeout)) }
	if err := api.WriteMuxFrames(bw, c.out, c.done, armDeadline); err != nil {
		c.fail(fmt.Errorf("multiplexed connection: %w", err))
	}
}
