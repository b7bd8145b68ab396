package resp

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the command reader. It must never
// panic nor return a command over the limits, and every command it reads
// must read back the same once encoded as a RESP array.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
		"SET k v\r\nGET k\n",
		`SET "a b\x41\n" 'c\'d'` + "\r\n",
		"*0\r\n*-1\r\n\r\nPING",
		"*2\r\n$4\r\nECHO\r\n$3\r\na\r\n\r\n",
		"*1\r\n$-5\r\n",
		"*9999999999\r\n",
		`a"b c"d`,
	} {
		f.Add([]byte(s))
	}
	const maxBulk, maxArray = 64, 8
	f.Fuzz(func(t *testing.T, in []byte) {
		r := newReader(bytes.NewReader(in), maxBulk, maxArray)
		for {
			first, _ := r.br.Peek(1)
			array := len(first) == 1 && first[0] == '*'
			args, err := r.readCommand()
			if err != nil {
				var pe *protocolError
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &pe) {
					t.Fatalf("unexpected error %T %v", err, err)
				}
				return
			}
			checkCommand(t, args, array, maxBulk, maxArray)
		}
	})
}

// checkCommand checks one command read: within the limits if it came as
// an array (an inline command is bounded by its line instead), and the
// same after a round trip through the encoder.
func checkCommand(t *testing.T, args [][]byte, array bool, maxBulk, maxArray int) {
	t.Helper()
	if array && len(args) > maxArray {
		t.Fatalf("%d arguments, over the limit %d", len(args), maxArray)
	}
	for _, a := range args {
		if array && len(a) > maxBulk || len(a) > maxLine {
			t.Fatalf("argument of %d bytes, over the limit", len(a))
		}
	}
	if len(args) == 0 {
		return
	}
	enc := encodeCommand(args)
	back, err := newReader(bytes.NewReader(enc), 1<<30, 1<<30).readCommand()
	if err != nil || !slices.EqualFunc(args, back, bytes.Equal) {
		t.Fatalf("round trip of %q: got %q, %v", args, back, err)
	}
}
