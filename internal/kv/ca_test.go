package kv_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/kv"
)

// Mode ca: writes are two-phase commits every replica acknowledges. With
// every replica up they behave as strong writes (conditions, versions,
// not-found deletes); with one replica frozen every write fails, promptly
// and with nothing applied, while reads keep working; after the heal
// writes work again and the frozen replica has every committed write.
func TestModeCA(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 4, RequestTimeout: 3 * time.Second})
	c.WaitReady(30 * time.Second)
	c.CreateNamespace(api.Namespace{Name: "ledger", Mode: "ca", Shards: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	svc := c.Node(1).KV()
	ns, err := svc.Namespace("ledger")
	if err != nil || !ns.AllReplicas {
		t.Fatalf("namespace ledger: %+v, %v; want mode ca", ns, err)
	}
	w, err := svc.Put(ctx, "ledger", []byte("a"), []byte("1"), kv.WriteOptions{})
	if err != nil || !w.Created || w.Version == 0 {
		t.Fatalf("first put: %+v, %v", w, err)
	}
	if _, err := svc.Put(ctx, "ledger", []byte("a"), []byte("2"), kv.WriteOptions{Condition: kv.IfAbsent}); !errors.Is(err, kv.ErrExists) {
		t.Fatalf("create-only over an existing key: %v", err)
	}
	var vm *kv.VersionMismatchError
	if _, err := svc.Put(ctx, "ledger", []byte("a"), []byte("2"), kv.WriteOptions{Version: w.Version + 99}); !errors.As(err, &vm) || vm.Current != w.Version {
		t.Fatalf("a stale compare-and-set: %v", err)
	}
	w2, err := c.Node(2).KV().Put(ctx, "ledger", []byte("a"), []byte("2"), kv.WriteOptions{Version: w.Version})
	if err != nil || w2.Created || w2.Version <= w.Version {
		t.Fatalf("compare-and-set: %+v, %v", w2, err)
	}
	if _, err := svc.Delete(ctx, "ledger", []byte("absent"), kv.WriteOptions{}); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("delete of an absent key: %v", err)
	}
	if _, _, err := svc.HashSet(ctx, "ledger", []byte("h"), []kv.HashField{{Name: []byte("f"), Value: []byte("v")}}); !errors.Is(err, kv.ErrWrongMode) {
		t.Fatalf("a hash in mode ca: %v", err)
	}

	if _, err := c.Faults().Freeze(3, time.Minute); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = svc.Put(ctx, "ledger", []byte("a"), []byte("frozen"), kv.WriteOptions{})
	took := time.Since(start)
	if !errors.Is(err, kv.ErrNotAllReplicas) || !errors.Is(err, kv.ErrUnavailable) || !strings.Contains(err.Error(), "n3") || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("a write with n3 frozen: %v, want unavailable naming n3 and the rollback", err)
	}
	t.Logf("the write failed after %v: %v", took.Round(time.Millisecond), err)
	// Over HTTP, from a client that knows every node: 503
	// replicas_unavailable, not tried again on the other nodes (which
	// would answer the same, or not at all).
	cl, _ := client.New(client.Config{Endpoints: []string{c.HTTP(2).URL, c.HTTP(1).URL, c.HTTP(3).URL}, Namespace: "ledger"})
	_, err = cl.Put(ctx, "a", []byte("frozen"))
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != api.CodeNotAllReplicas || ce.OutcomeUnknown || !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("a client's write with n3 frozen: %v (%+v), want 503 %s", err, ce, api.CodeNotAllReplicas)
	}
	e, err := svc.Get(ctx, "ledger", []byte("a"), kv.ReadOptions{})
	if err != nil || string(e.Value) != "2" {
		t.Fatalf("a read with n3 frozen: %q, %v; want the last committed value 2", e.Value, err)
	}
	e, err = c.Node(2).KV().Get(ctx, "ledger", []byte("a"), kv.ReadOptions{Consistency: kv.Stale})
	if err != nil || string(e.Value) != "2" {
		t.Fatalf("a local read with n3 frozen: %q, %v", e.Value, err)
	}

	c.Faults().Unfreeze(3)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err = svc.Put(ctx, "ledger", []byte("a"), []byte("3"), kv.WriteOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes after the heal: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		e, err = c.Node(3).KV().Get(ctx, "ledger", []byte("a"), kv.ReadOptions{Consistency: kv.Stale})
		if err == nil && string(e.Value) == "3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3's replica after the heal: %q, %v; want 3", e.Value, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, n := range c.Running() {
		if l := n.KV().LocalLocks(); len(l) > 0 {
			t.Fatalf("%s still holds locks: %v", n.ID(), l)
		}
	}
}
