package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
)

// sseNode is a fake node's GET /v1/watch: it records each request's query
// and answers with serve.
func sseNode(t *testing.T, serve func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, chan url.Values) {
	queries := make(chan url.Values, 10)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/watch", func(w http.ResponseWriter, r *http.Request) {
		queries <- r.URL.Query()
		w.Header().Set(api.HeaderNode, "n1")
		serve(w, r)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s, queries
}

// stream answers as the node does: the greeting, then blocks, each
// followed by a flush; it returns when the client leaves unless end is set.
func stream(end bool, blocks ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "not an event stream request", 400)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 1000\n: watching on node n1\n\n")
		w.(http.Flusher).Flush()
		for _, b := range blocks {
			fmt.Fprint(w, b)
			w.(http.Flusher).Flush()
		}
		if !end {
			<-r.Context().Done()
		}
	}
}

func sseEvent(op, data string) string {
	return "id: 1\nevent: " + op + "\ndata: " + data + "\n\n"
}

var watchEvents = []string{
	sseEvent("put", `{"ns":"default","key":"user/1","op":"put","version":12,"value":"ada","node":"n1","shard":2}`),
	": ping\n\n",
	sseEvent("put", `{"ns":"default","key":"user/2","op":"put","version":7,"value":"/wD+","encoding":"base64","node":"n1","shard":3}`),
	sseEvent("delete", `{"ns":"default","key":"user/1","op":"delete","version":13,"node":"n1","shard":2}`),
}

// runWatch runs `distkv watch` with args until the output contains want
// (then cancels, as Ctrl-C does) or the command ends by itself.
func runWatch(t *testing.T, endpoints, want string, args ...string) (out, errs string, code int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var o, e syncBuffer
	getenv := func(k string) string {
		if k == EnvEndpoints {
			return endpoints
		}
		return ""
	}
	codes := make(chan int, 1)
	go func() {
		codes <- Run(ctx, append([]string{"watch"}, args...), Stdio{In: strings.NewReader(""), Out: &o, Err: &e}, getenv)
	}()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case code := <-codes:
			return o.String(), e.String(), code
		case <-deadline:
			t.Fatalf("distkv watch %v did not print %q in 20s; stdout %q, stderr %q", args, want, o.String(), e.String())
		case <-time.After(10 * time.Millisecond):
			if want != "" && strings.Contains(o.String(), want) {
				cancel()
				want = ""
			}
		}
	}
}

func TestWatchPrintsEventsUntilCtrlC(t *testing.T) {
	s, queries := sseNode(t, stream(false, watchEvents...))
	ep := strings.TrimPrefix(s.URL, "http://")
	out, errs, code := runWatch(t, ep, "delete", "user/", "--values")
	want := "12 put user/1=ada (n1)\n7 put user/2=\"\\xff\\x00\\xfe\" (n1)\n13 delete user/1 (n1)\n"
	if code != ExitOK || out != want {
		t.Fatalf("exit %d, stdout %q; want 0, %q (stderr %q)", code, out, want, errs)
	}
	if errs != "watching prefix \"user/\" in namespace \"default\" on n1 (Ctrl-C stops)\n" {
		t.Fatalf("stderr %q", errs)
	}
	q := <-queries
	if q.Get("prefix") != "user/" || q.Get("ns") != "default" || q.Get("values") != "true" || q.Has("from") || q.Has("key") {
		t.Fatalf("query %v", q)
	}
	out, _, code = runWatch(t, ep, "user/1", "--json", "--exact", "user/1", "--from", "9", "--ns", "people")
	if code != ExitOK || !strings.HasPrefix(out, `{"ns":"default","key":"user/1","op":"put","version":12,`) ||
		strings.Count(out, "\n") < 1 {
		t.Fatalf("--json: exit %d, stdout %q", code, out)
	}
	q = <-queries
	if q.Get("key") != "user/1" || q.Has("prefix") || q.Get("from") != "9" || q.Get("ns") != "people" || q.Has("values") {
		t.Fatalf("query %v", q)
	}
}

