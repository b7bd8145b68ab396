// Package resp serves distkv over the Redis protocol — RESP2, and RESP3 on
// a connection that sends HELLO 3 — so redis-cli, Redis client libraries
// and a plain TCP line such as "SET k v" reach the kv service.
package resp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/kv"
)

// KV is the key-value service (*kv.Service satisfies it).
type KV interface {
	Get(ctx context.Context, ns string, key []byte, opts kv.ReadOptions) (kv.Entry, error)
	Put(ctx context.Context, ns string, key, value []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	Delete(ctx context.Context, ns string, key []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	Scan(ctx context.Context, ns string, opts kv.ScanOptions) (kv.ScanResult, error)
	// Hashes: one field per call (HashSet: several, atomically), the fields
	// of one hash per scan page.
	HashGet(ctx context.Context, ns string, key, field []byte, opts kv.ReadOptions) (kv.Entry, error)
	HashPut(ctx context.Context, ns string, key, field, value []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	// HashSet sets several fields of one hash in one write; added counts
	// the new ones.
	HashSet(ctx context.Context, ns string, key []byte, fields []kv.HashField) (res kv.WriteResult, added int, err error)
	HashDelete(ctx context.Context, ns string, key, field []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	HashScan(ctx context.Context, ns string, key []byte, opts kv.ScanOptions) (kv.HashScanResult, error)
	Limits() kv.Limits
}

// Node describes the serving node for INFO, DBSIZE and NS (the node package
// implements it).
type Node interface {
	// NodeID is this node's ID ("n1").
	NodeID() string
	// Namespace returns a namespace's configuration; ok is false if it does
	// not exist.
	Namespace(name string) (ns api.Namespace, ok bool)
	Namespaces() []api.Namespace
	// Status is the cluster as this node sees it, with per-shard key counts.
	Status(ctx context.Context) (api.Cluster, error)
}

// Config configures a Server. Exactly one of Addr and Listener is set; KV
// and Node are required; every other zero field takes its default.
type Config struct {
	// Addr is the TCP address to listen on ("127.0.0.1:6379").
	Addr string
	// Listener, if set, is used instead of listening on Addr; the Server
	// closes it on Close.
	Listener net.Listener
	KV       KV
	Node     Node
	Logger   *slog.Logger
	// MaxConns bounds open client connections; one more is answered
	// "-ERR max number of clients reached" and closed. Default 10000.
	MaxConns int
	// IdleTimeout closes a connection that sends nothing for this long.
	// Default 0: never, as in Redis.
	IdleTimeout time.Duration
	// RequestTimeout bounds each command. Default 5s.
	RequestTimeout time.Duration
	// MaxBulk bounds one bulk string of a request. Default: the kv value
	// limit (KV.Limits().MaxValue).
	MaxBulk int
	// MaxArray bounds the number of arguments of one command. Default 1<<20.
	MaxArray int
	// Version is distkv's version as INFO reports it. Default: the main
	// module's version from the build information, else "dev".
	Version string
	// Txn runs transactions (atomic MSET and MSETNX); nil leaves MSET
	// per key and MSETNX refused.
	Txn Txns
}

// Txns runs transactions (errors are kv's).
type Txns interface {
	Txn(ctx context.Context, ns string, req api.TxnRequest) (api.TxnResponse, error)
}

// Server accepts Redis-protocol connections and runs each client's
// commands in order on the connection's own goroutine.
type Server struct {
	cfg     Config
	ln      net.Listener
	cmds    map[string]*command
	cursors *cursorTable
	started time.Time
	nextID  atomic.Uint64

	// ctx is the parent of every command's context; cancel ends them all.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and every connection

	mu struct {
		sync.Mutex
		closed bool
		conns  map[*conn]struct{}
	}
}

// New validates cfg, fills its defaults and listens. Call Serve to accept
// connections and Close to stop.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("resp: %w", err)
		}
	}
	s := &Server{cfg: cfg, ln: ln, cmds: commandTable(), cursors: newCursorTable(maxCursors), started: time.Now()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.conns = make(map[*conn]struct{})
	return s, nil
}

func (c *Config) setDefaults() error {
	switch {
	case c.KV == nil:
		return errors.New("resp: Config.KV is required")
	case c.Node == nil:
		return errors.New("resp: Config.Node is required")
	case (c.Addr == "") == (c.Listener == nil):
		return errors.New("resp: set exactly one of Config.Addr and Config.Listener")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 10000
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.MaxBulk <= 0 {
		c.MaxBulk = c.KV.Limits().MaxValue
	}
	if c.MaxBulk <= 0 {
		c.MaxBulk = 1 << 20
	}
	if c.MaxArray <= 0 {
		c.MaxArray = 1 << 20
	}
	if c.Version == "" {
		c.Version = buildVersion()
	}
	return nil
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until Close, then returns nil. Any other
// listener failure is returned.
func (s *Server) Serve() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.wg.Add(1) // under mu, so never after Close's Wait began
	s.mu.Unlock()
	defer s.wg.Done()
	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Logger.Warn("resp: accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("resp: accept: %w", err)
		}
		backoff = 0
		s.admit(nc)
	}
}

// admit starts a connection's goroutine, or refuses it when the server is
// closed or full.
func (s *Server) admit(nc net.Conn) {
	c, full := s.track(nc)
	switch {
	case full:
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write([]byte("-ERR max number of clients reached\r\n"))
		nc.Close()
	case c == nil:
		nc.Close()
	default:
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.mu.conns, c)
			s.mu.Unlock()
		}()
	}
}

// track registers a new connection and counts its goroutine in s.wg. It
// returns nil if the server is closed, and full if it has MaxConns
// connections already.
func (s *Server) track(nc net.Conn) (c *conn, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, false
	}
	if len(s.mu.conns) >= s.cfg.MaxConns {
		return nil, true
	}
	c = newConn(s, nc)
	s.mu.conns[c] = struct{}{}
	s.wg.Add(1) // under mu, so never after Close's Wait began
	return c, false
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.closed
}

func (s *Server) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.conns)
}

// Close stops accepting, cancels every running command, closes every
// connection and waits for their goroutines. It is safe to call more than
// once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.mu.closed = true
	err := s.ln.Close()
	s.cancel()
	for c := range s.mu.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}
