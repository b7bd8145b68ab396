package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
)

type resp struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, url string, body []byte) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.Header.Get(api.HeaderNode) == "" {
		t.Errorf("%s %s: no %s header", method, url, api.HeaderNode)
	}
	return resp{r.StatusCode, r.Header, b}
}

func (r resp) errCode(t *testing.T) api.Error {
	t.Helper()
	var e api.ErrorBody
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("status %d, body %q is not an error body", r.status, r.body)
	}
	return e.Error
}

// expect checks status and, for errors, the code.
func expect(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if code != "" {
		if e := r.errCode(t); e.Code != code {
			t.Fatalf("code %q, want %q (%s)", e.Code, code, e.Message)
		}
	}
}

func TestKeyValueStatusCodes(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 4})
	base := c.HTTP(c.IDs()[1]).URL

	r := do(t, "PUT", base+"/v1/kv/greeting", []byte("hello"))
	expect(t, r, 201, "")
	var w api.WriteResult
	_ = json.Unmarshal(r.body, &w)
	if w.Key != "greeting" || w.Version == 0 || !w.Created {
		t.Fatalf("create result %+v", w)
	}
	expect(t, do(t, "PUT", base+"/v1/kv/greeting", []byte("hi")), 200, "")
	expect(t, do(t, "PUT", base+"/v1/kv/greeting?if=absent", []byte("x")), 409, api.CodeExists)
	expect(t, do(t, "PUT", base+"/v1/kv/missing?if=present", []byte("x")), 404, api.CodeNotFound)
	r = do(t, "PUT", base+"/v1/kv/greeting?version=1", []byte("x"))
	expect(t, r, 409, api.CodeVersionMismatch)
	if e := r.errCode(t); e.CurrentVersion <= w.Version {
		t.Fatalf("mismatch reports current version %d, want > %d", e.CurrentVersion, w.Version)
	}
	expect(t, do(t, "PUT", base+"/v1/kv/greeting?version=abc", nil), 400, api.CodeInvalid)
	expect(t, do(t, "PUT", base+"/v1/kv/greeting?if=maybe", nil), 400, api.CodeInvalid)
	expect(t, do(t, "PUT", base+"/v1/kv/", []byte("x")), 400, api.CodeInvalid)
	expect(t, do(t, "PUT", base+"/v1/kv/big", make([]byte, 1<<20+1)), 413, api.CodeTooLarge)
	expect(t, do(t, "PUT", base+"/v1/kv/"+strings.Repeat("k", 4097), []byte("x")), 413, api.CodeTooLarge)

	r = do(t, "GET", base+"/v1/kv/greeting", nil)
	expect(t, r, 200, "")
	if string(r.body) != "hi" || r.header.Get(api.HeaderVersion) == "" {
		t.Fatalf("raw get: %q, version header %q", r.body, r.header.Get(api.HeaderVersion))
	}
	expect(t, do(t, "GET", base+"/v1/kv/greeting?consistency=stale", nil), 200, "")
	expect(t, do(t, "GET", base+"/v1/kv/greeting?consistency=eventually", nil), 400, api.CodeInvalid)
	expect(t, do(t, "GET", base+"/v1/kv/greeting?format=xml", nil), 400, api.CodeInvalid)
	expect(t, do(t, "GET", base+"/v1/kv/nope", nil), 404, api.CodeNotFound)

	// Binary values come back base64 in JSON.
	expect(t, do(t, "PUT", base+"/v1/kv/bin", []byte{0xff, 0x00, 0xfe}), 201, "")
	r = do(t, "GET", base+"/v1/kv/bin?format=json", nil)
	var kvj api.KV
	_ = json.Unmarshal(r.body, &kvj)
	if kvj.Encoding != api.EncodingBase64 || kvj.Value == nil || *kvj.Value != "/wD+" {
		t.Fatalf("binary value as json: %s", r.body)
	}

	// Keys with slashes, spaces and unicode.
	odd := "dir/sub dir/ключ"
	expect(t, do(t, "PUT", base+"/v1/kv/"+escapeKey(odd), []byte("v")), 201, "")
	r = do(t, "GET", base+"/v1/kv/"+escapeKey(odd)+"?format=json", nil)
	_ = json.Unmarshal(r.body, &kvj)
	if kvj.Key != odd {
		t.Fatalf("odd key came back as %q", kvj.Key)
	}

	expect(t, do(t, "DELETE", base+"/v1/kv/greeting?if=absent", nil), 400, api.CodeInvalid)
	expect(t, do(t, "DELETE", base+"/v1/kv/greeting?version=1", nil), 409, api.CodeVersionMismatch)
	expect(t, do(t, "DELETE", base+"/v1/kv/greeting", nil), 200, "")
	expect(t, do(t, "DELETE", base+"/v1/kv/greeting", nil), 404, api.CodeNotFound)

	expect(t, do(t, "GET", base+"/v1/nothing-here", nil), 404, api.CodeNotFound)
	r = do(t, "POST", base+"/v1/kv/x", nil)
	expect(t, r, 405, api.CodeMethodNotAllowed)
}

