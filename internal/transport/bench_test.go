package transport

import (
	"context"
	"sync/atomic"
	"testing"
)

// BenchmarkTCPSend measures one-way throughput of 64-byte messages between
// two transports. The sender keeps at most window messages in flight so the
// bounded queue never drops.
func BenchmarkTCPSend(b *testing.B) {
	const window = 2048
	var received atomic.Int64
	progress := make(chan struct{}, 1)
	cl := newCluster(b, 2, func(c *Config) {
		c.Handlers.Message = func(Message) {
			received.Add(1)
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	})
	payload := make([]byte, 64)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for i := range b.N {
		for int64(i)-received.Load() > window {
			<-progress
		}
		cl.ts[1].Send(Message{Type: 1, To: 2, Payload: payload})
	}
	for received.Load() < int64(b.N) {
		<-progress
	}
	b.StopTimer()
	st := cl.ts[1].Stats()
	if st.DroppedQueueFull+st.DroppedNoConn > 0 {
		b.Fatalf("drops: %+v", st)
	}
	b.ReportMetric(float64(st.MessagesSent)/float64(st.FramesWritten), "msgs/frame")
}

// BenchmarkTCPCall measures round trips of small calls, from one caller
// (latency) and from many (throughput, where frames coalesce).
func BenchmarkTCPCall(b *testing.B) {
	b.Run("serial", func(b *testing.B) { benchCall(b, 0) })
	b.Run("parallel", func(b *testing.B) { benchCall(b, 16) })
}

func benchCall(b *testing.B, parallelism int) {
	cl := newCluster(b, 2, func(c *Config) {
		c.Handlers.Call = func(_ context.Context, _ uint64, req []byte) ([]byte, error) { return req, nil }
	})
	req := make([]byte, 64)
	ctx := context.Background()
	b.ResetTimer()
	if parallelism == 0 {
		for range b.N {
			if _, err := cl.ts[1].Call(ctx, 2, req); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(parallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cl.ts[1].Call(ctx, 2, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
