package kv

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/replication/multiraft"
	"github.com/distkv/distkv/internal/shardsm"
)

// The forwarding protocol: a request executed by the node that holds the
// shard's leader, sent as one transport Call. Binary, because every
// forwarded request pays for it.

type reqKind uint8

const (
	reqGet reqKind = iota + 1
	reqWrite
	reqScan
	reqMeta // a metadata command, on the metadata group
	// reqWriteAll is a write of a ca namespace: the leader runs it as a
	// two-phase commit that every replica must acknowledge (caWrite).
	reqWriteAll
)

// request is a shard-level operation.
type request struct {
	kind        reqKind
	group       uint64
	consistency Consistency
	key         []byte // get
	cmd         []byte // write: an encoded command
	prefix      []byte // scan
	after       []byte // scan: exclusive start
	limit       int    // scan
	values      bool   // scan
	hashes      bool   // scan: list hashes' keys too (see ScanOptions.Hashes)
	// layout and index, for a scan: the layout the caller routed by and
	// the shard it asks, so a shard holding keys of two layouts during a
	// reshard returns only that layout's.
	layout keyspace.Layout
	index  int
}

func (q *request) isWrite() bool {
	return q.kind == reqWrite || q.kind == reqMeta || q.kind == reqWriteAll
}

// response is a shard-level result.
type response struct {
	version uint64
	created bool
	added   int // fields a hash set created
	value   []byte
	found   bool
	entries []Entry // scan
	more    bool    // scan
}

func putBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("kv: truncated message")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errors.New("kv: truncated message")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.err = errors.New("kv: truncated message")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (q *request) encode() []byte {
	buf := make([]byte, 0, 32+len(q.key)+len(q.cmd)+len(q.prefix)+len(q.after))
	buf = append(buf, byte(q.kind))
	buf = binary.AppendUvarint(buf, q.group)
	buf = append(buf, byte(q.consistency))
	switch q.kind {
	case reqGet:
		buf = putBytes(buf, q.key)
	case reqWrite, reqMeta, reqWriteAll:
		buf = putBytes(buf, q.cmd)
	case reqScan:
		buf = putBytes(buf, q.prefix)
		buf = putBytes(buf, q.after)
		buf = binary.AppendUvarint(buf, uint64(q.limit))
		buf = append(buf, b2u(q.values))
		buf = binary.AppendUvarint(buf, uint64(q.layout.Shards))
		buf = append(buf, byte(q.layout.Sharding))
		buf = binary.AppendUvarint(buf, uint64(q.index))
		buf = append(buf, b2u(q.hashes))
	}
	return buf
}

