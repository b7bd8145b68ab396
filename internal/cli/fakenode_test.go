package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
)

// fakeNodeEnv makes the test binary, run as `distkv-fake server ...` by
// up or node start, act as a node: enough HTTP for them to manage it.
const fakeNodeEnv = "DISTKV_CLI_TEST_FAKE_NODE"

func TestMain(m *testing.M) {
	if os.Getenv(fakeNodeEnv) == "1" && len(os.Args) > 1 && os.Args[1] == "server" {
		os.Exit(runFakeNode(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// runFakeNode serves /healthz, /readyz (ready after 300ms) and /v1/cluster
// on --client-addr until killed, logging that n1 is the coordinator.
func runFakeNode(args []string) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	id := fs.String("id", "", "")
	clientAddr := fs.String("client-addr", "", "")
	peers := fs.String("peers", "", "")
	for _, name := range []string{"peer-addr", "data-dir"} {
		fs.String(name, "", "")
	}
	fs.Bool("in-memory", false, "")
	fs.Bool("allow-fault-injection", false, "")
	fs.Usage = func() {
		fmt.Println("Flags: --id --client-addr --peer-addr --peers --data-dir --in-memory --allow-fault-injection")
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	ln, err := net.Listen("tcp", *clientAddr)
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	started := time.Now()
	var nodes []api.Node
	for _, p := range strings.Split(*peers, ",") {
		pid, _, _ := strings.Cut(p, "=")
		nodes = append(nodes, api.Node{ID: pid, State: api.StateAlive})
	}
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set(api.HeaderNode, *id)
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		answer(w, 200, api.Health{Status: "ok", Node: *id})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if time.Since(started) < 300*time.Millisecond {
			answer(w, 503, api.Health{Status: "unavailable", Node: *id, Reason: "warming up"})
			return
		}
		answer(w, 200, api.Health{Status: "ok", Node: *id})
	})
	mux.HandleFunc("GET /v1/cluster", func(w http.ResponseWriter, r *http.Request) {
		answer(w, 200, api.Cluster{Node: *id, Coordinator: "n1", Nodes: nodes})
	})
	if *id == "n1" {
		fmt.Printf("time=%s level=INFO msg=\"n1 is now cluster coordinator\" term=1\n", time.Now().Format(time.RFC3339))
	}
	http.Serve(ln, mux)
	return 0
}

// testBasePort finds a free base port for n nodes or fails the test.
func testBasePort(t *testing.T, n int) int {
	t.Helper()
	base, err := freeBasePort(n)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}
