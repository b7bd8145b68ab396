package ftp

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/textproto"
	"sync"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"
)

// fixedTime is the clock of test servers, so modification times are exact.
var fixedTime = time.Date(2024, 5, 17, 10, 30, 0, 0, time.UTC)

// change is one OnChange call.
type change struct {
	path, op string
	size     int64
}

// testEnv is a server on a fake kv, with what it reported.
type testEnv struct {
	kv  *fakeKV
	srv *Server

	mu      sync.Mutex
	changes []change
	logs    bytes.Buffer
}

// start runs a server on 127.0.0.1:0 over a fresh fake kv; mod adjusts its
// configuration.
func start(t *testing.T, mod func(*Config)) *testEnv {
	t.Helper()
	return startKV(t, newFakeKV(), mod)
}

// startKV is start over a given fake kv.
func startKV(t *testing.T, fake *fakeKV, mod func(*Config)) *testEnv {
	t.Helper()
	env := &testEnv{kv: fake}
	cfg := Config{
		Addr:            "127.0.0.1:0",
		KV:              env.kv,
		EnsureNamespace: env.kv.ensure,
		Logger:          slog.New(slog.NewTextHandler(lockedWriter{env}, nil)),
		OnChange: func(path, op string, size int64) {
			env.mu.Lock()
			defer env.mu.Unlock()
			env.changes = append(env.changes, change{path, op, size})
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.fs.now = func() time.Time { return fixedTime }
	env.srv = srv
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return env
}

// lockedWriter lets the server log into env.logs from any goroutine.
type lockedWriter struct{ env *testEnv }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.env.mu.Lock()
	defer w.env.mu.Unlock()
	return w.env.logs.Write(b)
}

func (env *testEnv) logText() string {
	env.mu.Lock()
	defer env.mu.Unlock()
	return env.logs.String()
}

// takeChanges returns and forgets the OnChange calls so far.
func (env *testEnv) takeChanges() []change {
	env.mu.Lock()
	defer env.mu.Unlock()
	out := env.changes
	env.changes = nil
	return out
}

// dial logs a client in anonymously.
func (env *testEnv) dial(t *testing.T, opts ...ftpc.DialOption) *ftpc.ServerConn {
	t.Helper()
	opts = append([]ftpc.DialOption{ftpc.DialWithTimeout(10 * time.Second)}, opts...)
	c, err := ftpc.Dial(env.srv.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	if err := c.Login("anonymous", "guest"); err != nil {
		t.Fatal(err)
	}
	return c
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func put(t *testing.T, c *ftpc.ServerConn, p string, data []byte) {
	t.Helper()
	if err := c.Stor(p, bytes.NewReader(data)); err != nil {
		t.Fatalf("STOR %s: %v", p, err)
	}
}

func get(t *testing.T, c *ftpc.ServerConn, p string) []byte {
	t.Helper()
	r, err := c.Retr(p)
	if err != nil {
		t.Fatalf("RETR %s: %v", p, err)
	}
	b, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("RETR %s: %v", p, err)
	}
	return b
}

// code returns the FTP reply code an error carries, or 0.
func code(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// wantCode fails unless err carries the reply code want.
func wantCode(t *testing.T, what string, err error, want int) {
	t.Helper()
	if got := code(err); got != want {
		t.Fatalf("%s: got %v (code %d), want code %d", what, err, got, want)
	}
}

// abortingDialer records connections so a test can reset the latest one
// (the data connection of a transfer in progress).
type abortingDialer struct {
	mu   sync.Mutex
	last *net.TCPConn
}

func (d *abortingDialer) dial(network, addr string) (net.Conn, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.last = c.(*net.TCPConn)
	d.mu.Unlock()
	return c, nil
}

// reset closes the latest connection with a TCP reset, as a crashing
// client's kernel might.
func (d *abortingDialer) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	_ = d.last.SetLinger(0)
	_ = d.last.Close()
}

// failingReader yields data, but after cut bytes it calls abort and fails.
type failingReader struct {
	data  []byte
	cut   int
	off   int
	abort func()
}

func (r *failingReader) Read(b []byte) (int, error) {
	if r.off >= r.cut {
		r.abort()
		return 0, errors.New("client gave up")
	}
	n := copy(b, r.data[r.off:r.cut])
	r.off += n
	return n, nil
}
