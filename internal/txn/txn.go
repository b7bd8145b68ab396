// Package txn coordinates atomic transactions across a strong namespace's
// shards: two-phase commit through the shards' Raft logs, with the
// transaction's record on the namespace's shard 0 as the commit point and
// locks that whoever meets them resolves once their holder is gone.
//
// The protocol (the shard commands are in package shardsm):
//
//  1. Prepare, on every participant shard at once: lock the transaction's
//     keys there and record that shard's writes of both branches; the
//     answer is the keys' states, read under the locks.
//  2. Decide, on the record shard (shard 0, which every layout keeps with
//     its group, so a reshard never drops a record a lock still needs):
//     the comparisons, evaluated over every
//     participant's reads, choose the branch; the decision "commit with
//     this branch" is recorded. This is the commit point. A record that
//     exists already (a resolver's abort) wins instead.
//  3. Resolve, on every participant: apply the branch's writes, release
//     the locks. The client's answer waits for this, so what it saw is
//     readable at once everywhere.
//
// Conflicts do not wait while holding locks: a prepare that meets another
// transaction's lock aborts its own transaction, settles the lock (waits
// for its holder, or resolves it if the holder is older than the timeout)
// and starts again, so two transactions can never wait on each other.
// A lock older than the timeout whose record shows no decision is aborted
// by recording "abort" on its record shard; the first decision recorded
// stands, so a slow coordinator and a resolver cannot both win.
package txn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/shardsm"
)

// MaxOps bounds a transaction's comparisons and operations together (as
// etcd's --max-txn-ops does; Redis's MSET, a transaction here, has no
// limit of its own, so ours is higher than etcd's default of 128).
const MaxOps = 1024

// Config configures a Coordinator.
type Config struct {
	KV *kv.Service
	// Now is the clock locks are aged by (default time.Now).
	Now func() time.Time
	// LockTimeout is how long a lock's holder has to decide before whoever
	// meets the lock may abort it (default 2s).
	LockTimeout time.Duration
	// Logger receives resolutions of abandoned transactions.
	Logger *slog.Logger
	// NodeID names this node in interactive transactions' IDs and states.
	NodeID string
}

// Coordinator runs transactions and resolves the locks requests meet.
type Coordinator struct {
	cfg Config
	// stopAfter, in tests, abandons cross-shard transactions after a step
	// (see export_test.go).
	stopAfter string
	sessions  sessions
}

// errStopped is what an abandoned transaction returns (tests only).
var errStopped = errors.New("txn: coordinator stopped (test)")

// New returns a coordinator and installs it as the kv service's lock
// resolver.
func New(cfg Config) *Coordinator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LockTimeout <= 0 {
		cfg.LockTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Coordinator{cfg: cfg, sessions: sessions{m: map[string]*session{}}}
	cfg.KV.SetLockResolver(c)
	return c
}

// Request is a transaction: if every comparison holds, the success
// operations run, else the failure ones — all or nothing.
type Request struct {
	Compares []shardsm.Compare
	Success  []shardsm.TxnOp
	Failure  []shardsm.TxnOp
}

// Result is a committed transaction.
type Result struct {
	// ID names a cross-shard transaction ("" for one on a single shard).
	ID string
	// Succeeded: the comparisons held and the success branch ran.
	Succeeded bool
	// Results has one entry per operation of the branch that ran: a get's
	// state (Found, Version, Value), a put's or a delete's version. A get
	// sees the transaction's earlier writes.
	Results []shardsm.KeyState
	// Shards is how many shards took part.
	Shards int
}

