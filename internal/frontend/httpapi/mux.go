package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/distkv/distkv/api"
)

// muxRoute is the upgrade endpoint's route pattern.
const muxRoute = "GET " + api.MuxPath

// Bounds of a multiplexed connection.
const (
	// muxInflight bounds the requests one connection runs at once; the
	// reader stops reading (TCP pushes back on the client) until one ends.
	muxInflight = 512
	// muxRequestTimeout bounds one request, as the HTTP server's write
	// timeout bounds a plain request.
	muxRequestTimeout = 60 * time.Second
	// muxWriteTimeout bounds one write of responses to a client that does
	// not read.
	muxWriteTimeout = 30 * time.Second
	// muxMaxResponse bounds one buffered response body (the client's own
	// limit).
	muxMaxResponse = 64 << 20
	// muxHeadroom is what a request frame may hold beyond its body: method,
	// target and headers.
	muxHeadroom = 64 << 10
)

// MuxServer serves multiplexed connections (see api.MuxPath): each framed
// request runs through the node's whole HTTP handler, on its own
// goroutine, and the responses that are ready go back together in one
// write. This saves a client with many concurrent requests most of the
// per-request system calls and parsing of HTTP/1.1.
type MuxServer struct {
	root    http.Handler
	maxBody int64
	log     *slog.Logger

	mu      sync.Mutex
	conns   map[*muxConn]struct{}
	closing bool
	running sync.WaitGroup
}

// NewMuxServer returns a server for requests up to maxBody bytes of body.
// SetRoot must be called before it serves.
func NewMuxServer(maxBody int64, log *slog.Logger) *MuxServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &MuxServer{maxBody: maxBody, log: log, conns: map[*muxConn]struct{}{}}
}

// SetRoot sets the handler that runs every request: the node's whole HTTP
// handler, middleware included.
func (s *MuxServer) SetRoot(root http.Handler) { s.root = root }

// ServeHTTP takes over the connection of an upgrade request and serves
// frames on it until the client closes it or the server closes.
func (s *MuxServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !headerHas(r.Header, "Connection", "upgrade") || !headerHas(r.Header, "Upgrade", api.MuxProtocol) {
		w.Header().Set("Upgrade", api.MuxProtocol)
		writeError(w, http.StatusUpgradeRequired, api.Error{Code: api.CodeInvalid,
			Message: "GET " + api.MuxPath + " needs the headers Connection: Upgrade and Upgrade: " + api.MuxProtocol})
		return
	}
	if s.root == nil {
		writeError(w, http.StatusInternalServerError, api.Error{Code: api.CodeInternal, Message: "multiplexed connections are not set up"})
		return
	}
	s.mu.Lock()
	closing := s.closing
	if !closing {
		s.running.Add(1)
	}
	s.mu.Unlock()
	if closing {
		writeError(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: "node is shutting down"})
		return
	}
	defer s.running.Done()
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, http.StatusInternalServerError, api.Error{Code: api.CodeInternal, Message: "cannot take over the connection: " + err.Error()})
		return
	}
	_ = nc.SetDeadline(time.Time{}) // the HTTP server's timeouts were for one request
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + api.MuxProtocol + "\r\n\r\n")
	if err := brw.Flush(); err != nil {
		nc.Close()
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	c := &muxConn{s: s, nc: nc, br: brw.Reader, host: r.Host, ctx: ctx, cancel: cancel,
		out: make(chan []byte, muxInflight+1), done: make(chan struct{})}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	if s.closing { // Close ran while this connection was being set up
		_ = nc.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	s.log.Debug("multiplexed connection open", "remote", nc.RemoteAddr().String())
	c.serve()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.log.Debug("multiplexed connection closed", "remote", nc.RemoteAddr().String())
}

// Close stops reading new requests on every connection, lets the requests
// in flight finish until ctx ends, then closes the connections.
func (s *MuxServer) Close(ctx context.Context) {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		_ = c.nc.SetReadDeadline(time.Now()) // the reader stops; in-flight requests go on
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.cancel()
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	<-done
}

// muxConn is one multiplexed connection.
type muxConn struct {
	s      *MuxServer
	nc     net.Conn
	br     *bufio.Reader
	host   string
	ctx    context.Context // canceled when the connection ends
	cancel context.CancelFunc
	out    chan []byte // encoded response frames for the writer
	done   chan struct{}
	busy   sync.WaitGroup // requests in flight
}

func (c *muxConn) serve() {
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); c.writer() }()
	c.read()
	c.busy.Wait() // each request is bounded by muxRequestTimeout
	close(c.done)
	<-writerDone
	c.cancel()
	_ = c.nc.Close()
}

