package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// SendSnapshot implements Transport.SendSnapshot on a connection of its own,
// so a large snapshot never holds up messages. A cut known to this node
// fails at once with ErrUnreachable; a cut known only to the receiver makes
// it hang up, which also ends in ErrUnreachable.
func (t *TCP) SendSnapshot(ctx context.Context, to uint64, header []byte, body io.Reader) error {
	if t.life.closed() {
		return ErrClosed
	}
	if len(header) > t.cfg.MaxFrame {
		return fmt.Errorf("%w: snapshot header of %d bytes", ErrTooLarge, len(header))
	}
	if t.blocked(t.id, to) || t.blocked(to, t.id) {
		return fmt.Errorf("%w: link to node %d is cut", ErrUnreachable, to)
	}
	if body == nil {
		body = eofReader{}
	}
	c, err := t.dial(ctx, to, kindSnapshot)
	if err == nil {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err = t.streamSnapshot(c, header, body)
		if err == nil {
			err = t.readVerdict(c)
		}
		stop()
		t.closeConn(c)
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("transport: snapshot to node %d: %w", to, ctx.Err())
	case t.life.closed():
		return ErrClosed
	}
	return err
}

// streamSnapshot writes header, then body as chunks, then the terminator.
func (t *TCP) streamSnapshot(c net.Conn, header []byte, body io.Reader) error {
	write := func(b []byte) error {
		c.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
		if _, err := c.Write(b); err != nil {
			return fmt.Errorf("%w: snapshot stream: %v", ErrUnreachable, err)
		}
		t.stats.bytesWritten.Add(uint64(len(b)))
		return nil
	}
	if err := write(appendBlock(nil, header)); err != nil {
		return err
	}
	chunk := make([]byte, frameHdrLen+min(snapChunkLen, t.cfg.MaxFrame))
	for {
		n, rerr := io.ReadFull(body, chunk[frameHdrLen:])
		if n > 0 {
			binary.BigEndian.PutUint32(chunk, uint32(n))
			if err := write(chunk[:frameHdrLen+n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("transport: snapshot body: %w", rerr)
		}
	}
	return write(make([]byte, frameHdrLen))
}

// readVerdict reads the receiver's status byte and message.
func (t *TCP) readVerdict(c net.Conn) error {
	br := bufio.NewReader(c)
	status, err := br.ReadByte()
	var msg []byte
	if err == nil {
		msg, err = readBlock(br, t.cfg.MaxFrame)
	}
	if err != nil {
		return fmt.Errorf("%w: no snapshot verdict: %v", ErrUnreachable, err)
	}
	if status != replyOK {
		return &RemoteError{Msg: string(msg)}
	}
	return nil
}

// receiveSnapshot serves one snapshot connection from node from.
func (t *TCP) receiveSnapshot(c net.Conn, from uint64) {
	if t.blocked(from, t.id) {
		t.log.Debug("transport: snapshot refused by fault", "peer", from)
		return
	}
	br := bufio.NewReaderSize(c, 64<<10)
	header, err := readBlock(br, t.cfg.MaxFrame)
	if err != nil {
		t.logReadErr(from, err)
		return
	}
	body := &chunkReader{r: br, max: t.cfg.MaxFrame}
	verdict := t.serveSnapshot(from, header, body)
	if !errors.Is(body.err, io.EOF) {
		// The stream broke or was malformed: the sender is gone or lying,
		// so there is nobody to give a verdict to.
		t.logReadErr(from, body.err)
		return
	}
	out := []byte{replyOK}
	var msg []byte
	if verdict != nil {
		out[0], msg = replyError, []byte(verdict.(*RemoteError).Msg)
	}
	out = appendBlock(out, msg)
	c.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
	c.Write(out)
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
