package shardsm

import (
	"bytes"
	"testing"
)

// FuzzDecodeCommand: replicated commands come from the Raft log and from
// peers; decoding arbitrary bytes must never panic, and an accepted
// command must survive a round trip.
func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 2, 3, 4, 5})
	f.Add(EncodeValue(7, []byte("value")))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		enc := c.Encode()
		c2, err := DecodeCommand(enc)
		if err != nil {
			t.Fatalf("re-encoded command %x does not decode: %v", enc, err)
		}
		if again := c2.Encode(); !bytes.Equal(again, enc) {
			t.Fatalf("command encoding is not stable: %x then %x", enc, again)
		}
	})
}

// FuzzDecodeState covers the other decoders of replicated bytes: stored
// values, migrations (reshard), transaction records and their log entries.
func FuzzDecodeState(f *testing.F) {
	f.Add([]byte{})
	f.Add(EncodeValue(1, []byte("x")))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = DecodeValue(b)
		if m, err := DecodeMigrate(b); err == nil {
			if _, err := DecodeMigrate(m.Encode()); err != nil {
				t.Fatalf("re-encoded migration does not decode: %v", err)
			}
		}
		_, _ = decodeTxn(b)
		_, _ = decodeRecord(b)
	})
}
