package transport

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testSeed returns the seed of a randomized test: $TRANSPORT_SEED if set,
// else the clock. It is printed if the test fails so the run replays.
func testSeed(t testing.TB) int64 {
	seed := time.Now().UnixNano()
	if s := os.Getenv("TRANSPORT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("bad TRANSPORT_SEED: %v", err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (replay with TRANSPORT_SEED=%d)", seed, seed)
		}
	})
	return seed
}

// checkNoLeaks fails the test if, once its other cleanups have run (the
// transports closed), any goroutine started by a transport is still alive.
// Every such goroutine runs under lifecycle.goFunc, which names it.
func checkNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			leaked := transportGoroutines()
			if leaked == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines leaked:\n%s", leaked)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func transportGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "(*lifecycle).goFunc") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// waitFor polls cond until it holds or a generous timeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// inbox collects delivered messages for a test.
type inbox struct {
	mu   sync.Mutex
	msgs []Message
}

func (b *inbox) handler(m Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
}

func (b *inbox) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

func (b *inbox) all() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message(nil), b.msgs...)
}

// seqs decodes the "%d" payloads of the messages.
func (b *inbox) seqs() []int {
	var out []int
	for _, m := range b.all() {
		n, _ := strconv.Atoi(string(m.Payload))
		out = append(out, n)
	}
	return out
}

func seqPayload(i int) []byte { return []byte(strconv.Itoa(i)) }

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// addrBook is a Resolve function tests can update as nodes restart.
type addrBook struct {
	mu    sync.Mutex
	addrs map[uint64]string
}

func (a *addrBook) set(id uint64, addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.addrs == nil {
		a.addrs = map[uint64]string{}
	}
	a.addrs[id] = addr
}

func (a *addrBook) resolve(id uint64) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.addrs[id]
	return s, ok
}

// cluster starts TCP transports with IDs 1..n on loopback ports, all
// resolving through one book; cfg customizes each config before start.
type cluster struct {
	book addrBook
	ts   map[uint64]*TCP
}

func newCluster(t testing.TB, n int, cfg func(c *Config)) *cluster {
	cl := &cluster{ts: map[uint64]*TCP{}}
	for id := uint64(1); id <= uint64(n); id++ {
		cl.start(t, id, "127.0.0.1:0", cfg)
	}
	return cl
}

func (cl *cluster) start(t testing.TB, id uint64, addr string, cfg func(c *Config)) *TCP {
	t.Helper()
	c := Config{ID: id, ClusterID: 7, Listen: addr, Resolve: cl.book.resolve}
	if cfg != nil {
		cfg(&c)
	}
	tr, err := NewTCP(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	cl.book.set(id, tr.Addr().String())
	cl.ts[id] = tr
	return tr
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}
