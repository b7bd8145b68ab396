package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/frontend/httpapi"
)

// muxTestServer serves h as node id over plain HTTP and over multiplexed
// connections (through the node's MuxServer), counting upgrades.
type muxTestServer struct {
	*httptest.Server
	root     http.Handler
	ms       atomic.Pointer[httpapi.MuxServer]
	upgrades atomic.Int64
}

func newMuxServer(t *testing.T, id string, h http.HandlerFunc) *muxTestServer {
	t.Helper()
	s := &muxTestServer{}
	s.root = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.HeaderNode, id)
		if r.URL.Path == api.MuxPath {
			s.upgrades.Add(1)
			s.ms.Load().ServeHTTP(w, r)
			return
		}
		h(w, r)
	})
	s.renew()
	s.Server = httptest.NewServer(s.root)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.ms.Load().Close(ctx)
		s.Server.Close()
	})
	return s
}

// renew replaces the MuxServer, returning the old one (nil at first).
func (s *muxTestServer) renew() *httpapi.MuxServer {
	ms := httpapi.NewMuxServer(1<<20, nil)
	ms.SetRoot(s.root)
	return s.ms.Swap(ms)
}

func newMuxClient(t *testing.T, endpoints ...string) *Client {
	t.Helper()
	c, err := New(Config{Endpoints: endpoints, Timeout: 2 * time.Second, Multiplex: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// kvHandler is a small in-memory key-value server speaking the HTTP API's
// key routes, with a random delay per request so that answers on a
// multiplexed connection come back out of order.
func kvHandler(seed uint64) http.HandlerFunc {
	var mu sync.Mutex
	data := map[string]string{}
	versions := map[string]uint64{}
	var next uint64
	rng := rand.New(rand.NewPCG(seed, 1))
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		d := time.Duration(rng.IntN(2000)) * time.Microsecond
		mu.Unlock()
		time.Sleep(d)
		key, ok := strings.CutPrefix(r.URL.Path, "/v1/kv/")
		if !ok {
			writeErr(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Message: "no such endpoint"})
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case http.MethodGet:
			v, ok := data[key]
			if !ok {
				writeErr(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Message: "key not found"})
				return
			}
			w.Header().Set(api.HeaderVersion, fmt.Sprint(versions[key]))
			io.WriteString(w, v)
		case http.MethodPut:
			body, _ := io.ReadAll(r.Body)
			_, exists := data[key]
			if r.URL.Query().Get("if") == "absent" && exists {
				writeErr(w, http.StatusConflict, api.Error{Code: api.CodeExists, Message: "key exists"})
				return
			}
			next++
			data[key], versions[key] = string(body), next
			status := http.StatusOK
			if !exists {
				status = http.StatusCreated
			}
			writeJSON(w, status, api.WriteResult{Key: key, Version: next, Created: !exists})
		default:
			writeErr(w, http.StatusMethodNotAllowed, api.Error{Code: api.CodeMethodNotAllowed, Message: r.Method})
		}
	}
}

