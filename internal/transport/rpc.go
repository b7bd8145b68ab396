package transport

import (
	"encoding/binary"
	"errors"
	"math"
	"sync"
	"time"
)

// RPC envelopes ride in messages of the reserved types:
//
//	request (typeCallRequest): uvarint call ID, uvarint timeout in ms (0 = none), request bytes
//	reply   (typeCallReply):   uvarint call ID, status byte (0 ok, 1 error), body or error text
const (
	replyOK    = 0
	replyError = 1
	// callOverhead bounds the envelope bytes around a request or reply.
	callOverhead = 2 * binary.MaxVarintLen64
)

var errBadEnvelope = errors.New("transport: malformed call envelope")

func encodeCallRequest(id uint64, timeout time.Duration, req []byte) []byte {
	var ms uint64
	if timeout > 0 {
		ms = uint64((timeout + time.Millisecond - 1) / time.Millisecond) // round up: never 0
	}
	b := make([]byte, 0, callOverhead+len(req))
	b = binary.AppendUvarint(b, id)
	b = binary.AppendUvarint(b, ms)
	return append(b, req...)
}

func decodeCallRequest(p []byte) (id uint64, timeout time.Duration, req []byte, err error) {
	id, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, 0, nil, errBadEnvelope
	}
	ms, m := binary.Uvarint(p[n:])
	if m <= 0 || ms > math.MaxInt64/uint64(time.Millisecond) {
		return 0, 0, nil, errBadEnvelope
	}
	return id, time.Duration(ms) * time.Millisecond, p[n+m:], nil
}

func encodeCallReply(id uint64, body []byte, err error) []byte {
	status := byte(replyOK)
	if err != nil {
		status, body = replyError, []byte(err.Error())
	}
	b := make([]byte, 0, callOverhead+len(body))
	b = binary.AppendUvarint(b, id)
	b = append(b, status)
	return append(b, body...)
}

func decodeCallReply(p []byte) (id uint64, r callResult, err error) {
	id, n := binary.Uvarint(p)
	if n <= 0 || n >= len(p) {
		return 0, r, errBadEnvelope
	}
	body := p[n+1:]
	switch p[n] {
	case replyOK:
		r.body = body
	case replyError:
		r.err = &RemoteError{Msg: string(body)}
	default:
		return 0, r, errBadEnvelope
	}
	return id, r, nil
}

// remoteMsg is the text a handler error reaches the caller with.
func remoteMsg(err error) error {
	var re *RemoteError
	if errors.As(err, &re) {
		return errors.New(re.Msg) // don't nest "transport: remote:" prefixes
	}
	return err
}

type callResult struct {
	body []byte
	err  error
}

type pendingCall struct {
	to   uint64
	done chan callResult // buffered: completing never blocks
}

// callTable tracks this node's outstanding Calls. Each is completed exactly
// once: by its reply, by a failure of its peer, by Close, or removed by its
// own caller on ctx expiry.
type callTable struct {
	mu struct {
		sync.Mutex
		closed  bool
		next    uint64
		pending map[uint64]*pendingCall
	}
}

func (t *callTable) add(to uint64) (uint64, *pendingCall, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return 0, nil, ErrClosed
	}
	if t.mu.pending == nil {
		t.mu.pending = map[uint64]*pendingCall{}
	}
	t.mu.next++
	pc := &pendingCall{to: to, done: make(chan callResult, 1)}
	t.mu.pending[t.mu.next] = pc
	return t.mu.next, pc, nil
}

func (t *callTable) remove(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.mu.pending, id)
}

// complete delivers a reply from node from. Replies to unknown IDs (the
// caller gave up) or from the wrong node are ignored.
func (t *callTable) complete(from, id uint64, r callResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pc := t.mu.pending[id]
	if pc == nil || pc.to != from {
		return
	}
	delete(t.mu.pending, id)
	pc.done <- r
}

// failPeer fails every call waiting on node to: its reply can no longer
// arrive.
func (t *callTable) failPeer(to uint64, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, pc := range t.mu.pending {
		if pc.to == to {
			delete(t.mu.pending, id)
			pc.done <- callResult{err: err}
		}
	}
}

// failCalls fails the given calls with err.
func (t *callTable) failCalls(ids []uint64, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		if pc := t.mu.pending[id]; pc != nil {
			delete(t.mu.pending, id)
			pc.done <- callResult{err: err}
		}
	}
}

// close fails every pending call with ErrClosed and refuses new ones.
func (t *callTable) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mu.closed = true
	for id, pc := range t.mu.pending {
		delete(t.mu.pending, id)
		pc.done <- callResult{err: ErrClosed}
	}
}