func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func TestListAcrossShardsWithCursor(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 4})
	base := c.HTTP(c.IDs()[0]).URL
	for _, k := range []string{"a/3", "a/1", "b/1", "a/2", "a/4", "a/5"} {
		expect(t, do(t, "PUT", base+"/v1/kv/"+k, []byte("v-"+k)), 201, "")
	}
	var page api.ListResult
	r := do(t, "GET", base+"/v1/kv?prefix=a/&limit=2", nil)
	expect(t, r, 200, "")
	_ = json.Unmarshal(r.body, &page)
	if len(page.Keys) != 2 || page.Keys[0].Key != "a/1" || page.Keys[1].Key != "a/2" || page.Next != "a/2" || page.Keys[0].Value != nil {
		t.Fatalf("page 1: %s", r.body)
	}
	r = do(t, "GET", base+"/v1/kv?prefix=a/&limit=10&values=true&after="+page.Next, nil)
	page = api.ListResult{}
	_ = json.Unmarshal(r.body, &page)
	if len(page.Keys) != 3 || page.Keys[0].Key != "a/3" || page.Next != "" || *page.Keys[2].Value != "v-a/5" {
		t.Fatalf("page 2: %s", r.body)
	}
	expect(t, do(t, "GET", base+"/v1/kv?limit=0", nil), 400, api.CodeInvalid)
	expect(t, do(t, "GET", base+"/v1/kv?values=perhaps", nil), 400, api.CodeInvalid)
}

func TestNamespaces(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 2})
	base := c.HTTP(c.IDs()[2]).URL
	expect(t, do(t, "PUT", base+"/v1/kv/before-users", []byte("x")), 201, "")
	expect(t, do(t, "PUT", base+"/v1/ns/users", []byte(`{"mode":"strong","replicas":3,"shards":4}`)), 201, "")
	expect(t, do(t, "PUT", base+"/v1/ns/users", []byte(`{"replicas":"3","shards":4}`)), 200, "")
	expect(t, do(t, "PUT", base+"/v1/ns/users", []byte(`{"shards":8}`)), 409, api.CodeNamespaceExists)
	expect(t, do(t, "PUT", base+"/v1/ns/bad", []byte(`{"shards":`)), 400, api.CodeInvalid)
	expect(t, do(t, "PUT", base+"/v1/ns/bad", []byte(`{"colour":"red"}`)), 400, api.CodeInvalid)
	expect(t, do(t, "PUT", base+"/v1/ns/bad", []byte(`{"shards":100000}`)), 400, api.CodeInvalid)
	expect(t, do(t, "PUT", base+"/v1/ns/Bad!", []byte(`{}`)), 400, api.CodeInvalid)
	expect(t, do(t, "PUT", base+"/v1/ns/later", []byte(`{"mode":"eventual","r":1}`)), 201, "")
	expect(t, do(t, "PUT", base+"/v1/ns/bad", []byte(`{"mode":"strong","w":2}`)), 400, api.CodeInvalid)
	expect(t, do(t, "PUT", base+"/v1/ns/later/kv/x?if=absent", []byte("1")), 501, api.CodeUnsupported)

	r := do(t, "GET", base+"/v1/ns", nil)
	var list api.NamespaceList
	_ = json.Unmarshal(r.body, &list)
	if len(list.Namespaces) != 3 {
		t.Fatalf("namespaces: %s", r.body)
	}
	expect(t, do(t, "GET", base+"/v1/ns/users", nil), 200, "")
	expect(t, do(t, "GET", base+"/v1/ns/ghost", nil), 404, api.CodeNamespaceNotFound)
	expect(t, do(t, "GET", base+"/v1/ns/ghost/kv/x", nil), 404, api.CodeNamespaceNotFound)

	// A namespace created through one node serves keys through another.
	other := c.HTTP(c.IDs()[0]).URL
	c.WaitReady(10 * time.Second)
	expect(t, do(t, "PUT", other+"/v1/ns/users/kv/alice", []byte("1")), 201, "")
	r = do(t, "GET", base+"/v1/ns/users/kv/alice", nil)
	expect(t, r, 200, "")
	expect(t, do(t, "GET", base+"/v1/kv/alice", nil), 404, api.CodeNotFound)

	// Key counts per namespace survive the shard map changing under them.
	var cl api.Cluster
	_ = json.Unmarshal(do(t, "GET", base+"/v1/cluster", nil).body, &cl)
	counts := map[string]int64{}
	for _, s := range cl.Shards {
		counts[s.Namespace] += s.Keys
	}
	if counts["default"] != 1 || counts["users"] != 1 {
		t.Fatalf("key counts by namespace: %v, want default 1, users 1", counts)
	}
}

