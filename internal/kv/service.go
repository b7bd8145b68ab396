// Package kv is the service every front end calls: it finds a key's
// namespace and shard, executes the operation on the shard's leader — here,
// or on the leader's node through one forwarded call — and reports errors as
// this package's sentinels.
package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/replication/dynamo"
	"github.com/distkv/distkv/internal/replication/multiraft"
	"github.com/distkv/distkv/internal/shardsm"
	"github.com/distkv/distkv/internal/storage"
	"github.com/distkv/distkv/internal/transport"
)

// Consistency is a read's guarantee.
type Consistency uint8

const (
	// Linearizable reads reflect every write acknowledged before the read
	// began (ReadIndex on the shard's leader).
	Linearizable Consistency = iota
	// Stale reads are served from one replica's local state with no round
	// trip; they may miss recent writes.
	Stale
)

// Entry is a key with its value and version.
type Entry struct {
	Key   []byte
	Value []byte
	// Version is a strong key's version (0 in leaderless namespaces).
	Version uint64
	// Siblings, in leaderless namespaces, are every live value when
	// concurrent writes were kept (Value is the first of them).
	Siblings [][]byte
	// Hash, in a scan with ScanOptions.Hashes, marks a key that holds a
	// hash (Value is empty; Version is the hash's generation).
	Hash bool
	// Context, in leaderless namespaces, is the key's causal context as an
	// opaque token; a write carrying it supersedes these values.
	Context string
	// Token, in causal namespaces, is the client's new causal token.
	Token string
}

// ReadOptions configure Get and Scan.
type ReadOptions struct {
	Consistency Consistency
	// R, in eventual namespaces, is how many replicas must answer (0: the
	// namespace's setting; AllReplicas: every replica).
	R int
	// Token, in causal namespaces, is the latest causal token the client
	// has seen; the read waits until the serving node has applied it.
	Token string
}

// Quorum sizes beyond plain counts, for ReadOptions.R and WriteOptions.W.
const (
	AllReplicas      = dynamo.AllReplicas      // every replica
	MajorityReplicas = dynamo.MajorityReplicas // a majority of the replicas
)

// WriteOptions configure Put and Delete.
type WriteOptions struct {
	Condition Condition
	// Version, if not 0, makes the write a compare-and-set: it applies only
	// if the key's current version equals Version. Strong namespaces only.
	Version uint64
	// W, in eventual namespaces, is how many replicas must store the write
	// (0: the namespace's setting; AllReplicas: every replica).
	W int
	// Context, in leaderless namespaces, is the causal context of an
	// earlier read; the write supersedes the values it covers.
	Context string
	// Token, in causal namespaces, is the client's latest causal token.
	Token string
}

// WriteResult is a successful Put or Delete.
type WriteResult struct {
	// Version is the strong write's version (its Raft index).
	Version uint64
	// Created: a strong put that created the key.
	Created bool
	// Context, in leaderless namespaces, is the key's new causal context.
	Context string
	// Token, in causal namespaces, is the client's new causal token.
	Token string
}

// ScanOptions configure Scan.
type ScanOptions struct {
	Prefix []byte
	// After, if set, starts the scan after this key (a continuation cursor).
	After  []byte
	Limit  int
	Values bool
	// Hashes includes the keys that hold hashes (Entry.Hash), in key
	// order among the strings; without it a scan lists strings only.
	Hashes bool
	ReadOptions
}

// ScanResult is one page of a scan, in key order.
type ScanResult struct {
	Entries []Entry
	// More is true when keys past the last entry remain.
	More bool
}

// Limits bound what a request may carry.
type Limits struct {
	MaxKey   int // default 4 KiB
	MaxValue int // default 1 MiB
	MaxScan  int // largest scan page, default 10000
}

