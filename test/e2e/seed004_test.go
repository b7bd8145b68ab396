package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// seed004Cluster is a set of `distkv server` processes started as seed
// 004's nodes start: SOCKET_ADDRESS, VIEW and SHARD_COUNT in the
// environment and no arguments beyond the fault switchboard's flag.
type seed004Cluster struct {
	t     *testing.T
	dir   string
	base  int
	addrs []string
	procs map[int]*exec.Cmd
}

// seed004Base finds a port range whose client and peer ports are free.
func seed004Base(n int) int {
	for try := 0; try < 50; try++ {
		base := 30000 + rand.Intn(300)*100
		ok := true
		for i := 0; i < n && ok; i++ {
			for _, off := range []int{0, 1000} {
				l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+off+i))
				if err != nil {
					ok = false
					break
				}
				l.Close()
			}
		}
		if ok {
			return base
		}
	}
	panic("no free port range")
}

func newSeed004Cluster(t *testing.T, n int) *seed004Cluster {
	c := &seed004Cluster{t: t, dir: t.TempDir(), base: seed004Base(n + 1), procs: map[int]*exec.Cmd{}}
	for i := 0; i <= n; i++ { // one spare address for a node added later
		c.addrs = append(c.addrs, fmt.Sprintf("127.0.0.1:%d", c.base+i))
	}
	t.Cleanup(func() {
		for i := range c.procs {
			c.stop(i)
		}
		if t.Failed() {
			for i := range c.addrs {
				b, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("log%d", i)))
				t.Logf("--- node %d log (tail):\n%s", i, tail(string(b), 25))
			}
		}
	})
	return c
}

