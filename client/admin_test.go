package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
)

// TestListAll pages through 25 keys three at a time, with a total limit.
func TestListAll(t *testing.T) {
	keys := make([]string, 25)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%02d", i)
	}
	s := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		if limit == 0 || limit > 3 {
			limit = 3
		}
		var res api.ListResult
		for _, k := range keys {
			if k > q.Get("after") && strings.HasPrefix(k, q.Get("prefix")) && len(res.Keys) < limit {
				res.Keys = append(res.Keys, api.NewKV(k, []byte("\xff"+k), 1))
			}
		}
		if n := len(res.Keys); n > 0 && res.Keys[n-1].Key != keys[len(keys)-1] {
			res.Next = res.Keys[n-1].Key
		}
		writeJSON(w, 200, res)
	})
	c := newClient(t, s.URL)
	ctx := ctxT(t, 10*time.Second)
	for _, tc := range []struct{ limit, want int }{{0, 25}, {7, 7}, {100, 25}} {
		var got []string
		for e, err := range c.ListAll(ctx, "k", Limit(tc.limit), WithValues()) {
			if err != nil {
				t.Fatal(err)
			}
			if string(e.Value) != "\xff"+e.Key {
				t.Errorf("value of %s = %q", e.Key, e.Value)
			}
			got = append(got, e.Key)
		}
		if len(got) != tc.want || got[0] != "k00" || got[len(got)-1] != keys[tc.want-1] {
			t.Errorf("limit %d: got %v", tc.limit, got)
		}
	}
}

func TestListAllStuckCursor(t *testing.T) {
	s := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.ListResult{Keys: []api.KV{{Key: "a"}}, Next: "a"})
	})
	var errs int
	for _, err := range newClient(t, s.URL).ListAll(ctxT(t, 5*time.Second), "") {
		if err != nil {
			errs++
		}
	}
	if errs != 1 {
		t.Errorf("got %d errors, want 1 for a cursor that does not move", errs)
	}
}

func TestNamespacesAndLocate(t *testing.T) {
	var body api.Namespace
	s := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/v1/ns/logs":
			json.NewDecoder(r.Body).Decode(&body)
			writeJSON(w, http.StatusCreated, body)
		case r.Method == http.MethodPut:
			writeErr(w, http.StatusConflict, api.Error{Code: api.CodeNamespaceExists, Message: "differs"})
		case r.URL.Path == "/v1/ns":
			writeJSON(w, 200, api.NamespaceList{Namespaces: []api.Namespace{{Name: "default"}, {Name: "logs"}}})
		case r.URL.Path == "/v1/locate/a b/c":
			writeJSON(w, 200, api.Location{Namespace: r.URL.Query().Get("ns"), Key: "a b/c", Shard: 3})
		default:
			writeErr(w, 404, api.Error{Code: api.CodeNamespaceNotFound, Message: "no"})
		}
	})
	c := newClient(t, s.URL)
	ctx := ctxT(t, 10*time.Second)
	created, err := c.CreateNamespace(ctx, api.Namespace{Name: "logs", Mode: "eventual", Replicas: api.All, Shards: 4})
	if err != nil || !created || body.Replicas != api.All || body.Mode != "eventual" {
		t.Errorf("create = %v, %v; server got %+v", created, err, body)
	}
	if _, err := c.CreateNamespace(ctx, api.Namespace{Name: "x"}); !errors.Is(err, ErrNamespaceExists) {
		t.Errorf("create existing: %v", err)
	}
	if nss, err := c.Namespaces(ctx); err != nil || len(nss) != 2 {
		t.Errorf("namespaces = %v, %v", nss, err)
	}
	if _, err := c.Namespace(ctx, "nope"); !errors.Is(err, ErrNamespaceNotFound) {
		t.Errorf("namespace nope: %v", err)
	}
	loc, err := c.WithNamespace("logs").Locate(ctx, "a b/c")
	if err != nil || loc.Namespace != "logs" || loc.Shard != 3 {
		t.Errorf("locate = %+v, %v", loc, err)
	}
}

func TestHealthAndReady(t *testing.T) {
	s := newServer(t, "n3", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			writeJSON(w, http.StatusServiceUnavailable, api.Health{Status: "unavailable", Node: "n3", Reason: "no coordinator"})
			return
		}
		writeJSON(w, 200, api.Health{Status: "ok", Node: "n3"})
	})
	c := newClient(t, deadEndpoint(t)) // Health and Ready ignore the endpoint list
	ctx := ctxT(t, 5*time.Second)
	if h, err := c.Health(ctx, s.URL); err != nil || h.Status != "ok" {
		t.Errorf("health = %+v, %v", h, err)
	}
	h, err := c.Ready(ctx, strings.TrimPrefix(s.URL, "http://"))
	if !errors.Is(err, ErrUnavailable) || h == nil || h.Reason != "no coordinator" {
		t.Errorf("ready = %+v, %v", h, err)
	}
	if _, err := c.Ready(ctx, deadEndpoint(t)); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("ready on a dead endpoint: %v", err)
	}
}

func TestDump(t *testing.T) {
	s := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		enc := json.NewEncoder(w)
		for i := range 3 {
			enc.Encode(api.DumpEntry{Namespace: "default", Shard: i, Key: fmt.Sprint("k", i), Value: "v", Version: 1})
		}
	})
	c := newClient(t, deadEndpoint(t))
	var got []string
	err := c.Dump(ctxT(t, 5*time.Second), s.URL, func(e api.DumpEntry) error {
		got = append(got, e.Key)
		return nil
	})
	if err != nil || strings.Join(got, ",") != "k0,k1,k2" {
		t.Errorf("dump = %v, %v", got, err)
	}
	stop := errors.New("stop")
	if err := c.Dump(ctxT(t, 5*time.Second), s.URL, func(api.DumpEntry) error { return stop }); err != stop {
		t.Errorf("dump stopped by fn: %v", err)
	}
}

func TestDumpStalls(t *testing.T) {
	release := make(chan struct{})
	s := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"key":"a"}`+"\n")
		w.(http.Flusher).Flush()
		<-release
	})
	t.Cleanup(func() { close(release) })
	c, _ := New(Config{Endpoints: []string{s.URL}, Timeout: 100 * time.Millisecond})
	n := 0
	err := c.Dump(context.Background(), s.URL, func(api.DumpEntry) error { n++; return nil })
	if !errors.Is(err, ErrTimeout) || n != 1 {
		t.Errorf("got %v after %d entries, want ErrTimeout after 1", err, n)
	}
}

func TestNewRejectsBadEndpoints(t *testing.T) {
	for _, eps := range [][]string{nil, {""}, {"ftp://x:1"}, {"http://"}} {
		if _, err := New(Config{Endpoints: eps}); err == nil {
			t.Errorf("New(%q) succeeded", eps)
		}
	}
	c, err := New(Config{Endpoints: []string{"127.0.0.1:1", "http://h:2/"}})
	if err != nil || strings.Join(c.Endpoints(), " ") != "http://127.0.0.1:1 http://h:2" {
		t.Errorf("endpoints = %v, %v", c.Endpoints(), err)
	}
}
