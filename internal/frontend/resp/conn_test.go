package resp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/kv"
	"github.com/redis/go-redis/v9"
)

// TestInlineRawTCP is seed 000's raw TCP protocol: plain lines in, RESP out.
func TestInlineRawTCP(t *testing.T) {
	c := start(t, Config{}).dial(t)
	c.send("SET k v\r\n")
	c.expect("+OK\r\n")
	c.send("GET k\r\n")
	c.expect("$1\r\nv\r\n")
	c.send(`SET "a b" 'c d'` + "\r\n" + `GET "a\x20b"` + "\n")
	c.expect("+OK\r\n$3\r\nc d\r\n")
	c.send("UPD nokey v\r\nUPD k w\r\nGET k\r\n")
	c.expect("-ERR no such key\r\n+OK\r\n$1\r\nw\r\n")
	c.send("\r\n\r\nping\r\n") // empty lines get no reply
	c.expect("+PONG\r\n")
}

// A client that sends its commands and closes its side still gets every
// reply, as with `printf 'SET k v\r\n' | nc -N`.
func TestHalfClose(t *testing.T) {
	c := start(t, Config{}).dial(t)
	c.send("SET k v\r\nGET k\r\nPING")
	if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.expect("+OK\r\n$1\r\nv\r\n+PONG\r\n")
	c.expectClosed()
}

func TestProtocolErrorCloses(t *testing.T) {
	ts := start(t, Config{MaxBulk: 16, MaxArray: 4})
	for _, tc := range []struct{ in, want string }{
		{"*1\r\n$x\r\n", "invalid bulk length"},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$17\r\n", "invalid bulk length"},
		{"*5\r\n", "invalid multibulk length"},
		{"*1\r\n+PING\r\n", "expected '$', got '+'"},
		{"SET 'k v\r\n", "unbalanced quotes in request"},
		{strings.Repeat("a", maxLine+1), "too big inline request"},
	} {
		c := ts.dial(t)
		c.send("PING\r\n" + tc.in + "PING\r\n")
		c.expect("+PONG\r\n-ERR Protocol error: " + tc.want + "\r\n")
		c.expectClosed()
	}
	// At the limits, all is well.
	c := ts.dial(t)
	c.send(string(encodeCommand(argsOf("SET", "k", strings.Repeat("v", 16)))) + "*4\r\n$4\r\nMGET\r\n$1\r\nk\r\n$1\r\nk\r\n$1\r\nx\r\n")
	c.expect("+OK\r\n*3\r\n$16\r\n" + strings.Repeat("v", 16) + "\r\n$16\r\n" + strings.Repeat("v", 16) + "\r\n$-1\r\n")
}

// The default bulk limit is the kv value limit.
func TestOversizedBulk(t *testing.T) { eachProtocol(t, testOversizedBulk) }

func testOversizedBulk(t *testing.T, proto int) {
	ctx := context.Background()
	ts := startProto(t, Config{}, proto)
	rc := ts.client(t)
	limit := ts.kv.limits.MaxValue
	must[string](t)(rc.Set(ctx, "k", strings.Repeat("v", limit), 0).Result())
	wantErr(t, rc.Set(ctx, "k", strings.Repeat("v", limit+1), 0).Err(), "ERR Protocol error: invalid bulk length")
	if got := must[int64](t)(rc.StrLen(ctx, "k").Result()); got != int64(limit) {
		t.Fatalf("STRLEN = %d", got)
	}
}

