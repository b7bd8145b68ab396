// Package lincheck records histories of key-value operations and checks
// them for linearizability with porcupine, one key at a time.
//
// The model is a versioned register per key: get, put, compare-and-set on
// the key's version, and delete. Versions are assigned by the store, so the
// model learns them from successful responses; a state whose version is not
// known (after a write of unknown outcome) accepts whichever version a later
// response reports, and from then on holds it. An operation whose outcome is
// unknown is recorded with an open end (it may take effect at any time after
// it began) and may or may not have been applied.
package lincheck

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Kind is an operation's type.
type Kind uint8

const (
	Get Kind = iota + 1
	Put
	CAS
	Delete
)

func (k Kind) String() string {
	return [...]string{"?", "get", "put", "cas", "delete"}[k]
}

// Input is what a client asked.
type Input struct {
	Kind  Kind
	Key   string
	Value string // put, cas
	// Expect is the version a CAS requires.
	Expect uint64
}

// Output is what the store answered.
type Output struct {
	// Unknown: the operation's fate is not known (timeout, lost
	// connection). A failed read should not be recorded at all.
	Unknown bool
	// OK: a put, cas or delete took effect; false for a failed condition
	// (cas mismatch, delete of a missing key).
	OK bool
	// Found, Value, Version: a get's result; Version is also the version a
	// successful put or cas produced.
	Found   bool
	Value   string
	Version uint64
}

// Recorder collects a history from concurrent clients.
type Recorder struct {
	start time.Time
	mu    struct {
		sync.Mutex
		ops []porcupine.Operation
	}
}

// NewRecorder starts a history.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Call is an operation in progress.
type Call struct {
	r      *Recorder
	client int
	in     Input
	at     int64
}

// Begin records that client invoked in, just before it is sent.
func (r *Recorder) Begin(client int, in Input) *Call {
	return &Call{r: r, client: client, in: in, at: int64(time.Since(r.start))}
}

// End records the operation's response, just after it arrived. An unknown
// outcome gets an open end. A read that failed should be dropped instead
// (call Drop): it had no effect.
func (c *Call) End(out Output) {
	ret := int64(time.Since(c.r.start))
	if out.Unknown {
		ret = math.MaxInt64
	}
	c.r.mu.Lock()
	c.r.mu.ops = append(c.r.mu.ops, porcupine.Operation{
		ClientId: c.client, Input: c.in, Call: c.at, Output: out, Return: ret,
	})
	c.r.mu.Unlock()
}

// Drop forgets an operation that certainly had no effect.
func (c *Call) Drop() {}

// History returns the operations recorded so far.
func (r *Recorder) History() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Operation(nil), r.mu.ops...)
}

// state is one key's register. known=false means the key exists but its
// version is not known yet.
type state struct {
	exists  bool
	value   string
	version uint64
	known   bool
}

func step(s0 any, in0 any, out0 any) []any {
	s, in, out := s0.(state), in0.(Input), out0.(Output)
	if out.Unknown {
		// Either it never happened, or it happened with an unseen result.
		return append([]any{s}, applyUnknown(s, in)...)
	}
	switch in.Kind {
	case Get:
		if !out.Found {
			return when(!s.exists, s)
		}
		if !s.exists || s.value != out.Value || (s.known && s.version != out.Version) {
			return nil
		}
		s.version, s.known = out.Version, true
		return []any{s}
	case Put:
		return when(out.OK && newer(s, out.Version), written(in.Value, out.Version))
	case CAS:
		holds := s.exists && (!s.known || s.version == in.Expect)
		if out.OK {
			return when(holds && newer(s, out.Version), written(in.Value, out.Version))
		}
		if s.exists && !s.known {
			return []any{s} // a mismatch is consistent with an unknown version
		}
		return when(!holds, s)
	case Delete:
		if out.OK {
			return when(s.exists, state{})
		}
		return when(!s.exists, s)
	}
	return nil
}

func applyUnknown(s state, in Input) []any {
	switch in.Kind {
	case Put:
		return []any{state{exists: true, value: in.Value}}
	case CAS:
		if s.exists && (!s.known || s.version == in.Expect) {
			return []any{state{exists: true, value: in.Value}}
		}
	case Delete:
		if s.exists {
			return []any{state{}}
		}
	}
	return nil
}

func newer(s state, v uint64) bool { return !s.known || v > s.version }

func written(value string, v uint64) state {
	return state{exists: true, value: value, version: v, known: true}
}

func when(ok bool, s state) []any {
	if ok {
		return []any{s}
	}
	return nil
}

// Model is the per-key versioned register.
var Model = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(Input).Key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{state{}} },
	Step: step,
	DescribeOperation: func(in0, out0 any) string {
		in, out := in0.(Input), out0.(Output)
		res := describeOutput(in, out)
		switch in.Kind {
		case Put:
			return fmt.Sprintf("put(%s, %q) -> %s", in.Key, in.Value, res)
		case CAS:
			return fmt.Sprintf("cas(%s, v%d, %q) -> %s", in.Key, in.Expect, in.Value, res)
		}
		return fmt.Sprintf("%s(%s) -> %s", in.Kind, in.Key, res)
	},
	DescribeState: func(s0 any) string {
		s := s0.(state)
		switch {
		case !s.exists:
			return "absent"
		case !s.known:
			return fmt.Sprintf("%q v?", s.value)
		}
		return fmt.Sprintf("%q v%d", s.value, s.version)
	},
}

func describeOutput(in Input, out Output) string {
	switch {
	case out.Unknown:
		return "unknown"
	case in.Kind == Get && !out.Found:
		return "not found"
	case in.Kind == Get:
		return fmt.Sprintf("%q v%d", out.Value, out.Version)
	case !out.OK:
		return "failed"
	case in.Kind == Delete:
		return "ok"
	}
	return fmt.Sprintf("ok v%d", out.Version)
}
