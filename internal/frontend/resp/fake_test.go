package resp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/kv"
	"github.com/redis/go-redis/v9"
)

// fakeKV is an in-memory KV with kv.Service's semantics: versions that
// grow with every write, conditions checked exactly as kv's state machine
// checks them, scans in key order after a cursor key.
type fakeKV struct {
	limits kv.Limits
	// hook, if set, runs before every operation; a non-nil error is
	// returned instead of doing it. Set it with setHook.
	hook atomic.Pointer[func(ctx context.Context, op string, key []byte) error]

	mu struct {
		sync.Mutex
		version uint64
		data    map[string]map[string]fakeEntry // namespace -> key -> entry
		sorted  map[string][]string             // namespace -> its keys in order; nil when stale
	}
}

type fakeEntry struct {
	value   []byte
	version uint64
	// hash, for a key holding a hash, are its fields (never empty); version
	// is then the hash's generation. See hash_fake_test.go.
	hash map[string]fakeEntry
}

// fakeNamespaces are the namespaces the fakes know.
var fakeNamespaces = []string{"default", "other"}

func newFakeKV() *fakeKV {
	f := &fakeKV{limits: kv.Limits{MaxKey: 4 << 10, MaxValue: 1 << 20, MaxScan: 10000}}
	f.mu.data = map[string]map[string]fakeEntry{}
	f.mu.sorted = map[string][]string{}
	for _, ns := range fakeNamespaces {
		f.mu.data[ns] = map[string]fakeEntry{}
	}
	return f
}

func (f *fakeKV) Limits() kv.Limits { return f.limits }

func (f *fakeKV) setHook(h func(ctx context.Context, op string, key []byte) error) { f.hook.Store(&h) }

// begin runs the hook and checks the namespace and key; the caller holds
// nothing and gets the namespace's map with f.mu held.
func (f *fakeKV) begin(ctx context.Context, op, ns string, key []byte, checkKey bool) (map[string]fakeEntry, error) {
	if h := f.hook.Load(); h != nil {
		if err := (*h)(ctx, op, key); err != nil {
			return nil, err
		}
	}
	if checkKey && len(key) == 0 {
		return nil, errors.Join(kv.ErrInvalid, errors.New("empty key"))
	}
	if checkKey && len(key) > f.limits.MaxKey {
		return nil, errors.Join(kv.ErrTooLarge, errors.New("key is longer than the limit"))
	}
	f.mu.Lock()
	m, ok := f.mu.data[displayNS(ns)]
	if !ok {
		f.mu.Unlock()
		return nil, errors.Join(kv.ErrNoNamespace, errors.New("namespace \""+ns+"\" does not exist"))
	}
	return m, nil
}

func (f *fakeKV) Get(ctx context.Context, ns string, key []byte, _ kv.ReadOptions) (kv.Entry, error) {
	m, err := f.begin(ctx, "get", ns, key, true)
	if err != nil {
		return kv.Entry{}, err
	}
	defer f.mu.Unlock()
	e, ok := m[string(key)]
	if !ok {
		return kv.Entry{}, kv.ErrNotFound
	}
	if e.hash != nil {
		return kv.Entry{}, kv.ErrWrongType
	}
	return kv.Entry{Key: bytes.Clone(key), Value: bytes.Clone(e.value), Version: e.version}, nil
}

// check is kv's condition check (statemachine.go), verbatim in meaning.
func check(del bool, opts kv.WriteOptions, found bool, cur uint64) error {
	switch {
	case del && !found:
		return kv.ErrNotFound
	case opts.Condition == kv.IfAbsent && found:
		return kv.ErrExists
	case opts.Condition == kv.IfPresent && !found:
		return kv.ErrNotFound
	case opts.Version != 0 && opts.Version != cur:
		return &kv.VersionMismatchError{Expected: opts.Version, Current: cur}
	}
	return nil
}

