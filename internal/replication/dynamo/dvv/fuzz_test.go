package dvv

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzDecode checks that Decode never panics, and that whatever it accepts
// is canonical: it re-encodes to the same bytes and merges with itself to
// itself.
func FuzzDecode(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 5))
	for range 20 {
		f.Add(randomSet(rng, 3, 3).Encode())
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		if enc := s.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("accepted non-canonical input\n in  % x\n out % x", b, enc)
		}
		if !Merge(s, s).Equal(s) {
			t.Fatalf("decoded set is not well-formed: %s", showSet("s", s))
		}
	})
}

// FuzzDecodeToken checks that DecodeToken never panics and accepts only
// canonical tokens.
func FuzzDecodeToken(f *testing.F) {
	f.Add(EncodeToken(VV{1: 3, 2: 5}))
	f.Add(EncodeToken(VV{}))
	f.Add("")
	f.Add("AQ")
	f.Add("not base64!")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := DecodeToken(s)
		if err != nil || s == "" {
			return
		}
		if back := EncodeToken(v); back != s {
			t.Fatalf("accepted non-canonical token %q (canonical %q)", s, back)
		}
	})
}
