package client

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
)

func TestMembershipCalls(t *testing.T) {
	var mu sync.Mutex
	var got []string // method path body
	s := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+strings.TrimSpace(string(b)))
		mu.Unlock()
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/admin/members":
			writeJSON(w, http.StatusAccepted, api.MemberChange{Member: api.Member{ID: "n4", State: api.MemberJoining}, Epoch: 7})
		case r.Method == http.MethodDelete && r.URL.Path == "/v1/admin/members/n9":
			writeJSON(w, http.StatusNotFound, api.ErrorBody{Error: api.Error{Code: api.CodeUnknown, Message: "no member n9"}})
		case r.Method == http.MethodDelete:
			writeJSON(w, http.StatusAccepted, api.MemberChange{Member: api.Member{ID: "n2", State: api.MemberDraining}, Epoch: 8})
		case r.Method == http.MethodPatch:
			writeJSON(w, http.StatusConflict, api.ErrorBody{Error: api.Error{Code: api.CodeConflict, Message: "a reshard of default is running"}})
		case r.URL.Path == "/v1/admin/moves":
			writeJSON(w, http.StatusOK, api.MoveList{Epoch: 8, Moves: []api.Move{{ID: 1, Namespace: "default", Shard: 3, From: "n2", To: "n4"}}})
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		}
	})
	c := newClient(t, s.URL)
	ctx := ctxT(t, 10*time.Second)

	ch, err := c.AddMember(ctx, api.MemberRequest{ID: "n4", PeerAddr: "127.0.0.1:7804"})
	if err != nil || ch.Member.State != api.MemberJoining || ch.Epoch != 7 {
		t.Fatalf("AddMember = %+v, %v", ch, err)
	}
	if _, err := c.AddMember(ctx, api.MemberRequest{ID: "n5"}); err == nil {
		t.Fatal("AddMember without a peer address succeeded")
	}
	if ch, err := c.RemoveMember(ctx, "n2"); err != nil || ch.Member.State != api.MemberDraining {
		t.Fatalf("RemoveMember = %+v, %v", ch, err)
	}
	var e *Error
	if _, err := c.RemoveMember(ctx, "n9"); !errors.As(err, &e) || e.Code != api.CodeUnknown {
		t.Fatalf("RemoveMember(n9) = %v, want code %s", err, api.CodeUnknown)
	}
	if _, err := c.UpdateNamespace(ctx, "default", api.NamespaceUpdate{Shards: 24}); !errors.As(err, &e) || e.Code != api.CodeConflict {
		t.Fatalf("UpdateNamespace = %v, want code %s", err, api.CodeConflict)
	}
	if _, err := c.UpdateNamespace(ctx, "default", api.NamespaceUpdate{}); err == nil {
		t.Fatal("an empty UpdateNamespace succeeded")
	}
	ml, err := c.Moves(ctx)
	if err != nil || len(ml.Moves) != 1 || ml.Moves[0].To != "n4" {
		t.Fatalf("Moves = %+v, %v", ml, err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		`POST /v1/admin/members {"id":"n4","peer_addr":"127.0.0.1:7804"}`,
		"DELETE /v1/admin/members/n2 ",
		"DELETE /v1/admin/members/n9 ",
		`PATCH /v1/ns/default {"shards":24}`,
		"GET /v1/admin/moves ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A node answering with a newer map epoch than the routing table's makes
// the client refresh the table at once, not when it ages out.
func TestNewerEpochRefreshesRoutes(t *testing.T) {
	var epoch, fetches atomic.Uint64
	epoch.Store(1)
	s := newServer(t, "n1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.HeaderEpoch, itoa(epoch.Load()))
		if r.URL.Path == "/v1/cluster" {
			fetches.Add(1)
			cl := api.Cluster{Epoch: epoch.Load(), Namespaces: []api.Namespace{{Name: "default", Mode: "strong", Shards: 2, Sharding: "jump"}}}
			writeJSON(w, http.StatusOK, cl)
			return
		}
		writeJSON(w, http.StatusOK, api.WriteResult{Version: 1})
	})
	c, err := New(Config{Endpoints: []string{s.URL}, Timeout: 2 * time.Second, RouteWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxT(t, 10*time.Second)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			if ctx.Err() != nil {
				t.Fatal(what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if _, err := c.Put(ctx, "a", []byte("v")); err != nil {
		t.Fatal(err)
	}
	waitFor("the routing table never loaded", func() bool { return c.router.table.Load() != nil })
	if _, err := c.Put(ctx, "b", []byte("v")); err != nil { // same epoch: no refresh
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d map fetches at an unchanged epoch, want 1", n)
	}
	epoch.Store(2)
	if _, err := c.Put(ctx, "c", []byte("v")); err != nil {
		t.Fatal(err)
	}
	waitFor("a newer epoch did not refresh the table", func() bool {
		t := c.router.table.Load()
		return t != nil && t.epoch == 2
	})
}

func itoa(n uint64) string { b, _ := json.Marshal(n); return string(b) }
