package kv

import (
	"bytes"
	"testing"
)

// FuzzDecodeRequest feeds the peer-RPC request decoder arbitrary bytes: it
// must never panic, and a request it accepts must re-encode to a canonical
// form that decodes to the same request.
func FuzzDecodeRequest(f *testing.F) {
	for _, q := range []*request{
		{kind: reqGet, group: 7, key: []byte("k")},
		{kind: reqWrite, group: 1 << 40, cmd: []byte{1, 2, 3}},
		{kind: reqScan, group: 3, prefix: []byte("p/"), after: []byte("p/a"), limit: 100, values: true, index: 2},
	} {
		f.Add(q.encode())
	}
	f.Add([]byte{})
	f.Add([]byte{byte(reqScan), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := decodeRequest(b)
		if err != nil {
			return
		}
		enc := q.encode()
		q2, err := decodeRequest(enc)
		if err != nil {
			t.Fatalf("re-encoded request %x does not decode: %v", enc, err)
		}
		if again := q2.encode(); !bytes.Equal(again, enc) {
			t.Fatalf("request encoding is not stable: %x then %x", enc, again)
		}
	})
}
