package ftp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	ftpserver "goftp.io/server/v2"

	"github.com/distkv/distkv/internal/kv"
)

// KV is what the FTP server needs of the kv service.
type KV interface {
	Get(ctx context.Context, ns string, key []byte, opts kv.ReadOptions) (kv.Entry, error)
	Put(ctx context.Context, ns string, key, value []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	Delete(ctx context.Context, ns string, key []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	Scan(ctx context.Context, ns string, opts kv.ScanOptions) (kv.ScanResult, error)
}

// Config configures a Server. Zero numbers mean the defaults.
type Config struct {
	// Addr is the TCP address to listen on; Listener, a TCP listener to
	// serve instead. Exactly one must be set.
	Addr     string
	Listener net.Listener
	// PassivePorts is the range passive data connections listen in, like
	// "30000-30100". Default: any free port. Passive listeners bind every
	// interface of the host (goftp's choice), whatever Addr is.
	PassivePorts string

	KV KV
	// EnsureNamespace creates the namespace (strong) if it is missing. It
	// is called on first use, and again after the kv service reports the
	// namespace missing. Nil: the namespace must exist.
	EnsureNamespace func(ctx context.Context, name string) error
	Namespace       string // default "files"

	// User and Password are the only credentials accepted. They are
	// required, both, unless the listener is on a loopback address; there,
	// leaving them empty lets anyone log in with any name and password.
	User, Password string

	// MaxFileSize bounds a stored file; STOR and APPE past it fail with
	// 552 and leave the old content. Default 64 MiB.
	MaxFileSize int64
	// ChunkSize is the size of the values a file is cut into. At most
	// 1 MiB, the kv service's default value limit. Default 256 KiB.
	ChunkSize int
	// OnChange, if set, is called after a change is durable, on the
	// session's goroutine: op is "stor" (STOR and APPE), "dele", "mkd",
	// "rmd" or "rename". A rename calls it twice: for the old path with
	// size -1, then for the new path. size is the file's size, 0 for
	// directories.
	OnChange func(path, op string, size int64)
	Logger   *slog.Logger // default: discard
	// RequestTimeout bounds each kv call. Default 10s.
	RequestTimeout time.Duration
}

const maxChunkSize = 1 << 20

func (c *Config) setDefaults() {
	if c.Namespace == "" {
		c.Namespace = "files"
	}
	if c.MaxFileSize == 0 {
		c.MaxFileSize = 64 << 20
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = 256 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
}

func (c *Config) validate() error {
	switch {
	case c.KV == nil:
		return errors.New("ftp: Config.KV is required")
	case (c.Addr == "") == (c.Listener == nil):
		return errors.New("ftp: set exactly one of Config.Addr and Config.Listener")
	case (c.User == "") != (c.Password == ""):
		return errors.New("ftp: set both Config.User and Config.Password, or neither")
	case c.MaxFileSize < 0 || c.RequestTimeout < 0:
		return errors.New("ftp: Config.MaxFileSize and RequestTimeout must not be negative")
	case c.ChunkSize < 0 || c.ChunkSize > maxChunkSize:
		return fmt.Errorf("ftp: Config.ChunkSize must be between 1 and %d", maxChunkSize)
	}
	return checkPortRange(c.PassivePorts)
}

// checkPortRange validates a PassivePorts value: goftp misbehaves on others.
func checkPortRange(r string) error {
	if r == "" {
		return nil
	}
	lo, hi, ok := strings.Cut(r, "-")
	l, err1 := strconv.Atoi(strings.TrimSpace(lo))
	h, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil || l < 1 || h > 65535 || l >= h {
		return fmt.Errorf("ftp: PassivePorts %q is not a range like 30000-30100", r)
	}
	return nil
}

// Server is an FTP server storing files in the cluster.
type Server struct {
	cfg    Config
	fs     *fsys
	ftp    *ftpserver.Server
	ln     net.Listener
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	sweeps sync.WaitGroup

	mu struct {
		sync.Mutex
		closed, serving bool
		conns           map[net.Conn]struct{} // open control connections
	}
}

// New returns a Server listening on cfg.Addr (or cfg.Listener), ready to
// Serve. It talks to the cluster only once a client does.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("ftp: %w", err)
		}
	}
	if cfg.User == "" && !isLoopback(ln.Addr()) {
		if cfg.Listener == nil {
			ln.Close()
		}
		return nil, fmt.Errorf("ftp: %s is not a loopback address: set a user and password", ln.Addr())
	}
	s := &Server{cfg: cfg, ln: ln}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.conns = make(map[net.Conn]struct{})
	st := &store{kv: cfg.KV, ns: cfg.Namespace, timeout: cfg.RequestTimeout, ensure: cfg.EnsureNamespace,
		ctx: s.ctx, onReady: s.startSweep}
	s.fs = &fsys{st: st, log: cfg.Logger, now: time.Now, rootTime: time.Now().UTC(),
		maxSize: cfg.MaxFileSize, chunkSize: cfg.ChunkSize, onChange: cfg.OnChange}
	var err error
	s.ftp, err = ftpserver.NewServer(&ftpserver.Options{
		Commands:       s.commands(),
		Driver:         &driver{fs: s.fs},
		Auth:           credentials{user: cfg.User, password: cfg.Password},
		Perm:           ftpserver.NewSimplePerm("distkv", "distkv"),
		Name:           "distkv",
		WelcomeMessage: "distkv FTP server; files live in namespace " + cfg.Namespace,
		PassivePorts:   cfg.PassivePorts,
		Logger:         logAdapter{cfg.Logger},
	})
	if err != nil {
		s.cancel()
		if cfg.Listener == nil {
			ln.Close()
		}
		return nil, fmt.Errorf("ftp: %w", err)
	}
	return s, nil
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until Close, then returns nil; any other
// failure of the listener is returned. Call it once.
func (s *Server) Serve() error {
	s.mu.Lock()
	if s.mu.serving {
		s.mu.Unlock()
		return errors.New("ftp: Serve called twice")
	}
	s.mu.serving = true
	closed := s.mu.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	err := s.ftp.Serve(&listener{Listener: s.ln, s: s})
	if s.ctx.Err() != nil {
		return nil
	}
	return err
}

// Close stops the server: it closes the listener (also one passed in
// Config) and every control connection, and makes further kv calls fail
// at once. Commands in progress end at their next kv call; Close waits
// only for the background sweep.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	conns := make([]net.Conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancel()
	err := s.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	s.sweeps.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// startSweep runs the sweep in the background, once the namespace is
// known to exist.
func (s *Server) startSweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return
	}
	s.sweeps.Add(1)
	go func() {
		defer s.sweeps.Done()
		st, err := s.fs.sweep(sweepGrace)
		switch {
		case err != nil && s.ctx.Err() == nil:
			s.cfg.Logger.Warn("ftp: sweep failed; leftovers stay until the next start", "err", err)
		case err == nil:
			s.cfg.Logger.Info("ftp: sweep done", "files", st.files, "orphan_chunks_deleted", st.chunks, "unshared", st.unshared)
		}
	}()
}

