package dynamo

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/distkv/distkv/internal/replication/dynamo/dvv"
)

// CallDynamo is the first byte of a transport Call for this engine.
const CallDynamo byte = 3

// Operations a node asks of another.
const (
	opStore        byte = iota + 1 // merge a state (or hold it as a hint)
	opFetch                        // a key's local state
	opBuckets                      // a group's Merkle leaves
	opBucketStates                 // the states of keys in some buckets
	opStoreBatch                   // merge many states
	opScan                         // states of keys with a prefix
	opCoordinate                   // coordinate a write (forwarded by a non-replica)
	opCausalRead                   // serve a causal read (forwarded by a non-replica)
	opRemoveIfHash                 // tombstone GC
	opPlant                        // fault injection: set a stale local state
	opCopyBatch                    // merge many states without change events (moves, reshards)
	opCausalFetch                  // a key's local state once the sender's vector is applied
)

var errTruncated = errors.New("dynamo: truncated message")

type enc struct{ b []byte }

func (e *enc) byte(c byte)    { e.b = append(e.b, c) }
func (e *enc) uint(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) bytes(p []byte) { e.uint(uint64(len(p))); e.b = append(e.b, p...) }
func (e *enc) str(s string)   { e.bytes([]byte(s)) }
func (e *enc) set(s dvv.Set)  { e.bytes(s.Encode()) }
func (e *enc) bool(v bool)    { e.byte(b2u(v)) }
func (e *enc) u64s(v []uint64) {
	e.uint(uint64(len(v)))
	for _, x := range v {
		e.uint(x)
	}
}

func b2u(v bool) byte {
	if v {
		return 1
	}
	return 0
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errTruncated
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *dec) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes() []byte {
	n := d.uint()
	if d.err != nil || uint64(len(d.b)) < n {
		d.err = errTruncated
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) str() string { return string(d.bytes()) }
func (d *dec) bool() bool  { return d.byte() == 1 }

func (d *dec) set() dvv.Set {
	p := d.bytes()
	if d.err != nil {
		return dvv.Set{}
	}
	s, err := dvv.Decode(p)
	if err != nil {
		d.err = err
	}
	return s
}

func (d *dec) u64s() []uint64 {
	n := d.uint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errTruncated
		return nil
	}
	out := make([]uint64, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		out = append(out, d.uint())
	}
	return out
}

// keyState is a key with its state, as lists travel on the wire.
type keyState struct {
	key []byte
	set dvv.Set
}

func (e *enc) states(ks []keyState) {
	e.uint(uint64(len(ks)))
	for _, k := range ks {
		e.bytes(k.key)
		e.set(k.set)
	}
}

func (d *dec) states() []keyState {
	n := d.uint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errTruncated
		return nil
	}
	out := make([]keyState, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		out = append(out, keyState{key: d.bytes(), set: d.set()})
	}
	return out
}

// Reply status bytes.
const (
	replyOK byte = iota
	replyErr
)

// remoteErr rebuilds an engine error sent by a peer.
func remoteErr(code byte, msg string) error {
	switch code {
	case 1:
		return fmt.Errorf("%w: %s", ErrUnavailable, msg)
	case 2:
		return fmt.Errorf("%w: %s", ErrUnknownOutcome, msg)
	case 3:
		return fmt.Errorf("%w: %s", ErrCausalDeps, msg)
	case 4:
		return fmt.Errorf("%w: %s", ErrBadToken, msg)
	case 5:
		return fmt.Errorf("%w: %s", ErrInvalid, msg)
	}
	return errors.New("dynamo: remote: " + msg)
}

func errCode(err error) byte {
	switch {
	case errors.Is(err, ErrUnavailable):
		return 1
	case errors.Is(err, ErrUnknownOutcome):
		return 2
	case errors.Is(err, ErrCausalDeps):
		return 3
	case errors.Is(err, ErrBadToken):
		return 4
	case errors.Is(err, ErrInvalid):
		return 5
	}
	return 0
}

// ErrInvalid: a request the engine cannot serve as asked.
var ErrInvalid = errors.New("dynamo: invalid request")