// TestMuxConcurrentCalls runs many concurrent writes and reads on one
// multiplexed connection whose answers arrive out of order: every call
// must get its own answer, and the client must open one connection.
func TestMuxConcurrentCalls(t *testing.T) {
	const seed = 11
	s := newMuxServer(t, "n1", kvHandler(seed))
	c := newMuxClient(t, s.URL)
	ctx := ctxT(t, 30*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 100 {
		wg.Go(func() {
			for i := range 20 {
				key := fmt.Sprintf("g%d/k%d", g, i)
				val := fmt.Sprintf("value of %s", key)
				wr, err := c.Put(ctx, key, []byte(val), CreateOnly())
				if err != nil || !wr.Created || wr.Node != "n1" {
					errs <- fmt.Errorf("seed %d: put %s: %+v, %v", seed, key, wr, err)
					return
				}
				e, err := c.Get(ctx, key)
				if err != nil || string(e.Value) != val || e.Version != wr.Version {
					errs <- fmt.Errorf("seed %d: get %s: %+v, %v; wrote version %d", seed, key, e, err, wr.Version)
					return
				}
				if _, err := c.Put(ctx, key, []byte("again"), CreateOnly()); !errors.Is(err, ErrExists) {
					errs <- fmt.Errorf("seed %d: second create of %s: %v, want ErrExists", seed, key, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := c.Get(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get missing: %v, want ErrNotFound", err)
	}
	if n := s.upgrades.Load(); n != 1 {
		t.Errorf("%d multiplexed connections opened, want 1", n)
	}
}

// TestMuxFallsBackToHTTP: a node without multiplexed connections (404 on
// the upgrade) is used over plain HTTP, and asked only once.
func TestMuxFallsBackToHTTP(t *testing.T) {
	var upgrades atomic.Int64
	h := kvHandler(3)
	s := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.MuxPath {
			upgrades.Add(1)
		}
		h(w, r)
	})
	c := newMuxClient(t, s.URL)
	ctx := ctxT(t, 10*time.Second)
	for i := range 5 {
		if _, err := c.Put(ctx, fmt.Sprint("k", i), []byte("v")); err != nil {
			t.Fatalf("put over the fallback: %v", err)
		}
	}
	if e, err := c.Get(ctx, "k3"); err != nil || string(e.Value) != "v" {
		t.Fatalf("get over the fallback: %+v, %v", e, err)
	}
	if n := upgrades.Load(); n != 1 {
		t.Errorf("upgrade asked %d times, want once", n)
	}
}

// TestMuxLostConnection: a write whose connection breaks before its answer
// has an unknown outcome; the next call opens a new connection.
func TestMuxLostConnection(t *testing.T) {
	var s *muxTestServer
	var breakNext atomic.Bool
	h := kvHandler(5)
	s = newMuxServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		if breakNext.CompareAndSwap(true, false) {
			// Close the connections (after 50 ms of waiting for this very
			// request): its answer is lost.
			old := s.renew()
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				old.Close(ctx)
			}()
			<-r.Context().Done()
			return
		}
		h(w, r)
	})
	c := newMuxClient(t, s.URL)
	ctx := ctxT(t, 10*time.Second)
	if _, err := c.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	breakNext.Store(true)
	_, err := c.Put(ctx, "b", []byte("2"))
	var e *Error
	if !errors.As(err, &e) || !e.OutcomeUnknown || !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("put on a connection that broke: %v, want an unknown outcome", err)
	}
	if e, err := c.Get(ctx, "a"); err != nil || string(e.Value) != "1" {
		t.Fatalf("get after the connection broke: %+v, %v", e, err)
	}
	if n := s.upgrades.Load(); n != 2 {
		t.Errorf("%d connections opened, want 2 (one redial)", n)
	}
}

// TestMuxTimeout: a call whose answer does not come within the attempt
// timeout fails with a timeout and an unknown outcome, without breaking
// the connection for the calls after it.
func TestMuxTimeout(t *testing.T) {
	release := make(chan struct{})
	h := kvHandler(7)
	s := newMuxServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/slow") {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		h(w, r)
	})
	c, err := New(Config{Endpoints: []string{s.URL}, Timeout: 200 * time.Millisecond, Multiplex: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer close(release)
	ctx := ctxT(t, 10*time.Second)
	start := time.Now()
	_, err = c.Put(ctx, "slow", []byte("x"))
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("slow put: %v, want a timeout with an unknown outcome", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("slow put took %v", d)
	}
	if _, err := c.Put(ctx, "fast", []byte("y")); err != nil {
		t.Fatalf("put after a timeout: %v", err)
	}
	if n := s.upgrades.Load(); n != 1 {
		t.Errorf("%d connections opened, want 1", n)
	}
}

// TestMuxServerRefusesPlainGET: the upgrade endpoint answers a request
// without the upgrade headers with 426 and a JSON error.
func TestMuxServerRefusesPlainGET(t *testing.T) {
	s := newMuxServer(t, "n1", kvHandler(1))
	resp, err := http.Get(s.URL + api.MuxPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(body), api.CodeInvalid) {
		t.Fatalf("plain GET %s: %d %s", api.MuxPath, resp.StatusCode, body)
	}
}

// TestMuxServerCloseDrains: closing the server (a node stopping) lets the
// requests in flight finish and delivers their answers before the
// connection closes.
func TestMuxServerCloseDrains(t *testing.T) {
	started := make(chan struct{}, 20)
	h := kvHandler(9)
	s := newMuxServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		time.Sleep(100 * time.Millisecond)
		h(w, r)
	})
	c := newMuxClient(t, s.URL)
	ctx := ctxT(t, 10*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			if _, err := c.Put(ctx, fmt.Sprint("drain", i), []byte("v")); err != nil {
				errs <- err
			}
		})
	}
	for range 20 {
		<-started
	}
	cctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s.ms.Load().Close(cctx)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("write in flight while the server closed: %v", err)
	}
}
