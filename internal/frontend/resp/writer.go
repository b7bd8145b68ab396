package resp

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// writer encodes RESP2 replies into a buffer. Write errors are sticky in
// the bufio.Writer and surface at the next flush, which closes the
// connection.
type writer struct {
	bw *bufio.Writer
}

func newWriter(w io.Writer) *writer { return &writer{bw: bufio.NewWriterSize(w, 64<<10)} }

// simple writes a status reply (+OK). s must not contain CR or LF.
func (w *writer) simple(s string) {
	w.bw.WriteByte('+')
	w.bw.WriteString(s)
	w.bw.WriteString("\r\n")
}

// error writes an error reply; msg starts with its code ("ERR ...",
// "TRYAGAIN ..."). CR and LF become spaces so the reply stays one line.
func (w *writer) error(msg string) {
	w.bw.WriteByte('-')
	w.bw.WriteString(oneLine(msg))
	w.bw.WriteString("\r\n")
}

func (w *writer) int(n int64) {
	w.bw.WriteByte(':')
	w.bw.WriteString(strconv.FormatInt(n, 10))
	w.bw.WriteString("\r\n")
}

func (w *writer) bulk(b []byte) {
	w.header('$', len(b))
	w.bw.Write(b)
	w.bw.WriteString("\r\n")
}

func (w *writer) bulkString(s string) {
	w.header('$', len(s))
	w.bw.WriteString(s)
	w.bw.WriteString("\r\n")
}

// null writes the nil bulk string ($-1), Redis's "no value".
func (w *writer) null() { w.bw.WriteString("$-1\r\n") }

// array writes the header of an array of n replies, which must follow.
func (w *writer) array(n int) { w.header('*', n) }

func (w *writer) strings(ss ...string) {
	w.array(len(ss))
	for _, s := range ss {
		w.bulkString(s)
	}
}

func (w *writer) header(kind byte, n int) {
	var buf [24]byte
	b := append(buf[:0], kind)
	b = strconv.AppendInt(b, int64(n), 10)
	w.bw.Write(append(b, '\r', '\n'))
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r\n", "; ", "\n", "; ", "\r", " ").Replace(s)
}