// read reads frames until the connection fails or the server closes it,
// starting a goroutine for each request, at most muxInflight at once.
func (c *muxConn) read() {
	sem := make(chan struct{}, muxInflight)
	limit := uint64(c.s.maxBody) + muxHeadroom
	for {
		id, n, err := api.ReadMuxFrameHeader(c.br)
		if err != nil {
			return
		}
		if n > limit {
			// Too large to take: skip it, keeping the connection in step.
			if _, err := io.CopyN(io.Discard, c.br, int64(n)); err != nil {
				return
			}
			c.out <- errorFrame(id, http.StatusRequestEntityTooLarge, api.CodeTooLarge,
				fmt.Sprintf("request of %d bytes exceeds the limit of %d", n, limit))
			continue
		}
		p, err := api.ReadMuxPayload(c.br, n)
		if err != nil {
			return
		}
		req, err := api.ParseMuxRequest(id, p)
		if err != nil {
			c.out <- errorFrame(id, http.StatusBadRequest, api.CodeInvalid, "malformed request frame")
			continue
		}
		sem <- struct{}{}
		c.busy.Add(1)
		go func() {
			defer func() { <-sem; c.busy.Done() }()
			c.out <- c.run(req)
		}()
	}
}

// run serves one request through the root handler and encodes its
// response frame.
func (c *muxConn) run(req *api.MuxRequest) (frame []byte) {
	defer func() {
		if p := recover(); p != nil {
			c.s.log.Error("panic serving a multiplexed request", "request", req.String(), "panic", p)
			frame = errorFrame(req.ID, http.StatusInternalServerError, api.CodeInternal, "internal error")
		}
	}()
	ctx, cancel := context.WithTimeout(c.ctx, muxRequestTimeout)
	defer cancel()
	if !strings.HasPrefix(req.Target, "/") {
		return errorFrame(req.ID, http.StatusBadRequest, api.CodeInvalid, "request target must be a path: "+req.Target)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, req.Target, bytes.NewReader(req.Body))
	if err != nil {
		return errorFrame(req.ID, http.StatusBadRequest, api.CodeInvalid, "bad request: "+err.Error())
	}
	hr.RequestURI = req.Target
	hr.Host = c.host
	hr.RemoteAddr = c.nc.RemoteAddr().String()
	for _, h := range req.Header {
		hr.Header.Add(h.Name, h.Value)
	}
	w := &muxWriter{header: http.Header{}}
	c.s.root.ServeHTTP(w, hr)
	if w.overflow {
		return errorFrame(req.ID, http.StatusInternalServerError, api.CodeInternal,
			fmt.Sprintf("response over %d bytes cannot be sent on a multiplexed connection", muxMaxResponse))
	}
	resp := api.MuxResponse{ID: req.ID, Status: w.status, Body: w.body.Bytes()}
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	for name, vs := range w.header {
		for _, v := range vs {
			resp.Header = append(resp.Header, api.MuxHeader{Name: name, Value: v})
		}
	}
	return api.AppendMuxResponse(nil, &resp)
}

// writer sends response frames, everything ready at once in one write,
// until serve closes done; after a failed write it discards frames, so no
// request goroutine ever blocks on a dead connection.
func (c *muxConn) writer() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	armDeadline := func() { _ = c.nc.SetWriteDeadline(time.Now().Add(muxWriteTimeout)) }
	if err := api.WriteMuxFrames(bw, c.out, c.done, armDeadline); err == nil {
		return
	}
	_ = c.nc.Close() // the reader stops too
	for {
		select {
		case <-c.out:
		case <-c.done:
			return
		}
	}
}

func errorFrame(id uint64, status int, code, msg string) []byte {
	body, _ := json.Marshal(api.ErrorBody{Error: api.Error{Code: code, Message: msg}})
	return api.AppendMuxResponse(nil, &api.MuxResponse{ID: id, Status: status,
		Header: []api.MuxHeader{{Name: "Content-Type", Value: "application/json"}}, Body: body})
}

// muxWriter buffers one response.
type muxWriter struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	overflow bool
}

func (w *muxWriter) Header() http.Header { return w.header }

func (w *muxWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *muxWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.body.Len()+len(b) > muxMaxResponse {
		w.overflow = true
		return 0, errors.New("response too large for a multiplexed connection")
	}
	return w.body.Write(b)
}

// headerHas reports whether header name lists token (comma-separated,
// case-insensitive).
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
