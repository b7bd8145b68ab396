package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
)

func TestCLIAgainstThreeProcesses(t *testing.T) {
	c := startCluster(t, 3)
	if out := c.mustCLI("put", "greeting", "hello"); !strings.Contains(out, "created") {
		t.Fatalf("put: %q", out)
	}
	if out := c.mustCLI("get", "greeting"); strings.TrimSpace(out) != "hello" {
		t.Fatalf("get: %q", out)
	}
	c.mustCLI("upd", "greeting", "hi")
	if _, errs, code := c.cli("upd", "nobody", "x"); code != 3 || !strings.Contains(errs, "not found") {
		t.Fatalf("upd of a missing key: exit %d, %q", code, errs)
	}
	if _, errs, code := c.cli("put", "greeting", "x", "--create-only"); code != 4 || !strings.Contains(errs, "exists") {
		t.Fatalf("create-only of an existing key: exit %d, %q", code, errs)
	}
	c.mustCLI("del", "greeting")
	if _, _, code := c.cli("get", "greeting"); code != 3 {
		t.Fatalf("get after delete: exit %d", code)
	}
	for i := 0; i < 5; i++ {
		c.mustCLI("put", fmt.Sprintf("scan/%d", i), fmt.Sprint(i))
	}
	if out := c.mustCLI("scan", "scan/"); strings.Count(out, "scan/") != 5 {
		t.Fatalf("scan: %q", out)
	}
	var st api.Cluster
	if err := json.Unmarshal([]byte(c.mustCLI("status", "--json")), &st); err != nil || st.Coordinator == "" || len(st.Nodes) != 3 {
		t.Fatalf("status --json: %v %+v", err, st)
	}
	if out := c.mustCLI("locate", "scan/1"); !strings.Contains(out, "replicas") {
		t.Fatalf("locate: %q", out)
	}
	c.mustCLI("ns", "create", "users", "--shards", "4")
	c.mustCLI("--ns", "users", "put", "u1", "ada")
	if out := c.mustCLI("--ns", "users", "get", "u1"); strings.TrimSpace(out) != "ada" {
		t.Fatalf("get in namespace: %q", out)
	}
	if out := c.mustCLI("ns", "list"); !strings.Contains(out, "users") {
		t.Fatalf("ns list: %q", out)
	}
	if out := c.mustCLI("dump", "--node", "n2"); !strings.Contains(out, "u1") {
		t.Fatalf("dump of n2 lacks u1: %q", out)
	}
	script := "SET s 1\nSET s 2\nUPD s 3\nGET s\nDEL s\nGET s\n"
	cmd := c.shell(script)
	for _, want := range []string{"OK (version", "ERR exists", "3", "(not found)"} {
		if !strings.Contains(cmd, want) {
			t.Fatalf("shell output lacks %q:\n%s", want, cmd)
		}
	}
}

func (c *cluster) shell(script string) string {
	c.t.Helper()
	out, errs, code := c.cliStdin(script, "shell")
	if code != 0 {
		c.t.Fatalf("shell: exit %d: %s", code, errs)
	}
	return out
}

// TestKillLeaderNoAcknowledgedWriteLost kills -9 the leader of a key's
// shard while clients write through the other nodes, restarts it, and
// checks that it caught up and that every acknowledged write is readable.
func TestKillLeaderNoAcknowledgedWriteLost(t *testing.T) {
	c := startCluster(t, 3)
	cl := c.client()
	ctx := context.Background()
	if _, err := cl.Put(ctx, "probe", []byte("x")); err != nil {
		t.Fatal(err)
	}
	loc, err := cl.Locate(ctx, "probe")
	if err != nil || loc.Leader == "" {
		t.Fatalf("locate: %+v %v", loc, err)
	}
	victim := int(loc.Leader[1] - '0')
	others := c.client(victim)

	var mu sync.Mutex
	acked := map[string]string{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("w%d/%d", w, i)
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := others.Put(wctx, k, []byte(k))
				cancel()
				if err == nil {
					mu.Lock()
					acked[k] = k
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	c.mustCLI("node", "kill", loc.Leader, "--data-dir", c.dir)
	start := time.Now()
	for {
		_, err := others.Put(ctx, "probe", []byte("after-kill"))
		if err == nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no write to the killed leader's shard succeeded in 10s: %v", err)
		}
	}
	t.Logf("first write to the shard after killing its leader %s: %v", loc.Leader, time.Since(start))
	time.Sleep(500 * time.Millisecond)
	c.mustCLI("node", "start", loc.Leader, "--data-dir", c.dir)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	restarted, err := client.New(client.Config{Endpoints: []string{c.addr(victim)}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		e, err := restarted.Get(ctx, "probe", client.Stale())
		if err == nil && string(e.Value) == "after-kill" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted %s did not catch up: %v %v", loc.Leader, e, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	lost := 0
	for k, v := range acked {
		e, err := cl.Get(ctx, k)
		if err != nil || string(e.Value) != v {
			lost++
			t.Errorf("acknowledged write %s lost: %v %v", k, e, err)
		}
	}
	t.Logf("%d acknowledged writes, %d lost", len(acked), lost)
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged")
	}
}
