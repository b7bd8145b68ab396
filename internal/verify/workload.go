package verify

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"time"

	"github.com/distkv/distkv/client"
	"github.com/distkv/distkv/internal/lincheck"
)

// outcome classifies a finished operation.
type outcome uint8

const (
	okOutcome      outcome = iota // succeeded (including a definite "no": mismatch, not found)
	failedOutcome                 // certainly not applied (unavailable, refused)
	unknownOutcome                // a write whose fate is unknown
)

// opRecord is one operation, for availability figures.
type opRecord struct {
	start, end time.Time
	write      bool
	outcome    outcome
}

type runState struct {
	cfg    Config
	cl     *client.Client
	rec    *lincheck.Recorder
	start  time.Time
	prefix string

	// mode is the namespace's: strong runs are checked for
	// linearizability; eventual and causal ones for convergence,
	// durability and (causal) session guarantees.
	mode string

	mu         sync.Mutex
	ops        []opRecord
	acked      map[string]string // durability probes acknowledged
	nem        []faultWindow
	violations []string // causal session guarantees broken
	bank       *BankFigures
	appends    *appendState
}

func (r *runState) key(i int) string { return fmt.Sprintf("%sk%d", r.prefix, i) }

func (r *runState) note(op opRecord) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

// startWorkload runs the clients until ctx ends; the returned channel
// closes when they have all stopped.
func (r *runState) startWorkload(ctx context.Context) <-chan struct{} {
	r.acked = map[string]string{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < r.cfg.Clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{run: r, id: i, rng: rand.New(rand.NewSource(r.cfg.Seed*7919 + int64(i))), seen: map[string]uint64{}, cl: r.cl}
			if r.mode != "strong" {
				// Each worker is its own causal session.
				if cl, err := client.New(client.Config{Endpoints: r.cfg.Endpoints, Timeout: 2 * time.Second, RetryTimeout: 4 * time.Second, TLS: r.cfg.TLS}); err == nil {
					w.cl = cl.WithNamespace(r.cfg.Namespace)
				}
				w.contexts = map[string]string{}
			}
			w.loop(ctx)
		}()
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

type worker struct {
	run  *runState
	cl   *client.Client
	id   int
	rng  *rand.Rand
	seen map[string]uint64
	seq  int
	// contexts (leaderless) is, per shared key, the newest causal context
	// this session has seen.
	contexts map[string]string
}

func (w *worker) loop(ctx context.Context) {
	for ctx.Err() == nil {
		w.seq++
		opCtx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		switch {
		case w.seq%4 == 0:
			w.durable(opCtx)
		case w.run.bank != nil:
			w.bankStep(opCtx)
		case w.run.appends != nil:
			w.appendStep(opCtx)
		case w.run.mode != "strong":
			w.leaderless(opCtx)
		default:
			w.register(opCtx)
		}
		cancel()
	}
}

// durable writes a unique key that must survive to the end if acknowledged.
func (w *worker) durable(ctx context.Context) {
	k := fmt.Sprintf("%sdur/%d/%d", w.run.prefix, w.id, w.seq)
	start := time.Now()
	_, err := w.cl.Put(ctx, k, []byte(k))
	o := classifyWrite(err)
	w.run.note(opRecord{start: start, end: time.Now(), write: true, outcome: o})
	if err == nil {
		w.run.mu.Lock()
		w.run.acked[k] = k
		w.run.mu.Unlock()
	}
}

// register does one random get/put/cas/delete on the shared keys and
// records it for the linearizability check.
func (w *worker) register(ctx context.Context) {
	key := w.run.key(w.rng.Intn(w.run.cfg.Keys))
	val := fmt.Sprintf("c%d-%d", w.id, w.seq)
	start := time.Now()
	switch p := w.rng.Intn(100); {
	case p < 45:
		w.get(ctx, key, start)
		return
	case p < 70:
		call := w.run.rec.Begin(w.id, lincheck.Input{Kind: lincheck.Put, Key: key, Value: val})
		res, err := w.run.cl.Put(ctx, key, []byte(val))
		w.endWrite(call, start, err, res)
	case p < 90:
		exp := w.seen[key]
		if exp == 0 {
			exp = uint64(1 + w.rng.Intn(100))
		}
		call := w.run.rec.Begin(w.id, lincheck.Input{Kind: lincheck.CAS, Key: key, Value: val, Expect: exp})
		res, err := w.run.cl.Put(ctx, key, []byte(val), client.IfVersion(exp))
		w.endWrite(call, start, err, res)
	default:
		call := w.run.rec.Begin(w.id, lincheck.Input{Kind: lincheck.Delete, Key: key})
		res, err := w.run.cl.Delete(ctx, key)
		w.endWrite(call, start, err, res)
	}
}

func (w *worker) get(ctx context.Context, key string, start time.Time) {
	call := w.run.rec.Begin(w.id, lincheck.Input{Kind: lincheck.Get, Key: key})
	e, err := w.run.cl.Get(ctx, key)
	o := okOutcome
	switch {
	case err == nil:
		call.End(lincheck.Output{Found: true, Value: string(e.Value), Version: e.Version})
		w.seen[key] = e.Version
	case errors.Is(err, client.ErrNotFound):
		call.End(lincheck.Output{})
		delete(w.seen, key)
	default:
		call.Drop() // a failed read changed nothing
		o = failedOutcome
	}
	w.run.note(opRecord{start: start, end: time.Now(), outcome: o})
}

func (w *worker) endWrite(call *lincheck.Call, start time.Time, err error, res *client.WriteResult) {
	o := classifyWrite(err)
	switch {
	case err == nil:
		call.End(lincheck.Output{OK: true, Version: res.Version})
	case errors.Is(err, client.ErrVersionMismatch), errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrExists):
		call.End(lincheck.Output{})
	case o == failedOutcome:
		call.Drop()
	default:
		call.End(lincheck.Output{Unknown: true})
	}
	w.run.note(opRecord{start: start, end: time.Now(), write: true, outcome: o})
}

// classifyWrite sorts a write's error: nil and definite answers are ok;
// 503 unavailable (the server promises nothing was done) and requests that
// never reached a server failed; everything else is unknown.
func classifyWrite(err error) outcome {
	var ce *client.Error
	switch {
	case err == nil, errors.Is(err, client.ErrVersionMismatch), errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrExists):
		return okOutcome
	case errors.Is(err, client.ErrOutcomeUnknown):
		return unknownOutcome
	case errors.Is(err, client.ErrUnavailable):
		return failedOutcome
	case errors.As(err, &ce):
		return unknownOutcome
	case errors.Is(err, client.ErrNoEndpoint):
		// Every endpoint failed before anything was sent (the client marks
		// a request that may have been sent as outcome unknown).
		return failedOutcome
	}
	return unknownOutcome
}
