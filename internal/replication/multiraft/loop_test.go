package multiraft

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/storage"
	"github.com/distkv/distkv/internal/transport"
)

// counterSM stores each command under its own key and counts applies.
type counterSM struct {
	group   uint64
	applied atomic.Int64
}

func (s *counterSM) Apply(b *storage.Batch, index uint64, cmd []byte) any {
	if err := b.Set(storage.DataKey(s.group, fmt.Appendf(nil, "i%020d", index)), cmd); err != nil {
		return err
	}
	s.applied.Add(1)
	return index
}
func (s *counterSM) Committed()      {}
func (s *counterSM) Restored(uint64) {}

// loopCluster is three hosts running their real loops and syncers over the
// in-memory network.
type loopCluster struct {
	hosts   []*Host
	engines []*storage.Engine
	sms     map[[2]uint64]*counterSM // (node, group)
}

func newLoopCluster(t *testing.T, groups []uint64, maxQueue int) *loopCluster {
	t.Helper()
	net := transport.NewNetwork(nil)
	c := &loopCluster{sms: map[[2]uint64]*counterSM{}}
	voters := []uint64{1, 2, 3}
	for _, id := range voters {
		eng, err := storage.Open(storage.Config{FS: storage.NewCrashableMemFS(), Dir: "d"})
		if err != nil {
			t.Fatal(err)
		}
		var h *Host
		tr := net.Join(id, transport.Handlers{
			Message: func(m transport.Message) { h.HandleMessage(m) },
			Snapshot: func(ctx context.Context, from uint64, hdr []byte, body io.Reader) error {
				return h.HandleSnapshot(ctx, from, hdr, body)
			},
		})
		h, err = New(Config{NodeID: id, Engine: eng, Transport: tr, TickInterval: 10 * time.Millisecond, MaxQueue: maxQueue})
		if err != nil {
			t.Fatal(err)
		}
		c.hosts = append(c.hosts, h)
		c.engines = append(c.engines, eng)
	}
	t.Cleanup(func() {
		for i, h := range c.hosts {
			h.Close()
			c.engines[i].Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, h := range c.hosts {
		for _, g := range groups {
			sm := &counterSM{group: g}
			c.sms[[2]uint64{uint64(i + 1), g}] = sm
			err := h.CreateGroup(ctx, GroupConfig{ID: g, Voters: voters, Campaign: i == 0,
				NewStateMachine: func() StateMachine { return sm }})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

// propose sends cmd to whichever host leads the group, retrying until ctx
// ends.
func (c *loopCluster) propose(ctx context.Context, g uint64, cmd []byte) error {
	for {
		var lastErr error
		for _, h := range c.hosts {
			_, err := h.Propose(ctx, g, cmd)
			if err == nil {
				return nil
			}
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), lastErr)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestLoopPipelinedSyncStaysLive runs the real loops and syncers under a
// small event queue with many concurrent proposers, so queue-full drops
// happen; afterwards every group must still take writes and every replica
// must apply them. (A lost sync completion or an unreleased staged Ready
// would stall a group forever.)
func TestLoopPipelinedSyncStaysLive(t *testing.T) {
	groups := []uint64{1, 2, 3, 4}
	c := newLoopCluster(t, groups, 8)

	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(1500 * time.Millisecond)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := groups[w%len(groups)]
			for i := 0; time.Now().Before(stop); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, err := c.hosts[w%3].Propose(ctx, g, fmt.Appendf(nil, "w%d-%d", w, i))
				cancel()
				if err == nil {
					ok.Add(1)
				} else {
					failed.Add(1)
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("load phase: %d proposals succeeded, %d failed (not leader, queue full or timeout)", ok.Load(), failed.Load())
	if ok.Load() == 0 {
		t.Fatal("no proposal succeeded under load")
	}

	for _, g := range groups {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.propose(ctx, g, []byte("after"))
		cancel()
		if err != nil {
			t.Fatalf("group %d takes no writes after the load: %v", g, err)
		}
	}
	// Every replica applies everything its leader applied.
	deadline := time.Now().Add(5 * time.Second)
	for _, g := range groups {
		for {
			a1 := c.sms[[2]uint64{1, g}].applied.Load()
			a2 := c.sms[[2]uint64{2, g}].applied.Load()
			a3 := c.sms[[2]uint64{3, g}].applied.Load()
			if a1 == a2 && a2 == a3 && a1 > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("group %d replicas did not converge: applied %d/%d/%d", g, a1, a2, a3)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestLoopFollowerReadBarrier checks that a follower serves a read barrier
// (ReadIndex through the leader) and that afterwards its state holds every
// write acknowledged before the barrier began.
func TestLoopFollowerReadBarrier(t *testing.T) {
	c := newLoopCluster(t, []uint64{9}, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 20 {
		if err := c.propose(ctx, 9, fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Find a follower.
	var follower *Host
	var fi int
	for i, h := range c.hosts {
		if l, _ := h.Leader(9); l != 0 && l != uint64(i+1) {
			follower, fi = h, i
			break
		}
	}
	if follower == nil {
		t.Fatal("no follower with a known leader")
	}
	leaderApplied := int64(0)
	for i := range c.hosts {
		leaderApplied = max(leaderApplied, c.sms[[2]uint64{uint64(i + 1), 9}].applied.Load())
	}
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = follower.ReadBarrier(ctx, 9); err == nil {
			break
		}
		var nl *NotLeaderError
		if !errors.As(err, &nl) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("follower read barrier: %v", err)
	}
	if got := c.sms[[2]uint64{uint64(fi + 1), 9}].applied.Load(); got < leaderApplied {
		t.Fatalf("after a read barrier the follower has applied %d entries, the leader %d before it began", got, leaderApplied)
	}
}
