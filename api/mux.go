package api

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The multiplexed connection carries the HTTP API's requests and responses
// as binary frames over one TCP connection, many at a time: a client sends
// GET MuxPath with "Connection: Upgrade" and "Upgrade: MuxProtocol", the
// node answers 101 Switching Protocols, and from then on both sides write
// frames. Requests are answered in any order; each response carries its
// request's ID. Semantics (paths, query parameters, headers, status codes,
// bodies) are exactly those of the HTTP API; only the framing differs, so
// one write syscall can carry many requests or responses.
//
// A frame is: uvarint ID, uvarint payload length, payload.
//
//	request payload:  string method, string target (path?query),
//	                  uvarint header count, (string name, string value)...,
//	                  body (the rest)
//	response payload: uvarint status, uvarint header count,
//	                  (string name, string value)..., body (the rest)
//
// where a string is a uvarint length followed by that many bytes.
const (
	MuxPath     = "/v1/mux"
	MuxProtocol = "distkv-mux/1"
)

// MuxHeader is one header of a multiplexed request or response.
type MuxHeader struct{ Name, Value string }

// MuxRequest is one request on a multiplexed connection.
type MuxRequest struct {
	ID     uint64
	Method string
	Target string // path and query, escaped: "/v1/kv/a%20b?if=absent"
	Header []MuxHeader
	Body   []byte
}

// MuxResponse is one response on a multiplexed connection.
type MuxResponse struct {
	ID     uint64
	Status int
	Header []MuxHeader
	Body   []byte
}

// ErrMuxFrame reports a frame that does not decode.
var ErrMuxFrame = errors.New("malformed multiplexed frame")

// AppendMuxRequest appends r's frame to buf.
func AppendMuxRequest(buf []byte, r *MuxRequest) []byte {
	n := strLen(r.Method) + strLen(r.Target) + headersLen(r.Header) + len(r.Body)
	buf = binary.AppendUvarint(buf, r.ID)
	buf = binary.AppendUvarint(buf, uint64(n))
	buf = appendStr(buf, r.Method)
	buf = appendStr(buf, r.Target)
	buf = appendHeaders(buf, r.Header)
	return append(buf, r.Body...)
}

// AppendMuxResponse appends r's frame to buf.
func AppendMuxResponse(buf []byte, r *MuxResponse) []byte {
	n := uvarintLen(uint64(r.Status)) + headersLen(r.Header) + len(r.Body)
	buf = binary.AppendUvarint(buf, r.ID)
	buf = binary.AppendUvarint(buf, uint64(n))
	buf = binary.AppendUvarint(buf, uint64(r.Status))
	buf = appendHeaders(buf, r.Header)
	return append(buf, r.Body...)
}

// ReadMuxFrameHeader reads a frame's ID and payload length.
func ReadMuxFrameHeader(br *bufio.Reader) (id, n uint64, err error) {
	if id, err = binary.ReadUvarint(br); err != nil {
		return 0, 0, err
	}
	if n, err = binary.ReadUvarint(br); err != nil {
		return 0, 0, noEOF(err)
	}
	return id, n, nil
}

// ReadMuxPayload reads a payload of n bytes announced by a frame header.
func ReadMuxPayload(br *bufio.Reader, n uint64) ([]byte, error) {
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return nil, noEOF(err)
	}
	return p, nil
}

// ParseMuxRequest decodes a request payload. Body aliases p.
func ParseMuxRequest(id uint64, p []byte) (*MuxRequest, error) {
	r := &MuxRequest{ID: id}
	var ok bool
	if r.Method, p, ok = parseStr(p); !ok {
		return nil, ErrMuxFrame
	}
	if r.Target, p, ok = parseStr(p); !ok {
		return nil, ErrMuxFrame
	}
	if r.Header, p, ok = parseHeaders(p); !ok {
		return nil, ErrMuxFrame
	}
	r.Body = p
	return r, nil
}

// ParseMuxResponse decodes a response payload. Body aliases p.
func ParseMuxResponse(id uint64, p []byte) (*MuxResponse, error) {
	status, k := binary.Uvarint(p)
	if k <= 0 || status < 100 || status > 999 {
		return nil, ErrMuxFrame
	}
	r := &MuxResponse{ID: id, Status: int(status)}
	var ok bool
	if r.Header, p, ok = parseHeaders(p[k:]); !ok {
		return nil, ErrMuxFrame
	}
	r.Body = p
	return r, nil
}

// maxMuxHeaders bounds the headers of one frame.
const maxMuxHeaders = 64

func appendStr(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendHeaders(buf []byte, hs []MuxHeader) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(hs)))
	for _, h := range hs {
		buf = appendStr(buf, h.Name)
		buf = appendStr(buf, h.Value)
	}
	return buf
}

func parseStr(p []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return "", nil, false
	}
	return string(p[k : k+int(n)]), p[k+int(n):], true
}

func parseHeaders(p []byte) ([]MuxHeader, []byte, bool) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > maxMuxHeaders {
		return nil, nil, false
	}
	p = p[k:]
	var hs []MuxHeader
	if n > 0 {
		hs = make([]MuxHeader, n)
	}
	for i := range hs {
		var ok bool
		if hs[i].Name, p, ok = parseStr(p); !ok {
			return nil, nil, false
		}
		if hs[i].Value, p, ok = parseStr(p); !ok {
			return nil, nil, false
		}
	}
	return hs, p, true
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

func strLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

func headersLen(hs []MuxHeader) int {
	n := uvarintLen(uint64(len(hs)))
	for _, h := range hs {
		n += strLen(h.Name) + strLen(h.Value)
	}
	return n
}

// noEOF turns an end of input inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// String describes r for logs and test failures.
func (r *MuxRequest) String() string {
	return fmt.Sprintf("#%d %s %s (%d headers, %d bytes)", r.ID, r.Method, r.Target, len(r.Header), len(r.Body))
}

// WriteMuxFrames writes the frames arriving on out to bw until done is
// closed, flushing once per batch: a frame and every frame already queued
// behind it go out in one write. When done is closed it still sends the
// frames already queued. Before each flush it calls beforeFlush, if set
// (to arm a write deadline). It returns the first write error.
func WriteMuxFrames(bw *bufio.Writer, out <-chan []byte, done <-chan struct{}, beforeFlush func()) error {
	flush := func() error {
		if beforeFlush != nil {
			beforeFlush()
		}
		return bw.Flush()
	}
	for {
		select {
		case f := <-out:
			_, _ = bw.Write(f) // a failed write resurfaces at Flush
		case <-done:
			for {
				select {
				case f := <-out:
					_, _ = bw.Write(f)
				default:
					return flush()
				}
			}
		}
	more:
		for {
			select {
			case f := <-out:
				_, _ = bw.Write(f)
			default:
				break more
			}
		}
		if err := flush(); err != nil {
			return err
		}
	}
}
