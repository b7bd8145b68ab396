package bench

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestRunLabels(t *testing.T) {
	for label, want := range map[string]string{"w": "w 0", "hgetall@resp3": "hgetall 3", "c@resp2": "c@resp2 0"} {
		if w, p := parseLabel(label); fmt.Sprint(w, " ", p) != want {
			t.Errorf("parseLabel(%q) = %q, %d", label, w, p)
		}
	}
	labels := []string{"w", "w@resp3", "c", "c@resp3", "hset"}
	if got := fmt.Sprint(labelGroups(labels)); got != "[[w w@resp3] [c c@resp3] [hset]]" {
		t.Errorf("labelGroups = %s", got)
	}
	for _, c := range cellDefs {
		got := c.labels([]string{"w", "c", "hset", "hgetall"})
		switch {
		case c.Name == "redis-mem":
			if want := []string{"w", "w@resp3", "c", "c@resp3", "hset", "hset@resp3", "hgetall", "hgetall@resp3"}; !slices.Equal(got, want) {
				t.Errorf("cell redis-mem runs %v, want %v", got, want)
			}
		case c.RESP3:
			t.Errorf("cell %s runs RESP3 too; only redis-mem is meant to", c.Name)
		case slices.ContainsFunc(got, func(l string) bool { return strings.HasSuffix(l, resp3Suffix) }):
			t.Errorf("cell %s runs %v", c.Name, got)
		}
	}
	if r, h := needsLoad([]string{"c@resp3"}); !r || h {
		t.Errorf("needsLoad(c@resp3) = %v, %v", r, h)
	}
}

func TestProtocolOption(t *testing.T) {
	o := mustValidate(t, Options{Target: TargetRedis, Ops: 1})
	if o.Protocol != 2 {
		t.Errorf("the redis target's default protocol is %d, want 2", o.Protocol)
	}
	mustValidate(t, Options{Target: TargetRedis, Ops: 1, Protocol: 3})
	for _, bad := range []Options{
		{Target: TargetRedis, Endpoints: []string{"x:1"}, Ops: 1, Protocol: 4},
		{Target: TargetDistkv, Endpoints: []string{"x:1"}, Ops: 1, Protocol: 3},
		{Target: TargetEtcd, Endpoints: []string{"x:1"}, Ops: 1, Protocol: 2},
	} {
		if _, err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// helloCounter is a Redis-protocol stub that answers HELLO, SET and GET
// and records the protocol version of every HELLO.
type helloCounter struct {
	mu     sync.Mutex
	hellos []string
}

func (h *helloCounter) serve(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go h.conn(nc)
		}
	}()
	return ln.Addr().String()
}

// conn reads RESP arrays of bulk strings and answers each.
func (h *helloCounter) conn(nc net.Conn) {
	defer nc.Close()
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		n, err := nc.Read(tmp)
		if err != nil {
			return
		}
		buf = append(buf, tmp[:n]...)
		for {
			args, rest, ok := parseArray(buf)
			if !ok {
				break
			}
			buf = rest
			var reply string
			switch strings.ToUpper(args[0]) {
			case "HELLO":
				h.mu.Lock()
				h.hellos = append(h.hellos, args[1])
				h.mu.Unlock()
				reply = "%1\r\n$5\r\nproto\r\n:" + args[1] + "\r\n"
				if args[1] == "2" {
					reply = "*2\r\n$5\r\nproto\r\n:2\r\n"
				}
			case "SET":
				reply = "+OK\r\n"
			default:
				reply = "$1\r\nv\r\n"
			}
			if _, err := nc.Write([]byte(reply)); err != nil {
				return
			}
		}
	}
}

// parseArray parses one RESP array of bulk strings off the front of b.
func parseArray(b []byte) (args []string, rest []byte, ok bool) {
	line := func() (string, bool) {
		i := strings.Index(string(b), "\r\n")
		if i < 0 {
			return "", false
		}
		l := string(b[:i])
		b = b[i+2:]
		return l, true
	}
	head, ok := line()
	if !ok || !strings.HasPrefix(head, "*") {
		return nil, nil, false
	}
	var n int
	fmt.Sscanf(head[1:], "%d", &n)
	for range n {
		l, ok := line()
		if !ok {
			return nil, nil, false
		}
		var size int
		fmt.Sscanf(l[1:], "%d", &size)
		if len(b) < size+2 {
			return nil, nil, false
		}
		args, b = append(args, string(b[:size])), b[size+2:]
	}
	return args, b, true
}

// The redis driver's connections ask for the protocol of the options,
// and compare's RESP3 labels reach them.
func TestRedisDriverProtocol(t *testing.T) {
	for _, proto := range []int{2, 3} {
		h := &helloCounter{}
		o := mustValidate(t, Options{Target: TargetRedis, Clients: 2, Ops: 20, Keys: 10, Protocol: proto})
		o.Endpoints = []string{h.serve(t)}
		d, err := NewDriver(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Run(context.Background(), o, d, nil); err != nil {
			t.Fatal(err)
		}
		d.Close()
		h.mu.Lock()
		if len(h.hellos) == 0 || slices.ContainsFunc(h.hellos, func(v string) bool { return v != fmt.Sprint(proto) }) {
			t.Errorf("protocol %d: HELLOs asked for %v", proto, h.hellos)
		}
		h.mu.Unlock()
	}
	h := &helloCounter{}
	co := CompareOptions{Base: Options{Keys: 10, Clients: 1, Ops: 5}, Runs: 1}
	dep := &Deployment{Target: TargetRedis, Endpoints: []string{h.serve(t)}}
	if _, err := co.runOne(context.Background(), dep, "w@resp3", "test"); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Equal(h.hellos, []string{"3"}) {
		t.Errorf("a w@resp3 run asked for %v", h.hellos)
	}
}

func TestResp3Ratios(t *testing.T) {
	wr := func(label string, rate float64) *WorkloadRuns {
		return &WorkloadRuns{Workload: label, Median: Figures{Runs: 3, OpsPerSec: rate, P50Micros: 100, P99Micros: 1000}}
	}
	cr := &CellResult{Workloads: []string{"w", "w@resp3", "c", "c@resp3"}}
	cr.Distkv = SideResult{System: "distkv", Workloads: []*WorkloadRuns{wr("w", 1000), wr("w@resp3", 950), wr("c", 2000), wr("c@resp3", 2100)}}
	cr.Peer = SideResult{System: "redis", Workloads: []*WorkloadRuns{wr("w", 5000), wr("w@resp3", 5000)}}
	cr.RESP3 = resp3Ratios(cr)
	if r := cr.RESP3["w"]; r.Distkv.Throughput != 0.95 || r.Peer.Throughput != 1 || r.Distkv.P50 != 1 {
		t.Errorf("w: %+v", r)
	}
	if r := cr.RESP3["c"]; r.Distkv.Throughput != 1.05 || r.Peer.Throughput != 0 {
		t.Errorf("c: %+v", r)
	}
	if got := protocolLine(cr); got != "RESP3/RESP2 throughput, w: distkv 0.95×, redis 1.00×; c: distkv 1.05×, redis –" {
		t.Errorf("protocolLine = %q", got)
	}
}
