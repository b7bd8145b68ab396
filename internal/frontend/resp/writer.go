package resp

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// writer encodes replies into a buffer in the connection's protocol:
// RESP2 until the client sends HELLO 3, then RESP3. Commands write every
// reply through it the same way in both; only the methods below whose
// RESP3 form differs look at proto. Write errors are sticky in the
// bufio.Writer and surface at the next flush, which closes the
// connection.
//
// RESP3's types appear where Redis 7 uses them for the commands distkv
// has: null (_), map (%), set (~) and verbatim string (=). Redis 7 sends
// doubles (,), booleans (#) and push frames (>) only for commands distkv
// does not have (sorted sets, scripting, pub/sub, client tracking), so
// there are no methods for them.
type writer struct {
	bw    *bufio.Writer
	proto int // 2 or 3
}

func newWriter(w io.Writer) *writer {
	return &writer{bw: bufio.NewWriterSize(w, 64<<10), proto: 2}
}

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

// verbatim writes text that is meant to be shown as it is (INFO, CLIENT
// INFO): a verbatim string of format "txt" in RESP3, a bulk string in
// RESP2.
func (w *writer) verbatim(s string) {
	if w.proto < 3 {
		w.bulkString(s)
		return
	}
	w.header('=', len(s)+4)
	w.bw.WriteString("txt:")
	w.bw.WriteString(s)
	w.bw.WriteString("\r\n")
}

// null writes Redis's "no value": the null bulk string ($-1) in RESP2,
// RESP3's null (_).
func (w *writer) null() {
	if w.proto < 3 {
		w.bw.WriteString("$-1\r\n")
		return
	}
	w.bw.WriteString("_\r\n")
}

// nullArray writes a null array (RESP2 *-1, RESP3's null).
func (w *writer) nullArray() {
	if w.proto < 3 {
		w.bw.WriteString("*-1\r\n")
		return
	}
	w.bw.WriteString("_\r\n")
}

// array writes the header of an array of n replies, which must follow.
func (w *writer) array(n int) { w.header('*', n) }

// mapLen writes the header of a map of n key-value pairs, whose 2n
// replies (key, value, key, value...) must follow. RESP2 has no maps:
// there it is a flat array of the 2n replies, as Redis sends it.
func (w *writer) mapLen(n int) {
	if w.proto < 3 {
		w.header('*', 2*n)
		return
	}
	w.header('%', n)
}

// setLen writes the header of a set of n distinct replies, which must
// follow: RESP3's set, an array in RESP2.
func (w *writer) setLen(n int) {
	if w.proto < 3 {
		w.header('*', n)
		return
	}
	w.header('~', n)
}

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
