package kv_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/kv"
)

// ackedWrites collects the writes the cluster acknowledged.
type ackedWrites struct {
	mu sync.Mutex
	m  map[string]string
}

func newAckedWrites() *ackedWrites { return &ackedWrites{m: map[string]string{}} }

func (a *ackedWrites) add(k string) {
	a.mu.Lock()
	a.m[k] = k
	a.mu.Unlock()
}

// writeUniqueKeys starts clients writers of unique keys (prefix/clN/i,
// the value the key) to namespace ns, each cycling through the running
// nodes, until stop closes; every acknowledged write goes into acked.
// The WaitGroup it returns is done when they have all stopped.
func writeUniqueKeys(c *clustertest.Cluster, ns, prefix string, clients int, timeout time.Duration, stop <-chan struct{}, acked *ackedWrites) *sync.WaitGroup {
	var wg sync.WaitGroup
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				running := c.Running()
				if len(running) == 0 {
					return
				}
				n := running[(cl+i)%len(running)]
				key := fmt.Sprintf("%s/cl%d/%d", prefix, cl, i)
				wctx, cancel := context.WithTimeout(context.Background(), timeout)
				_, err := n.KV().Put(wctx, ns, []byte(key), []byte(key), kv.WriteOptions{})
				cancel()
				if err == nil {
					acked.add(key)
				}
			}
		}()
	}
	return &wg
}
