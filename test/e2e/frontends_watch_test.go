package e2e

// The watch feed of a real `distkv up` cluster, through WebSocket and
// Server-Sent Events clients and the `distkv watch` command: ordering of
// one key's events written through different nodes, prefix filtering, and
// a node restart.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/distkv/distkv/api"
)

// watchStream is an open watch: events arrive on a channel that is
// closed when the stream ends.
type watchStream struct {
	events chan api.WatchEvent
	cancel context.CancelFunc
}

// openWatch opens GET /v1/watch?query on node i as a WebSocket (kind "ws")
// or an SSE stream ("sse"). On an error response it returns nil and the
// status; a stream is closed when the test ends.
func openWatch(t *testing.T, c *cluster, i int, kind, query string) (*watchStream, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &watchStream{events: make(chan api.WatchEvent, 4096), cancel: cancel}
	var read func() ([]byte, error)
	if kind == "ws" {
		conn, res, err := websocket.Dial(ctx, "ws://"+c.addr(i)+"/v1/watch?"+query, nil)
		if err != nil && res != nil {
			cancel()
			return nil, res.StatusCode
		} else if err != nil {
			cancel()
			t.Fatalf("websocket to n%d: %v", i, err)
		}
		conn.SetReadLimit(4 << 20)
		read = func() ([]byte, error) { _, b, err := conn.Read(ctx); return b, err }
	} else {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+c.addr(i)+"/v1/watch?"+query, nil)
		req.Header.Set("Accept", "text/event-stream")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("SSE to n%d: %v", i, err)
		}
		if res.StatusCode != http.StatusOK {
			res.Body.Close()
			cancel()
			return nil, res.StatusCode
		}
		read = sseReader(res.Body)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.events)
		for {
			b, err := read()
			if err != nil {
				return
			}
			var ev api.WatchEvent
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Errorf("a malformed event %q: %v", b, err)
				return
			}
			s.events <- ev
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s, http.StatusOK
}

// dialWatch is openWatch that fails the test unless the stream opens.
func dialWatch(t *testing.T, c *cluster, i int, kind, query string) *watchStream {
	t.Helper()
	s, status := openWatch(t, c, i, kind, query)
	if s == nil {
		t.Fatalf("watch ?%s on n%d: HTTP %d", query, i, status)
	}
	return s
}

// sseReader returns the data of each event of an SSE body in turn.
func sseReader(body io.ReadCloser) func() ([]byte, error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 4<<20)
	return func() ([]byte, error) {
		var data []string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				data = append(data, v)
			} else if line == "" && len(data) > 0 {
				return []byte(strings.Join(data, "\n")), nil
			}
		}
		body.Close()
		return nil, io.EOF
	}
}

// next returns the next event, or false if the stream ended. It fails the
// test after limit.
func (s *watchStream) next(t *testing.T, limit time.Duration) (api.WatchEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		return ev, ok
	case <-time.After(limit):
		t.Fatalf("no watch event in %v", limit)
		return api.WatchEvent{}, false
	}
}

// expectAll waits until it has seen an event "op key" for each of want,
// in any order, skipping other events.
func (s *watchStream) expectAll(t *testing.T, want []string) {
	t.Helper()
	missing := slices.Clone(want)
	deadline := time.Now().Add(30 * time.Second)
	for len(missing) > 0 {
		ev, ok := s.next(t, time.Until(deadline))
		if !ok {
			t.Fatalf("the watch stream ended while waiting for %v", missing)
		}
		missing = slices.DeleteFunc(missing, func(m string) bool { return m == ev.Op+" "+ev.Key })
	}
}

func (s *watchStream) expect(t *testing.T, op, key string) {
	t.Helper()
	s.expectAll(t, []string{op + " " + key})
}

// versionsOf collects the versions of key's events until it has n, and
// fails on an event outside prefix.
func (s *watchStream) versionsOf(t *testing.T, prefix, key string, n int) []uint64 {
	t.Helper()
	var out []uint64
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < n {
		ev, ok := s.next(t, time.Until(deadline))
		if !ok {
			t.Fatalf("the watch stream ended after %d of %d events of %s", len(out), n, key)
		}
		if !strings.HasPrefix(ev.Key, prefix) {
			t.Fatalf("a watch of prefix %q received an event of %q", prefix, ev.Key)
		}
		if ev.Key == key {
			out = append(out, ev.Version)
		}
	}
	return out
}

