package dvv

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/fnv"
)

// Encoding versions, the first byte of every encoding.
const (
	setVersion   = 1
	tokenVersion = 1
)

// flagDeleted marks a tombstone in a sibling's flags byte.
const flagDeleted = 1

// Encode returns the binary form of s for storage and the wire:
//
//	version byte (1)
//	context:  uvarint n, then n × (uvarint node, uvarint counter), nodes ascending, no zeros
//	siblings: uvarint m, then m × (uvarint node, uvarint counter, flags byte,
//	          varint stamp wall, uvarint stamp logical, [uvarint len, value bytes if live])
//
// Equal Sets built by this package encode to equal bytes.
func (s Set) Encode() []byte {
	b := make([]byte, 0, 1+16*len(s.Context)+32*len(s.Siblings))
	b = append(b, setVersion)
	b = appendVV(b, s.Context)
	b = binary.AppendUvarint(b, uint64(len(s.Siblings)))
	for _, x := range s.Siblings {
		b = binary.AppendUvarint(b, x.Dot.Node)
		b = binary.AppendUvarint(b, x.Dot.Counter)
		if x.Deleted {
			b = append(b, flagDeleted)
		} else {
			b = append(b, 0)
		}
		b = binary.AppendVarint(b, x.Stamp.Wall)
		b = binary.AppendUvarint(b, uint64(x.Stamp.Logical))
		if !x.Deleted {
			b = binary.AppendUvarint(b, uint64(len(x.Value)))
			b = append(b, x.Value...)
		}
	}
	return b
}

// Hash returns a stable 64-bit FNV-1a digest of s's encoding: equal Sets
// hash equally on every node and every run. Used for Merkle leaves.
func (s Set) Hash() uint64 {
	h := fnv.New64a()
	h.Write(s.Encode())
	return h.Sum64()
}

// Decode parses an encoding made by Encode. It accepts only canonical
// encodings of well-formed Sets (sorted, minimal varints, each sibling's dot
// covered by the context, no trailing bytes) and returns an error wrapping
// ErrCorrupt for anything else; it never panics and does not retain b.
func Decode(b []byte) (Set, error) {
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != setVersion {
		return Set{}, fmt.Errorf("%w: unknown set version %d", ErrCorrupt, v)
	}
	var s Set
	s.Context = r.vv()
	n := r.count(5) // node, counter, flags, wall, logical: at least 5 bytes (a tombstone)
	prev := Dot{}
	for i := 0; i < n && r.err == nil; i++ {
		x := r.sibling()
		switch {
		case r.err != nil:
		case i > 0 && !prev.less(x.Dot):
			r.fail("siblings not sorted by dot")
		case !s.Context.Covers(x.Dot):
			r.fail("sibling %v not covered by context %v", x.Dot, s.Context)
		}
		s.Siblings = append(s.Siblings, x)
		prev = x.Dot
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return Set{}, r.err
	}
	return s, nil
}

// EncodeToken returns v as an opaque, URL-safe string for clients to carry
// between requests: unpadded base64url of a version byte and v's binary
// form.
func EncodeToken(v VV) string {
	return base64.RawURLEncoding.EncodeToString(appendVV([]byte{tokenVersion}, v))
}

// DecodeToken parses a token made by EncodeToken. The empty string, the
// token of a client that has seen nothing, decodes to an empty VV. Any
// other malformed token yields an error wrapping ErrCorrupt.
func DecodeToken(s string) (VV, error) {
	if s == "" {
		return VV{}, nil
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: token: %v", ErrCorrupt, err)
	}
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != tokenVersion {
		return nil, fmt.Errorf("%w: unknown token version %d", ErrCorrupt, v)
	}
	v := r.vv()
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d trailing bytes in token", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return v, nil
}

// appendVV appends v's binary form: its non-zero entries, nodes ascending.
func appendVV(b []byte, v VV) []byte {
	nodes := v.nodes()
	b = binary.AppendUvarint(b, uint64(len(nodes)))
	for _, n := range nodes {
		b = binary.AppendUvarint(b, n)
		b = binary.AppendUvarint(b, v[n])
	}
	return b
}