func (f *fakeKV) Put(ctx context.Context, ns string, key, value []byte, opts kv.WriteOptions) (kv.WriteResult, error) {
	if len(value) > f.limits.MaxValue {
		return kv.WriteResult{}, errors.Join(kv.ErrTooLarge, errors.New("value is larger than the limit"))
	}
	m, err := f.begin(ctx, "put", ns, key, true)
	if err != nil {
		return kv.WriteResult{}, err
	}
	defer f.mu.Unlock()
	cur, found := m[string(key)]
	if err := check(false, opts, found, cur.version); err != nil {
		return kv.WriteResult{}, err
	}
	f.mu.version++
	m[string(key)] = fakeEntry{value: bytes.Clone(value), version: f.mu.version}
	if !found {
		delete(f.mu.sorted, displayNS(ns))
	}
	return kv.WriteResult{Version: f.mu.version, Created: !found}, nil
}

func (f *fakeKV) Delete(ctx context.Context, ns string, key []byte, opts kv.WriteOptions) (kv.WriteResult, error) {
	m, err := f.begin(ctx, "delete", ns, key, true)
	if err != nil {
		return kv.WriteResult{}, err
	}
	defer f.mu.Unlock()
	cur, found := m[string(key)]
	if err := check(true, opts, found, cur.version); err != nil {
		return kv.WriteResult{}, err
	}
	f.mu.version++
	delete(m, string(key))
	delete(f.mu.sorted, displayNS(ns))
	return kv.WriteResult{Version: f.mu.version}, nil
}

func (f *fakeKV) Scan(ctx context.Context, ns string, opts kv.ScanOptions) (kv.ScanResult, error) {
	m, err := f.begin(ctx, "scan", ns, nil, false)
	if err != nil {
		return kv.ScanResult{}, err
	}
	defer f.mu.Unlock()
	if opts.Limit <= 0 || opts.Limit > f.limits.MaxScan {
		opts.Limit = f.limits.MaxScan
	}
	sorted, ok := f.mu.sorted[displayNS(ns)]
	if !ok {
		sorted = slices.Sorted(maps.Keys(m))
		f.mu.sorted[displayNS(ns)] = sorted
	}
	from := string(opts.Prefix)
	if opts.After != nil && string(opts.After) >= from {
		from = string(opts.After) + "\x00"
	}
	i, _ := slices.BinarySearch(sorted, from)
	var keys []string
	for ; i < len(sorted) && strings.HasPrefix(sorted[i], string(opts.Prefix)) && len(keys) <= opts.Limit; i++ {
		if m[sorted[i]].hash == nil || opts.Hashes {
			keys = append(keys, sorted[i])
		}
	}
	var res kv.ScanResult
	if len(keys) > opts.Limit {
		keys, res.More = keys[:opts.Limit], true
	}
	for _, k := range keys {
		e := kv.Entry{Key: []byte(k), Version: m[k].version, Hash: m[k].hash != nil}
		if opts.Values && !e.Hash {
			e.Value = bytes.Clone(m[k].value)
		}
		res.Entries = append(res.Entries, e)
	}
	return res, nil
}

// fakeNode is a one-node cluster whose namespaces have fakeShards shards
// each, with key counts taken from a fakeKV.
type fakeNode struct {
	kv *fakeKV
	// unknownKeys makes every shard report an unknown key count (-1).
	unknownKeys atomic.Bool
	// statusErr, if set, is Status's error.
	statusErr atomic.Pointer[error]
}

const fakeShards = 4

func (n *fakeNode) NodeID() string { return "n1" }

func (n *fakeNode) Namespace(name string) (api.Namespace, bool) {
	if !slices.Contains(fakeNamespaces, name) {
		return api.Namespace{}, false
	}
	return api.Namespace{Name: name, Mode: "strong", Shards: fakeShards}, true
}

func (n *fakeNode) Namespaces() []api.Namespace {
	var out []api.Namespace
	for _, name := range fakeNamespaces {
		ns, _ := n.Namespace(name)
		out = append(out, ns)
	}
	return out
}

func (n *fakeNode) Status(context.Context) (api.Cluster, error) {
	if err := n.statusErr.Load(); err != nil {
		return api.Cluster{}, *err
	}
	st := api.Cluster{Node: "n1", Coordinator: "n1", Epoch: 7, Namespaces: n.Namespaces(),
		Nodes: []api.Node{{ID: "n1", State: api.StateAlive, RedisAddr: "127.0.0.1:6379"}}}
	n.kv.mu.Lock()
	defer n.kv.mu.Unlock()
	for _, name := range fakeNamespaces {
		var counts [fakeShards]int64
		for k := range n.kv.mu.data[name] {
			h := fnv.New32a()
			h.Write([]byte(k))
			counts[h.Sum32()%fakeShards]++
		}
		for i, c := range counts {
			if n.unknownKeys.Load() {
				c = -1
			}
			st.Shards = append(st.Shards, api.Shard{Namespace: name, ID: i, Leader: "n1", Keys: c})
		}
	}
	return st, nil
}

