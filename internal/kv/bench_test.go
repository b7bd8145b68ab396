package kv_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/kv"
)

// Benchmarks of a 3-node in-process cluster (3 replicas, 16 shards): writes
// and linearizable reads with 1 and 64 concurrent clients, each client
// sending through a fixed node, on the memory file system and on disk.
// 16-byte keys, 100-byte values. Reported as ops/s; ns/op is per operation
// across all clients.

func benchCluster(b *testing.B, disk bool) *clustertest.Cluster {
	opts := clustertest.Options{Nodes: 3, Shards: 16, TickInterval: 50 * time.Millisecond, RequestTimeout: 10 * time.Second}
	if disk {
		opts.Dir = b.TempDir()
	}
	return clustertest.New(b, opts)
}

func runClients(b *testing.B, c *clustertest.Cluster, clients int, op func(ctx context.Context, s *kv.Service, i int) error) {
	nodes := c.Running()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for cl := 0; cl < clients; cl++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := nodes[cl%len(nodes)].KV()
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				if err := op(context.Background(), s, i); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d operations failed", f)
	}
}

var value = make([]byte, 100)

func benchKey(i int) []byte { return []byte(fmt.Sprintf("key-%012d", i%100000)) }

func BenchmarkPut(b *testing.B) {
	for _, disk := range []bool{false, true} {
		for _, clients := range []int{1, 64} {
			b.Run(fmt.Sprintf("disk=%v/clients=%d", disk, clients), func(b *testing.B) {
				c := benchCluster(b, disk)
				runClients(b, c, clients, func(ctx context.Context, s *kv.Service, i int) error {
					_, err := s.Put(ctx, "", benchKey(i), value, kv.WriteOptions{})
					return err
				})
			})
		}
	}
}

func BenchmarkLinearizableGet(b *testing.B) {
	for _, disk := range []bool{false, true} {
		for _, clients := range []int{1, 64} {
			b.Run(fmt.Sprintf("disk=%v/clients=%d", disk, clients), func(b *testing.B) {
				c := benchCluster(b, disk)
				s := c.Running()[0].KV()
				for i := 0; i < 1000; i++ {
					if _, err := s.Put(context.Background(), "", benchKey(i), value, kv.WriteOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				runClients(b, c, clients, func(ctx context.Context, s *kv.Service, i int) error {
					_, err := s.Get(ctx, "", benchKey(i%1000), kv.ReadOptions{})
					return err
				})
			})
		}
	}
}
