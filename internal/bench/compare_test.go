package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
)

// fakeNode serves the few routes of distkv's HTTP API a comparison uses,
// in memory.
func fakeNode(t *testing.T) string {
	var mu sync.Mutex
	kv := map[string][]byte{}
	var nss []string
	mux := http.NewServeMux()
	for _, prefix := range []string{"/v1", "/v1/ns/{ns}"} {
		mux.HandleFunc("GET "+prefix+"/kv/{key...}", func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			v, ok := kv[r.PathValue("ns")+"/"+r.PathValue("key")]
			mu.Unlock()
			if !ok {
				w.WriteHeader(404)
				json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Error{Code: api.CodeNotFound}})
				return
			}
			w.Header().Set(api.HeaderVersion, "1")
			w.Write(v)
		})
		mux.HandleFunc("PUT "+prefix+"/kv/{key...}", func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			kv[r.PathValue("ns")+"/"+r.PathValue("key")] = b
			mu.Unlock()
			json.NewEncoder(w).Encode(api.WriteResult{Key: r.PathValue("key"), Version: 1})
		})
	}
	mux.HandleFunc("PUT /v1/ns/{name}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		nss = append(nss, r.PathValue("name"))
		mu.Unlock()
		w.WriteHeader(201)
	})
	mux.HandleFunc("GET /v1/ns/{name}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		for _, ns := range nss {
			if ns == r.PathValue("name") {
				json.NewEncoder(w).Encode(api.Namespace{Name: ns})
				return
			}
		}
		w.WriteHeader(404)
		json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Error{Code: api.CodeNotFound}})
	})
	mux.HandleFunc("GET /v1/cluster", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		cl := api.Cluster{Node: "n1"}
		for _, ns := range nss {
			cl.Shards = append(cl.Shards, api.Shard{Namespace: ns, ID: 0, Leader: "n1"})
		}
		json.NewEncoder(w).Encode(cl)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// fakeStarter "starts" clusters that are one fake node, and counts stops.
type fakeStarter struct {
	t       *testing.T
	started []ClusterSpec
	stopped int
}

func (f *fakeStarter) start(_ context.Context, spec ClusterSpec) (*Cluster, error) {
	f.started = append(f.started, spec)
	return &Cluster{HTTP: []string{fakeNode(f.t)}, Stop: func() error { f.stopped++; return nil }}, nil
}

// noPeers is an installer on a machine without etcd or Redis, not root.
var noPeers = Installer{
	LookPath: func(p string) (string, error) { return "", errors.New("not found") },
	IsRoot:   func() bool { return false },
	Run:      func(context.Context, []string) error { panic("must not install without root") },
}

func TestCompareWithoutPeers(t *testing.T) {
	f := &fakeStarter{t: t}
	var log bytes.Buffer
	co := CompareOptions{
		Base:         Options{Keys: 100, Clients: 2, Ops: 40, Seed: 3},
		Cells:        []string{"etcd1", "redis-mem", "causal"},
		Dir:          t.TempDir(),
		StartCluster: f.start,
		Installer:    noPeers,
		Say:          func(format string, args ...any) { log.WriteString(strings.TrimSpace(format) + "\n") },
	}
	cmp, err := Compare(context.Background(), co)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.started) != 3 || f.stopped != 3 || f.started[0].Nodes != 1 || !f.started[1].InMemory {
		t.Fatalf("clusters started %+v, stopped %d", f.started, f.stopped)
	}
	if cmp.Machine.CPUs < 1 || cmp.Machine.Fsync.Writes != 200 || cmp.Machine.Fsync.P50Micros <= 0 {
		t.Errorf("machine %+v", cmp.Machine)
	}
	etcd1, mem := cmp.Cells[0], cmp.Cells[1]
	d := etcd1.Distkv
	if d.Skipped != "" || d.Load == nil || d.Load.Ops != 100 || len(d.Workloads) != 2 {
		t.Fatalf("etcd1 distkv side: %+v", d)
	}
	for _, wr := range d.Workloads {
		if len(wr.Runs) != 3 || wr.Median.Runs != 3 || wr.Median.OpsPerSec <= 0 || wr.Runs[0].Options.Namespace != bench1Namespace {
			t.Errorf("workload %s: %d runs, median %+v", wr.Workload, len(wr.Runs), wr.Median)
		}
	}
	if !strings.Contains(etcd1.Peer.Skipped, "needs root") || !strings.Contains(etcd1.Peer.Skipped, "apt-get install -y etcd-server redis-server") {
		t.Errorf("etcd1 peer: %+v", etcd1.Peer)
	}
	if len(etcd1.Ratios) != 0 {
		t.Errorf("ratios without a peer: %v", etcd1.Ratios)
	}
	if !strings.Contains(mem.Distkv.Skipped, "no Redis front end") {
		t.Errorf("redis-mem distkv side: %+v", mem.Distkv)
	}
	// A leaderless cell creates its namespace and waits until a node
	// knows it (no shard leaders to wait for), then drives it.
	causal := cmp.Cells[2].Distkv
	if causal.Skipped != "" || len(causal.Workloads) != 2 || causal.Workloads[0].Runs[0].Options.Namespace != "benchcausal" {
		t.Fatalf("causal distkv side: %+v", causal)
	}

	var text, html, js bytes.Buffer
	if err := WriteCompareText(&text, cmp); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fsync probe: 200 × 4096 B", "etcd1", "SKIPPED", "namespace bench1", "namespace benchcausal (causal, 3 replicas)", "median"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	if err := WriteCompareHTML(&html, cmp); err != nil {
		t.Fatal(err)
	}
	// etcd1 and causal ran w and c on distkv: two charts each.
	if st := parseReport(t, html.Bytes()); st.svgs != 8 || st.polylines != 12 {
		t.Errorf("compare HTML: %d svgs, %d polylines; want 8 and 12", st.svgs, st.polylines)
	}
	if err := WriteJSON(&js, cmp); err != nil {
		t.Fatal(err)
	}
	var back Comparison
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || !reflect.DeepEqual(back.Cells[0].Distkv.Workloads[1].Median, d.Workloads[1].Median) {
		t.Errorf("JSON round trip: %v", err)
	}
}