// Run executes req in strong namespace nsName.
func (c *Coordinator) Run(ctx context.Context, nsName string, req Request) (Result, error) {
	t := &shardsm.Txn{Compares: req.Compares, Success: req.Success, Failure: req.Failure}
	if n := len(t.Compares) + len(t.Success) + len(t.Failure); n > MaxOps {
		return Result{}, fmt.Errorf("%w: %d comparisons and operations, more than the limit of %d", kv.ErrInvalid, n, MaxOps)
	}
	if err := c.cfg.KV.CheckTxn(t); err != nil {
		return Result{}, err
	}
	// A client that goes away does not abandon the transaction halfway
	// (its locks would stand until the timeout): it runs on, bounded by the
	// request timeout even under a longer deadline, so a transaction
	// waiting on locks answers "conflict" in that time.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.KV.Timeout())
	defer cancel()
	keys := t.Keys()
	backoff := 2 * time.Millisecond
	for {
		ns, err := c.cfg.KV.Namespace(nsName)
		if err != nil {
			return Result{}, err
		}
		if ns.Mode != keyspace.ModeStrong || ns.AllReplicas {
			return Result{}, fmt.Errorf("%w: transactions run in strong namespaces; %q is %s", kv.ErrWrongMode, ns.Name, ns.ModeName())
		}
		if len(keys) == 0 {
			return Result{Succeeded: true}, nil
		}
		parts := split(ns, t)
		var res Result
		if len(parts) == 1 {
			res, err = c.runLocal(ctx, parts[0].shard, t)
		} else {
			res, err = c.runDistributed(ctx, ns, t, parts)
		}
		if err == nil {
			return res, nil
		}
		again, werr := c.settle(ctx, err)
		if !again {
			return Result{}, werr
		}
		// Jittered, so two transactions that gave way to each other do not
		// meet again at the same instant.
		if !sleep(ctx, backoff/2+mrand.N(backoff)) {
			return Result{}, giveUp(err)
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// settle decides whether a failed attempt may go again (it had no effect),
// resolving the lock it met if that was the cause.
func (c *Coordinator) settle(ctx context.Context, err error) (bool, error) {
	var l *kv.LockedError
	var moved *shardsm.MovedError
	switch {
	case errors.As(err, &l):
		if rerr := c.ResolveLock(ctx, l); rerr != nil {
			return false, giveUp(err)
		}
		return true, nil
	case errors.Is(err, kv.ErrTxnAborted), errors.As(err, &moved), errors.Is(err, shardsm.ErrMoving):
		return ctx.Err() == nil, err
	}
	return false, err
}

// giveUp is the error of a transaction that ran out of time retrying
// after err: a lock in the way stays a conflict naming the key and its
// holder (409), anything else is unavailability (nothing was done).
func giveUp(err error) error {
	var l *kv.LockedError
	if errors.As(err, &l) {
		return fmt.Errorf("gave up waiting for the lock: %w", l)
	}
	return fmt.Errorf("%w: gave up retrying the transaction: %v", kv.ErrUnavailable, err)
}

type shardPart struct {
	shard membership.Shard
	txn   *shardsm.Txn
}

// split divides t among the shards its keys are on, in the order of their
// first keys.
func split(ns *membership.NamespaceMap, t *shardsm.Txn) []shardPart {
	var parts []shardPart
	idx := map[keyspace.GroupID]int{}
	of := func(key []byte) *shardsm.Txn {
		sh := ns.Locate(key)
		i, ok := idx[sh.Group]
		if !ok {
			i = len(parts)
			idx[sh.Group] = i
			parts = append(parts, shardPart{shard: sh, txn: &shardsm.Txn{}})
		}
		return parts[i].txn
	}
	for _, k := range t.Keys() {
		of(k)
	}
	for _, cmp := range t.Compares {
		p := of(cmp.Key)
		p.Compares = append(p.Compares, cmp)
	}
	for _, o := range t.Success {
		p := of(o.Key)
		p.Success = append(p.Success, o)
	}
	for _, o := range t.Failure {
		p := of(o.Key)
		p.Failure = append(p.Failure, o)
	}
	return parts
}

// runLocal runs a transaction on its one shard: one proposal.
func (c *Coordinator) runLocal(ctx context.Context, sh membership.Shard, t *shardsm.Txn) (Result, error) {
	r, err := c.cfg.KV.ProposeTxn(ctx, sh, shardsm.OpTxn, t)
	if err != nil {
		return Result{}, err
	}
	return Result{Succeeded: r.Succeeded, Results: r.Results, Shards: 1}, nil
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runDistributed runs the two-phase commit over parts.
func (c *Coordinator) runDistributed(ctx context.Context, ns *membership.NamespaceMap, t *shardsm.Txn, parts []shardPart) (Result, error) {
	id := newID()
	record := ns.Shard(0)
	start := c.cfg.Now().UnixNano()
	for _, p := range parts {
		p.txn.ID, p.txn.Record, p.txn.Start = id, uint64(record.Group), start
	}
	// 1. Prepare everywhere at once.
	reads, err := c.prepare(ctx, record, id, parts)
	if err != nil {
		return Result{}, err
	}
	if c.stopAfter == "prepare" {
		return Result{ID: id}, errStopped
	}
	// 2. Decide: the comparisons over every participant's locked reads.
	ok := true
	for _, p := range parts {
		for _, cmp := range p.txn.Compares {
			ok = ok && cmp.Holds(reads[string(cmp.Key)])
		}
	}
	d, err := c.decide(ctx, record, id, true, ok)
	if err != nil {
		return Result{}, err
	}
	fctx, cancel := c.finishing(ctx)
	defer cancel()
	if !d.Commit {
		// A resolver judged this coordinator gone and aborted it first.
		c.resolveAll(fctx, parts, id, false, false)
		return Result{}, fmt.Errorf("%w: transaction %s was aborted by a resolver before it committed", kv.ErrTxnAborted, id)
	}
	if c.stopAfter == "decide" {
		return Result{ID: id}, errStopped
	}
	// 3. Resolve everywhere; the record is the truth from here on.
	versions := c.resolveAll(fctx, parts, id, true, ok)
	branch := t.Failure
	if ok {
		branch = t.Success
	}
	return Result{ID: id, Succeeded: ok, Results: results(branch, reads, versions), Shards: len(parts)}, nil
}

// prepare locks parts on every participant at once and returns the keys'
// states read under the locks. On failure it rolls back: it records the
// abort (so a prepare still in flight, or applied with an unknown outcome,
// is resolved as one) and releases whatever was locked.
func (c *Coordinator) prepare(ctx context.Context, record membership.Shard, id string, parts []shardPart) (map[string]shardsm.KeyState, error) {
	reads := map[string]shardsm.KeyState{}
	var mu sync.Mutex
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.cfg.KV.ProposeTxn(ctx, p.shard, shardsm.OpTxnPrepare, p.txn)
			if err != nil {
				errs[i] = err
				return
			}
			mu.Lock()
			for _, s := range r.Reads {
				reads[string(s.Key)] = s
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	err := firstErr(errs)
	if err == nil {
		return reads, nil
	}
	fctx, cancel := c.finishing(ctx)
	defer cancel()
	c.abort(fctx, record, id, parts)
	return nil, err
}

// abort records transaction id's abort and releases its locks on parts.
func (c *Coordinator) abort(ctx context.Context, record membership.Shard, id string, parts []shardPart) {
	if _, err := c.decide(ctx, record, id, false, false); err != nil {
		c.cfg.Logger.Warn("txn: recording an abort failed; the locks resolve after the timeout", "txn", id, "err", err)
		return
	}
	c.resolveAll(ctx, parts, id, false, false)
}

// finishing is the context of the steps that end a transaction (an abort,
// the resolves): they get time of their own even when the run's deadline
// is near, so its locks go now rather than after the lock timeout.
func (c *Coordinator) finishing(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), c.cfg.KV.Timeout())
}

// results are the chosen branch's operations' results, in order: a get
// sees the state read under the locks and the branch's earlier writes.
func results(branch []shardsm.TxnOp, reads map[string]shardsm.KeyState, versions map[string]uint64) []shardsm.KeyState {
	state := map[string]shardsm.KeyState{}
	for k, s := range reads {
		state[k] = s
	}
	out := make([]shardsm.KeyState, 0, len(branch))
	for _, o := range branch {
		k := string(o.Key)
		switch o.Kind {
		case shardsm.TxnGet:
			s := state[k]
			s.Key = o.Key
			out = append(out, s)
		case shardsm.TxnPut:
			state[k] = shardsm.KeyState{Key: o.Key, Found: true, Version: versions[k], Value: o.Value}
			out = append(out, shardsm.KeyState{Key: o.Key, Version: versions[k]})
		case shardsm.TxnDelete:
			state[k] = shardsm.KeyState{Key: o.Key}
			out = append(out, shardsm.KeyState{Key: o.Key, Version: versions[k]})
		}
	}
	return out
}

// decide records (or learns) the transaction's decision on its record
// shard. Deciding is idempotent, so an unknown outcome is tried again
// until the deadline.
func (c *Coordinator) decide(ctx context.Context, record membership.Shard, id string, commit, succeeded bool) (*shardsm.TxnResult, error) {
	d, err := c.proposeIdempotent(ctx, record, shardsm.OpTxnDecide, &shardsm.Txn{ID: id, Commit: commit, Succeeded: succeeded})
	if err != nil && (commit || ctx.Err() != nil) {
		return nil, fmt.Errorf("%w: recording transaction %s's decision: %w", kv.ErrUnknownOutcome, id, err)
	}
	return d, err
}

// proposeIdempotent proposes a transaction command that may be applied
// twice (a decision, a resolve), trying again after an unknown outcome or
// unavailability until ctx ends.
func (c *Coordinator) proposeIdempotent(ctx context.Context, sh membership.Shard, op shardsm.Op, t *shardsm.Txn) (*shardsm.TxnResult, error) {
	for {
		r, err := c.cfg.KV.ProposeTxn(ctx, sh, op, t)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, kv.ErrUnknownOutcome) && !errors.Is(err, kv.ErrUnavailable) || !sleep(ctx, 10*time.Millisecond) {
			return nil, err
		}
	}
}

// resolveAll resolves the transaction on every participant at once and
// returns the versions its writes got. A participant that cannot be
// reached now is resolved by whoever meets its locks.
func (c *Coordinator) resolveAll(ctx context.Context, parts []shardPart, id string, commit, succeeded bool) map[string]uint64 {
	versions := map[string]uint64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.resolve(ctx, p.shard, id, commit, succeeded)
			if err != nil {
				c.cfg.Logger.Warn("txn: resolving a participant failed; its locks resolve when met", "txn", id, "shard", p.shard.Group, "err", err)
				return
			}
			mu.Lock()
			for k, ver := range v {
				versions[k] = ver
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return versions
}

func (c *Coordinator) resolve(ctx context.Context, sh membership.Shard, id string, commit, succeeded bool) (map[string]uint64, error) {
	r, err := c.proposeIdempotent(ctx, sh, shardsm.OpTxnResolve, &shardsm.Txn{ID: id, Commit: commit, Succeeded: succeeded})
	if err != nil {
		return nil, err
	}
	return r.Versions, nil
}

// ResolveLock settles a lock a request met (kv.LockResolver): while its
// holder may still decide it waits a moment and lets the request try
// again; past the timeout it records an abort unless the holder decided,
// and resolves the lock's shard by the decision that stands.
func (c *Coordinator) ResolveLock(ctx context.Context, l *kv.LockedError) error {
	age, timeout := c.cfg.Now().Sub(time.Unix(0, l.Start)), c.lockTimeout(l)
	if age < timeout {
		if !sleep(ctx, min(timeout-age, 5*time.Millisecond)) {
			return ctx.Err()
		}
		return nil
	}
	record, ok := c.cfg.KV.ShardOfGroup(keyspace.GroupID(l.Record))
	if !ok {
		return fmt.Errorf("the record shard %s of transaction %s is not in the map", keyspace.GroupID(l.Record), l.Txn)
	}
	d, err := c.decide(ctx, record, l.Txn, false, false)
	if err != nil {
		return err
	}
	sh, ok := c.cfg.KV.ShardOfGroup(keyspace.GroupID(l.Group))
	if !ok {
		return fmt.Errorf("the shard %s holding the lock is not in the map", keyspace.GroupID(l.Group))
	}
	if _, err := c.resolve(ctx, sh, l.Txn, d.Commit, d.Succeeded); err != nil {
		return err
	}
	c.cfg.Logger.Info("txn: resolved an abandoned transaction's lock", "txn", l.Txn, "key", string(l.Key), "committed", d.Commit)
	return nil
}

// lockTimeout is how long l's holder has before its lock counts as
// abandoned: its own TTL (an interactive transaction's), else the default.
func (c *Coordinator) lockTimeout(l *kv.LockedError) time.Duration {
	return max(c.cfg.LockTimeout, time.Duration(l.TTL))
}

// Sweep resolves the locks older than the timeout in the shards this node
// leads, so a transaction whose coordinator vanished does not hold keys
// nobody touches (a reshard waits for them).
func (c *Coordinator) Sweep(ctx context.Context) {
	seen := map[string]bool{}
	for _, l := range c.cfg.KV.LocalLocks() {
		if c.cfg.Now().Sub(time.Unix(0, l.Start)) < c.lockTimeout(&l) || seen[l.Txn+"/"+fmt.Sprint(l.Group)] {
			continue
		}
		seen[l.Txn+"/"+fmt.Sprint(l.Group)] = true
		if err := c.ResolveLock(ctx, &l); err != nil {
			c.cfg.Logger.Warn("txn: resolving an abandoned lock failed", "txn", l.Txn, "key", string(l.Key), "err", err)
		}
	}
}

// SweepEvery sweeps every interval until ctx ends.
func (c *Coordinator) SweepEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			c.sweepSessions(sctx)
			c.Sweep(sctx)
			cancel()
		}
	}
}