// Config configures a Service.
type Config struct {
	NodeID    keyspace.NodeID
	Engine    *storage.Engine
	Host      *multiraft.Host
	Meta      *membership.Store
	Transport transport.Transport
	Logger    *slog.Logger
	// Timeout bounds a request whose context has no deadline. Default 5s.
	Timeout time.Duration
	// RetryBackoff is the pause before retrying when a shard has no known
	// leader. Default 25ms.
	RetryBackoff time.Duration
	Limits       Limits
	// OnChange receives every applied write after it is durable, on the
	// Raft loop: it must not block.
	OnChange func(ns *membership.NamespaceMap, changes []Change)
	// Alive reports whether the failure detector currently considers a
	// node alive. Requests are not forwarded to a leader thought down (it
	// may be paused with the request then stuck in doubt); nil: all alive.
	Alive func(keyspace.NodeID) bool
	// OnRestore is told when a shard replica installed a snapshot: its
	// state jumped to index without OnChange seeing the writes in between.
	OnRestore func(ns *membership.NamespaceMap, group, index uint64)
	// Dynamo serves eventual and causal namespaces; nil refuses them.
	Dynamo *dynamo.Engine
	// TestingUnsafeLocalReads serves linearizable reads from whichever
	// replica receives them, without ReadIndex. It exists only so tests can
	// show the linearizability checker catches stale reads. Never set it.
	TestingUnsafeLocalReads bool
}

// Service executes key-value operations for this node's front ends and for
// peers forwarding to it. Safe for concurrent use.
type Service struct {
	cfg Config

	leaders struct {
		sync.RWMutex
		m map[uint64]keyspace.NodeID
	}

	// gate admits requests until Close; inflight lets Close wait for them
	// before the engine underneath goes away.
	gate struct {
		sync.RWMutex
		closed bool
	}
	inflight sync.WaitGroup

	sms sync.Map // group -> *shardsm.SM: key counts, read admission

	resolver atomic.Pointer[LockResolver]
}

// errStopping is returned for requests that arrive after Close.
var errStopping = errors.Join(ErrUnavailable, errors.New("node is shutting down"))

// enter admits one request; the caller must call s.inflight.Done().
func (s *Service) enter() error {
	s.gate.RLock()
	defer s.gate.RUnlock()
	if s.gate.closed {
		return errStopping
	}
	s.inflight.Add(1)
	return nil
}

// Close refuses new requests. Wait then waits for those in flight: call it
// after the Raft host and transport are closed, which unblocks them.
func (s *Service) Close() {
	s.gate.Lock()
	s.gate.closed = true
	s.gate.Unlock()
}

// Wait returns once no request is in flight; only meaningful after Close.
func (s *Service) Wait() { s.inflight.Wait() }

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 25 * time.Millisecond
	}
	if cfg.Limits.MaxKey <= 0 {
		cfg.Limits.MaxKey = 4 << 10
	}
	if cfg.Limits.MaxValue <= 0 {
		cfg.Limits.MaxValue = 1 << 20
	}
	if cfg.Limits.MaxScan <= 0 {
		cfg.Limits.MaxScan = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg}
	s.leaders.m = make(map[uint64]keyspace.NodeID)
	return s
}

// StateMachine returns the state machine of one strong shard group. A
// storage failure reading its state is fatal, as it is for the Raft host.
func (s *Service) StateMachine(ns *membership.NamespaceMap, group uint64) multiraft.StateMachine {
	cfg := shardsm.Config{Group: group, Engine: s.cfg.Engine, OnDestroy: func() { s.sms.Delete(group) }}
	if s.cfg.OnChange != nil {
		cfg.OnChange = func(chs []Change) { s.cfg.OnChange(ns, chs) }
	}
	if s.cfg.OnRestore != nil {
		cfg.OnRestore = func(index uint64) { s.cfg.OnRestore(ns, group, index) }
	}
	sm, err := shardsm.New(cfg)
	if err != nil {
		panic(fmt.Sprintf("kv: loading shard %s: %v", keyspace.GroupID(group), err))
	}
	s.sms.Store(group, sm)
	return sm
}

