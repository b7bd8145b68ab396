package dynamo

import "testing"

// FuzzDecodeWire: the leaderless engine's peer messages (causal writes,
// results, key-state lists) and clients' causal contexts are read from
// bytes another process sent; none may panic or allocate by a declared
// length the input does not hold.
func FuzzDecodeWire(f *testing.F) {
	f.Add([]byte{}, "")
	f.Add([]byte{1, 2, 3, 0x80}, "bad-token")
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ",,")
	f.Fuzz(func(t *testing.T, b []byte, tok string) {
		_, _ = decodeWrite(&dec{b: b})
		_, _ = decodeResult(&dec{b: b})
		d := &dec{b: b}
		_ = d.states()
		d = &dec{b: b}
		_ = d.u64s()
		_, _ = decodeContext(tok)
		_, _ = decodeContext(string(b))
	})
}
