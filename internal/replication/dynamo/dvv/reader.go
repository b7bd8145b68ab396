package dvv

import (
	"encoding/binary"
	"fmt"
	"math"
)

// reader decodes Encode's format strictly. After the first error every
// method returns a zero value and err keeps that first error, so callers
// check err once per step rather than per field.
type reader struct {
	b   []byte
	err error
}

// fail records a corruption error unless one is already recorded.
func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("unexpected end of input")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// uvarint reads a minimally encoded uvarint.
func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.b)
	if n <= 0 || n != len(binary.AppendUvarint(nil, x)) {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return x
}

// varint reads a minimally encoded zig-zag varint.
func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Varint(r.b)
	if n <= 0 || n != len(binary.AppendVarint(nil, x)) {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return x
}

// count reads an element count and checks that that many elements of at
// least minSize bytes each can fit in what is left, so garbage cannot make
// the decoder allocate.
func (r *reader) count(minSize int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/minSize) {
		r.fail("count %d exceeds input", n)
		return 0
	}
	return int(n)
}

// vv reads appendVV's format.
func (r *reader) vv() VV {
	n := r.count(2)
	v := make(VV, n)
	var prev uint64
	for i := 0; i < n && r.err == nil; i++ {
		node, c := r.uvarint(), r.uvarint()
		switch {
		case r.err != nil:
		case i > 0 && node <= prev:
			r.fail("vector nodes not ascending")
		case c == 0:
			r.fail("zero counter for node %d", node)
		}
		v[node] = c
		prev = node
	}
	return v
}

// sibling reads one sibling of Encode's format.
func (r *reader) sibling() Sibling {
	var x Sibling
	x.Dot.Node, x.Dot.Counter = r.uvarint(), r.uvarint()
	flags := r.byte()
	x.Stamp.Wall = r.varint()
	logical := r.uvarint()
	if r.err == nil && logical > math.MaxUint32 {
		r.fail("logical time %d overflows", logical)
	}
	x.Stamp.Logical = uint32(logical)
	switch {
	case r.err != nil:
	case flags == flagDeleted:
		x.Deleted = true
	case flags != 0:
		r.fail("unknown sibling flags %#x", flags)
	default:
		n := r.uvarint()
		if r.err == nil && n > uint64(len(r.b)) {
			r.fail("value length %d exceeds input", n)
			return x
		}
		x.Value = append([]byte{}, r.b[:n]...)
		r.b = r.b[n:]
	}
	return x
}
