package verify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distkv/distkv/client"
	"github.com/distkv/distkv/internal/elle"
)

// The append workload (Jepsen's list-append): each client runs
// interactive transactions of one to four operations on a few shared
// keys, each a read of a key's list or an append of a unique number to
// it (a read, then a write of the list with the number added). The
// history goes to package elle, which infers each key's order from the
// lists read and looks for cycles in the dependency graph, real-time
// edges included: any cycle is a violation of strict serializability.
// A key is retired after appendsPerKey appends, so lists stay short.

// WorkloadAppend names the workload.
const WorkloadAppend = "append"

const (
	appendsPerKey = 64
	appendTxnTTL  = 10 * time.Second
	maxAnomalies  = 20
)

// AppendFigures are an append run's counts and the checker's findings.
type AppendFigures struct {
	Transactions int `json:"transactions"`
	Committed    int `json:"committed"`
	Failed       int `json:"failed"`  // certainly not committed (a conflict, unavailability)
	Unknown      int `json:"unknown"` // the commit's outcome is unknown
	Keys         int `json:"keys"`
	// Anomalies are the checker's findings (the first maxAnomalies).
	Anomalies []elle.Anomaly `json:"anomalies,omitempty"`
}

// appendState is the workload's shared state: the history and the key
// rotation.
type appendState struct {
	mu      sync.Mutex
	history []elle.Txn
	next    int   // the next value to append (unique across the run)
	active  []int // the key numbers in use
	used    map[int]int
	keys    int // keys ever used
}

func newAppendState(n int) *appendState {
	s := &appendState{used: map[int]int{}}
	for i := range n {
		s.active = append(s.active, i)
	}
	s.keys = n
	return s
}

func (r *runState) listKey(n int) string { return fmt.Sprintf("%slist/%d", r.prefix, n) }

// plan draws one transaction's operations (keys and values are fixed now,
// so values are unique even if the transaction is tried in vain).
func (w *worker) plan() []elle.Mop {
	s := w.run.appends
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 1 + w.rng.Intn(4)
	mops := make([]elle.Mop, 0, n)
	for range n {
		slot := w.rng.Intn(len(s.active))
		k := s.active[slot]
		key := w.run.listKey(k)
		if w.rng.Intn(2) == 0 {
			mops = append(mops, elle.Mop{Kind: elle.Read, Key: key})
			continue
		}
		s.next++
		mops = append(mops, elle.Mop{Kind: elle.Append, Key: key, Value: s.next})
		if s.used[k]++; s.used[k] >= appendsPerKey {
			s.active[slot] = s.keys // retire the key: a fresh one takes its place
			s.keys++
		}
	}
	return mops
}

// appendStep runs one list-append transaction and records it.
func (w *worker) appendStep(ctx context.Context) {
	r := w.run
	mops := w.plan()
	start := time.Now()
	status, _ := w.runAppend(ctx, mops)
	end := time.Now()
	o := okOutcome
	switch status {
	case elle.Fail:
		o = failedOutcome
	case elle.Info:
		o = unknownOutcome
	}
	r.note(opRecord{start: start, end: end, write: true, outcome: o})
	t := elle.Txn{Process: w.id, Status: status, Mops: mops, Start: start.Sub(r.start).Nanoseconds()}
	if status != elle.Info {
		t.End = end.Sub(r.start).Nanoseconds()
	}
	s := r.appends
	s.mu.Lock()
	t.ID = len(s.history)
	s.history = append(s.history, t)
	s.mu.Unlock()
}

// runAppend executes mops in one interactive transaction, filling in the
// reads' lists, and classifies the outcome.
func (w *worker) runAppend(ctx context.Context, mops []elle.Mop) (elle.Status, error) {
	tx, err := w.cl.Begin(ctx, appendTxnTTL)
	if err != nil {
		return elle.Fail, err // nothing was locked or written
	}
	abandon := func(err error) (elle.Status, error) {
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = tx.Rollback(rctx)
		cancel()
		for i := range mops {
			mops[i].List = nil
		}
		return elle.Fail, err
	}
	for i := range mops {
		m := &mops[i]
		e, err := tx.Get(ctx, m.Key)
		var list []int
		switch {
		case errors.Is(err, client.ErrNotFound):
		case err != nil:
			return abandon(err)
		default:
			if list, err = parseList(e.Value); err != nil {
				return abandon(fmt.Errorf("key %s: %w", m.Key, err))
			}
		}
		if m.Kind == elle.Read {
			m.List = append([]int{}, list...)
			continue
		}
		if err := tx.Put(ctx, m.Key, []byte(formatList(append(list, m.Value)))); err != nil {
			return abandon(err)
		}
	}
	_, err = tx.Commit(ctx)
	switch {
	case err == nil:
		return elle.OK, nil
	case classifyTxn(err) == failedOutcome, errors.Is(err, client.ErrUnknown):
		// A conflict or an abort, or the node lost the transaction
		// before the commit reached it: nothing was committed.
		for i := range mops {
			mops[i].List = nil
		}
		return elle.Fail, err
	}
	for i := range mops {
		mops[i].List = nil // an unknown outcome's reads are not observations
	}
	return elle.Info, err
}

func parseList(b []byte) ([]int, error) {
	if len(b) == 0 {
		return nil, nil
	}
	parts := strings.Split(string(b), ",")
	out := make([]int, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("list %q holds %q, not a number", b, p)
		}
		out = append(out, n)
	}
	return out, nil
}

func formatList(l []int) string {
	var b strings.Builder
	for i, n := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// judgeAppend checks the history for strict serializability.
func (r *runState) judgeAppend() *AppendFigures {
	s := r.appends
	s.mu.Lock()
	defer s.mu.Unlock()
	res := elle.Check(s.history, elle.Options{RealTime: true})
	f := &AppendFigures{Transactions: len(s.history), Committed: res.Committed, Failed: res.Failed, Unknown: res.Unknown, Keys: s.keys}
	f.Anomalies = res.Anomalies
	if len(f.Anomalies) > maxAnomalies {
		f.Anomalies = f.Anomalies[:maxAnomalies]
	}
	if !res.Valid && len(f.Anomalies) == 0 {
		f.Anomalies = []elle.Anomaly{{Kind: "invalid", Explanation: "the checker judged the history invalid without naming an anomaly"}}
	}
	return f
}
