package keyspace

import (
	"fmt"
	"testing"
)

func BenchmarkPlace(b *testing.B) {
	for _, c := range []struct{ nodes, shards int }{{5, 16}, {12, 256}, {100, 1024}} {
		b.Run(fmt.Sprintf("nodes=%d/shards=%d", c.nodes, c.shards), func(b *testing.B) {
			r := ringOf(c.nodes)
			ns := Namespace{ID: 1, Shards: c.shards, Replicas: Replication{N: 3}}
			for b.Loop() {
				Place(r, ns)
			}
		})
	}
}
