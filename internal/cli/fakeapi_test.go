package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/distkv/distkv/api"
)

// fakeAPI emulates one node of the HTTP API in memory, enough for the
// commands' tests. Keys named "busy", "slow" and "huge" answer 503, 504
// (outcome unknown) and 413.
type fakeAPI struct {
	mu  sync.Mutex
	kv  map[string]map[string]fakeEntry // namespace → key → entry
	ns  map[string]api.Namespace
	ver uint64
}

type fakeEntry struct {
	value   []byte
	version uint64
}

const fakeNode = "n1"

func newFakeAPI(t *testing.T) *httptest.Server {
	f := &fakeAPI{
		kv: map[string]map[string]fakeEntry{"default": {}},
		ns: map[string]api.Namespace{"default": {Name: "default", ID: 1, Mode: "strong", Replicas: "3", Shards: 4}},
	}
	mux := http.NewServeMux()
	for _, prefix := range []string{"/v1", "/v1/ns/{ns}"} {
		mux.HandleFunc("GET "+prefix+"/kv/{key...}", f.get)
		mux.HandleFunc("PUT "+prefix+"/kv/{key...}", f.put)
		mux.HandleFunc("DELETE "+prefix+"/kv/{key...}", f.del)
		mux.HandleFunc("GET "+prefix+"/kv", f.list)
	}
	mux.HandleFunc("PUT /v1/ns/{name}", f.createNS)
	mux.HandleFunc("GET /v1/ns", f.listNS)
	mux.HandleFunc("GET /v1/ns/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if ns, ok := f.ns[r.PathValue("name")]; ok {
			reply(w, 200, ns)
			return
		}
		replyErr(w, 404, api.Error{Code: api.CodeNamespaceNotFound, Message: "no such namespace"})
	})
	mux.HandleFunc("GET /v1/cluster", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, testCluster()) })
	mux.HandleFunc("GET /v1/locate/{key...}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, api.Location{Namespace: cmpOr(r.URL.Query().Get("ns"), "default"), Key: r.PathValue("key"),
			Shard: 2, Group: "default/2", Replicas: []string{"n1", "n2", "n3"}, Leader: "n2"})
	})
	mux.HandleFunc("GET /v1/admin/dump", func(w http.ResponseWriter, r *http.Request) {
		enc := json.NewEncoder(w)
		enc.Encode(api.DumpEntry{Namespace: "default", Shard: 1, Key: "a", Value: "1", Version: 3, Leader: true})
		enc.Encode(api.DumpEntry{Namespace: "default", Shard: 2, Key: "b", Value: "/w==", Encoding: "base64", Version: 4})
	})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.HeaderNode, fakeNode)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func replyErr(w http.ResponseWriter, status int, e api.Error) {
	reply(w, status, api.ErrorBody{Error: e})
}

// space returns the keys of r's namespace, or answers 404.
func (f *fakeAPI) space(w http.ResponseWriter, r *http.Request) (map[string]fakeEntry, bool) {
	ns := cmpOr(r.PathValue("ns"), "default")
	m, ok := f.kv[ns]
	if !ok {
		replyErr(w, 404, api.Error{Code: api.CodeNamespaceNotFound, Message: "namespace " + strconv.Quote(ns) + " not found"})
	}
	return m, ok
}

// special answers the keys that simulate failures.
func special(w http.ResponseWriter, r *http.Request) bool {
	switch r.PathValue("key") {
	case "busy":
		w.Header().Set("Retry-After", "1")
		replyErr(w, 503, api.Error{Code: api.CodeUnavailable, Message: "shard 2 has no quorum"})
	case "slow":
		replyErr(w, 504, api.Error{Code: api.CodeTimeout, Message: "deadline exceeded", OutcomeUnknown: r.Method != http.MethodGet})
	case "huge":
		replyErr(w, 413, api.Error{Code: api.CodeTooLarge, Message: "value over 1048576 bytes"})
	default:
		return false
	}
	return true
}

func (f *fakeAPI) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.space(w, r)
	if !ok || special(w, r) {
		return
	}
	e, ok := m[r.PathValue("key")]
	if !ok {
		replyErr(w, 404, api.Error{Code: api.CodeNotFound, Message: "key not found"})
		return
	}
	w.Header().Set(api.HeaderVersion, strconv.FormatUint(e.version, 10))
	w.Write(e.value)
}