// TestWatchOrderAndPrefix has three writers put one key concurrently, each
// through a different node, and writes keys outside the prefix: a
// WebSocket watcher on n1 and an SSE watcher on n3 each receive every
// acknowledged version of the key, in increasing order, and nothing else.
func TestWatchOrderAndPrefix(t *testing.T) {
	c := startCluster(t, 3)
	ctx := context.Background()
	ws := dialWatch(t, c, 1, "ws", "prefix=order/&values=true")
	sse := dialWatch(t, c, 3, "sse", "prefix=order/")
	var mu sync.Mutex
	var acked []uint64
	var wg sync.WaitGroup
	for w := 1; w <= 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := c.clientOf(w)
			for i := range 10 {
				res, err := cl.Put(ctx, "order/k", []byte(fmt.Sprintf("w%d-%d", w, i)))
				if err != nil {
					t.Errorf("put through n%d: %v", w, err)
					return
				}
				mu.Lock()
				acked = append(acked, res.Version)
				mu.Unlock()
				if _, err := cl.Put(ctx, fmt.Sprintf("other/%d-%d", w, i), []byte("x")); err != nil {
					t.Errorf("put other through n%d: %v", w, err)
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	slices.Sort(acked)
	for name, s := range map[string]*watchStream{"WebSocket on n1": ws, "SSE on n3": sse} {
		got := s.versionsOf(t, "order/", "order/k", len(acked))
		if !slices.Equal(got, acked) {
			t.Errorf("%s received versions %v; want every acknowledged version in order %v", name, got, acked)
		}
	}
}

// TestWatchAcrossNodeRestart stops and restarts n2 while watchers stay
// connected: a watcher on n1 keeps receiving; a watcher on n2 sees its
// stream end and, reconnecting to the restarted n2 with from=<last version
// seen>, either receives every event it missed or is refused with 410 (the
// documented answer when n2's history no longer covers that version).
func TestWatchAcrossNodeRestart(t *testing.T) {
	c := startCluster(t, 3)
	ctx := context.Background()
	const key = "restart/k"
	onN1 := dialWatch(t, c, 1, "ws", "key="+key)
	onN2 := dialWatch(t, c, 2, "sse", "key="+key)
	writer := c.clientOf(1, 3) // never n2
	var acked []uint64
	put := func(v string) {
		t.Helper()
		res, err := writer.Put(ctx, key, []byte(v))
		if err != nil {
			t.Fatalf("put %s: %v", v, err)
		}
		acked = append(acked, res.Version)
	}
	for i := range 3 {
		put(fmt.Sprint("before-", i))
	}
	for _, s := range []*watchStream{onN1, onN2} {
		if got := s.versionsOf(t, key, key, 3); !slices.Equal(got, acked) {
			t.Fatalf("before the restart: versions %v, want %v", got, acked)
		}
	}
	seen := acked[2]

	c.mustCLI("node", "stop", "n2", "--data-dir", c.dir)
	if ev, ok := onN2.next(t, 20*time.Second); ok {
		t.Fatalf("n2's stream went on after n2 stopped: %+v", ev)
	}
	for i := range 3 {
		put(fmt.Sprint("during-", i))
	}
	c.mustCLI("node", "start", "n2", "--data-dir", c.dir)
	put("after")
	if got := onN1.versionsOf(t, key, key, 4); !slices.Equal(got, acked[3:]) {
		t.Fatalf("the watcher on n1 received %v across n2's restart, want %v", got, acked[3:])
	}

	resumed, status := openWatch(t, c, 2, "sse", fmt.Sprintf("key=%s&from=%d", key, seen))
	switch status {
	case http.StatusOK:
		if got := resumed.versionsOf(t, key, key, 4); !slices.Equal(got, acked[3:]) {
			t.Fatalf("resumed on the restarted n2 from %d: versions %v, want %v", seen, got, acked[3:])
		}
		t.Logf("resumed on the restarted n2 from version %d and received the %d missed events", seen, 4)
	case http.StatusGone:
		t.Logf("the restarted n2 refused from=%d with 410 (its history starts after it)", seen)
		resumed = dialWatch(t, c, 2, "sse", "key="+key)
	default:
		t.Fatalf("resuming on the restarted n2: HTTP %d, want 200 or 410", status)
	}
	put("final")
	final := acked[len(acked)-1]
	if got := onN1.versionsOf(t, key, key, 1); got[0] != final {
		t.Fatalf("the watcher on n1 received version %d, want %d", got[0], final)
	}
	// A watcher that started afresh on n2 may first see writes n2 is still
	// catching up on: in order, up to the final one.
	for prev := uint64(0); prev != final; {
		v := resumed.versionsOf(t, key, key, 1)[0]
		if v <= prev || v > final {
			t.Fatalf("the watcher on the restarted n2 received version %d after %d (final %d)", v, prev, final)
		}
		prev = v
	}
}

// TestWatchCommand runs `distkv watch` against n2, puts keys through n1,
// and stops it with SIGINT: one line per matching event, exit 0.
func TestWatchCommand(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "watch", "cmd/", "--values", "--endpoints", c.addr(2))
	cmd.WaitDelay = 5 * time.Second
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errLines, outLines := lineChan(stderr), lineChan(stdout)
	if line := nextLine(t, errLines); !strings.HasPrefix(line, `watching prefix "cmd/" in namespace "default" on n2`) {
		t.Fatalf("distkv watch stderr: %q", line)
	}
	cl := c.clientOf(1)
	for _, k := range []string{"skip/x", "cmd/a", "cmd/b"} {
		if _, err := cl.Put(ctx, k, []byte("v-"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.Delete(ctx, "cmd/a"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 3 {
		f := strings.Fields(nextLine(t, outLines))
		got = append(got, strings.Join(f[1:], " ")) // drop the version
	}
	slices.Sort(got) // keys of different shards arrive in any order
	want := []string{"delete cmd/a (n2)", "put cmd/a=v-cmd/a (n2)", "put cmd/b=v-cmd/b (n2)"}
	if !slices.Equal(got, want) {
		t.Fatalf("distkv watch printed %q, want %q", got, want)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("distkv watch after SIGINT: %v (want exit 0)", err)
	}
}

// lineChan delivers r's lines until it ends.
func lineChan(r io.Reader) <-chan string {
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

func nextLine(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-ch:
		if !ok {
			t.Fatal("the command's output ended")
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("no output line in 30s")
	}
	return ""
}
