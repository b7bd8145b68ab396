package coordinator_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
)

// TestReshardVersionsUnderWriters reshards repeatedly while writers
// overwrite a few keys through every node, and checks that versions follow
// real time: a write acknowledged before another began has the lower
// version, and the last acknowledged write is what a read finds.
func TestReshardVersionsUnderWriters(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 16})
	type op struct {
		start, end time.Time
		key        string
		version    uint64
	}
	var mu sync.Mutex
	var ops []op
	quit := make(chan struct{})
	var wg sync.WaitGroup
	nodes := c.Running()
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-quit:
					return
				default:
				}
				key := fmt.Sprintf("k%d", (w+i)%10)
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err := nodes[(w+i)%len(nodes)].KV().Put(ctx, "", []byte(key), []byte(fmt.Sprintf("w%d-%d", w, i)), kv.WriteOptions{})
				cancel()
				if err != nil {
					continue
				}
				mu.Lock()
				ops = append(ops, op{start, time.Now(), key, res.Version})
				mu.Unlock()
			}
		}()
	}
	for _, shards := range []int{10, 6, 9, 6, 4, 7} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Node(1).UpdateNamespace(ctx, "default", api.NamespaceUpdate{Shards: shards})
		cancel()
		if err != nil {
			t.Fatalf("reshard to %d: %v", shards, err)
		}
		c.WaitMap(60*time.Second, fmt.Sprintf("%d shards, settled", shards), func(m *membership.Map) bool {
			return settled(m) && m.Namespace("default").Shards == shards
		})
	}
	close(quit)
	wg.Wait()
	byKey := map[string][]op{}
	for _, o := range ops {
		byKey[o.key] = append(byKey[o.key], o)
	}
	bad := 0
	for k, os := range byKey {
		for _, a := range os {
			for _, b := range os {
				if a.end.Before(b.start) && a.version >= b.version {
					if bad < 5 {
						t.Errorf("%s: a write acknowledged at version %d (ended %v) precedes one that got version %d (began %v)",
							k, a.version, a.end.Format("15:04:05.000000"), b.version, b.start.Format("15:04:05.000000"))
					}
					bad++
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d version inversions in %d writes", bad, len(ops))
	}
	t.Logf("%d writes, versions follow real time", len(ops))
}