func (s *Service) sm(group uint64) *shardsm.SM {
	v, ok := s.sms.Load(group)
	if !ok {
		return nil
	}
	return v.(*shardsm.SM)
}

// KeyCount returns how many keys this node's replica of group holds, or
// -1 if it has none.
func (s *Service) KeyCount(group uint64) int64 {
	if sm := s.sm(group); sm != nil {
		return sm.Keys()
	}
	return -1
}

// Leader returns the group's leader as far as this node knows (0: unknown).
func (s *Service) Leader(g keyspace.GroupID) keyspace.NodeID { return s.leaderOf(g) }

// Limits returns the limits in force.
func (s *Service) Limits() Limits { return s.cfg.Limits }

// Timeout is a request's deadline when its caller sets none.
func (s *Service) Timeout() time.Duration { return s.cfg.Timeout }

// Namespace returns the named namespace's current configuration.
func (s *Service) Namespace(name string) (*membership.NamespaceMap, error) {
	if name == "" {
		name = keyspace.DefaultNamespace
	}
	m := s.cfg.Meta.Current()
	if m.Epoch == 0 {
		// A joining node's provisional map lists members only: it cannot
		// say a namespace does not exist, only that it cannot serve yet.
		return nil, fmt.Errorf("%w: this node is joining the cluster and has not received the shard map yet", ErrUnavailable)
	}
	ns := m.Namespace(name)
	if ns == nil {
		return nil, errors.Join(ErrNoNamespace, errors.New("namespace "+quote(name)+" does not exist"))
	}
	return ns, nil
}

func quote(s string) string { return "\"" + s + "\"" }

// checkKey checks a key a caller sends: internal keys (see
// keyspace.InternalPrefix) are refused, so none is ever read or written
// but through this package's hash operations.
func (s *Service) checkKey(key []byte) error {
	if len(key) == 0 {
		return invalidf("empty key")
	}
	if len(key) > s.cfg.Limits.MaxKey {
		return errors.Join(ErrTooLarge, errors.New("key is longer than the limit"))
	}
	if keyspace.IsInternal(key) {
		return invalidf("keys beginning with the bytes 0xFF 0x00 are reserved for distkv's own use")
	}
	return nil
}

// Get returns key's value and version, or ErrNotFound.
func (s *Service) Get(ctx context.Context, nsName string, key []byte, opts ReadOptions) (Entry, error) {
	if err := s.enter(); err != nil {
		return Entry{}, err
	}
	defer s.inflight.Done()
	if err := s.checkKey(key); err != nil {
		return Entry{}, err
	}
	ns, err := s.Namespace(nsName)
	if err != nil {
		return Entry{}, err
	}
	if ns.Mode != keyspace.ModeStrong {
		return s.leaderlessGet(ctx, ns, key, opts)
	}
	p, err := s.routeKey(ctx, ns, key, func(sh membership.Shard) *request {
		return &request{kind: reqGet, group: uint64(sh.Group), consistency: opts.Consistency, key: key}
	})
	if err != nil {
		return Entry{}, err
	}
	if !p.found {
		return Entry{}, ErrNotFound
	}
	return Entry{Key: key, Value: p.value, Version: p.version}, nil
}

// Put writes key. See WriteOptions for create-only, update-only and
// compare-and-set; a failed condition returns ErrExists, ErrNotFound or
// *VersionMismatchError.
func (s *Service) Put(ctx context.Context, nsName string, key, value []byte, opts WriteOptions) (WriteResult, error) {
	if err := s.enter(); err != nil {
		return WriteResult{}, err
	}
	defer s.inflight.Done()
	if err := s.checkKey(key); err != nil {
		return WriteResult{}, err
	}
	if len(value) > s.cfg.Limits.MaxValue {
		return WriteResult{}, errors.Join(ErrTooLarge, errors.New("value is larger than the limit"))
	}
	c := shardsm.Command{Op: shardsm.OpPut, Cond: opts.Condition, Version: opts.Version, Key: key, Value: value}
	return s.write(ctx, nsName, &c, opts)
}