// testServer is a Server on 127.0.0.1 over a fakeKV and fakeNode.
type testServer struct {
	*Server
	kv   *fakeKV
	node *fakeNode
	// proto is the protocol client() asks for (0: go-redis's default, 3).
	proto int
}

// eachProtocol runs test twice, as subtests RESP2 and RESP3, with the
// protocol the test's clients are to speak: every command must give the
// same answers in both.
func eachProtocol(t *testing.T, test func(t *testing.T, proto int)) {
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) { test(t, proto) })
	}
}

// startProto is start with clients speaking proto.
func startProto(t *testing.T, cfg Config, proto int) *testServer {
	t.Helper()
	ts := start(t, cfg)
	ts.proto = proto
	return ts
}

// start serves cfg (KV, Node and Listener filled in when unset) until the
// test ends.
func start(t *testing.T, cfg Config) *testServer {
	t.Helper()
	ts := &testServer{kv: newFakeKV()}
	ts.node = &fakeNode{kv: ts.kv}
	if cfg.KV == nil {
		cfg.KV = ts.kv
	}
	if cfg.Node == nil {
		cfg.Node = ts.node
	}
	if cfg.Addr == "" && cfg.Listener == nil {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Server = s
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

// client is a go-redis client of the server, closed when the test ends.
// It speaks ts.proto; by default RESP3, as go-redis does.
func (ts *testServer) client(t *testing.T) *redis.Client {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: ts.Addr().String(), Protocol: ts.proto, MaxRetries: -1, ReadTimeout: time.Minute})
	t.Cleanup(func() { rc.Close() })
	return rc
}

// raw is a plain TCP connection to the server.
type raw struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func (ts *testServer) dial(t *testing.T) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", ts.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &raw{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := r.nc.Write([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

// expect reads exactly len(want) bytes and compares them with want.
func (r *raw) expect(want string) {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(want))
	n, err := io.ReadFull(r.br, got)
	if err != nil || string(got) != want {
		r.t.Fatalf("read %q (err %v), want %q", got[:n], err, want)
	}
}

// expectClosed checks that the server closed the connection, with nothing
// more to read.
func (r *raw) expectClosed() {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := r.br.ReadByte(); err == nil {
		rest, _ := r.br.Peek(r.br.Buffered())
		r.t.Fatalf("connection still open; read %q", append([]byte{b}, rest...))
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		r.t.Fatal("connection still open after 10s")
	}
}

// Replies that only RESP3 has, as raw.reply returns them.
type (
	respMap  []any // a map's keys and values, in order: k1, v1, k2, v2...
	respSet  []any
	verbatim string // without its format prefix ("txt:")
)

// reply reads one reply: a string for a status, an error, an int64,
// []byte or nil for a bulk string, []any for an array; in RESP3 also nil
// for a null, respMap, respSet and verbatim.
func (r *raw) reply() any {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := r.br.ReadString('\n')
	if err != nil || len(line) < 3 {
		r.t.Fatalf("reading a reply: %q, %v", line, err)
	}
	kind, body := line[0], strings.TrimSuffix(line[1:], "\r\n")
	n, _ := strconv.Atoi(body)
	replies := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = r.reply()
		}
		return out
	}
	switch kind {
	case '+':
		return body
	case '-':
		return errors.New(body)
	case ':':
		v, _ := strconv.ParseInt(body, 10, 64)
		return v
	case '_':
		return nil
	case '$', '=':
		if n < 0 {
			return nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r.br, b); err != nil {
			r.t.Fatal(err)
		}
		if kind == '=' {
			return verbatim(strings.TrimPrefix(string(b[:n]), "txt:"))
		}
		return b[:n]
	case '*':
		return replies(n)
	case '%':
		return respMap(replies(2 * n))
	case '~':
		return respSet(replies(n))
	}
	r.t.Fatalf("not a reply: %q", line)
	return nil
}
