package client

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
)

// okNode answers every GET with "v" and every write with version 1,
// counting requests.
func okNode(t *testing.T, id string, count *atomic.Int32) string {
	return newServer(t, id, func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		if r.Method == http.MethodGet {
			w.Header().Set(api.HeaderVersion, "1")
			w.Write([]byte("v"))
			return
		}
		writeJSON(w, http.StatusOK, api.WriteResult{Version: 1})
	}).URL
}

func TestFailoverFromDeadEndpoint(t *testing.T) {
	var n2 atomic.Int32
	c := newClient(t, deadEndpoint(t), okNode(t, "n2", &n2))
	ctx := ctxT(t, 10*time.Second)
	wr, err := c.Put(ctx, "k", []byte("v"))
	if err != nil || wr.Node != "n2" {
		t.Fatalf("put = %+v, %v; want an answer from n2", wr, err)
	}
	e, err := c.Get(ctx, "k")
	if err != nil || e.Node != "n2" {
		t.Fatalf("get = %+v, %v; want an answer from n2", e, err)
	}
	if i, _ := c.eps.current(); i != 1 {
		t.Errorf("current endpoint = %d, want to stick to 1", i)
	}
	if n2.Load() != 2 {
		t.Errorf("n2 served %d requests, want 2", n2.Load())
	}
}

func TestNoEndpoint(t *testing.T) {
	c := newClient(t, deadEndpoint(t), deadEndpoint(t))
	start := time.Now()
	_, err := c.Put(ctxT(t, 400*time.Millisecond), "k", []byte("v"))
	if !errors.Is(err, ErrNoEndpoint) || errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("put to dead endpoints: %v, want ErrNoEndpoint", err)
	}
	if _, err := c.Get(ctxT(t, 400*time.Millisecond), "k"); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("get from dead endpoints: %v, want ErrNoEndpoint", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v despite 400ms deadlines", d)
	}
}

func TestWriteNotRetriedAfter504(t *testing.T) {
	var n1, n2 atomic.Int32
	s1 := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		n1.Add(1)
		writeErr(w, http.StatusGatewayTimeout, api.Error{Code: api.CodeTimeout, Message: "deadline", OutcomeUnknown: true})
	})
	c := newClient(t, s1.URL, okNode(t, "n2", &n2))
	_, err := c.Put(ctxT(t, 5*time.Second), "k", []byte("v"))
	var e *Error
	if !errors.As(err, &e) || !e.OutcomeUnknown || !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("got %v, want an outcome-unknown timeout", err)
	}
	if n1.Load() != 1 || n2.Load() != 0 {
		t.Errorf("n1 saw %d, n2 saw %d requests; want 1 and 0", n1.Load(), n2.Load())
	}
	// A read is retried after a 504.
	if _, err := c.Get(ctxT(t, 5*time.Second), "k"); err != nil {
		t.Errorf("get after 504: %v", err)
	}
}

func TestWriteNotRetriedAfterConnectionDrop(t *testing.T) {
	var n1, n2 atomic.Int32
	s1 := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		n1.Add(1)
		hangUp(t, w, r)
	})
	c := newClient(t, s1.URL, okNode(t, "n2", &n2))
	for _, call := range []func() error{
		func() error { _, err := c.Put(ctxT(t, 5*time.Second), "k", []byte("v")); return err },
		func() error { _, err := c.Delete(ctxT(t, 5*time.Second), "k"); return err },
	} {
		n1.Store(0)
		err := call()
		var e *Error
		if !errors.As(err, &e) || !e.OutcomeUnknown || e.Code != CodeConnectionLost {
			t.Errorf("got %v, want an outcome-unknown connection loss", err)
		}
		if n1.Load() != 1 || n2.Load() != 0 {
			t.Errorf("n1 saw %d, n2 saw %d requests; want 1 and 0", n1.Load(), n2.Load())
		}
	}
	// The same drop on a read moves on to n2.
	if e, err := c.Get(ctxT(t, 5*time.Second), "k"); err != nil || e.Node != "n2" {
		t.Errorf("get after drop = %+v, %v; want n2's answer", e, err)
	}
}

func TestWriteTimeoutNotRetried(t *testing.T) {
	var n2 atomic.Int32
	release := make(chan struct{})
	s1 := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) { <-release })
	t.Cleanup(func() { close(release) }) // before s1.Close, which waits for the handler
	c, err := New(Config{Endpoints: []string{s1.URL, okNode(t, "n2", &n2)}, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Put(ctxT(t, 5*time.Second), "k", []byte("v"))
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, ErrTimeout) || n2.Load() != 0 {
		t.Errorf("got %v and %d retries, want an outcome-unknown timeout and none", err, n2.Load())
	}
}

func TestReadsRetriedAfter503(t *testing.T) {
	var n1, n2 atomic.Int32
	s1 := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		n1.Add(1)
		w.Header().Set("Retry-After", "1")
		writeErr(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: "no quorum"})
	})
	c := newClient(t, s1.URL, okNode(t, "n2", &n2))
	if e, err := c.Get(ctxT(t, 5*time.Second), "k"); err != nil || e.Node != "n2" {
		t.Fatalf("get = %+v, %v; want n2's answer", e, err)
	}
	if n1.Load() != 1 || n2.Load() != 1 {
		t.Errorf("n1 saw %d, n2 saw %d requests; want 1 and 1", n1.Load(), n2.Load())
	}
	// 503 "unavailable" promises nothing was done: writes move on too.
	c.eps.failed(1) // back to n1
	if wr, err := c.Put(ctxT(t, 5*time.Second), "k", []byte("v")); err != nil || wr.Node != "n2" {
		t.Errorf("put = %+v, %v; want n2's answer", wr, err)
	}
}

func TestReadGivesUpAtDeadline(t *testing.T) {
	var n atomic.Int32
	s := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		writeErr(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: "no quorum"})
	})
	c := newClient(t, s.URL)
	start := time.Now()
	_, err := c.Get(ctxT(t, 300*time.Millisecond), "k")
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("got %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second || n.Load() < 2 {
		t.Errorf("gave up after %v and %d tries", d, n.Load())
	}
}

// TestWrite503OtherCodeNotRetried: only "unavailable" promises nothing was
// done.
func TestWrite503OtherCodeNotRetried(t *testing.T) {
	var n2 atomic.Int32
	s1 := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeCausalDeps, Message: "wait"})
	})
	c := newClient(t, s1.URL, okNode(t, "n2", &n2))
	if _, err := c.Put(ctxT(t, 5*time.Second), "k", nil); err == nil || n2.Load() != 0 {
		t.Errorf("got %v and %d retries", err, n2.Load())
	}
}
