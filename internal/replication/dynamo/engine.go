package dynamo

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/replication/dynamo/dvv"
	"github.com/distkv/distkv/internal/transport"
)

// Engine serves the leaderless namespaces of one node. Safe for concurrent
// use.
type Engine struct {
	cfg    Config
	store  *store
	causal *causalState

	mu struct {
		sync.Mutex
		lastAE, lastHints time.Time
		aeCursor          int
	}
	// bg tracks background goroutines; Close waits for them. bgMu orders
	// their start against Close.
	bgMu       sync.RWMutex
	closed     atomic.Bool
	delivering atomic.Bool // a hint delivery pass is running
	stop       chan struct{}
	wg         sync.WaitGroup
	// root is cancelled by Close, ending background calls at once.
	root   context.Context
	cancel context.CancelFunc
}

// New returns an engine. It loads nothing eagerly: shard trees are built
// on first use.
func New(cfg Config) (*Engine, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, store: newStore(cfg.Engine, cfg.Sync), stop: make(chan struct{})}
	e.root, e.cancel = context.WithCancel(context.Background())
	e.causal = newCausalState(e)
	if err := e.causal.load(); err != nil {
		return nil, err
	}
	e.spawn(func() { e.causal.run(e.stop) })
	return e, nil
}

// Close stops background work and waits for it.
func (e *Engine) Close() {
	e.bgMu.Lock()
	already := e.closed.Swap(true)
	e.bgMu.Unlock()
	if already {
		return
	}
	e.cancel()
	close(e.stop)
	e.wg.Wait()
}

// spawn runs fn on its own goroutine unless the engine is closing.
func (e *Engine) spawn(fn func()) bool {
	e.bgMu.RLock()
	defer e.bgMu.RUnlock()
	if e.closed.Load() {
		return false
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		fn()
	}()
	return true
}

func (e *Engine) self() keyspace.NodeID { return e.cfg.NodeID }

func (e *Engine) alive(n keyspace.NodeID) bool { return n == e.self() || e.cfg.Alive(n) }

// call sends an engine request to node n.
func (e *Engine) call(ctx context.Context, n keyspace.NodeID, req []byte) (*dec, error) {
	out, err := e.cfg.Transport.Call(ctx, uint64(n), append([]byte{CallDynamo}, req...))
	if err != nil {
		return nil, err
	}
	d := &dec{b: out}
	if st := d.byte(); st != replyOK {
		code := d.byte()
		return nil, remoteErr(code, string(d.b))
	}
	return d, d.err
}

// HandleCall serves a peer's request (the payload after CallDynamo).
func (e *Engine) HandleCall(ctx context.Context, from uint64, req []byte) ([]byte, error) {
	d := &dec{b: req}
	op := d.byte()
	out := &enc{b: []byte{replyOK}}
	var err error
	switch op {
	case opStore:
		err = e.serveStore(d)
	case opFetch:
		err = e.serveFetch(d, out)
	case opBuckets:
		err = e.serveBuckets(d, out)
	case opBucketStates:
		err = e.serveBucketStates(d, out)
	case opStoreBatch:
		err = e.serveStoreBatch(d)
	case opCopyBatch:
		err = e.serveCopyBatch(d)
	case opCausalFetch:
		err = e.serveCausalFetch(ctx, d, out)
	case opScan:
		err = e.serveScan(d, out)
	case opCoordinate:
		err = e.serveCoordinate(ctx, d, out)
	case opCausalRead:
		err = e.serveCausalRead(ctx, d, out)
	case opRemoveIfHash:
		err = e.serveRemoveIfHash(d)
	case opPlant:
		err = e.servePlant(d)
	default:
		err = fmt.Errorf("dynamo: unknown operation %d", op)
	}
	if err == nil {
		err = d.err
	}
	if err != nil {
		return append([]byte{replyErr, errCode(err)}, err.Error()...), nil
	}
	return out.b, nil
}