func TestClusterLocateDumpHealth(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 4})
	base := c.HTTP(c.IDs()[0]).URL
	expect(t, do(t, "PUT", base+"/v1/kv/k1", []byte("v1")), 201, "")

	var cl api.Cluster
	r := do(t, "GET", base+"/v1/cluster", nil)
	expect(t, r, 200, "")
	_ = json.Unmarshal(r.body, &cl)
	if cl.Coordinator == "" || len(cl.Nodes) != 3 || len(cl.Shards) != 4 {
		t.Fatalf("cluster: %s", r.body)
	}
	keys := int64(0)
	for _, s := range cl.Shards {
		if s.Leader == "" || len(s.Replicas) != 3 {
			t.Fatalf("shard without leader or replicas: %+v", s)
		}
		keys += s.Keys
	}
	if keys != 1 {
		t.Fatalf("key counts add up to %d, want 1", keys)
	}

	var loc api.Location
	r = do(t, "GET", base+"/v1/locate/k1", nil)
	_ = json.Unmarshal(r.body, &loc)
	ns := c.Running()[0].Map().Namespace(keyspace.DefaultNamespace)
	if loc.Shard != ns.Locate([]byte("k1")).Index || len(loc.Replicas) != 3 || loc.Leader == "" {
		t.Fatalf("locate: %s", r.body)
	}
	expect(t, do(t, "GET", base+"/v1/locate/k1?ns=ghost", nil), 404, api.CodeNamespaceNotFound)

	r = do(t, "GET", base+"/v1/admin/dump", nil)
	expect(t, r, 200, "")
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	var d api.DumpEntry
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &d) != nil || d.Key != "k1" || d.Value != "v1" {
		t.Fatalf("dump: %q", r.body)
	}

	expect(t, do(t, "GET", base+"/healthz", nil), 200, "")
	// Ready may flicker while a shard elects a new leader (a loaded CI
	// machine misses heartbeats): it must come back, not answer at once.
	for deadline := time.Now().Add(15 * time.Second); ; {
		r = do(t, "GET", base+"/readyz", nil)
		if r.status == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	expect(t, r, 200, "")
	r = do(t, "GET", base+"/metrics", nil)
	for _, m := range []string{"distkv_http_requests_total", "distkv_raft_proposals_total", "distkv_fsync_duration_seconds", "distkv_raft_leader_changes_total", "distkv_raft_apply_lag_entries"} {
		if !bytes.Contains(r.body, []byte(m)) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// A node cut off from its peers answers 503 (nothing was done) when no
// leader can be reached, and 504 with outcome_unknown when it was the
// leader and accepted a write it cannot commit.
func TestUnavailableAndUnknownOutcome(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 1, ElectionTicks: 100, RequestTimeout: 300 * time.Millisecond})
	g := c.Running()[0].Map().Namespace(keyspace.DefaultNamespace).Shard(0).Group
	leader := c.Leader(g)
	var follower keyspace.NodeID
	for _, id := range c.IDs() {
		if id != leader {
			follower = id
		}
	}
	fURL, lURL := c.HTTP(follower).URL, c.HTTP(leader).URL
	if _, err := c.Faults().Isolate(uint64(follower), 0); err != nil {
		t.Fatal(err)
	}
	r := do(t, "PUT", fURL+"/v1/kv/x", []byte("1"))
	expect(t, r, 503, api.CodeUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	c.Faults().Heal()
	if _, err := c.Faults().Isolate(uint64(leader), 0); err != nil {
		t.Fatal(err)
	}
	r = do(t, "PUT", lURL+"/v1/kv/y", []byte("1"))
	expect(t, r, 504, api.CodeTimeout)
	if !r.errCode(t).OutcomeUnknown {
		t.Fatalf("504 without outcome_unknown: %s", r.body)
	}
}