func (f *fakeAPI) put(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.space(w, r)
	if !ok || special(w, r) {
		return
	}
	key := r.PathValue("key")
	old, exists := m[key]
	if !f.conditionsHold(w, r, old, exists) {
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.ver++
	m[key] = fakeEntry{body, f.ver}
	status := 200
	if !exists {
		status = 201
	}
	reply(w, status, api.WriteResult{Key: key, Version: f.ver, Created: !exists})
}

// conditionsHold checks ?if= and ?version= against the key's state.
func (f *fakeAPI) conditionsHold(w http.ResponseWriter, r *http.Request, old fakeEntry, exists bool) bool {
	q := r.URL.Query()
	switch {
	case q.Get("if") == "absent" && exists:
		replyErr(w, 409, api.Error{Code: api.CodeExists, Message: "key exists"})
	case q.Get("if") == "present" && !exists:
		replyErr(w, 404, api.Error{Code: api.CodeNotFound, Message: "key not found"})
	case q.Has("version") && q.Get("version") != strconv.FormatUint(old.version, 10):
		replyErr(w, 409, api.Error{Code: api.CodeVersionMismatch, Message: "version mismatch", CurrentVersion: old.version})
	default:
		return true
	}
	return false
}

func (f *fakeAPI) del(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.space(w, r)
	if !ok || special(w, r) {
		return
	}
	key := r.PathValue("key")
	old, exists := m[key]
	if !exists {
		replyErr(w, 404, api.Error{Code: api.CodeNotFound, Message: "key not found"})
		return
	}
	if !f.conditionsHold(w, r, old, exists) {
		return
	}
	delete(m, key)
	reply(w, 200, api.WriteResult{Key: key, Version: old.version})
}

// list pages two keys at a time, to exercise cursors.
func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.space(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, q.Get("prefix")) && k > q.Get("after") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 2 {
		limit = 2
	}
	var res api.ListResult
	for i, k := range keys {
		if i == limit {
			res.Next = keys[i-1]
			break
		}
		var v []byte
		if q.Get("values") == "true" {
			v = m[k].value
		}
		res.Keys = append(res.Keys, api.NewKV(k, v, m[k].version))
	}
	reply(w, 200, res)
}

func (f *fakeAPI) createNS(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ns api.Namespace
	if err := json.NewDecoder(r.Body).Decode(&ns); err != nil {
		replyErr(w, 400, api.Error{Code: api.CodeInvalid, Message: err.Error()})
		return
	}
	ns.Name = r.PathValue("name")
	if old, ok := f.ns[ns.Name]; ok {
		if old.Mode != ns.Mode {
			replyErr(w, 409, api.Error{Code: api.CodeNamespaceExists, Message: "exists with mode " + old.Mode})
			return
		}
		reply(w, 200, old)
		return
	}
	ns.ID = uint32(len(f.ns) + 1)
	f.ns[ns.Name] = ns
	f.kv[ns.Name] = map[string]fakeEntry{}
	reply(w, 201, ns)
}

func (f *fakeAPI) listNS(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var res api.NamespaceList
	for _, ns := range f.ns {
		res.Namespaces = append(res.Namespaces, ns)
	}
	reply(w, 200, res)
}

// testCluster is a 3-node cluster with one node dead, a leaderless shard
// and a fault.
func testCluster() *api.Cluster {
	return &api.Cluster{
		Node: "n1", Coordinator: "n2", Epoch: 7,
		Nodes: []api.Node{
			{ID: "n10", ClientAddr: "127.0.0.1:7710", State: "dead", LastSeenMs: 9000},
			{ID: "n1", ClientAddr: "127.0.0.1:7701", PeerAddr: "127.0.0.1:7801", State: "alive", LastSeenMs: 12},
			{ID: "n2", ClientAddr: "127.0.0.1:7702", PeerAddr: "127.0.0.1:7802", State: "alive", LastSeenMs: 40},
		},
		Namespaces: []api.Namespace{{Name: "default", Mode: "strong", Replicas: "3", Shards: 2}},
		Shards: []api.Shard{
			{Namespace: "default", ID: 1, Replicas: []string{"n1", "n2", "n10"}, Keys: -1, Term: 3},
			{Namespace: "default", ID: 0, Replicas: []string{"n1", "n2", "n10"}, Leader: "n1", Keys: 42, Term: 2, Applied: 99},
		},
		Faults: []api.Fault{{ID: 1, Kind: "partition", Groups: [][]string{{"n1"}, {"n2", "n10"}}, Until: "30s"}},
	}
}