func firstErr(errs []error) error {
	// Prefer a lock (the caller settles it and tries again) over the rest.
	for _, err := range errs {
		if errors.Is(err, kv.ErrLocked) {
			return err
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// FromAPI converts a transaction of the HTTP API.
func FromAPI(req api.TxnRequest) Request {
	var r Request
	for _, c := range req.Compare {
		op := shardsm.CompareOp(c.Op)
		if op == "" {
			op = shardsm.OpEqual
		}
		r.Compares = append(r.Compares, shardsm.Compare{Key: []byte(c.Key), Target: shardsm.CompareTarget(c.Target), Op: op,
			Version: c.Version, Value: []byte(c.Value), Exists: c.Exists})
	}
	conv := func(ops []api.TxnOp) []shardsm.TxnOp {
		var out []shardsm.TxnOp
		for _, o := range ops {
			op := shardsm.TxnOp{Kind: shardsm.TxnOpKind(o.Op), Key: []byte(o.Key)}
			if op.Kind == shardsm.TxnPut {
				op.Value = []byte(o.Value)
			}
			out = append(out, op)
		}
		return out
	}
	r.Success, r.Failure = conv(req.Success), conv(req.Failure)
	return r
}

// API converts a result for the HTTP API; branch is the operations that
// ran (the request's success or failure list).
func (r Result) API(branch []api.TxnOp) api.TxnResponse {
	out := api.TxnResponse{Succeeded: r.Succeeded, Txn: r.ID, Shards: r.Shards, Results: []api.TxnOpResult{}}
	for i, s := range r.Results {
		res := api.TxnOpResult{Key: string(s.Key), Found: s.Found, Value: string(s.Value), Version: s.Version}
		if i < len(branch) {
			res.Op = branch[i].Op
		}
		out.Results = append(out.Results, res)
	}
	return out
}