// Delete removes key, or returns ErrNotFound. With opts.Version it is a
// compare-and-delete. It returns the Raft index of the delete.
func (s *Service) Delete(ctx context.Context, nsName string, key []byte, opts WriteOptions) (WriteResult, error) {
	if err := s.enter(); err != nil {
		return WriteResult{}, err
	}
	defer s.inflight.Done()
	if err := s.checkKey(key); err != nil {
		return WriteResult{}, err
	}
	c := shardsm.Command{Op: shardsm.OpDelete, Cond: opts.Condition, Version: opts.Version, Key: key}
	return s.write(ctx, nsName, &c, opts)
}

func (s *Service) write(ctx context.Context, nsName string, c *shardsm.Command, opts WriteOptions) (WriteResult, error) {
	ns, err := s.Namespace(nsName)
	if err != nil {
		return WriteResult{}, err
	}
	if ns.Mode != keyspace.ModeStrong {
		return s.leaderlessWrite(ctx, ns, c, opts)
	}
	if ns.AllReplicas {
		return s.caWrite(ctx, ns, c)
	}
	cmd := c.Encode()
	p, err := s.routeKey(ctx, ns, c.Key, func(sh membership.Shard) *request {
		return &request{kind: reqWrite, group: uint64(sh.Group), cmd: cmd}
	})
	if err != nil {
		return WriteResult{}, err
	}
	return WriteResult{Version: p.version, Created: p.created}, nil
}

// Scan returns keys with opts.Prefix after opts.After, in key order, across
// every shard of the namespace, at most opts.Limit of them.
func (s *Service) Scan(ctx context.Context, nsName string, opts ScanOptions) (ScanResult, error) {
	if err := s.enter(); err != nil {
		return ScanResult{}, err
	}
	defer s.inflight.Done()
	ns, err := s.Namespace(nsName)
	if err != nil {
		return ScanResult{}, err
	}
	if opts.Limit <= 0 || opts.Limit > s.cfg.Limits.MaxScan {
		opts.Limit = s.cfg.Limits.MaxScan
	}
	if ns.Mode != keyspace.ModeStrong {
		return s.leaderlessScan(ctx, ns, opts)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	for {
		res, err := s.scanOnce(ctx, ns, opts)
		if s.resolved(ctx, err) {
			continue
		}
		var moved *shardsm.MovedError
		if !errors.As(err, &moved) {
			return res, err
		}
		// A reshard switched layouts under the scan: start again with the
		// newer map (every shard of one layout, or none, answers).
		if ns, err = s.awaitMoved(ctx, ns, moved); err != nil {
			return ScanResult{}, err
		}
	}
}

// scanOnce scans every shard of ns's layout in parallel.
func (s *Service) scanOnce(ctx context.Context, ns *membership.NamespaceMap, opts ScanOptions) (ScanResult, error) {
	type part struct {
		p   *response
		err error
	}
	layout := ns.Layout()
	parts := make([]part, ns.Shards)
	var wg sync.WaitGroup
	for i := 0; i < ns.Shards; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sh := ns.Shard(i)
			q := &request{kind: reqScan, group: uint64(sh.Group), consistency: opts.Consistency,
				prefix: opts.Prefix, after: opts.After, limit: opts.Limit, values: opts.Values, hashes: opts.Hashes, layout: layout, index: i}
			parts[i].p, parts[i].err = s.route(ctx, sh, q)
		}()
	}
	wg.Wait()
	var res ScanResult
	for _, pt := range parts {
		if pt.err != nil {
			return ScanResult{}, pt.err
		}
		res.Entries = append(res.Entries, pt.p.entries...)
		res.More = res.More || pt.p.more
	}
	sortEntries(res.Entries)
	if len(res.Entries) > opts.Limit {
		res.Entries, res.More = res.Entries[:opts.Limit], true
	}
	return res, nil
}

func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int { return bytes.Compare(a.Key, b.Key) })
}

func (s *Service) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.Timeout)
}
