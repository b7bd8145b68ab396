package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
)

// newServer starts an httptest server answering as node id.
func newServer(t *testing.T, id string, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.HeaderNode, id)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// deadEndpoint returns an address nothing listens on.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func newClient(t *testing.T, endpoints ...string) *Client {
	t.Helper()
	c, err := New(Config{Endpoints: endpoints, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func writeErr(w http.ResponseWriter, status int, e api.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.ErrorBody{Error: e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// hangUp hijacks the connection and closes it without answering.
func hangUp(t *testing.T, w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}

// TestKeyEncoding round-trips awkward keys through a real ServeMux, in the
// default and a named namespace, with the write conditions as query
// parameters.
func TestKeyEncoding(t *testing.T) {
	type seen struct{ ns, key, query, method, body string }
	var (
		mu  sync.Mutex
		got seen
	)
	mux := http.NewServeMux()
	record := func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = seen{r.PathValue("ns"), r.PathValue("key"), r.URL.RawQuery, r.Method, string(b)}
		mu.Unlock()
		writeJSON(w, http.StatusOK, api.WriteResult{Key: r.PathValue("key"), Version: 7})
	}
	mux.HandleFunc("/v1/kv/{key...}", record)
	mux.HandleFunc("/v1/ns/{ns}/kv/{key...}", record)
	s := newServer(t, "n1", mux.ServeHTTP)
	c := newClient(t, s.URL)
	ctx := ctxT(t, 10*time.Second)

	keys := []string{"plain", "a b", "a/b/c", "ünï/cødé", "x?y#z&w=1", "100%", "a//b", "/lead",
		"./x", "..", ".", "a/..", "a/./b", "trail/", "semi;colon,comma", "+plus"}
	for _, ns := range []string{"", "other ns"} {
		cc := c.WithNamespace(ns)
		for _, k := range keys {
			if _, err := cc.Put(ctx, k, []byte("v"), CreateOnly()); err != nil {
				t.Fatalf("put %q: %v", k, err)
			}
			mu.Lock()
			want := seen{ns, k, "if=absent", http.MethodPut, "v"}
			if got != want {
				t.Errorf("put %q in %q: server saw %+v, want %+v", k, ns, got, want)
			}
			mu.Unlock()
		}
	}
	if _, err := c.Put(ctx, "", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty key: %v, want ErrInvalid", err)
	}
}

func TestQueryParameters(t *testing.T) {
	var query atomic.Value
	s := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		query.Store(r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery)
		switch {
		case r.URL.Path == "/v1/kv" || strings.HasPrefix(r.URL.Path, "/v1/ns/x/kv") && !strings.HasPrefix(r.URL.Path, "/v1/ns/x/kv/"):
			writeJSON(w, 200, api.ListResult{})
		case r.Method == http.MethodGet:
			w.Header().Set(api.HeaderVersion, "3")
			w.Write([]byte("val"))
		default:
			writeJSON(w, 200, api.WriteResult{Version: 4})
		}
	})
	c := newClient(t, s.URL)
	ctx := ctxT(t, 10*time.Second)
	cases := []struct {
		call func() error
		want string
	}{
		{func() error { _, err := c.Get(ctx, "k", Stale()); return err }, "GET /v1/kv/k?consistency=stale"},
		{func() error { _, err := c.Put(ctx, "k", nil, UpdateOnly()); return err }, "PUT /v1/kv/k?if=present"},
		{func() error { _, err := c.Put(ctx, "k", nil, IfVersion(9)); return err }, "PUT /v1/kv/k?version=9"},
		{func() error { _, err := c.Delete(ctx, "k", IfVersion(0)); return err }, "DELETE /v1/kv/k?version=0"},
		{func() error { _, err := c.List(ctx, "p/", Limit(5), After("p/c"), WithValues(), Stale()); return err },
			"GET /v1/kv?after=p%2Fc&consistency=stale&limit=5&prefix=p%2F&values=true"},
		{func() error { _, err := c.WithNamespace("x").List(ctx, ""); return err }, "GET /v1/ns/x/kv?prefix="},
	}
	for _, tc := range cases {
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.want, err)
		}
		if got := query.Load(); got != tc.want {
			t.Errorf("sent %q, want %q", got, tc.want)
		}
	}
	e, err := c.Get(ctx, "k")
	if err != nil || string(e.Value) != "val" || e.Version != 3 || e.Node != "n1" {
		t.Errorf("Get = %+v, %v", e, err)
	}
}

func TestErrorCodes(t *testing.T) {
	cases := []struct {
		status int
		code   string
		want   error
	}{
		{404, api.CodeNotFound, ErrNotFound},
		{409, api.CodeExists, ErrExists},
		{409, api.CodeVersionMismatch, ErrVersionMismatch},
		{503, api.CodeUnavailable, ErrUnavailable},
		{504, api.CodeTimeout, ErrTimeout},
		{404, api.CodeNamespaceNotFound, ErrNamespaceNotFound},
		{409, api.CodeNamespaceExists, ErrNamespaceExists},
		{400, api.CodeInvalid, ErrInvalid},
		{413, api.CodeTooLarge, ErrTooLarge},
	}
	all := []error{ErrNotFound, ErrExists, ErrVersionMismatch, ErrUnavailable, ErrTimeout,
		ErrNamespaceNotFound, ErrNamespaceExists, ErrInvalid, ErrTooLarge}
	for _, tc := range cases {
		s := newServer(t, "n2", func(w http.ResponseWriter, r *http.Request) {
			writeErr(w, tc.status, api.Error{Code: tc.code, Message: "msg", CurrentVersion: 5})
		})
		c := newClient(t, s.URL)
		_, err := c.Put(ctxT(t, 300*time.Millisecond), "k", []byte("v"))
		var e *Error
		if !errors.As(err, &e) || e.Code != tc.code || e.Node != "n2" || e.Status != tc.status || e.CurrentVersion != 5 {
			t.Errorf("%s: got %#v", tc.code, err)
			continue
		}
		for _, s := range all {
			if errors.Is(err, s) != (s == tc.want) {
				t.Errorf("%s: errors.Is(err, %v) = %v", tc.code, s, !(s == tc.want))
			}
		}
	}
}

// TestErrorWithoutJSON checks that a bare 413 from a proxy still maps.
func TestErrorWithoutJSON(t *testing.T) {
	s := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "request too big", http.StatusRequestEntityTooLarge)
	})
	_, err := newClient(t, s.URL).Put(ctxT(t, 5*time.Second), "k", []byte("v"))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "request too big") {
		t.Errorf("got %v", err)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var gets atomic.Int32
	s := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			gets.Add(1)
		}
		http.Redirect(w, r, "/v1/kv/elsewhere", http.StatusMovedPermanently)
	})
	_, err := newClient(t, s.URL).Put(ctxT(t, 5*time.Second), "k", []byte("v"))
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusMovedPermanently || gets.Load() != 0 {
		t.Errorf("got %v with %d GETs", err, gets.Load())
	}
}