// listener tracks control connections so that Close can end them.
type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.s.mu.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	l.s.mu.conns[c] = struct{}{}
	return &conn{Conn: c, s: l.s}, nil
}

type conn struct {
	net.Conn
	s *Server
}

func (c *conn) Close() error {
	c.s.mu.Lock()
	delete(c.s.mu.conns, c.Conn)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// credentials checks logins; with no user configured, anyone may log in.
type credentials struct{ user, password string }

func (c credentials) CheckPasswd(_ *ftpserver.Context, user, password string) (bool, error) {
	if c.user == "" {
		return true, nil
	}
	u := subtle.ConstantTimeCompare([]byte(user), []byte(c.user))
	p := subtle.ConstantTimeCompare([]byte(password), []byte(c.password))
	return u&p == 1, nil
}

// logAdapter sends goftp's log lines to slog at debug level.
type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Print(session string, message any) {
	a.l.Debug(fmt.Sprint("ftp: ", message), "session", session)
}

func (a logAdapter) Printf(session string, format string, v ...any) {
	a.l.Debug("ftp: "+fmt.Sprintf(format, v...), "session", session)
}

func (a logAdapter) PrintCommand(session string, command string, params string) {
	if strings.EqualFold(command, "PASS") {
		params = "****"
	}
	a.l.Debug("ftp: command", "session", session, "command", command, "params", params)
}

func (a logAdapter) PrintResponse(session string, code int, message string) {
	a.l.Debug("ftp: reply", "session", session, "code", code, "message", message)
}
