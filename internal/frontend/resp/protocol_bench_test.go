package resp

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/distkv/distkv/internal/kv"
	"github.com/redis/go-redis/v9"
)

// BenchmarkProtocols measures a command's cost over RESP2 and over RESP3
// with the server and a go-redis client in this process and the fake kv
// under it: the figures are the protocol layer's (reading, dispatch,
// encoding, go-redis's decoding, loopback TCP), not a cluster's. Compare
// the RESP2 and RESP3 lines of one command:
//
//	go test ./internal/frontend/resp -run '^$' -bench Protocols -count 5
//
// (distkv bench compare --cells redis-mem measures the same over a real
// cluster, beside Redis.) Benchmarks report; they assert nothing.
func BenchmarkProtocols(b *testing.B) {
	const keys, fields = 1000, 10
	value := []byte("0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789")
	key := func(i int) string { return "k" + strconv.Itoa(i%keys) }
	mkeys := make([]string, 10)
	for i := range mkeys {
		mkeys[i] = key(i * 7)
	}
	for _, bc := range []struct {
		name string
		op   func(ctx context.Context, rc *redis.Client, i int) error
	}{
		{"GET", func(ctx context.Context, rc *redis.Client, i int) error { return rc.Get(ctx, key(i)).Err() }},
		{"SET", func(ctx context.Context, rc *redis.Client, i int) error { return rc.Set(ctx, key(i), value, 0).Err() }},
		{"MGET10", func(ctx context.Context, rc *redis.Client, _ int) error { return rc.MGet(ctx, mkeys...).Err() }},
		{"HGETALL10", func(ctx context.Context, rc *redis.Client, i int) error {
			return rc.HGetAll(ctx, "h"+strconv.Itoa(i%keys)).Err()
		}},
	} {
		for _, proto := range []int{2, 3} {
			b.Run(fmt.Sprintf("%s/RESP%d", bc.name, proto), func(b *testing.B) {
				ctx := context.Background()
				f := newFakeKV()
				for i := range keys {
					if _, err := f.Put(ctx, "", []byte(key(i)), value, kv.WriteOptions{}); err != nil {
						b.Fatal(err)
					}
					for j := range fields {
						if _, err := f.HashPut(ctx, "", []byte("h"+strconv.Itoa(i)), []byte("f"+strconv.Itoa(j)), value, kv.WriteOptions{}); err != nil {
							b.Fatal(err)
						}
					}
				}
				s, err := New(Config{KV: f, Node: &fakeNode{kv: f}, Addr: "127.0.0.1:0"})
				if err != nil {
					b.Fatal(err)
				}
				go s.Serve()
				b.Cleanup(func() { s.Close() })
				rc := redis.NewClient(&redis.Options{Addr: s.Addr().String(), Protocol: proto, MaxRetries: -1, DisableIdentity: true})
				b.Cleanup(func() { rc.Close() })
				if err := bc.op(ctx, rc, 0); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for i := 0; pb.Next(); i++ {
						if err := bc.op(ctx, rc, i); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
