package kv_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/kv"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestAnyNodeServesAnyKey(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 4})
	nodes := c.Running()
	for i := 0; i < 20; i++ {
		key := []byte(fmt.Sprintf("key-%d", i))
		w := nodes[i%3].KV()
		res, err := w.Put(ctx(t), "", key, []byte(fmt.Sprint(i)), kv.WriteOptions{})
		if err != nil {
			t.Fatalf("put %s via n%d: %v", key, i%3+1, err)
		}
		if !res.Created || res.Version == 0 {
			t.Fatalf("put %s: %+v, want created with a version", key, res)
		}
		for _, n := range nodes {
			e, err := n.KV().Get(ctx(t), "", key, kv.ReadOptions{})
			if err != nil {
				t.Fatalf("get %s via %s: %v", key, n.ID(), err)
			}
			if string(e.Value) != fmt.Sprint(i) || e.Version != res.Version {
				t.Fatalf("get %s via %s = %q v%d, want %q v%d", key, n.ID(), e.Value, e.Version, fmt.Sprint(i), res.Version)
			}
		}
	}
}

func TestConditionalWrites(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 2})
	s := c.Running()[1].KV()
	k := []byte("cond")
	if _, err := s.Put(ctx(t), "", k, []byte("x"), kv.WriteOptions{Condition: kv.IfPresent}); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("update-only of a missing key: %v, want ErrNotFound", err)
	}
	r1, err := s.Put(ctx(t), "", k, []byte("a"), kv.WriteOptions{Condition: kv.IfAbsent})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx(t), "", k, []byte("b"), kv.WriteOptions{Condition: kv.IfAbsent}); !errors.Is(err, kv.ErrExists) {
		t.Fatalf("create-only of an existing key: %v, want ErrExists", err)
	}
	_, err = s.Put(ctx(t), "", k, []byte("c"), kv.WriteOptions{Version: r1.Version + 1})
	var vm *kv.VersionMismatchError
	if !errors.As(err, &vm) || vm.Current != r1.Version {
		t.Fatalf("CAS with a wrong version: %v, want mismatch reporting %d", err, r1.Version)
	}
	r2, err := s.Put(ctx(t), "", k, []byte("d"), kv.WriteOptions{Version: r1.Version})
	if err != nil || r2.Version <= r1.Version || r2.Created {
		t.Fatalf("CAS with the right version: %+v %v", r2, err)
	}
	if _, err := s.Delete(ctx(t), "", k, kv.WriteOptions{Version: r1.Version}); !errors.Is(err, kv.ErrVersionMismatch) {
		t.Fatalf("compare-and-delete with a stale version: %v", err)
	}
	if _, err := s.Delete(ctx(t), "", k, kv.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx(t), "", k, kv.ReadOptions{}); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := s.Delete(ctx(t), "", k, kv.WriteOptions{}); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("delete of a missing key: %v", err)
	}
}
