package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/client"
)

// TestFaultCLIEffects checks each fault's documented effect on a real
// 3-process cluster: a frozen node's shards lose leadership; a
// partition's minority cannot write while the majority can; heal restores.
func TestFaultCLIEffects(t *testing.T) {
	c := startCluster(t, 3)
	ctx := context.Background()
	c.mustCLI("fault", "freeze", "n2")
	waitFor(t, 10*time.Second, "n2 to lead nothing", func() bool {
		st, err := c.clientOf(1).Cluster(ctx)
		if err != nil {
			return false
		}
		for _, s := range st.Shards {
			if s.Leader == "n2" || s.Leader == "" {
				return false
			}
		}
		return st.Coordinator != "n2" && len(st.Faults) > 0
	})
	if out := c.mustCLI("status"); !strings.Contains(out, "freeze") {
		t.Errorf("status does not show the freeze:\n%s", out)
	}
	if _, err := c.clientOf(1, 3).Put(ctx, "during-freeze", []byte("x")); err != nil {
		t.Fatalf("write while n2 is frozen: %v", err)
	}
	c.mustCLI("fault", "heal")

	c.mustCLI("fault", "partition", "n1", "n2,n3")
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := c.clientOf(1).Put(short, "minority-write", []byte("x"))
	cancel()
	if err == nil {
		t.Fatal("the minority side (n1) accepted a write")
	}
	if _, err := c.clientOf(2, 3).Put(ctx, "majority-write", []byte("x")); err != nil {
		t.Fatalf("the majority side could not write: %v", err)
	}
	c.mustCLI("fault", "heal")
	waitFor(t, 10*time.Second, "n1 to serve again", func() bool {
		e, err := c.clientOf(1).Get(ctx, "majority-write")
		return err == nil && string(e.Value) == "x"
	})
	if out := c.mustCLI("fault", "list"); !strings.Contains(out, "no active faults") {
		t.Fatalf("faults left after heal:\n%s", out)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clientOf is a client of only the given nodes (1-based).
func (c *cluster) clientOf(nodes ...int) *client.Client {
	var eps []string
	for _, i := range nodes {
		eps = append(eps, c.addr(i))
	}
	cl, err := client.New(client.Config{Endpoints: eps, Timeout: 3 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// TestVerify runs distkv verify with every fault kind on a 3-node and a
// 5-node local cluster, two seeds each, and expects clean verdicts.
func TestVerify(t *testing.T) {
	for _, nodes := range []int{3, 5} {
		for _, seed := range []int{1, 2} {
			t.Run(fmt.Sprintf("nodes=%d/seed=%d", nodes, seed), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, "verify", "--nodes", fmt.Sprint(nodes), "--seed", fmt.Sprint(seed),
					"--duration", "15s", "--faults", "all", "--out", t.TempDir())
				out, err := cmd.CombinedOutput()
				if err != nil || !strings.Contains(string(out), "verdict: CLEAN") {
					t.Fatalf("distkv verify (nodes %d, seed %d): %v\n%s", nodes, seed, err, out)
				}
				t.Logf("%s", tail(string(out), 16))
			})
		}
	}
}

// TestVerifyLeaderless runs distkv verify on eventual and causal
// namespaces: convergence, no lost acknowledged write (siblings counted),
// and, for causal, the session checks.
func TestVerifyLeaderless(t *testing.T) {
	for _, mode := range []string{"eventual", "causal"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "verify", "--mode", mode, "--seed", "1", "--duration", "15s", "--out", t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "verdict: CLEAN") {
				t.Fatalf("distkv verify --mode %s: %v\n%s", mode, err, out)
			}
			t.Logf("%s", tail(string(out), 12))
		})
	}
}

// TestVerifyBank runs distkv verify's bank workload: transfers in
// cross-shard transactions under every fault, audited in transactions; no
// audit may see a wrong total.
func TestVerifyBank(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "verify", "--workload", "bank", "--seed", "1", "--duration", "15s", "--out", t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verdict: CLEAN") || !strings.Contains(string(out), " 0 anomalies; final total 1000 (want 1000)") {
		t.Fatalf("distkv verify --workload bank: %v\n%s", err, out)
	}
	t.Logf("%s", tail(string(out), 8))
}

// TestVerifyAppend runs distkv verify's append workload: list-append
// interactive transactions under every fault, the history checked by
// package elle for strict serializability (any dependency cycle fails).
func TestVerifyAppend(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "verify", "--workload", "append", "--seed", "1", "--duration", "15s", "--out", t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verdict: CLEAN") || !strings.Contains(string(out), "included): 0 anomalies") {
		t.Fatalf("distkv verify --workload append: %v\n%s", err, out)
	}
	t.Logf("%s", tail(string(out), 8))
}

var killCycles = flag.Int("kill.cycles", 20, "cycles of TestKill9Durability")

// TestKill9Durability writes with many clients while, at a random moment of
// each cycle, some or all nodes are killed with SIGKILL; after they restart
// every acknowledged write must still be readable.
func TestKill9Durability(t *testing.T) {
	c := startCluster(t, 3)
	rng := rand.New(rand.NewSource(1))
	ctx := context.Background()
	var mu sync.Mutex
	acked := map[string]string{}
	for cycle := 0; cycle < *killCycles; cycle++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := c.clientOf(1+w%3, 1+(w+1)%3, 1+(w+2)%3)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					k := fmt.Sprintf("c%d/w%d/%d", cycle, w, i)
					wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
					_, err := cl.Put(wctx, k, []byte(k))
					cancel()
					if err == nil {
						mu.Lock()
						acked[k] = k
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(50+rng.Intn(250)) * time.Millisecond)
		victims := []string{"n1", "n2", "n3"}
		if rng.Intn(2) == 0 {
			victims = []string{victims[rng.Intn(3)]}
		}
		for _, v := range victims {
			c.mustCLI("node", "kill", v, "--data-dir", c.dir)
		}
		close(stop)
		wg.Wait()
		for _, v := range victims {
			c.mustCLI("node", "start", v, "--data-dir", c.dir)
		}
	}
	cl := c.client()
	lost := 0
	for k, v := range acked {
		var e *client.Entry
		var err error
		for try := 0; try < 10; try++ {
			e, err = cl.Get(ctx, k)
			if err == nil || errors.Is(err, client.ErrNotFound) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil || string(e.Value) != v {
			lost++
			if lost < 10 {
				t.Errorf("acknowledged write %s lost: %v", k, err)
			}
		}
	}
	t.Logf("%d kill -9 cycles, %d acknowledged writes, %d lost", *killCycles, len(acked), lost)
	if lost > 0 || len(acked) == 0 {
		t.Fatalf("%d of %d acknowledged writes lost", lost, len(acked))
	}
}
