package resp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// Request bounds that are not configurable.
const (
	// maxLine bounds an inline command and an array or bulk header line, as
	// Redis does (PROTO_INLINE_MAX_SIZE). It is also the read buffer's size.
	maxLine = 64 << 10
	// maxCommandBytes bounds the argument bytes of one command, like Redis's
	// default client-query-buffer-limit.
	maxCommandBytes = 1 << 30
	// chunk is how much of a large bulk string is allocated at a time, so a
	// header claiming a huge length costs memory only as bytes arrive.
	chunk = 64 << 10
)

// protocolError is malformed input. The connection answers
// "-ERR Protocol error: <msg>" and closes, as Redis does.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "Protocol error: " + e.msg }

func protoErr(msg string) error { return &protocolError{msg: msg} }

// reader decodes commands: RESP arrays of bulk strings, or inline commands
// (one line of space-separated, optionally quoted arguments).
type reader struct {
	br       *bufio.Reader
	maxBulk  int
	maxArray int
}

func newReader(r io.Reader, maxBulk, maxArray int) *reader {
	return &reader{br: bufio.NewReaderSize(r, maxLine), maxBulk: maxBulk, maxArray: maxArray}
}

// buffered reports whether request bytes are waiting in the buffer.
func (r *reader) buffered() bool { return r.br.Buffered() > 0 }

// readCommand returns the next command's arguments, each in its own
// allocation (the caller may keep them). It returns (nil, nil) for input
// that carries no command (an empty inline line, an empty array), io.EOF at
// a clean end of input, a *protocolError for malformed input, or the
// connection's read error.
func (r *reader) readCommand() ([][]byte, error) {
	b, err := r.br.Peek(1)
	if err != nil {
		return nil, err
	}
	if b[0] == '*' {
		return r.readArray()
	}
	return r.readInline()
}

func (r *reader) readArray() ([][]byte, error) {
	line, err := r.readLine("too big mbulk count string")
	if err != nil {
		return nil, err
	}
	n, ok := parseLen(line[1:])
	if !ok || n > int64(r.maxArray) {
		return nil, protoErr("invalid multibulk length")
	}
	if n <= 0 {
		return nil, nil
	}
	args := make([][]byte, 0, min(n, 1024))
	total := 0
	for range n {
		arg, err := r.readBulk()
		if err != nil {
			return nil, err
		}
		if total += len(arg); total > maxCommandBytes {
			return nil, protoErr("command larger than the query buffer limit")
		}
		args = append(args, arg)
	}
	return args, nil
}

func (r *reader) readBulk() ([]byte, error) {
	line, err := r.readLine("too big bulk count string")
	if err != nil {
		return nil, err
	}
	if line[0] != '$' {
		return nil, protoErr("expected '$', got '" + printable(line[0]) + "'")
	}
	n, ok := parseLen(line[1:])
	if !ok || n < 0 || n > int64(r.maxBulk) {
		return nil, protoErr("invalid bulk length")
	}
	arg, err := r.readN(int(n))
	if err != nil {
		return nil, err
	}
	if crlf, err := r.readN(2); err != nil {
		return nil, err
	} else if crlf[0] != '\r' || crlf[1] != '\n' {
		return nil, protoErr("expected CRLF after bulk string")
	}
	return arg, nil
}

// readN reads exactly n bytes, growing the result as they arrive. An end
// of input inside a command is io.ErrUnexpectedEOF.
func (r *reader) readN(n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, chunk))
	for len(buf) < n {
		m := min(n-len(buf), chunk)
		buf = append(buf, make([]byte, m)...)
		if _, err := io.ReadFull(r.br, buf[len(buf)-m:]); err != nil {
			return nil, unexpected(err)
		}
	}
	return buf, nil
}

// readLine reads an array or bulk header: a line ending in CRLF, at most
// maxLine bytes, returned without the CRLF and never empty (it holds at
// least the type byte). The slice is valid until the next read.
func (r *reader) readLine(tooBig string) ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, protoErr(tooBig)
	}
	if err != nil {
		return nil, unexpected(err)
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, protoErr("expected CRLF at the end of a header line")
	}
	return line[:len(line)-2], nil
}

func (r *reader) readInline() ([][]byte, error) {
	line, err := r.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, protoErr("too big inline request")
	case err == io.EOF && len(line) > 0:
		// A last line without its newline still counts, as with
		// `printf 'PING' | nc`.
	case err != nil:
		return nil, err
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	args, ok := splitInline(line)
	if !ok {
		return nil, protoErr("unbalanced quotes in request")
	}
	return args, nil
}

// parseLen parses a header's decimal length: an optional '-' and at most
// 18 digits (enough for any length, and no overflow).
func parseLen(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil && b[0] != '+'
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func printable(c byte) string {
	if c < ' ' || c > '~' {
		return "\\x" + strconv.FormatUint(uint64(c), 16)
	}
	return string(c)
}
