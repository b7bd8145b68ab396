package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// httpDo sends one request and returns the status, the body and the
// headers.
func httpDo(t *testing.T, method, url, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// Seed 001's contract on a `distkv up` cluster started as its users start
// theirs (MODE=CA): POST /database/:key/:val answers 201 with no body,
// GET /database/:key {"key","val"} from any node and 404 naming the key,
// /admin/dump and /admin/clean answer, every response carries X-Sys-Id;
// the default namespace is mode ca, so with a node frozen (seed 001's
// freeze.sh) the POST fails with 422 and the reads keep working.
func TestSeed001Contract(t *testing.T) {
	t.Setenv("MODE", "CA")
	c := startCluster(t, 3)
	base := func(i int) string { return "http://" + c.addr(i) }
	st, body, h := httpDo(t, http.MethodPost, base(1)+"/database/city/Rome", "")
	if st != http.StatusCreated || body != "" || h.Get("X-Sys-Id") != "n1" {
		t.Fatalf("POST /database/city/Rome: %d %q X-Sys-Id %q", st, body, h.Get("X-Sys-Id"))
	}
	for i := 1; i <= 3; i++ {
		st, body, h = httpDo(t, http.MethodGet, base(i)+"/database/city", "")
		var kv struct{ Key, Val string }
		if st != http.StatusOK || json.Unmarshal([]byte(body), &kv) != nil || kv.Key != "city" || kv.Val != "Rome" || h.Get("X-Sys-Id") != fmt.Sprintf("n%d", i) {
			t.Fatalf("GET /database/city on n%d: %d %s (X-Sys-Id %q)", i, st, body, h.Get("X-Sys-Id"))
		}
	}
	st, body, _ = httpDo(t, http.MethodGet, base(2)+"/database/nowhere", "")
	if st != http.StatusNotFound || !strings.Contains(body, `"Value for key nowhere not present"`) {
		t.Fatalf("GET of a missing key: %d %s", st, body)
	}
	st, body, _ = httpDo(t, http.MethodGet, base(3)+"/admin/dump", "")
	if st != http.StatusOK || !strings.Contains(body, `"city":"Rome"`) {
		t.Fatalf("GET /admin/dump: %d %s", st, body)
	}
	if st, _, h := httpDo(t, http.MethodGet, base(3)+"/admin/clean", ""); st != http.StatusOK || h.Get("X-Sys-Id") != "n3" {
		t.Fatalf("GET /admin/clean: %d", st)
	}
	if _, _, h := httpDo(t, http.MethodGet, base(2)+"/v1/cluster", ""); h.Get("X-Sys-Id") != "n2" {
		t.Fatal("the v1 API's responses lack X-Sys-Id")
	}

	// freeze.sh 3003 in seed 001 is distkv fault freeze n3.
	if out, errs, code := c.cli("fault", "freeze", "n3"); code != 0 {
		t.Fatalf("fault freeze: %d %s%s", code, out, errs)
	}
	start := time.Now()
	st, body, _ = httpDo(t, http.MethodPost, base(1)+"/database/city/Paris", "")
	// The error names n3 as the replica that did not acknowledge, or (when
	// frozen n3 led the shard) the leadership lost; either way the write
	// was rolled back, which the read below confirms.
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, `"error"`) || !strings.Contains(body, "rolled back") {
		t.Fatalf("POST with n3 frozen in mode CA: %d %s, want 422 saying the write was rolled back", st, body)
	}
	t.Logf("the write failed after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(body))
	st, body, _ = httpDo(t, http.MethodGet, base(1)+"/database/city", "")
	if st != http.StatusOK || !strings.Contains(body, `"val":"Rome"`) {
		t.Fatalf("GET with n3 frozen: %d %s, want the committed Rome", st, body)
	}
	if out, errs, code := c.cli("fault", "heal"); code != 0 {
		t.Fatalf("fault heal: %d %s%s", code, out, errs)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st, _, _ = httpDo(t, http.MethodPost, base(1)+"/database/city/Paris", ""); st == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("POST after the heal: %d", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Seed 003's contract (DISTKV_COMPAT=seed003): a bulk POST / stored
// atomically, GET /?key=K and 404 {"Error":"Key Not Found"}, GET / with the
// whole store as one object, DELETE /?key=K, a bad body's 400, and GET
// /client, the live page.
func TestSeed003Contract(t *testing.T) {
	t.Setenv("DISTKV_COMPAT", "seed003")
	c := startCluster(t, 3)
	base := func(i int) string { return "http://" + c.addr(i) }
	st, body, _ := httpDo(t, http.MethodPost, base(1)+"/", `{"username":"s1mpi", "password":"faf", "n": 3, "tags": ["a", "b"]}`)
	if st != http.StatusOK {
		t.Fatalf("POST /: %d %s", st, body)
	}
	st, body, _ = httpDo(t, http.MethodGet, base(2)+"/?key=username", "")
	if st != http.StatusOK || strings.TrimSpace(body) != `{"username":"s1mpi"}` {
		t.Fatalf("GET /?key=username: %d %s", st, body)
	}
	st, body, _ = httpDo(t, http.MethodGet, base(3)+"/?key=missing", "")
	if st != http.StatusNotFound || strings.TrimSpace(body) != `{"Error":"Key Not Found"}` {
		t.Fatalf("GET of a missing key: %d %s", st, body)
	}
	st, body, _ = httpDo(t, http.MethodGet, base(3)+"/", "")
	var all map[string]any
	if st != http.StatusOK || json.Unmarshal([]byte(body), &all) != nil || all["password"] != "faf" || all["n"] != 3.0 || len(all["tags"].([]any)) != 2 {
		t.Fatalf("GET /: %d %s", st, body)
	}
	if st, body, _ = httpDo(t, http.MethodDelete, base(1)+"/?key=password", ""); st != http.StatusOK {
		t.Fatalf("DELETE /?key=password: %d %s", st, body)
	}
	if st, _, _ = httpDo(t, http.MethodGet, base(2)+"/?key=password", ""); st != http.StatusNotFound {
		t.Fatalf("GET after DELETE: %d", st)
	}
	if st, body, _ = httpDo(t, http.MethodPost, base(1)+"/", `[1,2]`); st != http.StatusBadRequest || !strings.Contains(body, `"Error"`) {
		t.Fatalf("POST of a JSON array: %d %s, want 400", st, body)
	}
	if st, body, _ = httpDo(t, http.MethodGet, base(1)+"/client", ""); st != http.StatusOK || !strings.Contains(body, "<html") {
		t.Fatalf("GET /client: %d %.200s", st, body)
	}
}

// Seed 000's line protocol on a node's --text-addr: SET, UPD, GET, DEL
// with the seed's replies, and its errors, one reply line per command.
func TestSeed000Protocol(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("DISTKV_TEXT_ADDR", addr) // every node would take it: one node only
	c := startCluster(t, 1)
	_ = c
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for _, tc := range []struct{ cmd, want string }{
		{"SET testKey testValue", `Success: Key "testKey" has been set with value "testValue".`},
		{"SET testKey other", `ERROR: Key "testKey" already exists, It must be unique.`},
		{"GET testKey", `Success: Key "testKey" has value "testValue".`},
		{"UPD testKey newValue", `Success: Key "testKey" has been updated with value "newValue".`},
		{"UPD nokey v", `ERROR: Key "nokey" does not exist, It must be set first.`},
		{"GET testKey", `Success: Key "testKey" has value "newValue".`},
		{"DEL testKey", `Success: Key "testKey" has been deleted.`},
		{"GET testKey", `ERROR: Key "testKey" does not exist.`},
		{"DEL testKey", `ERROR: Key "testKey" does not exist.`},
		{"", `ERROR: Invalid or empty command.`},
		{"FLY away", `ERROR: Invalid or empty command.`},
		{"GET", `ERROR: Invalid or empty command.`},
	} {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(conn, "%s\n", tc.cmd); err != nil {
			t.Fatal(err)
		}
		got, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%q: %v", tc.cmd, err)
		}
		if strings.TrimRight(got, "\n") != tc.want {
			t.Errorf("%q answered %q, want %q", tc.cmd, strings.TrimRight(got, "\n"), tc.want)
		}
	}
}

// Seed 002's contract (DISTKV_COMPAT=seed002, API_TOKEN): 403 without the
// bearer token; write (409 when present), read naming the replica,
// delete; fail and recover a node through the fault switchboard, seen in
// GET /nodes; the replication strategy switched online and seen in
// GET /nodes_for_key; an unknown strategy refused with 400.
func TestSeed002Contract(t *testing.T) {
	t.Setenv("DISTKV_COMPAT", "seed002")
	t.Setenv("API_TOKEN", "s3cret")
	c := startCluster(t, 3)
	base := "http://" + c.addr(1)
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body, _ := httpDo(t, http.MethodGet, base+"/nodes", ""); st != http.StatusForbidden || !strings.Contains(body, `"error":"Unauthorized"`) {
		t.Fatalf("GET /nodes without the token: %d %s", st, body)
	}
	if st, body := call(http.MethodPost, "/write", `{"key":"k1","value":"v1"}`); st != http.StatusCreated {
		t.Fatalf("POST /write: %d %s", st, body)
	}
	if st, body := call(http.MethodPost, "/write", `{"key":"k1","value":"v2"}`); st != http.StatusConflict {
		t.Fatalf("POST /write of an existing key: %d %s", st, body)
	}
	if st, body := call(http.MethodGet, "/read/k1", ""); st != http.StatusOK || !strings.Contains(body, `"value":"v1"`) || !strings.Contains(body, "Read from replica n") {
		t.Fatalf("GET /read/k1: %d %s", st, body)
	}
	if st, body := call(http.MethodGet, "/nodes_for_key/k1", ""); st != http.StatusOK || strings.Count(body, `"n`) < 3 {
		t.Fatalf("GET /nodes_for_key/k1: %d %s", st, body)
	}
	waitNodes := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, body := call(http.MethodGet, "/nodes", "")
			if st == http.StatusOK && strings.Contains(body, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET /nodes never showed %s: %d %s", want, st, body)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	if st, body := call(http.MethodPost, "/fail/3", ""); st != http.StatusOK {
		t.Fatalf("POST /fail/3: %d %s", st, body)
	}
	waitNodes(`{"id":"n3","status":"dead"`)
	if st, body := call(http.MethodPost, "/write", `{"key":"k2","value":"during"}`); st != http.StatusCreated {
		t.Fatalf("a write with n3 failed: %d %s", st, body)
	}
	if st, body := call(http.MethodPost, "/recover/n3", ""); st != http.StatusOK {
		t.Fatalf("POST /recover/n3: %d %s", st, body)
	}
	waitNodes(`{"id":"n3","status":"alive"`)
	if st, body := call(http.MethodPost, "/set_replication_strategy", `{"strategy":"quorum"}`); st != http.StatusBadRequest {
		t.Fatalf("an unknown strategy: %d %s, want 400", st, body)
	}
	if st, body := call(http.MethodPost, "/set_replication_strategy", `{"strategy":"consistent","replication_factor":2}`); st != http.StatusOK {
		t.Fatalf("consistent, 2: %d %s", st, body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body := call(http.MethodGet, "/nodes_for_key/k1", "")
		var loc struct{ Nodes []string }
		if json.Unmarshal([]byte(body), &loc) == nil && len(loc.Nodes) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("k1's replicas never became 2: %s", body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if st, body := call(http.MethodGet, "/read/k2", ""); st != http.StatusOK || !strings.Contains(body, `"value":"during"`) {
		t.Fatalf("GET /read/k2 after the change: %d %s", st, body)
	}
	if st, body := call(http.MethodDelete, "/delete/k1", ""); st != http.StatusOK {
		t.Fatalf("DELETE /delete/k1: %d %s", st, body)
	}
	if st, _ := call(http.MethodGet, "/read/k1", ""); st != http.StatusNotFound {
		t.Fatalf("GET /read/k1 after the delete: %d", st)
	}
}