func decodeRequest(b []byte) (*request, error) {
	r := &reader{b: b}
	q := &request{kind: reqKind(r.byte()), group: r.uvarint(), consistency: Consistency(r.byte())}
	switch q.kind {
	case reqGet:
		q.key = r.bytes()
	case reqWrite, reqMeta, reqWriteAll:
		q.cmd = r.bytes()
	case reqScan:
		q.prefix, q.after = r.bytes(), r.bytes()
		q.limit = int(r.uvarint())
		q.values = r.byte() == 1
		q.layout = keyspace.Layout{Shards: int(r.uvarint()), Sharding: keyspace.Sharding(r.byte())}
		q.index = int(r.uvarint())
		if len(r.b) > 0 { // absent from a node that predates hashes
			q.hashes = r.byte() == 1
		}
	default:
		return nil, fmt.Errorf("kv: unknown request kind %d", q.kind)
	}
	return q, r.err
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// Status codes of forwarded responses.
const (
	stOK byte = iota
	stNotFound
	stExists
	stMismatch
	stNotLeader
	stGroupNotFound
	stUnknownOutcome
	stTimeout
	stUnavailable
	stBusy
	stDropped
	stStopped
	stNamespaceExists
	stInvalid
	stInternal
	stMoved
	stMoving
	stConflict
	stUnknownMember
	stWrongType
	stLocked // message: the *shardsm.LockedError as JSON
	stTxnFinished
	stNotAllReplicas // a ca write rolled back: a replica did not vote
)

func encodeResponse(q *request, p *response, err error) []byte {
	if err != nil {
		return encodeError(err)
	}
	buf := []byte{stOK}
	switch q.kind {
	case reqGet, reqMeta:
		buf = append(buf, b2u(p.found))
		buf = binary.AppendUvarint(buf, p.version)
		buf = append(buf, p.value...)
	case reqWrite, reqWriteAll:
		buf = binary.AppendUvarint(buf, p.version)
		buf = append(buf, b2u(p.created))
		buf = binary.AppendUvarint(buf, uint64(p.added))
		buf = append(buf, p.value...) // a transaction command's result
	case reqScan:
		buf = append(buf, b2u(p.more))
		buf = binary.AppendUvarint(buf, uint64(len(p.entries)))
		for _, e := range p.entries {
			buf = putBytes(buf, e.Key)
			buf = binary.AppendUvarint(buf, e.Version)
			buf = putBytes(buf, e.Value)
			if q.hashes {
				buf = append(buf, b2u(e.Hash))
			}
		}
	}
	return buf
}

func encodeError(err error) []byte {
	var (
		code  byte
		arg   uint64
		nl    *multiraft.NotLeaderError
		vm    *VersionMismatchError
		moved *shardsm.MovedError
	)
	var locked *shardsm.LockedError
	switch {
	case errors.As(err, &locked):
		b, _ := json.Marshal(locked)
		return append([]byte{stLocked, 0}, b...)
	case errors.Is(err, shardsm.ErrTxnFinished):
		code = stTxnFinished
	case errors.As(err, &moved):
		code, arg = stMoved, moved.Epoch
	case errors.Is(err, shardsm.ErrMoving):
		code = stMoving
	case errors.As(err, &nl):
		code, arg = stNotLeader, nl.Leader
	case errors.As(err, &vm):
		code, arg = stMismatch, vm.Current
	case errors.Is(err, ErrNotFound):
		code = stNotFound
	case errors.Is(err, ErrExists):
		code = stExists
	case errors.Is(err, ErrWrongType):
		code = stWrongType
	case errors.Is(err, ErrNamespaceExists):
		code = stNamespaceExists
	case errors.Is(err, ErrConflict):
		code = stConflict
	case errors.Is(err, ErrUnknownMember):
		code = stUnknownMember
	case errors.Is(err, ErrInvalid):
		code = stInvalid
	case errors.Is(err, multiraft.ErrGroupNotFound):
		code = stGroupNotFound
	case errors.Is(err, multiraft.ErrUnknownOutcome), errors.Is(err, ErrUnknownOutcome):
		code = stUnknownOutcome
	case errors.Is(err, multiraft.ErrTimeout), errors.Is(err, ErrTimeout):
		code = stTimeout
	case errors.Is(err, ErrNotAllReplicas):
		code = stNotAllReplicas
	case errors.Is(err, ErrUnavailable):
		code = stUnavailable
	case errors.Is(err, multiraft.ErrBusy):
		code = stBusy
	case errors.Is(err, multiraft.ErrDropped):
		code = stDropped
	case errors.Is(err, multiraft.ErrStopped):
		code = stStopped
	default:
		code = stInternal
	}
	buf := []byte{code}
	buf = binary.AppendUvarint(buf, arg)
	return append(buf, err.Error()...)
}

// decodeResponse returns the response or the error the remote reported,
// rebuilt as the same sentinel a local call would return.
func decodeResponse(q *request, b []byte) (*response, error) {
	r := &reader{b: b}
	st := r.byte()
	if st != stOK {
		arg := r.uvarint()
		if r.err != nil {
			return nil, r.err
		}
		return nil, remoteError(q, st, arg, string(r.b))
	}
	p := &response{}
	switch q.kind {
	case reqGet, reqMeta:
		p.found = r.byte() == 1
		p.version = r.uvarint()
		p.value = r.b
	case reqWrite, reqWriteAll:
		p.version = r.uvarint()
		p.created = r.byte() == 1
		if len(r.b) > 0 {
			p.added = int(r.uvarint())
			p.value = r.b
		}
	case reqScan:
		p.more = r.byte() == 1
		n := r.uvarint()
		if n > uint64(len(b)) {
			return nil, errors.New("kv: corrupt scan response")
		}
		p.entries = make([]Entry, 0, n)
		for i := uint64(0); i < n && r.err == nil; i++ {
			e := Entry{Key: r.bytes(), Version: r.uvarint(), Value: r.bytes()}
			if q.hashes {
				e.Hash = r.byte() == 1
			}
			if len(e.Value) == 0 && !q.values {
				e.Value = nil
			}
			p.entries = append(p.entries, e)
		}
	}
	return p, r.err
}

func remoteError(q *request, st byte, arg uint64, msg string) error {
	switch st {
	case stNotFound:
		return ErrNotFound
	case stExists:
		return ErrExists
	case stWrongType:
		return ErrWrongType
	case stMismatch:
		c, _ := shardsm.DecodeCommand(q.cmd)
		return &VersionMismatchError{Expected: c.Version, Current: arg}
	case stMoved:
		return &shardsm.MovedError{Epoch: arg}
	case stMoving:
		return shardsm.ErrMoving
	case stNotLeader:
		return &multiraft.NotLeaderError{Group: q.group, Leader: arg}
	case stGroupNotFound:
		return multiraft.ErrGroupNotFound
	case stUnknownOutcome:
		return ErrUnknownOutcome
	case stTimeout:
		return multiraft.ErrTimeout
	case stUnavailable:
		return ErrUnavailable
	case stNotAllReplicas:
		return fmt.Errorf("%w%s", ErrNotAllReplicas, strings.TrimPrefix(msg, ErrNotAllReplicas.Error()))
	case stBusy:
		return multiraft.ErrBusy
	case stDropped:
		return multiraft.ErrDropped
	case stStopped:
		return multiraft.ErrStopped
	case stNamespaceExists:
		return reword(ErrNamespaceExists, msg)
	case stInvalid:
		return reword(ErrInvalid, msg)
	case stConflict:
		return reword(ErrConflict, msg)
	case stUnknownMember:
		return reword(ErrUnknownMember, msg)
	case stLocked:
		var l shardsm.LockedError
		if err := json.Unmarshal([]byte(msg), &l); err != nil {
			return fmt.Errorf("kv: undecodable lock from a peer: %w", err)
		}
		return &l
	case stTxnFinished:
		return reword(shardsm.ErrTxnFinished, msg)
	}
	return fmt.Errorf("kv: remote error: %s", msg)
}

// reword is sentinel with detail after it, where detail may already start
// with the sentinel's own text (an error that crossed a hop, or one
// translated from another package's sentinel): the text says it once.
func reword(sentinel error, detail string, also ...error) error {
	detail = strings.TrimPrefix(detail, sentinel.Error()+": ")
	if detail == sentinel.Error() || detail == "" {
		detail = ""
	}
	msg := sentinel.Error()
	if detail != "" {
		msg += ": " + detail
	}
	return &reworded{msg: msg, errs: append([]error{sentinel}, also...)}
}

type reworded struct {
	msg  string
	errs []error
}

func (e *reworded) Error() string   { return e.msg }
func (e *reworded) Unwrap() []error { return e.errs }
