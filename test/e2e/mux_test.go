package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/client"
)

// TestMultiplexedClient drives a real 3-node cluster through the client's
// multiplexed connections: concurrent conditional writes and reads get
// their own answers and errors, a plain-HTTP client reads the same data,
// and the nodes still stop by SIGTERM, not SIGKILL, while the connections
// are open and busy.
func TestMultiplexedClient(t *testing.T) {
	c := startCluster(t, 3)
	mc, err := client.New(client.Config{Endpoints: strings.Split(c.endpoints(), ","), Timeout: 5 * time.Second,
		Multiplex: true, RouteWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for g := range 50 {
		wg.Go(func() {
			for i := range 20 {
				key := fmt.Sprintf("mux/%d/%d", g, i)
				wr, err := mc.Put(ctx, key, []byte(key), client.CreateOnly())
				if err != nil || !wr.Created {
					errs <- fmt.Errorf("create %s: %+v, %v", key, wr, err)
					return
				}
				if _, err := mc.Put(ctx, key, []byte("x"), client.CreateOnly()); !errors.Is(err, client.ErrExists) {
					errs <- fmt.Errorf("second create of %s: %v, want ErrExists", key, err)
					return
				}
				if _, err := mc.Put(ctx, key, []byte("x"), client.IfVersion(wr.Version+1)); !errors.Is(err, client.ErrVersionMismatch) {
					errs <- fmt.Errorf("put %s at a wrong version: %v, want ErrVersionMismatch", key, err)
					return
				}
				e, err := mc.Get(ctx, key)
				if err != nil || string(e.Value) != key || e.Version != wr.Version {
					errs <- fmt.Errorf("get %s: %+v, %v (wrote version %d)", key, e, err, wr.Version)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	hc := c.client()
	for _, key := range []string{"mux/0/0", "mux/49/19", "mux/17/5"} {
		if e, err := hc.Get(ctx, key); err != nil || string(e.Value) != key {
			t.Errorf("plain HTTP get %s: %+v, %v", key, e, err)
		}
	}

	// Stop the cluster while readers keep the multiplexed connections busy.
	stopReaders := make(chan struct{})
	var readers sync.WaitGroup
	for range 8 {
		readers.Go(func() {
			for {
				select {
				case <-stopReaders:
					return
				default:
				}
				rctx, cancel := context.WithTimeout(ctx, time.Second)
				_, _ = mc.Get(rctx, "mux/1/1")
				cancel()
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	c.stop()
	took := time.Since(start)
	close(stopReaders)
	readers.Wait()
	if strings.Contains(c.log.String(), "killing") {
		t.Errorf("nodes had to be SIGKILLed with multiplexed connections open (stopped in %v):\n%s", took, tail(c.log.String(), 20))
	}
	t.Logf("cluster stopped in %v with busy multiplexed connections", took)
}