func TestUnknownCommandAndArity(t *testing.T) {
	c := start(t, Config{}).dial(t)
	for _, tc := range []struct{ in, want string }{
		{"FOO a b\r\n", "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"},
		{"foo\r\n", "-ERR unknown command 'foo', with args beginning with: \r\n"},
		{"FLUSHALL\r\n", "-ERR unknown command 'FLUSHALL', with args beginning with: \r\n"},
		{"GET\r\n", "-ERR wrong number of arguments for 'get' command\r\n"},
		{"get a b\r\n", "-ERR wrong number of arguments for 'get' command\r\n"},
		{"PING a b\r\n", "-ERR wrong number of arguments for 'ping' command\r\n"},
		{"SET k\r\n", "-ERR wrong number of arguments for 'set' command\r\n"},
		{"DEL\r\n", "-ERR wrong number of arguments for 'del' command\r\n"},
		{"DBSIZE x\r\n", "-ERR wrong number of arguments for 'dbsize' command\r\n"},
		{"CLIENT SETNAME\r\n", "-ERR wrong number of arguments for 'client|setname' command\r\n"},
		{"CLIENT BOGUS\r\n", "-ERR unknown subcommand 'BOGUS'. Try CLIENT HELP.\r\n"},
	} {
		c.send(tc.in)
		c.expect(tc.want)
	}
	long := strings.Repeat("x", 200)
	c.send("NOPE " + long + " y\r\n")
	c.expect("-ERR unknown command 'NOPE', with args beginning with: '" + long[:128] + "' \r\n")
	// As Redis 7.0.15 answers: the quoted arguments stop at 128 bytes,
	// quotes and spaces included; CR and LF become spaces.
	a, b := strings.Repeat("a", 60), strings.Repeat("b", 60)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"foo", a, b, "cccc"}, "'foo', with args beginning with: '" + a + "' '" + b + "' 'cc' "},
		{[]string{strings.Repeat("f", 200), "x"}, "'" + strings.Repeat("f", 128) + "', with args beginning with: 'x' "},
		{[]string{"foo", "a\r\nb", "c\nd"}, "'foo', with args beginning with: 'a  b' 'c d' "},
		{[]string{"fo\r\no", ""}, "'fo  o', with args beginning with: '' "},
		{append([]string{"foo"}, slices.Repeat([]string{"x"}, 50)...), "'foo', with args beginning with: " + strings.Repeat("'x' ", 32)},
	} {
		c.send(string(encodeCommand(argsOf(tc.args...))))
		c.expect("-ERR unknown command " + tc.want + "\r\n")
	}
	c.send("PING\r\n")
	c.expect("+PONG\r\n")
}

// countingConn counts the writes the server makes.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

type countingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, &l.writes}, nil
}

// TestPipelining sends 10,000 commands in one write: the replies come in
// order, in far fewer writes than commands.
func TestPipelining(t *testing.T) { eachProtocol(t, testPipelining) }

