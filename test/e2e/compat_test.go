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
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, `"error"`) || !strings.Contains(body, "n3") {
		t.Fatalf("POST with n3 frozen in mode CA: %d %s, want 422 naming n3", st, body)
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
