package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/distkv/distkv/client"
	"github.com/distkv/distkv/internal/replication/dynamo/dvv"
)

// leaderless does one read or blind write of a shared key in an eventual
// or causal namespace. In a causal namespace it checks the session's
// guarantees: a key's causal context never goes backwards from what the
// session wrote or read before (read your writes, monotonic reads).
func (w *worker) leaderless(ctx context.Context) {
	key := w.run.key(w.rng.Intn(w.run.cfg.Keys))
	start := time.Now()
	var context string
	var err error
	write := w.rng.Intn(100) < 40
	if write {
		var res *client.WriteResult
		res, err = w.cl.Put(ctx, key, []byte(fmt.Sprintf("c%d-%d", w.id, w.seq)))
		if err == nil {
			context = res.Context
		}
	} else {
		var e *client.Entry
		e, err = w.cl.Get(ctx, key)
		if err == nil {
			context = e.Context
		}
		if errors.Is(err, client.ErrNotFound) {
			err = nil
			if _, seen := w.contexts[key]; seen && w.run.mode == "causal" {
				w.violation("key %s not found after the session saw it", key)
			}
		}
	}
	o := okOutcome
	switch {
	case err == nil:
	case write:
		o = classifyWrite(err)
	default:
		o = failedOutcome
	}
	w.run.note(opRecord{start: start, end: time.Now(), write: write, outcome: o})
	if context != "" && w.run.mode == "causal" {
		w.checkMonotonic(key, context)
	}
}

func (w *worker) checkMonotonic(key, context string) {
	now, err := dvv.DecodeToken(context)
	if err != nil {
		w.violation("key %s: undecodable context %q", key, context)
		return
	}
	if prevTok, ok := w.contexts[key]; ok {
		prev, _ := dvv.DecodeToken(prevTok)
		if !now.Descends(prev) {
			w.violation("client %d: key %s went backwards: saw %s, then %s", w.id, key, prev, now)
		}
		now = now.Merge(prev)
	}
	w.contexts[key] = dvv.EncodeToken(now)
}

func (w *worker) violation(format string, args ...any) {
	w.run.mu.Lock()
	w.run.violations = append(w.run.violations, fmt.Sprintf(format, args...))
	w.run.mu.Unlock()
}