func TestCompareRejectsBadOptions(t *testing.T) {
	f := &fakeStarter{t: t}
	for _, co := range []CompareOptions{
		{StartCluster: f.start, Cells: []string{"nope"}},
		{StartCluster: f.start, Workloads: []string{"load"}},
		{StartCluster: f.start, Workloads: []string{"x"}},
		{StartCluster: f.start, Runs: -1},
		{Cells: []string{"etcd3"}},
	} {
		if err := co.Validate(); err == nil {
			t.Errorf("%+v accepted", co)
		}
	}
	if len(f.started) != 0 {
		t.Error("a cluster started")
	}
}

func TestMedians(t *testing.T) {
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 3, 2}) != 2.5 {
		t.Error("median")
	}
	mk := func(rate, p50, p99 float64, errs int64) *Result {
		return &Result{OpsPerSec: rate, Errors: map[string]int64{KindTimeout: errs},
			Latency: map[string]LatencySummary{"all": {P50Micros: p50, P99Micros: p99}}}
	}
	rs := []*Result{mk(100, 5, 50, 1), mk(300, 1, 90, 0), mk(200, 9, 10, 2)}
	f := medianFigures(rs)
	if f.Runs != 3 || f.OpsPerSec != 200 || f.P50Micros != 5 || f.P99Micros != 50 || f.Errors != 3 {
		t.Errorf("medians %+v", f)
	}
	if medianRun(rs) != rs[2] {
		t.Error("medianRun did not pick the median-throughput run")
	}
	r := ratios(f, Figures{OpsPerSec: 100, P50Micros: 10})
	if r.Throughput != 2 || r.P50 != 0.5 || r.P99 != 0 {
		t.Errorf("ratios %+v", r)
	}
}

func TestCompareInterruptedStopsWhatItStarted(t *testing.T) {
	f := &fakeStarter{t: t}
	ctx, cancel := context.WithCancel(context.Background())
	co := CompareOptions{
		Base:      Options{Keys: 10, Clients: 1, Duration: Duration(time.Hour)},
		Dir:       t.TempDir(),
		Installer: noPeers,
		StartCluster: func(ctx context.Context, spec ClusterSpec) (*Cluster, error) {
			defer cancel() // Ctrl-C, just after the first cluster is up
			return f.start(ctx, spec)
		},
	}
	cmp, err := Compare(ctx, co)
	if !errors.Is(err, context.Canceled) || cmp == nil || len(cmp.Cells) != 1 {
		t.Fatalf("err %v, comparison %+v: want the first cell, interrupted", err, cmp)
	}
	if len(f.started) != 1 || f.stopped != 1 {
		t.Errorf("%d clusters started, %d stopped", len(f.started), f.stopped)
	}
	if s := cmp.Cells[0].Distkv.Skipped; !strings.Contains(s, "context canceled") {
		t.Errorf("distkv side: %q", s)
	}
}
