package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Wire constants; doc.go describes the format.
const (
	magic        = "DKV1"
	wireVersion  = 1
	helloLen     = len(magic) + 1 + 8 + 8 + 8 + 1
	frameHdrLen  = 4
	snapChunkLen = 256 << 10

	// frameMsgOverhead bounds the bytes a message adds beyond its payload:
	// the frame header, its type byte and its uvarint length.
	frameMsgOverhead = frameHdrLen + 1 + binary.MaxVarintLen32
)

// Stream kinds, sent by the dialer.
const (
	kindMessages = 1
	kindSnapshot = 2
)

// Handshake statuses, sent back by the acceptor in the kind byte.
const (
	ackOK           = 0
	ackWrongCluster = 1
	ackWrongNode    = 2
	ackBadKind      = 3
	ackBadVersion   = 4
)

var (
	errBadMagic      = errors.New("transport: bad handshake magic")
	errFrameTooLarge = errors.New("transport: frame exceeds MaxFrame")
	errBadFrame      = errors.New("transport: malformed frame")
)

// hello opens every connection in both directions: the dialer states who it
// is, whom it wants and what the stream carries; the acceptor answers with
// its own identity and a status in kind.
type hello struct {
	version uint8
	cluster uint64
	from    uint64
	to      uint64
	kind    uint8
}

func (h hello) appendTo(b []byte) []byte {
	b = append(b, magic...)
	b = append(b, h.version)
	b = binary.BigEndian.AppendUint64(b, h.cluster)
	b = binary.BigEndian.AppendUint64(b, h.from)
	b = binary.BigEndian.AppendUint64(b, h.to)
	return append(b, h.kind)
}

func readHello(r io.Reader) (hello, error) {
	var b [helloLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return hello{}, err
	}
	if string(b[:len(magic)]) != magic {
		return hello{}, errBadMagic
	}
	p := b[len(magic):]
	return hello{
		version: p[0],
		cluster: binary.BigEndian.Uint64(p[1:]),
		from:    binary.BigEndian.Uint64(p[9:]),
		to:      binary.BigEndian.Uint64(p[17:]),
		kind:    p[25],
	}, nil
}

// appendFrames encodes msgs as frames of at most maxFrame bytes each (one
// frame unless they do not fit) and appends them to dst. Messages too large
// for any frame are skipped and counted in dropped.
func appendFrames(dst []byte, msgs []Message, maxFrame int) (out []byte, frames, dropped int) {
	start := -1 // offset of the open frame's header
	for _, m := range msgs {
		size := 1 + uvarintLen(uint64(len(m.Payload))) + len(m.Payload)
		if frameHdrLen+size > maxFrame {
			dropped++
			continue
		}
		if start >= 0 && len(dst)-start+size > maxFrame {
			closeFrame(dst, start)
			start = -1
		}
		if start < 0 {
			start = len(dst)
			dst = append(dst, 0, 0, 0, 0)
			frames++
		}
		dst = append(dst, m.Type)
		dst = binary.AppendUvarint(dst, uint64(len(m.Payload)))
		dst = append(dst, m.Payload...)
	}
	if start >= 0 {
		closeFrame(dst, start)
	}
	return dst, frames, dropped
}

func closeFrame(b []byte, start int) {
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-frameHdrLen))
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// decodeFrame calls fn for each message of a frame body. Payloads alias
// body with their capacity clipped, so the handler of one cannot scribble
// over the next.
func decodeFrame(body []byte, fn func(Message)) error {
	for len(body) > 0 {
		typ := body[0]
		n, k := binary.Uvarint(body[1:])
		if k <= 0 || n > uint64(len(body)-1-k) {
			return errBadFrame
		}
		p := body[1+k : 1+k+int(n) : 1+k+int(n)]
		body = body[1+k+int(n):]
		fn(Message{Type: typ, Payload: p})
	}
	return nil
}

// readBlock reads one uint32-length-prefixed block of at most max bytes. It
// grows the buffer as bytes arrive, so a peer announcing a huge block
// cannot make us allocate it up front.
func readBlock(r *bufio.Reader, max int) ([]byte, error) {
	var hdr [frameHdrLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n > max {
		return nil, fmt.Errorf("%w: %d > %d bytes", errFrameTooLarge, n, max)
	}
	const step = 1 << 20
	buf := make([]byte, 0, min(n, step))
	for len(buf) < n {
		k := min(n-len(buf), step)
		buf = slices.Grow(buf, k)
		got, err := io.ReadFull(r, buf[len(buf):len(buf)+k])
		buf = buf[:len(buf)+got]
		if err != nil {
			return nil, unexpectedEOF(err)
		}
	}
	return buf, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func appendBlock(dst, p []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p)))
	return append(dst, p...)
}

// chunkReader reads a snapshot body sent as length-prefixed chunks ending
// with an empty one.
type chunkReader struct {
	r    *bufio.Reader
	max  int
	left int   // bytes left in the current chunk
	err  error // sticky; io.EOF after the terminator
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.left == 0 && c.err == nil {
		var hdr [frameHdrLen]byte
		if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
			c.err = unexpectedEOF(err)
			break
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		switch {
		case n == 0:
			c.err = io.EOF
		case n > c.max:
			c.err = fmt.Errorf("%w: snapshot chunk of %d bytes", errFrameTooLarge, n)
		default:
			c.left = n
		}
	}
	if c.left == 0 {
		return 0, c.err
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= n
	if err != nil {
		c.err = unexpectedEOF(err)
	}
	return n, nil
}