// start runs node i with VIEW = the first viewLen addresses and, when
// shards > 0, SHARD_COUNT.
func (c *seed004Cluster) start(i, viewLen, shards int) {
	c.t.Helper()
	cmd := exec.Command(bin, "server", "--allow-fault-injection")
	env := append(os.Environ(), "SOCKET_ADDRESS="+c.addrs[i], "VIEW="+strings.Join(c.addrs[:viewLen], ","),
		"DISTKV_DATA_DIR="+filepath.Join(c.dir, fmt.Sprintf("d%d", i)))
	if shards > 0 {
		env = append(env, fmt.Sprintf("SHARD_COUNT=%d", shards))
	}
	cmd.Env = env
	f, err := os.OpenFile(filepath.Join(c.dir, fmt.Sprintf("log%d", i)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.procs[i] = cmd
}

// stop kills node i (SIGKILL: a crash) and waits for it.
func (c *seed004Cluster) stop(i int) {
	if p := c.procs[i]; p != nil && p.Process != nil {
		_ = p.Process.Kill()
		_ = p.Wait()
	}
	delete(c.procs, i)
}

// call sends a seed 004 request and decodes the JSON answer.
func (c *seed004Cluster) call(i int, method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var text string
	if body != nil {
		b, _ := json.Marshal(body)
		text = string(b)
	}
	st, resp, _ := httpDo(c.t, method, "http://"+c.addrs[i]+path, text)
	var out map[string]any
	if err := json.Unmarshal([]byte(resp), &out); err != nil {
		c.t.Fatalf("%s %s on node %d: %d, not JSON: %q", method, path, i, st, resp)
	}
	return st, out
}

// eventually retries check every 200ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, got := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, d, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *seed004Cluster) view(i int) []string {
	st, b := c.call(i, http.MethodGet, "/view", nil)
	if st != http.StatusOK {
		c.t.Fatalf("GET /view on node %d: %d %v", i, st, b)
	}
	var out []string
	for _, a := range b["view"].([]any) {
		out = append(out, a.(string))
	}
	return out
}

func (c *seed004Cluster) members(i, shard int) []string {
	st, b := c.call(i, http.MethodGet, fmt.Sprintf("/shard/members/%d", shard), nil)
	if st != http.StatusOK {
		c.t.Fatalf("GET /shard/members/%d: %d %v", shard, st, b)
	}
	var out []string
	for _, a := range b["shard-members"].([]any) {
		out = append(out, a.(string))
	}
	return out
}

func (c *seed004Cluster) keyCount(i, shard int) int {
	st, b := c.call(i, http.MethodGet, fmt.Sprintf("/shard/key-count/%d", shard), nil)
	if st != http.StatusOK {
		c.t.Fatalf("GET /shard/key-count/%d on node %d: %d %v", shard, i, st, b)
	}
	return int(b["shard-key-count"].(float64))
}

// checkCounts checks that every listed node gives the same key count per
// shard, that they sum to total, and that each is within 25% of the mean.
func (c *seed004Cluster) checkCounts(nodes []int, shards, total int) {
	c.t.Helper()
	eventually(c.t, 20*time.Second, "key counts agree", func() (bool, string) {
		var first []int
		for _, i := range nodes {
			var counts []int
			sum := 0
			for s := 1; s <= shards; s++ {
				counts = append(counts, c.keyCount(i, s))
				sum += counts[s-1]
			}
			if sum != total {
				return false, fmt.Sprintf("node %d counts %v sum to %d", i, counts, sum)
			}
			if first == nil {
				first = counts
			} else if !slices.Equal(first, counts) {
				return false, fmt.Sprintf("node %d counts %v, node %d %v", nodes[0], first, i, counts)
			}
		}
		mean := float64(total) / float64(shards)
		for _, n := range first {
			if float64(n) < 0.75*mean || float64(n) > 1.25*mean {
				c.t.Fatalf("key counts %v are not within 25%% of the mean %.0f", first, mean)
			}
		}
		return true, ""
	})
}

// Seed 004's contract on six processes started as its README starts its
// containers (SHARD_COUNT=2): the view, the shards and their members,
// /kvs with causal metadata (every first-request form, the 400s and 404s,
// created/replaced/deleted), a read refused with 503 at a node cut off
// from the write it depends on and served once healed, 600 keys balanced
// and counted alike at every node, a reshard to 3 and one refused, a node
// crashed (it leaves every view, comes back with what was written while
// it was down), and a seventh node that waits unassigned until
// add-member gives it a shard, then holds the shard's keys.
func TestSeed004Contract(t *testing.T) {
	c := newSeed004Cluster(t, 6)
	for i := 0; i < 6; i++ {
		c.start(i, 6, 2)
	}
	for i := 0; i < 6; i++ {
		eventually(t, 60*time.Second, fmt.Sprintf("node %d ready and seeing all six", i), func() (bool, string) {
			if st, b, _ := httpDoQuiet("http://" + c.addrs[i] + "/readyz"); st != http.StatusOK {
				return false, b
			}
			st, b, _ := httpDoQuiet("http://" + c.addrs[i] + "/view")
			return st == http.StatusOK && strings.Count(b, "127.0.0.1") == 6, b
		})
	}

	// Shards: ids, disjoint members in VIEW order, each node's own shard.
	if st, b := c.call(3, http.MethodGet, "/shard/ids", nil); st != http.StatusOK || fmt.Sprint(b["shard-ids"]) != "[1 2]" {
		t.Fatalf("GET /shard/ids: %d %v", st, b)
	}
	if got := c.members(4, 1); !slices.Equal(got, c.addrs[:3]) {
		t.Fatalf("shard 1 members %v, want %v", got, c.addrs[:3])
	}
	if got := c.members(0, 2); !slices.Equal(got, c.addrs[3:6]) {
		t.Fatalf("shard 2 members %v, want %v", got, c.addrs[3:6])
	}
	for i := 0; i < 6; i++ {
		if _, b := c.call(i, http.MethodGet, "/shard/node-shard-id", nil); b["node-shard-id"] != float64(1+i/3) {
			t.Fatalf("node %d: node-shard-id %v, want %d", i, b["node-shard-id"], 1+i/3)
		}
	}
	for _, path := range []string{"/shard/members/3", "/shard/key-count/0", "/shard/members/x"} {
		if st, b := c.call(0, http.MethodGet, path, nil); st != http.StatusNotFound || b["error"] == nil {
			t.Fatalf("GET %s: %d %v, want 404 with an error", path, st, b)
		}
	}

	// /kvs: the first request's metadata in every form the seed's clients send.
	for i, first := range []any{nil, "", map[string]any{}, 0} {
		st, b := c.call(i, http.MethodPut, fmt.Sprintf("/kvs/first%d", i), map[string]any{"value": "v", "causal-metadata": first})
		if st != http.StatusCreated || b["result"] != "created" || b["causal-metadata"] == nil {
			t.Fatalf("PUT with causal-metadata %#v: %d %v", first, st, b)
		}
	}
	if st, b := c.call(4, http.MethodPut, "/kvs/first4", map[string]any{"value": "v"}); st != http.StatusCreated {
		t.Fatalf("PUT without causal-metadata: %d %v", st, b)
	}
	if st, b := c.call(0, http.MethodPut, "/kvs/bad", map[string]any{"value": "v", "causal-metadata": []int{1}}); st != http.StatusBadRequest {
		t.Fatalf("PUT with metadata no response gave: %d %v, want 400", st, b)
	}
	if st, b := c.call(0, http.MethodPut, "/kvs/"+strings.Repeat("k", 51), map[string]any{"value": "v", "causal-metadata": nil}); st != http.StatusBadRequest || b["error"] != "Key is too long" {
		t.Fatalf("PUT of a 51-character key: %d %v", st, b)
	}
	if st, b := c.call(0, http.MethodPut, "/kvs/novalue", map[string]any{"causal-metadata": nil}); st != http.StatusBadRequest || b["error"] != "PUT request does not specify a value" {
		t.Fatalf("PUT without a value: %d %v", st, b)
	}
	st, b := c.call(0, http.MethodPut, "/kvs/x", map[string]any{"value": "1", "causal-metadata": nil})
	if st != http.StatusCreated {
		t.Fatalf("PUT x: %d %v", st, b)
	}
	meta := b["causal-metadata"]
	st, b = c.call(5, http.MethodPut, "/kvs/x", map[string]any{"value": "2", "causal-metadata": meta})
	if st != http.StatusOK || b["result"] != "replaced" {
		t.Fatalf("PUT x again: %d %v, want 200 replaced", st, b)
	}
	meta = b["causal-metadata"]
	for i := 0; i < 6; i++ { // any node answers for any key, with what the client saw
		st, b := c.call(i, http.MethodGet, "/kvs/x", map[string]any{"causal-metadata": meta})
		if st != http.StatusOK || b["result"] != "found" || b["value"] != "2" {
			t.Fatalf("GET x on node %d: %d %v", i, st, b)
		}
	}
	if st, b := c.call(2, http.MethodGet, "/kvs/never", map[string]any{"causal-metadata": meta}); st != http.StatusNotFound || b["error"] != "Key does not exist" {
		t.Fatalf("GET of a missing key: %d %v", st, b)
	}
	st, b = c.call(1, http.MethodDelete, "/kvs/x", map[string]any{"causal-metadata": meta})
	if st != http.StatusOK || b["result"] != "deleted" {
		t.Fatalf("DELETE x: %d %v", st, b)
	}
	meta = b["causal-metadata"]
	if st, b := c.call(4, http.MethodGet, "/kvs/x", map[string]any{"causal-metadata": meta}); st != http.StatusNotFound {
		t.Fatalf("GET x after its delete: %d %v", st, b)
	}
	if st, b := c.call(4, http.MethodDelete, "/kvs/x", map[string]any{"causal-metadata": meta}); st != http.StatusNotFound {
		t.Fatalf("DELETE of a deleted key: %d %v", st, b)
	}

	// Causal refusal: node 1 is cut off from every peer; a write at node
	// 0 (its shard) is something it cannot have, so a read there that
	// depends on it answers 503 rather than older data, until healed.
	fault, _ := json.Marshal(map[string]any{"kind": "isolate", "nodes": []string{"n2"}})
	for i := 0; i < 6; i++ {
		if st, body, _ := httpDo(t, http.MethodPost, "http://"+c.addrs[i]+"/v1/admin/faults", string(fault)); st != http.StatusCreated {
			t.Fatalf("isolating n2 on node %d: %d %s", i, st, body)
		}
	}
	st, b = c.call(0, http.MethodPut, "/kvs/dep", map[string]any{"value": "after", "causal-metadata": meta})
	if st != http.StatusCreated {
		t.Fatalf("PUT dep: %d %v", st, b)
	}
	depMeta := b["causal-metadata"]
	if st, b := c.call(1, http.MethodGet, "/kvs/dep", map[string]any{"causal-metadata": depMeta}); st != http.StatusServiceUnavailable || b["error"] == nil {
		t.Fatalf("GET dep at the cut-off node: %d %v, want 503 with an error", st, b)
	}
	for i := 0; i < 6; i++ {
		if st, body, _ := httpDo(t, http.MethodDelete, "http://"+c.addrs[i]+"/v1/admin/faults", ""); st != http.StatusOK {
			t.Fatalf("healing node %d: %d %s", i, st, body)
		}
	}
	eventually(t, 20*time.Second, "the healed node serves dep", func() (bool, string) {
		st, b := c.call(1, http.MethodGet, "/kvs/dep", map[string]any{"causal-metadata": depMeta})
		return st == http.StatusOK && b["value"] == "after", fmt.Sprint(st, b)
	})

	// Once its links are back (the transport's reconnect backoff is up to
	// 2s), the healed node has new writes as they are made.
	meta = depMeta
	eventually(t, 20*time.Second, "a new write reaches the healed node at once", func() (bool, string) {
		st, b := c.call(0, http.MethodPut, "/kvs/dep", map[string]any{"value": "after", "causal-metadata": meta})
		if st != http.StatusOK {
			return false, fmt.Sprint(st, b)
		}
		meta = b["causal-metadata"]
		st, b = c.call(1, http.MethodGet, "/kvs/dep", map[string]any{"causal-metadata": meta})
		return st == http.StatusOK, fmt.Sprint(st, b)
	})

	// 600 keys through every node, the client's metadata carried along.
	const keys = 600
	for k := 0; k < keys; k++ {
		st, b := c.call(k%6, http.MethodPut, fmt.Sprintf("/kvs/key%d", k), map[string]any{"value": fmt.Sprint("v", k), "causal-metadata": meta})
		if st != http.StatusCreated {
			t.Fatalf("PUT key%d: %d %v", k, st, b)
		}
		meta = b["causal-metadata"]
	}
	// What else is stored: first0..first4, dep (x was deleted).
	const others = 6
	c.checkCounts([]int{0, 1, 2, 3, 4, 5}, 2, keys+others)

	// Reshard to 3 (two nodes each); 4 would leave a shard one node.
	if st, b := c.call(2, http.MethodPut, "/shard/reshard", map[string]any{"shard-count": 4}); st != http.StatusBadRequest ||
		b["error"] != "Not enough nodes to provide fault tolerance with requested shard count" {
		t.Fatalf("reshard to 4 of 6 nodes: %d %v", st, b)
	}
	start := time.Now()
	if st, b := c.call(2, http.MethodPut, "/shard/reshard", map[string]any{"shard-count": 3}); st != http.StatusOK || b["result"] != "resharded" {
		t.Fatalf("reshard to 3: %d %v", st, b)
	}
	t.Logf("reshard 2 -> 3 with %d keys answered in %v", keys+others, time.Since(start).Round(time.Millisecond))
	var seen []string
	for s := 1; s <= 3; s++ {
		m := c.members(5, s)
		if len(m) != 2 {
			t.Fatalf("after the reshard shard %d has members %v", s, m)
		}
		seen = append(seen, m...)
	}
	slices.Sort(seen)
	if !slices.Equal(seen, c.addrs[:6]) {
		t.Fatalf("after the reshard the shards hold %v, want each node once", seen)
	}
	c.checkCounts([]int{0, 3, 5}, 3, keys+others)
	for k := 0; k < keys; k++ {
		st, b := c.call((k+1)%6, http.MethodGet, fmt.Sprintf("/kvs/key%d", k), map[string]any{"causal-metadata": meta})
		if st != http.StatusOK || b["value"] != fmt.Sprint("v", k) {
			t.Fatalf("after the reshard, GET key%d: %d %v", k, st, b)
		}
	}

	// A crash: node 5 leaves every view, and comes back with the writes
	// made while it was down.
	c.stop(5)
	for i := 0; i < 5; i++ {
		eventually(t, 15*time.Second, fmt.Sprintf("node %d drops the crashed node from its view", i), func() (bool, string) {
			v := c.view(i)
			return !slices.Contains(v, c.addrs[5]) && len(v) == 5, fmt.Sprint(v)
		})
	}
	for k := 0; k < 20; k++ {
		st, b := c.call(k%5, http.MethodPut, fmt.Sprintf("/kvs/down%d", k), map[string]any{"value": "d", "causal-metadata": meta})
		if st != http.StatusCreated {
			t.Fatalf("PUT down%d with node 5 down: %d %v", k, st, b)
		}
		meta = b["causal-metadata"]
	}
	c.start(5, 6, 2)
	for i := 0; i < 6; i++ {
		eventually(t, 30*time.Second, fmt.Sprintf("node %d sees the node back", i), func() (bool, string) {
			st, b, _ := httpDoQuiet("http://" + c.addrs[i] + "/view")
			return st == http.StatusOK && strings.Count(b, "127.0.0.1") == 6, b
		})
	}
	for k := 0; k < 20; k++ {
		key := fmt.Sprintf("/kvs/down%d", k)
		eventually(t, 10*time.Second, "the restarted node serves "+key, func() (bool, string) {
			st, b := c.call(5, http.MethodGet, key, map[string]any{"causal-metadata": meta})
			return st == http.StatusOK && b["value"] == "d", fmt.Sprint(st, b)
		})
	}

	// A seventh node, started with the whole VIEW and no SHARD_COUNT,
	// waits unassigned; add-member gives it shard 1, whose keys it then
	// holds itself.
	c.start(6, 7, 0)
	eventually(t, 60*time.Second, "the new node is in the view", func() (bool, string) {
		v := c.view(0)
		return slices.Contains(v, c.addrs[6]), fmt.Sprint(v)
	})
	eventually(t, 30*time.Second, "the new node answers unassigned", func() (bool, string) {
		st, b, _ := httpDoQuiet("http://" + c.addrs[6] + "/shard/node-shard-id")
		return st == http.StatusOK && strings.Contains(b, `"node-shard-id":null`), b
	})
	if st, b := c.call(0, http.MethodPut, "/shard/add-member/1", map[string]any{"socket-address": "127.0.0.1:1"}); st != http.StatusNotFound {
		t.Fatalf("add-member of an address not in the view: %d %v", st, b)
	}
	if st, b := c.call(0, http.MethodPut, "/shard/add-member/9", map[string]any{"socket-address": c.addrs[6]}); st != http.StatusNotFound {
		t.Fatalf("add-member to shard 9: %d %v", st, b)
	}
	if st, b := c.call(0, http.MethodPut, "/shard/add-member/1", map[string]any{"socket-address": c.addrs[6]}); st != http.StatusOK || b["result"] != "node added to shard" {
		t.Fatalf("add-member: %d %v", st, b)
	}
	eventually(t, 5*time.Second, "every node lists the added member", func() (bool, string) {
		for i := 0; i < 7; i++ {
			if m := c.members(i, 1); !slices.Contains(m, c.addrs[6]) || len(m) != 3 {
				return false, fmt.Sprintf("node %d: shard 1 members %v", i, m)
			}
		}
		return true, ""
	})
	if _, b := c.call(6, http.MethodGet, "/shard/node-shard-id", nil); b["node-shard-id"] != float64(1) {
		t.Fatalf("the added node's node-shard-id: %v", b["node-shard-id"])
	}
	want := c.keyCount(0, 1)
	eventually(t, 20*time.Second, "the added node holds shard 1's keys", func() (bool, string) {
		st, body, _ := httpDoQuiet("http://" + c.addrs[6] + "/v1/admin/dump")
		n := strings.Count(body, `"namespace":"default"`) - strings.Count(body, `"deleted":true`)
		return st == http.StatusOK && n == want, fmt.Sprintf("%d of %d", n, want)
	})

	// /view: a known address is already there; an unknown one to delete is 404.
	if st, b := c.call(2, http.MethodPut, "/view", map[string]any{"socket-address": c.addrs[6]}); st != http.StatusOK || b["result"] != "already present" {
		t.Fatalf("PUT /view of a member: %d %v", st, b)
	}
	if st, b := c.call(2, http.MethodDelete, "/view", map[string]any{"socket-address": "127.0.0.1:2"}); st != http.StatusNotFound {
		t.Fatalf("DELETE /view of a stranger: %d %v", st, b)
	}
	if st, b := c.call(2, http.MethodPut, "/view", map[string]any{}); st != http.StatusBadRequest {
		t.Fatalf("PUT /view without an address: %d %v", st, b)
	}
}

// httpDoQuiet is a GET that reports a connection failure as status 0
// instead of failing the test (for polling a node that is starting).
func httpDoQuiet(url string) (int, string, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return 0, err.Error(), err
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, sb.String(), nil
}
