package resp

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"
)

// conn is one client connection. Its fields belong to the connection's
// goroutine, except nc, which Server.Close may close.
type conn struct {
	srv *Server
	nc  net.Conn
	r   *reader
	w   *writer
	id  uint64
	// ctx is the parent of the connection's commands: cancelled when the
	// connection ends or the server closes.
	ctx    context.Context
	cancel context.CancelFunc

	ns string // the namespace commands address ("": the default)
	// multi is the MULTI being queued (nil: none); watched are the WATCHed
	// keys' versions (0: absent) for the next EXEC.
	multi   *multiState
	watched map[string]uint64
	name    string // CLIENT SETNAME
	quit    bool   // QUIT: close once the reply is flushed
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, id: s.nextID.Add(1)}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.w = newWriter(nc)
	c.r = newReader(flushingReader{c}, s.cfg.MaxBulk, s.cfg.MaxArray)
	return c
}

// flushingReader is the request stream under the bufio.Reader. Before it
// blocks on the socket it flushes the replies written so far: a pipeline
// of many commands is answered with few writes, and a client waiting for a
// reply always gets it.
type flushingReader struct{ c *conn }

func (f flushingReader) Read(p []byte) (int, error) {
	if f.c.w.bw.Buffered() > 0 {
		if err := f.c.w.bw.Flush(); err != nil {
			return 0, err
		}
	}
	if d := f.c.srv.cfg.IdleTimeout; d > 0 {
		if err := f.c.nc.SetReadDeadline(time.Now().Add(d)); err != nil {
			return 0, err
		}
	}
	return f.c.nc.Read(p)
}

// serve reads and runs commands until the client leaves, sends QUIT or
// malformed input, or the server closes.
func (c *conn) serve() {
	defer c.nc.Close()
	defer c.cancel()
	log := c.srv.cfg.Logger.With("client", c.id, "remote", c.nc.RemoteAddr().String())
	for !c.quit {
		args, err := c.r.readCommand()
		var pe *protocolError
		switch {
		case errors.As(err, &pe):
			log.Debug("resp: protocol error", "err", err)
			c.w.error("ERR " + pe.Error())
			if c.w.bw.Flush() == nil {
				c.lingerClose()
			}
			return
		case err != nil:
			if !errors.Is(err, io.EOF) && !c.srv.isClosed() {
				log.Debug("resp: connection ends", "err", err)
			}
			c.w.bw.Flush()
			return
		case len(args) > 0:
			c.exec(args)
		}
	}
	c.w.bw.Flush()
}

// Bounds on lingerClose.
const (
	lingerTimeout = 5 * time.Second // a loaded machine's client may take a while to send a large value
	lingerFactor  = 2               // times MaxBulk, at least maxLine
)

// lingerClose half-closes the connection and reads and discards what the
// client is still sending, within bounds, before the caller closes it.
// Closing a socket with unread input resets the connection, and a client
// still writing a large request (an oversized value) would get the reset
// instead of the error reply explaining it.
func (c *conn) lingerClose() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	if c.nc.SetReadDeadline(time.Now().Add(lingerTimeout)) != nil {
		return
	}
	limit := int64(max(lingerFactor*c.srv.cfg.MaxBulk, maxLine))
	_, _ = io.CopyN(io.Discard, c.nc, limit)
}

// exec runs one command with its own timeout and writes its reply.
func (c *conn) exec(args [][]byte) {
	name := strings.ToLower(string(args[0]))
	cmd, ok := c.srv.cmds[name]
	if !ok {
		if c.multi != nil {
			c.multi.failed = true
		}
		c.w.error(unknownCommand(args))
		return
	}
	if n := len(args); cmd.arity > 0 && n != cmd.arity || cmd.arity < 0 && n < -cmd.arity {
		if c.multi != nil {
			c.multi.failed = true
		}
		c.w.error("ERR wrong number of arguments for '" + cmd.name + "' command")
		return
	}
	if c.multi != nil && c.inMulti(name, args) {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.srv.cfg.RequestTimeout)
	defer cancel()
	cmd.run(c, ctx, args)
}

// unknownCommand is Redis 7's error for a command it does not know: the
// name (at most 128 bytes), then the first arguments, each quoted and
// followed by a space, while that text is under 128 bytes (the last one
// cut to fit). CR and LF become spaces, as Redis makes them.
func unknownCommand(args [][]byte) string {
	var b strings.Builder
	b.WriteString("ERR unknown command '")
	b.WriteString(truncate(args[0], 128))
	b.WriteString("', with args beginning with: ")
	var quoted strings.Builder
	for _, a := range args[1:] {
		room := 128 - quoted.Len()
		if room <= 0 {
			break
		}
		quoted.WriteString("'" + truncate(a, room) + "' ")
	}
	b.WriteString(quoted.String())
	out := []byte(b.String()) // bytes, not runes: arguments are binary
	for i, ch := range out {
		if ch == '\r' || ch == '\n' {
			out[i] = ' '
		}
	}
	return string(out)
}

func truncate(b []byte, n int) string { return string(b[:min(len(b), n)]) }
