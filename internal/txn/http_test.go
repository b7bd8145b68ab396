package txn_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/shardsm"
	"github.com/distkv/distkv/internal/txn"
)

// The HTTP door and the Go client: a cross-shard transaction, a failed
// comparison, a bad request's 400 with a JSON body, a conflict's 409
// naming the locked key and its holder, and a leaderless namespace's 501.
func TestTxnOverHTTP(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 8, RequestTimeout: 1500 * time.Millisecond})
	c.WaitReady(30 * time.Second)
	srv := c.HTTP(2)
	cl, err := client.New(client.Config{Endpoints: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	ks := keysOnShards(t, c.Node(1), "h", 3)
	res, err := cl.Txn(ctx(t), client.NewTxn().IfExists(ks[0], false).Put(ks[0], "1").Put(ks[1], "2").Get(ks[2]).
		Else().Get(ks[0]).Request())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Succeeded || res.Shards != 3 || len(res.Results) != 3 || res.Results[0].Op != "put" || res.Results[0].Version == 0 ||
		res.Results[2].Found {
		t.Fatalf("response %+v", res)
	}
	res, err = cl.Txn(ctx(t), client.NewTxn().IfVersion(ks[0], 1).Put(ks[0], "x").Else().Get(ks[0]).Request())
	if err != nil {
		t.Fatal(err)
	}
	if res.Succeeded || len(res.Results) != 1 || res.Results[0].Value != "1" || !res.Results[0].Found {
		t.Fatalf("failed comparison answered %+v, want the else branch reading 1", res)
	}

	for name, body := range map[string]string{
		"not json":   `{"success": [`,
		"unknown op": `{"success": [{"op": "incr", "key": "a"}]}`,
		"extra":      `{"succes": []}`,
		"bad target": `{"compare": [{"key": "a", "target": "size", "op": "="}]}`,
	} {
		resp, err := http.Post(srv.URL+"/v1/txn", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		var eb api.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || eb.Error.Code != api.CodeInvalid || eb.Error.Message == "" {
			t.Errorf("%s: %d %+v, want 400 invalid with a message", name, resp.StatusCode, eb.Error)
		}
	}

	// A lock whose holder is gone but younger than the timeout (2s) when
	// the request's deadline (1.5s) passes: 409 naming the key and holder.
	// Its coordinator's clock runs an hour ahead, so however slow the run,
	// the lock cannot age past the timeout before the request gives up.
	stuck := txn.New(txn.Config{KV: c.Node(1).KV(), Now: func() time.Time { return time.Now().Add(time.Hour) }})
	c.Node(1).KV().SetLockResolver(c.Node(1).Transactions())
	txn.StopAfter(stuck, "prepare")
	_, serr := stuck.Run(ctx(t), "", txn.Request{Success: []shardsm.TxnOp{put(ks[1], "s"), put(ks[2], "s")}})
	var locks int
	for _, n := range c.Running() {
		locks += len(n.KV().LocalLocks())
	}
	t.Logf("stuck: %v, %d locks", serr, locks)
	_, err = cl.Txn(ctx(t), client.NewTxn().Put(ks[1], "z").Put(ks[0], "z").Request())
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusConflict || ce.Key != ks[1] || ce.Holder == "" || !errors.Is(err, client.ErrConflict) {
		t.Fatalf("a transaction over a stuck lock: %v (%+v), want 409 conflict naming %s", err, ce, ks[1])
	}

	cl2, _ := client.New(client.Config{Endpoints: []string{srv.URL}, Namespace: "ev"})
	c.CreateNamespace(api.Namespace{Name: "ev", Mode: "eventual"})
	if _, err := cl2.Txn(ctx(t), client.NewTxn().Put("a", "1").Request()); !errors.As(err, &ce) || ce.Status != http.StatusNotImplemented {
		t.Fatalf("a transaction in an eventual namespace: %v, want 501", err)
	}
}

// The interactive door: the Go client's Begin, Get, Put, Prepare, Commit
// over HTTP; another process resumes the transaction by its ID on any of
// the endpoints; the errors are JSON: 404 for a transaction no node
// holds, 400 for a query that does not apply inside one, 409 for a step
// a finished transaction cannot take.
func TestInteractiveOverHTTP(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 8, RequestTimeout: 1500 * time.Millisecond})
	c.WaitReady(30 * time.Second)
	urls := []string{c.HTTP(1).URL, c.HTTP(2).URL, c.HTTP(3).URL}
	cl, err := client.New(client.Config{Endpoints: urls[1:2]})
	if err != nil {
		t.Fatal(err)
	}
	ks := keysOnShards(t, c.Node(1), "x", 2)
	tx, err := cl.Begin(ctx(t), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Get(ctx(t), ks[0]); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get of an absent key in a transaction: %v", err)
	}
	if err := tx.Put(ctx(t), ks[0], []byte("a")); err != nil {
		t.Fatal(err)
	}
	other, _ := client.New(client.Config{Endpoints: urls})
	resumed, err := other.ResumeTxn(ctx(t), tx.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := resumed.Put(ctx(t), ks[1], []byte("b")); err != nil {
		t.Fatal(err)
	}
	if e, err := resumed.Get(ctx(t), ks[0]); err != nil || string(e.Value) != "a" {
		t.Fatalf("the resumed transaction reads %v, %v; want its own write a", e, err)
	}
	st, err := tx.Prepare(ctx(t))
	if err != nil || st.State != api.TxnPrepared || len(st.Writes) != 2 {
		t.Fatalf("prepare: %+v, %v", st, err)
	}
	st, err = tx.Commit(ctx(t))
	if err != nil || st.State != api.TxnCommitted {
		t.Fatalf("commit: %+v, %v", st, err)
	}
	for _, k := range ks {
		if e, err := other.Get(ctx(t), k); err != nil || e.Version == 0 {
			t.Fatalf("%s after the commit: %v, %v", k, e, err)
		}
	}
	if err := tx.Put(ctx(t), ks[0], []byte("late")); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("a write after the commit: %v, want a conflict", err)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/v1/txn/n9-abc", http.StatusNotFound, api.CodeUnknown},
		{http.MethodPost, "/v1/txn/n9-abc/commit", http.StatusNotFound, api.CodeUnknown},
		{http.MethodPost, "/v1/txn/" + tx.ID + "/finish", http.StatusNotFound, api.CodeNotFound},
		{http.MethodGet, "/v1/kv/" + ks[0] + "?txn=" + tx.ID + "&consistency=stale", http.StatusBadRequest, api.CodeInvalid},
		{http.MethodPut, "/v1/kv/" + ks[0] + "?txn=" + tx.ID, http.StatusConflict, api.CodeConflict},
		{http.MethodPost, "/v1/txn/begin", http.StatusBadRequest, api.CodeInvalid},
	} {
		var body *bytes.Buffer = bytes.NewBufferString("")
		if tc.path == "/v1/txn/begin" {
			body = bytes.NewBufferString(`{"ttl_ms": -5}`)
		}
		req, _ := http.NewRequest(tc.method, urls[1]+tc.path, body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb api.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != tc.status || eb.Error.Code != tc.code || eb.Error.Message == "" {
			t.Errorf("%s %s: %d %+v, want %d %s", tc.method, tc.path, resp.StatusCode, eb.Error, tc.status, tc.code)
		}
	}
}
