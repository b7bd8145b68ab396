package watchhttp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clock"
	"github.com/distkv/distkv/internal/frontend/watchhttp"
	"github.com/distkv/distkv/internal/watch"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// event is an event as a client decodes it: the wire type, printable.
type event struct{ api.WatchEvent }

func (e event) String() string { return fmt.Sprintf("%s/%s@%d", e.Op, e.Key, e.Version) }

type fixture struct {
	hub *watch.Hub
	srv *httptest.Server
}

// newFixture serves the watch endpoints for namespaces "default" and
// "other" with a hub the test publishes into. setup, if not nil, adjusts
// the server before it starts.
func newFixture(t *testing.T, hc watch.Config, setup func(*httptest.Server)) *fixture {
	t.Helper()
	hc.Node = "n1"
	hc.Clock = clock.NewManual(t0)
	hub := watch.NewHub(hc)
	mux := http.NewServeMux()
	watchhttp.Register(mux, watchhttp.Config{
		Hub: hub, Node: "n1", Ping: 20 * time.Millisecond,
		Namespaces: func(ns string) bool { return ns == "default" || ns == "other" },
	})
	srv := httptest.NewUnstartedServer(mux)
	if setup != nil {
		setup(srv)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(hub.Close) // runs first: ends the streams
	return &fixture{hub: hub, srv: srv}
}

func (f *fixture) publish(evs ...watch.Event) { f.hub.Publish(evs) }

func put(key string, version uint64, value string) watch.Event {
	return watch.Event{NS: "default", Key: key, Op: watch.OpPut, Version: version, Value: []byte(value)}
}

func del(key string, version uint64) watch.Event {
	return watch.Event{NS: "default", Key: key, Op: watch.OpDelete, Version: version}
}

// waitSubscribers waits until the hub has n subscriptions.
func (f *fixture) waitSubscribers(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); f.hub.Subscribers() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("hub has %d subscribers, want %d", f.hub.Subscribers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sseStream is a Server-Sent Events client on a plain HTTP response.
type sseStream struct {
	res    *http.Response
	lines  *bufio.Scanner
	cancel context.CancelFunc
}

type sseBlock struct {
	id, event, data string
	comments        []string
}

// dialSSE opens an event stream and reads its greeting, after which the
// server's subscription is registered.
func (f *fixture) dialSSE(t *testing.T, query string, header http.Header) *sseStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/v1/watch?"+query, nil)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("GET ?%s: %s %s", query, res.Status, res.Header.Get("Content-Type"))
	}
	s := &sseStream{res: res, lines: bufio.NewScanner(res.Body), cancel: cancel}
	s.lines.Buffer(nil, 4<<20)
	t.Cleanup(s.close)
	if b, ok := s.block(); !ok || len(b.comments) == 0 {
		t.Fatalf("no greeting on the stream: %+v", b)
	}
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.res.Body.Close()
}

// block reads one blank-line-terminated block; ok is false at the end of
// the stream.
func (s *sseStream) block() (b sseBlock, ok bool) {
	for s.lines.Scan() {
		line := s.lines.Text()
		if line == "" {
			return b, true
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			b.comments = append(b.comments, value)
		case "id":
			b.id = value
		case "event":
			b.event = value
		case "data":
			b.data = value
		}
	}
	return b, false
}

// next returns the next event, skipping comments, or fails the test at
// the end of the stream.
func (s *sseStream) next(t *testing.T) (event, sseBlock) {
	t.Helper()
	for {
		b, ok := s.block()
		if !ok {
			t.Fatalf("stream ended: %v", s.lines.Err())
		}
		if b.data == "" {
			continue
		}
		var ev event
		if err := json.Unmarshal([]byte(b.data), &ev); err != nil {
			t.Fatalf("data %q: %v", b.data, err)
		}
		return ev, b
	}
}

// dialWS opens a WebSocket watch; when it returns the server has
// subscribed.
func (f *fixture) dialWS(t *testing.T, query string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+"/v1/watch?"+query, nil)
	if err != nil {
		status := ""
		if res != nil {
			status = res.Status
		}
		t.Fatalf("dial ?%s: %v %s", query, err, status)
	}
	c.SetReadLimit(8 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func readWS(t *testing.T, c *websocket.Conn) event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("message type %v, want text", typ)
	}
	var ev event
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatalf("message %q: %v", data, err)
	}
	return ev
}

// getError performs a plain GET and decodes the error body.
func getError(t *testing.T, url string, header http.Header) (int, api.Error) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body api.ErrorBody
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: %s, body not an error: %v", url, res.Status, err)
	}
	return res.StatusCode, body.Error
}