// A stream that ends, or ends with a lagged event, exits 5 and names the
// --from that resumes: the smallest last version of any shard printed.
func TestWatchStreamEnds(t *testing.T) {
	s, _ := sseNode(t, stream(true, watchEvents...))
	out, errs, code := runWatch(t, strings.TrimPrefix(s.URL, "http://"), "")
	if code != ExitUnavailable || strings.Count(out, "\n") != 3 ||
		!strings.HasSuffix(errs, "distkv: watch: unavailable: the node ended the stream (it may be shutting down); resume with --from 7 (n1)\n") {
		t.Fatalf("ended stream: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	lagged := append(watchEvents[:1:1], sseEvent("lagged", `{"ns":"default","key":"","op":"lagged","node":"n1","shard":0}`))
	s, _ = sseNode(t, stream(true, lagged...))
	out, errs, code = runWatch(t, strings.TrimPrefix(s.URL, "http://"), "", "--from", "3")
	if code != ExitUnavailable || out != "12 put user/1 (n1)\n" ||
		!strings.HasSuffix(errs, "distkv: watch: unavailable: this watcher fell behind and the node dropped it; resume with --from 12 (n1)\n") {
		t.Fatalf("lagged: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// The first endpoint that answers serves the watch: unreachable nodes and
// nodes answering 503 are skipped.
func TestWatchFailsOver(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	busy, _ := sseNode(t, func(w http.ResponseWriter, r *http.Request) {
		replyErr(w, 503, api.Error{Code: api.CodeUnavailable, Message: "the watch feed is shutting down"})
	})
	good, _ := sseNode(t, stream(false, watchEvents...))
	eps := dead + "," + strings.TrimPrefix(busy.URL, "http://") + "," + strings.TrimPrefix(good.URL, "http://")
	out, errs, code := runWatch(t, eps, "13 delete", "--timeout", "2s")
	if code != ExitOK || strings.Count(out, "\n") != 3 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	_, errs, code = runWatch(t, dead, "", "--timeout", "2s")
	if code != ExitUnavailable || !strings.HasPrefix(errs, "distkv: watch: no node reachable (tried 127.0.0.1:") {
		t.Fatalf("no node: exit %d, stderr %q", code, errs)
	}
}

// Error responses get the usual exit codes and one line each.
func TestWatchErrors(t *testing.T) {
	s, _ := sseNode(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("from") {
			replyErr(w, 410, api.Error{Code: api.CodeInvalid, Message: "events after version 3 are no longer retained by this node"})
			return
		}
		replyErr(w, 404, api.Error{Code: api.CodeNamespaceNotFound, Message: `namespace "ghost" does not exist`})
	})
	ep := strings.TrimPrefix(s.URL, "http://")
	cases := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--ns", "ghost"}, ExitNotFound, `distkv: namespace "ghost" not found (n1)`},
		{[]string{"--from", "3"}, ExitError, "distkv: watch: invalid: events after version 3 are no longer retained by this node (n1)"},
		{[]string{"a", "b"}, ExitUsage, "distkv: watch takes at most one PREFIX, got 2 arguments"},
		{[]string{"a", "--exact", "k"}, ExitUsage, "distkv: watch takes PREFIX or --exact, not both"},
		{[]string{"--exact", ""}, ExitUsage, "distkv: --exact must not be empty"},
		{[]string{"--from", "-1"}, ExitUsage, `distkv: invalid argument "-1" for "--from" flag...`},
	}
	for _, tc := range cases {
		_, errs, code := runWatch(t, ep, "", tc.args...)
		line := strings.TrimSuffix(errs, "\n")
		match := line == tc.err
		if p, ok := strings.CutSuffix(tc.err, "..."); ok {
			match = strings.HasPrefix(line, p)
		}
		if code != tc.code || !match {
			t.Errorf("watch %v: exit %d, stderr %q; want %d, %q", tc.args, code, errs, tc.code, tc.err)
		}
	}
}

// A stream that goes silent (not even the keepalive) is given up on.
func TestReadSSEIdle(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	go fmt.Fprint(w, ": ping\n\n")
	err := readSSE(context.Background(), r, 100*time.Millisecond, func(string, string) error {
		t.Error("a comment was taken for an event")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "nothing received for 100ms") {
		t.Fatalf("readSSE of a silent stream: %v", err)
	}
}
