package resp

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// encodeCommand is a command as a RESP array of bulk strings.
func encodeCommand(args [][]byte) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

func argsOf(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// readAll parses input to its end and returns the commands read and the
// error that ended it (nil for a clean end).
func readAll(input string, maxBulk, maxArray int) ([][][]byte, error) {
	r := newReader(strings.NewReader(input), maxBulk, maxArray)
	var cmds [][][]byte
	for {
		args, err := r.readCommand()
		if err == io.EOF {
			return cmds, nil
		}
		if err != nil {
			return cmds, err
		}
		if args != nil {
			cmds = append(cmds, args)
		}
	}
}

func TestReadCommands(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     [][]string
	}{
		{"array", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", [][]string{{"SET", "k", "v"}}},
		{"binary bulk", "*2\r\n$4\r\nECHO\r\n$6\r\na\r\n\x00b\n\r\n", [][]string{{"ECHO", "a\r\n\x00b\n"}}},
		{"empty bulk", "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", [][]string{{"ECHO", ""}}},
		{"empty and null arrays", "*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}},
		{"pipeline", "*1\r\n$4\r\nPING\r\nPING\r\n*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}, {"PING"}, {"PING"}}},
		{"inline", "SET k v\r\n", [][]string{{"SET", "k", "v"}}},
		{"inline bare LF", "SET k v\nGET k\n", [][]string{{"SET", "k", "v"}, {"GET", "k"}}},
		{"inline no final newline", "GET k", [][]string{{"GET", "k"}}},
		{"inline spacing", " \t SET   k\tv  \r\n", [][]string{{"SET", "k", "v"}}},
		{"empty lines ignored", "\r\n\n   \r\nPING\r\n", [][]string{{"PING"}}},
		{"double quotes", `SET "a b" "c\"d"` + "\r\n", [][]string{{"SET", "a b", `c"d`}}},
		{"single quotes", `SET 'a b' 'it\'s' 'back\slash'` + "\r\n", [][]string{{"SET", "a b", "it's", `back\slash`}}},
		{"escapes", `ECHO "\x41\x4a\x4A\n\r\t\b\a\\\q\x4"` + "\r\n", [][]string{{"ECHO", "AJJ\n\r\t\b\a\\qx4"}}},
		{"empty quoted", `SET k ""` + "\r\n", [][]string{{"SET", "k", ""}}},
		{"quote inside word", `SET a"b c"d'' x` + "\r\n", nil},
		{"quote opens mid-word", `SET a"b c" x` + "\r\n", [][]string{{"SET", "ab c", "x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmds, err := readAll(tc.in, 1<<20, 1<<20)
			if tc.want == nil {
				var pe *protocolError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want a protocol error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, c := range cmds {
				var s []string
				for _, a := range c {
					s = append(s, string(a))
				}
				got = append(got, s)
			}
			if !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadProtocolErrors(t *testing.T) {
	long := strings.Repeat("x", maxLine+1)
	for _, tc := range []struct{ name, in, want string }{
		{"bulk over limit", "*2\r\n$4\r\nECHO\r\n$101\r\n", "invalid bulk length"},
		{"negative bulk", "*1\r\n$-1\r\n", "invalid bulk length"},
		{"bulk not a number", "*1\r\n$x\r\n", "invalid bulk length"},
		{"bulk with plus", "*1\r\n$+1\r\nx\r\n", "invalid bulk length"},
		{"array over limit", "*11\r\n", "invalid multibulk length"},
		{"array not a number", "*1x\r\n", "invalid multibulk length"},
		{"array huge number", "*99999999999999999999999\r\n", "invalid multibulk length"},
		{"element not bulk", "*1\r\n:1\r\n", "expected '$', got ':'"},
		{"element binary", "*1\r\n\x01\r\n", `expected '$', got '\x1'`},
		{"no CRLF after bulk", "*1\r\n$1\r\nxyz\r\n", "expected CRLF after bulk string"},
		{"bare LF header", "*1\n$1\r\nx\r\n", "expected CRLF at the end of a header line"},
		{"long inline", long + "\r\n", "too big inline request"},
		{"long array header", "*" + long + "\r\n", "too big mbulk count string"},
		{"long bulk header", "*1\r\n$" + long + "\r\n", "too big bulk count string"},
		{"unbalanced double", "SET \"k v\r\n", "unbalanced quotes in request"},
		{"unbalanced single", "SET 'k v\r\n", "unbalanced quotes in request"},
		{"text after quote", "SET \"k\"v x\r\n", "unbalanced quotes in request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(tc.in, 100, 10)
			var pe *protocolError
			if !errors.As(err, &pe) || pe.msg != tc.want {
				t.Fatalf("err = %v, want protocol error %q", err, tc.want)
			}
		})
	}
}

func TestReadTruncated(t *testing.T) {
	full := "*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n"
	for i := 1; i < len(full); i++ {
		_, err := readAll(full[:i], 100, 10)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("input %q: err = %v, want unexpected EOF", full[:i], err)
		}
	}
}

func TestReadLimitsInclusive(t *testing.T) {
	args := [][]byte{[]byte("ECHO"), bytes.Repeat([]byte("v"), 100)}
	for range 8 {
		args = append(args, []byte("x"))
	}
	cmds, err := readAll(string(encodeCommand(args)), 100, 10)
	if err != nil || len(cmds) != 1 || len(cmds[0]) != 10 {
		t.Fatalf("a command at both limits: %d commands, err %v", len(cmds), err)
	}
	// A large bulk arrives intact across many chunks.
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*chunk/16+1)
	cmds, err = readAll(string(encodeCommand([][]byte{[]byte("ECHO"), big})), len(big), 10)
	if err != nil || !bytes.Equal(cmds[0][1], big) {
		t.Fatalf("large bulk: err %v", err)
	}
}

func TestSplitInline(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{``, nil, true},
		{`a`, []string{"a"}, true},
		{`"\x"`, []string{"x"}, true},
		{`"\xzz"`, []string{"xzz"}, true},
		{`"\x4g"`, []string{"x4g"}, true},
		{`'\x41'`, []string{`\x41`}, true},
		{`"a"'b'`, nil, false},
		{`"a" 'b'`, []string{"a", "b"}, true},
		{`"abc\"`, nil, false},
		{`'abc\'`, nil, false},
		{"\"a\"\t", []string{"a"}, true},
	} {
		got, ok := splitInline([]byte(tc.in))
		if ok != tc.ok || !slices.Equal(toStrings(got), tc.want) {
			t.Errorf("splitInline(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func toStrings(bs [][]byte) []string {
	var out []string
	for _, b := range bs {
		out = append(out, string(b))
	}
	return out
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := newWriter(&buf)
	w.simple("OK")
	w.error("ERR two\r\nlines\nhere")
	w.int(-42)
	w.bulk([]byte("a\r\nb"))
	w.null()
	w.strings("x", "")
	w.array(0)
	w.bw.Flush()
	want := "+OK\r\n-ERR two; lines; here\r\n:-42\r\n$4\r\na\r\nb\r\n$-1\r\n*2\r\n$1\r\nx\r\n$0\r\n\r\n*0\r\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
}

// The writer's RESP3 types, and what they are in RESP2.
func TestWriterProtocols(t *testing.T) {
	for _, tc := range []struct {
		proto int
		want  string
	}{
		{2, "$-1\r\n*4\r\n$1\r\nk\r\n:1\r\n$1\r\nj\r\n$-1\r\n*1\r\n+f\r\n$6\r\nx:1\r\ny\r\n*0\r\n*0\r\n$0\r\n\r\n"},
		{3, "_\r\n%2\r\n$1\r\nk\r\n:1\r\n$1\r\nj\r\n_\r\n~1\r\n+f\r\n=10\r\ntxt:x:1\r\ny\r\n%0\r\n~0\r\n=4\r\ntxt:\r\n"},
	} {
		var buf bytes.Buffer
		w := newWriter(&buf)
		w.proto = tc.proto
		w.null()
		w.mapLen(2)
		w.bulkString("k")
		w.int(1)
		w.bulkString("j")
		w.null()
		w.setLen(1)
		w.simple("f")
		w.verbatim("x:1\r\ny")
		w.mapLen(0)
		w.setLen(0)
		w.verbatim("")
		w.bw.Flush()
		if buf.String() != tc.want {
			t.Errorf("RESP%d: got %q, want %q", tc.proto, buf.String(), tc.want)
		}
	}
}

// A reader over a slow source reads a command split at every byte.
func TestReadByteAtATime(t *testing.T) {
	in := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nxy\r\nSET \"a b\" c\r\n"
	r := newReader(oneByteReader{strings.NewReader(in)}, 100, 10)
	for _, want := range [][]string{{"SET", "k", "v\r\nxy"}, {"SET", "a b", "c"}} {
		args, err := r.readCommand()
		if err != nil || !slices.Equal(toStrings(args), want) {
			t.Fatalf("got %q, %v; want %q", args, err, want)
		}
	}
}

type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) { return o.r.Read(p[:min(1, len(p))]) }