func testPipelining(t *testing.T, proto int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	ts := startProto(t, Config{Listener: cl}, proto)
	const n = 10000
	var in, want bytes.Buffer
	for i := range n {
		k := []byte{byte('a' + i%26), byte('a' + i/26%26)}
		in.Write(encodeCommand([][]byte{[]byte("SET"), k, k}))
		in.Write(encodeCommand([][]byte{[]byte("GET"), k}))
		want.WriteString("+OK\r\n$2\r\n" + string(k) + "\r\n")
	}
	c := ts.dial(t)
	go c.nc.Write(in.Bytes()) // the replies are read meanwhile
	c.expect(want.String())
	if w := cl.writes.Load(); w > n/10 {
		t.Fatalf("%d writes for %d pipelined commands", w, 2*n)
	}
	t.Logf("%d writes for %d pipelined commands", cl.writes.Load(), 2*n)

	// And through go-redis's pipeline.
	ctx := context.Background()
	rc := ts.client(t)
	cmds, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for range n {
			p.Incr(ctx, "pipelined")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, cmd := range cmds {
		if v := cmd.(*redis.IntCmd).Val(); v != int64(i+1) {
			t.Fatalf("reply %d = %d", i, v)
		}
	}
}

func TestQuit(t *testing.T) {
	c := start(t, Config{}).dial(t)
	c.send("PING\r\nQUIT\r\nPING\r\n")
	c.expect("+PONG\r\n+OK\r\n")
	c.expectClosed()
}

// Close cancels running commands, closes connections and waits.
func TestCloseCancelsAndCloses(t *testing.T) {
	ts := start(t, Config{})
	running := make(chan struct{})
	var cancelled atomic.Bool
	ts.kv.setHook(func(ctx context.Context, op string, _ []byte) error {
		close(running)
		<-ctx.Done()
		cancelled.Store(errors.Is(ctx.Err(), context.Canceled))
		return ctx.Err()
	})
	idle, busy := ts.dial(t), ts.dial(t)
	idle.send("PING\r\n")
	idle.expect("+PONG\r\n")
	busy.send("GET k\r\n")
	<-running
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if !cancelled.Load() {
		t.Fatal("the running command's context was not cancelled")
	}
	idle.expectClosed()
	// The cancelled command may have had time to answer.
	busy.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(busy.br)
	if err != nil || len(rest) > 0 && string(rest) != "-ERR request cancelled: the connection or the server is closing\r\n" {
		t.Fatalf("busy connection read %q, %v; want at most the cancellation, then the end", rest, err)
	}
	if _, err := net.Dial("tcp", ts.Addr().String()); err == nil {
		t.Fatal("still accepting after Close")
	}
}

func TestRequestTimeout(t *testing.T) {
	ts := start(t, Config{RequestTimeout: 20 * time.Millisecond})
	ts.kv.setHook(func(ctx context.Context, op string, _ []byte) error {
		<-ctx.Done()
		return ctx.Err()
	})
	c := ts.dial(t)
	c.send("GET k\r\n")
	c.expect("-ERR timeout: context deadline exceeded\r\n")
}

func TestMaxConns(t *testing.T) {
	ts := start(t, Config{MaxConns: 1})
	first := ts.dial(t)
	first.send("PING\r\n")
	first.expect("+PONG\r\n")
	second := ts.dial(t)
	second.expect("-ERR max number of clients reached\r\n")
	second.expectClosed()
}

func TestIdleTimeout(t *testing.T) {
	c := start(t, Config{IdleTimeout: 50 * time.Millisecond}).dial(t)
	c.send("PING\r\n")
	c.expect("+PONG\r\n")
	c.expectClosed()
}

func TestConfigValidation(t *testing.T) {
	f := newFakeKV()
	n := &fakeNode{kv: f}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, cfg := range []Config{
		{Addr: "127.0.0.1:0", Node: n},
		{Addr: "127.0.0.1:0", KV: f},
		{KV: f, Node: n},
		{Addr: "127.0.0.1:0", Listener: ln, KV: f, Node: n},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	s, err := New(Config{Listener: ln, KV: f, Node: n})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.MaxBulk != f.limits.MaxValue || s.cfg.MaxConns != 10000 || s.cfg.MaxArray != 1<<20 ||
		s.cfg.RequestTimeout != 5*time.Second || s.cfg.IdleTimeout != 0 || s.cfg.Version == "" {
		t.Errorf("defaults: %+v", s.cfg)
	}
	// Close without Serve, twice.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
}

func TestKVErrors(t *testing.T) {
	join := func(sentinel error, msg string) error { return errors.Join(sentinel, errors.New(msg)) }
	for _, tc := range []struct {
		err  error
		want string
	}{
		{join(kv.ErrUnavailable, "no leader for shard 3"), "TRYAGAIN shard unavailable: no leader for shard 3"},
		{kv.ErrUnavailable, "TRYAGAIN shard unavailable"},
		{join(kv.ErrUnknownOutcome, "deadline passed"), errOutcome},
		{join(kv.ErrTimeout, "read index not confirmed"), "ERR timeout: read index not confirmed"},
		{kv.ErrTimeout, "ERR timeout: the request did not complete in time"},
		{context.DeadlineExceeded, "ERR timeout: context deadline exceeded"},
		{join(kv.ErrTooLarge, "value is larger than the limit"), "ERR value too large: value is larger than the limit"},
		{join(kv.ErrTooLarge, "key is longer than the limit"), "ERR key too large: key is longer than the limit"},
		{join(kv.ErrNoNamespace, `namespace "x" does not exist`), `ERR no such namespace: namespace "x" does not exist`},
		{join(kv.ErrWrongMode, "namespace is eventual"), "ERR wrong namespace mode: namespace is eventual"},
		{errors.New("kv: invalid request: empty key"), "ERR internal error: kv: invalid request: empty key"},
		{join(kv.ErrInvalid, "empty key"), "ERR invalid request: empty key"},
		{kv.ErrNotFound, errNoSuchKey},
		{kv.ErrExists, "ERR key exists"},
		{&kv.VersionMismatchError{Expected: 3, Current: 4}, "ERR version mismatch: expected 3, current 4"},
		{context.Canceled, "ERR request cancelled: the connection or the server is closing"},
	} {
		if got := kvError(tc.err); got != tc.want {
			t.Errorf("kvError(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// Errors reach the client as error replies, multi-key commands included.
func TestKVErrorsEndToEnd(t *testing.T) { eachProtocol(t, testKVErrorsEndToEnd) }

func testKVErrorsEndToEnd(t *testing.T, proto int) {
	ts := startProto(t, Config{}, proto)
	ts.kv.setHook(func(_ context.Context, op string, key []byte) error {
		switch {
		case string(key) == "down":
			return errors.Join(kv.ErrUnavailable, errors.New("no quorum"))
		case string(key) == "lost" && op == "put":
			return errors.Join(kv.ErrUnknownOutcome, errors.New("deadline passed"))
		}
		return nil
	})
	c := ts.dial(t)
	for _, tc := range []struct{ in, want string }{
		{"GET down", "-TRYAGAIN shard unavailable: no quorum"},
		{"MGET a down b", "-TRYAGAIN shard unavailable: no quorum"},
		{"DEL a down", "-TRYAGAIN shard unavailable: no quorum"},
		{"EXISTS down", "-TRYAGAIN shard unavailable: no quorum"},
		{"MSET a 1 lost 2 down 3", "-" + errOutcome},
		{"SET lost v", "-" + errOutcome},
		{"INCR lost", "-" + errOutcome},
		{"GET a", "$1\r\n1"},
	} {
		c.send(tc.in + "\r\n")
		c.expect(tc.want + "\r\n")
	}
}