// HandleMessage takes a one-way message of the causal broadcast.
func (e *Engine) HandleMessage(m transport.Message) { e.causal.handle(m) }

// MessageType is the transport message type of the causal broadcast.
const MessageType uint8 = 3

// Tick runs periodic work: hint delivery, one anti-entropy round,
// tombstone collection and the causal broadcast's acknowledgements and
// retransmissions. The node calls it from its ticker.
func (e *Engine) Tick(now time.Time) {
	if e.closed.Load() {
		return
	}
	e.mu.Lock()
	doHints := now.Sub(e.mu.lastHints) >= e.cfg.HintInterval
	doAE := now.Sub(e.mu.lastAE) >= e.cfg.AntiEntropyInterval
	if doHints {
		e.mu.lastHints = now
	}
	if doAE {
		e.mu.lastAE = now
	}
	e.mu.Unlock()
	e.causal.tick()
	if doHints {
		e.background(func(ctx context.Context) { e.deliverHints(ctx) })
	}
	if doAE {
		e.background(func(ctx context.Context) { e.antiEntropyRound(ctx, false) })
	}
}

// background runs fn on its own goroutine with a bounded context.
func (e *Engine) background(fn func(ctx context.Context)) {
	e.spawn(func() {
		ctx, cancel := context.WithTimeout(e.root, 30*time.Second)
		defer cancel()
		fn(ctx)
	})
}

// groupNamespace finds the namespace a group belongs to.
func (e *Engine) groupNamespace(g uint64) *membership.NamespaceMap {
	return e.cfg.Map().NamespaceByID(keyspace.GroupID(g).Namespace())
}

// localShards lists the leaderless shards with a replica here.
func (e *Engine) localShards() []membership.Shard {
	var out []membership.Shard
	for _, sh := range e.cfg.Map().ShardsOn(e.self()) {
		if sh.Namespace.Mode != keyspace.ModeStrong {
			out = append(out, sh)
		}
	}
	return out
}

// KeyCount is how many live keys this node's replica of group holds.
func (e *Engine) KeyCount(g uint64) int64 { return e.store.liveKeys(g) }

func (e *Engine) emit(g uint64, key []byte, set dvv.Set) {
	if e.cfg.OnChange == nil {
		return
	}
	ns := e.groupNamespace(g)
	if ns == nil {
		return
	}
	ch := Change{Group: g, Key: key, Token: dvv.EncodeToken(set.Context), Deleted: set.IsTombstone()}
	if vals := set.Values(); len(vals) > 0 {
		ch.Value, ch.Siblings = vals[0], len(vals)
	}
	e.cfg.OnChange(ns, []Change{ch})
}

func (e *Engine) lww(g uint64) bool {
	ns := e.groupNamespace(g)
	return ns != nil && ns.Conflicts != keyspace.ConflictsSiblings
}

func (e *Engine) discarded(n int) {
	if e.cfg.Metrics.LWWDiscarded != nil {
		e.cfg.Metrics.LWWDiscarded(n)
	}
}

// DumpEntry is one key of a local replica, for dumps.
type DumpEntry struct {
	Key      []byte
	Values   [][]byte
	Deleted  bool
	Siblings int
	Context  string
}

// DumpLocal calls fn with every key this node's replica of group holds,
// tombstones included, in key order.
func (e *Engine) DumpLocal(ctx context.Context, g uint64, fn func(DumpEntry) error) error {
	var ferr error
	err := e.store.scan(g, nil, nil, 0, func(key []byte, set dvv.Set) bool {
		if ferr = ctx.Err(); ferr != nil {
			return false
		}
		vals := set.Values()
		ferr = fn(DumpEntry{Key: key, Values: vals, Deleted: set.IsTombstone(), Siblings: len(vals), Context: dvv.EncodeToken(set.Context)})
		return ferr == nil
	})
	if err != nil {
		return err
	}
	return ferr
}
