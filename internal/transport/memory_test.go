package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"
)

// memCluster joins nodes 1..n, each collecting messages in its inbox and
// echoing calls as "from:req".
type memCluster struct {
	net   *Network
	eps   map[uint64]Transport
	boxes map[uint64]*inbox
}

func newMemCluster(t *testing.T, n int, f *Faults) *memCluster {
	mc := &memCluster{net: NewNetwork(f), eps: map[uint64]Transport{}, boxes: map[uint64]*inbox{}}
	for id := uint64(1); id <= uint64(n); id++ {
		mc.join(t, id)
	}
	return mc
}

func (mc *memCluster) join(t *testing.T, id uint64) Transport {
	box := &inbox{}
	ep := mc.net.Join(id, Handlers{
		Message: box.handler,
		Call: func(ctx context.Context, from uint64, req []byte) ([]byte, error) {
			if string(req) == "fail" {
				return nil, errors.New("nope")
			}
			if string(req) == "wait" {
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return fmt.Appendf(nil, "%d:%s", from, req), nil
		},
		Snapshot: func(ctx context.Context, from uint64, header []byte, body io.Reader) error {
			b, err := io.ReadAll(body)
			if err == nil && !bytes.Equal(b, header) {
				err = fmt.Errorf("body %d bytes does not match header", len(b))
			}
			return err
		},
	})
	t.Cleanup(func() { ep.Close() })
	mc.eps[id], mc.boxes[id] = ep, box
	return ep
}

func (mc *memCluster) send(from, to uint64, n int) {
	for i := range n {
		mc.eps[from].Send(Message{Type: 1, To: to, Payload: seqPayload(i)})
	}
}

func TestMemoryMessagesRPCSnapshot(t *testing.T) {
	checkNoLeaks(t)
	mc := newMemCluster(t, 3, nil)
	mc.send(1, 2, 500)
	mc.send(3, 2, 500)
	waitFor(t, "messages", func() bool { return mc.boxes[2].len() == 1000 })
	by := map[uint64][]int{}
	for _, m := range mc.boxes[2].all() {
		var s int
		fmt.Sscan(string(m.Payload), &s)
		by[m.From] = append(by[m.From], s)
	}
	if !slices.IsSorted(by[1]) || !slices.IsSorted(by[3]) || len(by[1]) != 500 {
		t.Fatal("per-link order broken")
	}

	// Payloads are copied: reusing the buffer after Send changes nothing.
	buf := []byte("original")
	mc.eps[1].Send(Message{Type: 1, To: 3, Payload: buf})
	copy(buf, "XXXXXXXX")
	waitFor(t, "copied message", func() bool { return mc.boxes[3].len() == 1 })
	if got := string(mc.boxes[3].all()[0].Payload); got != "original" {
		t.Fatalf("payload aliased: %q", got)
	}

	ctx := context.Background()
	if got, err := mc.eps[1].Call(ctx, 2, []byte("x")); err != nil || string(got) != "1:x" {
		t.Fatalf("call = %q %v", got, err)
	}
	var re *RemoteError
	if _, err := mc.eps[1].Call(ctx, 2, []byte("fail")); !errors.As(err, &re) || re.Msg != "nope" {
		t.Fatalf("remote error = %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := mc.eps[1].Call(tctx, 2, []byte("wait")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow call = %v", err)
	}
	if _, err := mc.eps[1].Call(ctx, 42, nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("call to unknown = %v", err)
	}

	snap := bytes.Repeat([]byte("snapshot"), 300_000)
	if err := mc.eps[1].SendSnapshot(ctx, 2, snap, bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if err := mc.eps[1].SendSnapshot(ctx, 2, []byte("abc"), bytes.NewReader(snap)); !errors.As(err, &re) {
		t.Fatalf("mismatched snapshot = %v", err)
	}
}

func TestMemoryRestartAndClose(t *testing.T) {
	checkNoLeaks(t)
	mc := newMemCluster(t, 2, nil)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { _, err := mc.eps[1].Call(ctx, 2, []byte("wait")); done <- err }()
	waitFor(t, "call in flight", func() bool { return mc.eps[2].Stats().MessagesReceived == 1 })
	mc.eps[2].Close()
	if err := <-done; !errors.Is(err, ErrUnreachable) {
		t.Fatalf("call to closed endpoint = %v", err)
	}
	mc.send(1, 2, 3)
	if st := mc.eps[1].Stats(); st.DroppedNoConn != 3 {
		t.Fatalf("sends to a closed endpoint: %+v", st)
	}
	mc.join(t, 2) // restart
	mc.send(1, 2, 3)
	waitFor(t, "delivery after restart", func() bool { return mc.boxes[2].len() == 3 })
	if _, err := mc.eps[1].Call(ctx, 2, nil); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryQueueFull(t *testing.T) {
	checkNoLeaks(t)
	n := NewNetwork(nil)
	release := make(chan struct{})
	var once sync.Once
	a := n.Join(1, Handlers{})
	b := n.Join(2, Handlers{Message: func(Message) { once.Do(func() { <-release }) }})
	defer b.Close()
	defer a.Close()
	defer close(release)
	// The stalled link holds one taken batch plus a full queue.
	for range 2*DefaultQueueLen + 100 {
		a.Send(Message{Type: 1, To: 2})
	}
	if st := a.Stats(); st.DroppedQueueFull < 100 {
		t.Fatalf("too few queue-full drops: %+v", st)
	}
}

func TestMemoryFaultEffects(t *testing.T) {
	checkNoLeaks(t)
	f := NewFaults(testSeed(t), nil)
	mc := newMemCluster(t, 3, f)
	ctx := context.Background()

	id := must(f.Drop(0, 1, 0))
	mc.send(1, 2, 10)
	if st := mc.eps[1].Stats(); st.DroppedFault != 10 {
		t.Fatalf("drop: %+v", st)
	}
	f.Remove(id)

	id = must(f.Duplicate(1, 0))
	mc.send(1, 2, 10)
	waitFor(t, "duplicates", func() bool { return mc.boxes[2].len() == 20 })
	f.Remove(id)

	id = must(f.Delay(3, 40*time.Millisecond, 0, 0))
	start := time.Now()
	mc.send(1, 3, 5)
	waitFor(t, "delayed", func() bool { return mc.boxes[3].len() == 5 })
	if el := time.Since(start); el < 40*time.Millisecond {
		t.Fatalf("delayed messages arrived after %v", el)
	}
	f.Remove(id)

	id = must(f.Reorder(1, 0))
	mc.send(3, 1, 20)
	waitFor(t, "reordered", func() bool { return mc.boxes[1].len() == 20 })
	got := mc.boxes[1].seqs()
	if slices.IsSorted(got) {
		t.Fatalf("reorder kept order: %v", got)
	}
	slices.Sort(got)
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}; !slices.Equal(got, want) {
		t.Fatalf("reorder lost or duplicated: %v", got)
	}
	f.Remove(id)

	// Partition {1,2} | {3}: only cross-group links are cut.
	must(f.Partition([][]uint64{{1, 2}, {3}}, 0))
	for _, l := range [][2]uint64{{1, 2}, {2, 1}, {1, 3}, {3, 1}, {2, 3}, {3, 2}} {
		_, err := mc.eps[l[0]].Call(ctx, l[1], nil)
		cross := (l[0] == 3) != (l[1] == 3)
		if cross != errors.Is(err, ErrUnreachable) || (!cross && err != nil) {
			t.Errorf("call %d->%d under partition: %v", l[0], l[1], err)
		}
	}
	before := mc.boxes[3].len()
	mc.send(1, 3, 5)
	if err := mc.eps[1].SendSnapshot(ctx, 3, nil, bytes.NewReader(nil)); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("snapshot across partition = %v", err)
	}
	f.Heal()
	mc.send(1, 3, 5)
	waitFor(t, "delivery after heal", func() bool { return mc.boxes[3].len() == before+5 })

	// A one-way cut drops messages in its direction only.
	id = must(f.Cut(1, 2, 0))
	n1, n2 := mc.boxes[1].len(), mc.boxes[2].len()
	mc.send(1, 2, 5)
	mc.send(2, 1, 5)
	waitFor(t, "the uncut direction", func() bool { return mc.boxes[1].len() == n1+5 })
	if mc.boxes[2].len() != n2 {
		t.Fatal("message crossed a cut")
	}
	f.Remove(id)

	// Freeze isolates the node and reports it frozen until unfrozen.
	must(f.Freeze(2, 0))
	faulted := mc.eps[1].Stats().DroppedFault
	mc.send(1, 2, 5)
	if !f.Frozen(2) || mc.eps[1].Stats().DroppedFault != faulted+5 {
		t.Fatalf("freeze: frozen=%v stats %+v", f.Frozen(2), mc.eps[1].Stats())
	}
	f.Unfreeze(2)
	mc.send(1, 2, 1)
	waitFor(t, "delivery after unfreeze", func() bool { return mc.boxes[2].len() == n2+1 })
}

func TestMemoryJitterDeliversAll(t *testing.T) {
	checkNoLeaks(t)
	f := NewFaults(testSeed(t), nil)
	mc := newMemCluster(t, 2, f)
	must(f.Delay(0, time.Millisecond, 10*time.Millisecond, 0))
	mc.send(1, 2, 200)
	waitFor(t, "jittered", func() bool { return mc.boxes[2].len() == 200 })
	got := mc.boxes[2].seqs()
	slices.Sort(got)
	for i, s := range got {
		if s != i {
			t.Fatalf("jitter lost or duplicated messages: %v", got)
		}
	}
}

// TestMemoryDropReplays checks that the network's drops are exactly those a
// fresh Faults with the same seed decides: a failing seed replays.
func TestMemoryDropReplays(t *testing.T) {
	checkNoLeaks(t)
	seed := testSeed(t)
	f := NewFaults(seed, nil)
	must(f.Drop(0, 0.3, 0))
	mc := newMemCluster(t, 2, f)
	const n = 500
	mc.send(1, 2, n)

	model := NewFaults(seed, nil)
	must(model.Drop(0, 0.3, 0))
	var want []int
	for i := range n {
		if !model.Decide(1, 2).Drop {
			want = append(want, i)
		}
	}
	waitFor(t, "survivors", func() bool { return mc.boxes[2].len() == len(want) })
	if got := mc.boxes[2].seqs(); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, model says %v", got, want)
	}
}
