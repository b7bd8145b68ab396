package kv_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/replication/dynamo/dvv"
)

func causalNS(name string) api.Namespace {
	return api.Namespace{Name: name, Mode: "causal", Replicas: "3", Shards: 4, Conflicts: "siblings"}
}

// TestCausalDependenciesWithheld cuts n1's messages to n3, writes at n1,
// and reads at n3 with the writer's token: n3 has not seen the write, so
// it waits and refuses (503 causal_dependencies) rather than serve older
// state; once the link heals, the same read succeeds.
func TestCausalDependenciesWithheld(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 1})
	c.CreateNamespace(causalNS("cs"))
	rule, err := c.Faults().Cut(1, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Node(1).KV().Put(ctx(t), "cs", []byte("k"), []byte("v1"), kv.WriteOptions{})
	if err != nil || w.Token == "" {
		t.Fatalf("write at n1: %+v %v", w, err)
	}
	start := time.Now()
	_, err = c.Node(3).KV().Get(ctx(t), "cs", []byte("k"), kv.ReadOptions{Token: w.Token})
	if !errors.Is(err, kv.ErrCausalDeps) {
		t.Fatalf("read at n3 without the dependency: %v, want ErrCausalDeps", err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Fatalf("refused after %v, before the 1s wait bound", waited)
	}
	c.Faults().Remove(rule)
	waitFor(t, 10*time.Second, func() bool {
		e, err := c.Node(3).KV().Get(ctx(t), "cs", []byte("k"), kv.ReadOptions{Token: w.Token})
		return err == nil && string(e.Value) == "v1"
	})
}

// TestCausalDependencyFetchedOnDemand loses n1's broadcast of a write to
// n3 (the link is cut while it is sent), heals the link, and reads at n3
// with the writer's token at once: n3 asks n1 for what it lacks instead
// of waiting for n1's resend timer (1s, the same as the read's wait
// bound), so the read is served.
func TestCausalDependencyFetchedOnDemand(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 1})
	c.CreateNamespace(causalNS("cs"))
	rule, err := c.Faults().Cut(1, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Node(1).KV().Put(ctx(t), "cs", []byte("k"), []byte("v1"), kv.WriteOptions{})
	if err != nil || w.Token == "" {
		t.Fatalf("write at n1: %+v %v", w, err)
	}
	c.Faults().Remove(rule)
	e, err := c.Node(3).KV().Get(ctx(t), "cs", []byte("k"), kv.ReadOptions{Token: w.Token})
	if err != nil || string(e.Value) != "v1" {
		t.Fatalf("read at n3 right after the heal: %q %v, want v1", e.Value, err)
	}
}

// session is one causal client: it carries its token and checks its own
// guarantees (read your writes, monotonic reads) per key.
type session struct {
	token string
	seen  map[string]dvv.VV // per key: the newest context observed
	trail []string
}

func (s *session) observe(t *testing.T, key, context string) error {
	v, err := dvv.DecodeToken(context)
	if err != nil {
		return err
	}
	tok, _ := dvv.DecodeToken(s.token)
	s.trail = append(s.trail, fmt.Sprintf("%s ctx %s token %s", key, v, tok))
	if prev, ok := s.seen[key]; ok && !v.Descends(prev) {
		return fmt.Errorf("key %s went backwards: saw %s, now %s; trail:\n%s", key, prev, v, strings.Join(s.trail[max(0, len(s.trail)-6):], "\n"))
	}
	s.seen[key] = v.Merge(s.seen[key])
	return nil
}

// TestCausalSessionsUnderPartitions runs sessions that read and write
// through random nodes while partitions come and go, and checks that no
// session ever reads a key older than what it wrote or read before.
func TestCausalSessionsUnderPartitions(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 2, Seed: seed})
			c.CreateNamespace(causalNS("cs"))
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the nemesis: partitions and heals
				defer wg.Done()
				rng := rand.New(rand.NewSource(seed))
				for {
					select {
					case <-stop:
						c.Faults().Heal()
						return
					case <-time.After(time.Duration(100+rng.Intn(300)) * time.Millisecond):
					}
					if rng.Intn(2) == 0 {
						a := uint64(1 + rng.Intn(3))
						var b []uint64
						for i := uint64(1); i <= 3; i++ {
							if i != a {
								b = append(b, i)
							}
						}
						_, _ = c.Faults().Partition([][]uint64{{a}, b}, 0)
					} else {
						c.Faults().Heal()
					}
				}
			}()
			var mu sync.Mutex
			var violations []string
			stats := map[string]int{}
			for cl := 0; cl < 4; cl++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewSource(seed*100 + int64(cl)))
					s := &session{seen: map[string]dvv.VV{}}
					deadline := time.Now().Add(3 * time.Second)
					for i := 0; time.Now().Before(deadline); i++ {
						n := c.Running()[rng.Intn(3)]
						s.trail = append(s.trail, fmt.Sprintf("-- op via %s", n.ID()))
						key := fmt.Sprintf("k%d", rng.Intn(4))
						opCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
						var outcome string
						var err error
						if rng.Intn(2) == 0 {
							var w kv.WriteResult
							w, err = n.KV().Put(opCtx, "cs", []byte(key), []byte(fmt.Sprintf("c%d-%d", cl, i)), kv.WriteOptions{Token: s.token})
							if err == nil {
								s.token, outcome = w.Token, "write"
								err = s.observe(t, key, w.Context)
							}
						} else {
							var e kv.Entry
							e, err = n.KV().Get(opCtx, "cs", []byte(key), kv.ReadOptions{Token: s.token})
							var nf *kv.NotFoundError
							switch {
							case err == nil:
								s.token, outcome = e.Token, "read"
								err = s.observe(t, key, e.Context)
							case errors.As(err, &nf):
								s.token, outcome = nf.Entry.Token, "read-missing"
								err = nil
								if _, wrote := s.seen[key]; wrote {
									err = fmt.Errorf("key %s not found after the session saw it", key)
								}
							}
						}
						cancel()
						mu.Lock()
						switch {
						case err == nil:
							stats[outcome]++
						case errors.Is(err, kv.ErrCausalDeps) || errors.Is(err, kv.ErrUnavailable) || errors.Is(err, kv.ErrUnknownOutcome) || errors.Is(err, kv.ErrTimeout):
							stats["refused"]++
						default:
							violations = append(violations, fmt.Sprintf("client %d via %s: %v", cl, n.ID(), err))
						}
						mu.Unlock()
					}
				}()
			}
			time.Sleep(3 * time.Second)
			close(stop)
			wg.Wait()
			t.Logf("seed %d: %v", seed, stats)
			if len(violations) > 0 {
				t.Fatalf("seed %d: %d session violations, e.g. %s", seed, len(violations), violations[0])
			}
			if stats["write"] == 0 || stats["read"] == 0 {
				t.Fatalf("seed %d: the workload made no progress: %v", seed, stats)
			}
		})
	}
}
