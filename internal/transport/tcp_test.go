package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTCPMessagesInOrder(t *testing.T) {
	checkNoLeaks(t)
	boxes := map[uint64]*inbox{1: {}, 2: {}, 3: {}}
	cl := newCluster(t, 3, func(c *Config) { c.Handlers.Message = boxes[c.ID].handler })
	const n = 2000
	for i := range n {
		cl.ts[1].Send(Message{Type: 1, To: 2, Payload: seqPayload(i)})
		cl.ts[3].Send(Message{Type: 1, To: 2, Payload: seqPayload(i)})
		cl.ts[2].Send(Message{Type: 1, To: 1, Payload: seqPayload(i)})
	}
	waitFor(t, "all messages", func() bool { return boxes[2].len() == 2*n && boxes[1].len() == n })
	perSender := map[uint64][]int{}
	for _, m := range boxes[2].all() {
		if m.To != 2 || m.Type != 1 {
			t.Fatalf("bad message %+v", m)
		}
		var s int
		fmt.Sscan(string(m.Payload), &s)
		perSender[m.From] = append(perSender[m.From], s)
	}
	for from, got := range perSender {
		if !slices.IsSorted(got) || len(got) != n {
			t.Fatalf("from %d: %d messages, sorted=%v", from, len(got), slices.IsSorted(got))
		}
	}
	if got := boxes[1].seqs(); !slices.IsSorted(got) {
		t.Fatalf("reverse direction out of order")
	}
}

func TestTCPBurstCoalescesIntoFrames(t *testing.T) {
	checkNoLeaks(t)
	var box inbox
	cl := newCluster(t, 2, func(c *Config) { c.Handlers.Message = box.handler })
	const n = 3000
	for i := range n {
		cl.ts[1].Send(Message{Type: 1, To: 2, Payload: seqPayload(i)})
	}
	waitFor(t, "burst", func() bool { return box.len() == n })
	// The writer counts after its Write returns, which may be after delivery.
	waitFor(t, "sender stats", func() bool { return cl.ts[1].Stats().MessagesSent == n })
	st := cl.ts[1].Stats()
	if st.MessagesSent != n || st.FramesWritten >= st.MessagesSent {
		t.Fatalf("stats %+v: want %d messages in fewer frames", st, n)
	}
	if rs := cl.ts[2].Stats(); rs.MessagesReceived != n || rs.FramesRead != st.FramesWritten {
		t.Fatalf("receiver stats %+v vs sender %+v", rs, st)
	}
	t.Logf("%d messages in %d frames", st.MessagesSent, st.FramesWritten)
}

func TestTCPCall(t *testing.T) {
	checkNoLeaks(t)
	cl := newCluster(t, 2, func(c *Config) {
		c.Handlers.Call = func(ctx context.Context, from uint64, req []byte) ([]byte, error) {
			switch s := string(req); {
			case s == "fail":
				return nil, errors.New("no such key")
			case s == "slow":
				if _, ok := ctx.Deadline(); !ok {
					return nil, errors.New("deadline not propagated")
				}
				<-ctx.Done()
				return nil, ctx.Err()
			default:
				return fmt.Appendf(nil, "%d:%s", from, s), nil
			}
		}
	})
	ctx := context.Background()
	a := cl.ts[1]
	if got, err := a.Call(ctx, 2, []byte("hi")); err != nil || string(got) != "1:hi" {
		t.Fatalf("Call = %q, %v", got, err)
	}
	_, err := a.Call(ctx, 2, []byte("fail"))
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "no such key" {
		t.Fatalf("remote error = %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := a.Call(tctx, 2, []byte("slow")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow call = %v, want deadline exceeded", err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				req := fmt.Sprintf("g%d-%d", g, i)
				got, err := cl.ts[uint64(1+g%2)].Call(ctx, uint64(2-g%2), []byte(req))
				if want := fmt.Sprintf("%d:%s", 1+g%2, req); err != nil || string(got) != want {
					errs <- fmt.Errorf("call %s = %q, %v", req, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestTCPCallRefusals(t *testing.T) {
	checkNoLeaks(t)
	started, release := make(chan struct{}), make(chan struct{})
	cl := newCluster(t, 3, func(c *Config) {
		if c.ID == 2 {
			c.MaxCallConcurrency = 1
			c.Handlers.Call = func(ctx context.Context, _ uint64, _ []byte) ([]byte, error) {
				close(started)
				<-release
				return []byte("done"), nil
			}
		}
	})
	ctx := context.Background()
	var re *RemoteError
	if _, err := cl.ts[1].Call(ctx, 3, nil); !errors.As(err, &re) || re.Msg != "no call handler" {
		t.Fatalf("call without handler = %v", err)
	}
	first := make(chan error, 1)
	go func() { _, err := cl.ts[1].Call(ctx, 2, nil); first <- err }()
	<-started
	if _, err := cl.ts[3].Call(ctx, 2, nil); !errors.As(err, &re) || re.Msg != "overloaded" {
		t.Fatalf("call beyond concurrency = %v", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ts[1].Call(ctx, 9, nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("call to unknown node = %v", err)
	}
	cl.ts[3].Close()
	if _, err := cl.ts[1].Call(ctx, 3, nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("call to closed node = %v", err)
	}
	if _, err := cl.ts[3].Call(ctx, 1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call from closed node = %v", err)
	}
}

func TestTCPCallFailsFastWhenPeerCloses(t *testing.T) {
	checkNoLeaks(t)
	started := make(chan struct{})
	cl := newCluster(t, 2, func(c *Config) {
		c.Handlers.Call = func(ctx context.Context, _ uint64, _ []byte) ([]byte, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := cl.ts[1].Call(ctx, 2, nil); done <- err }()
	<-started
	cl.ts[2].Close()
	err := <-done
	var re *RemoteError
	if ctx.Err() != nil || !(errors.Is(err, ErrUnreachable) || errors.As(err, &re)) {
		t.Fatalf("call to a closing peer = %v", err)
	}
}

func TestTCPSnapshot(t *testing.T) {
	checkNoLeaks(t)
	want := make([]byte, 5<<20+123)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	sum := sha256.Sum256(want)
	got := make(chan [32]byte, 1)
	cl := newCluster(t, 2, func(c *Config) {
		c.Handlers.Snapshot = func(ctx context.Context, from uint64, header []byte, body io.Reader) error {
			switch string(header) {
			case "reject":
				io.CopyN(io.Discard, body, 100) // the transport drains the rest
				return errors.New("bad snapshot")
			case "full":
				h := sha256.New()
				if _, err := io.Copy(h, body); err != nil {
					return err
				}
				got <- [32]byte(h.Sum(nil))
				return nil
			}
			return fmt.Errorf("header %q", header)
		}
	})
	ctx := context.Background()
	if err := cl.ts[1].SendSnapshot(ctx, 2, []byte("full"), bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if <-got != sum {
		t.Fatal("snapshot body corrupted")
	}
	err := cl.ts[1].SendSnapshot(ctx, 2, []byte("reject"), bytes.NewReader(want))
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "bad snapshot" {
		t.Fatalf("rejected snapshot = %v", err)
	}
	bodyErr := errors.New("disk gone")
	err = cl.ts[1].SendSnapshot(ctx, 2, []byte("full"), io.MultiReader(bytes.NewReader(want[:1<<20]), errReader{bodyErr}))
	if !errors.Is(err, bodyErr) {
		t.Fatalf("snapshot with failing body = %v", err)
	}
	if err := cl.ts[1].SendSnapshot(ctx, 2, make([]byte, DefaultMaxFrame+1), nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge header = %v", err)
	}
	// The message streams still work after all of that.
	if _, err := cl.ts[2].Call(ctx, 1, nil); !errors.As(err, &re) || re.Msg != "no call handler" {
		t.Fatalf("call after snapshots = %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestTCPPeerRestartReconnects(t *testing.T) {
	checkNoLeaks(t)
	var before, after inbox
	cl := newCluster(t, 1, nil)
	b := cl.start(t, 2, "127.0.0.1:0", func(c *Config) { c.Handlers.Message = before.handler })
	addr := b.Addr().String()
	a := cl.ts[1]
	a.Send(Message{Type: 1, To: 2, Payload: []byte("before")})
	waitFor(t, "first message", func() bool { return before.len() == 1 })

	b.Close()
	// Messages written before the loss is noticed vanish in flight, as
	// over any TCP connection; once it is, they are dropped and counted.
	waitFor(t, "the loss to be noticed", func() bool {
		a.Send(Message{Type: 1, To: 2, Payload: []byte("lost")})
		time.Sleep(time.Millisecond)
		return a.Stats().DroppedNoConn > 0
	})
	b2 := cl.start(t, 2, addr, func(c *Config) { c.Handlers.Message = after.handler })
	waitFor(t, "delivery after restart", func() bool {
		a.Send(Message{Type: 1, To: 2, Payload: []byte("after")})
		time.Sleep(5 * time.Millisecond)
		return after.len() > 0
	})
	if m := after.all()[0]; m.From != 1 || m.To != 2 {
		t.Fatalf("message after restart %+v", m)
	}
	if b2.ID() != 2 {
		t.Fatal("wrong ID")
	}
}

func TestTCPWrongClusterRefused(t *testing.T) {
	checkNoLeaks(t)
	var logs syncBuffer
	var box inbox
	cl := newCluster(t, 2, func(c *Config) {
		c.Logger = testLogger(&logs)
		c.Handlers.Message = box.handler
		if c.ID == 2 {
			c.ClusterID = 99
		}
	})
	cl.ts[1].Send(Message{Type: 1, To: 2, Payload: []byte("x")})
	if _, err := cl.ts[1].Call(context.Background(), 2, nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("call across clusters = %v", err)
	}
	waitFor(t, "the refusal to be logged", func() bool { return strings.Contains(logs.String(), "refused connection") })
	if box.len() != 0 || cl.ts[2].Stats().MessagesReceived != 0 {
		t.Fatal("message crossed clusters")
	}
}

// rawConn dials tr and, if hello, completes a valid handshake as node 5.
func rawConn(t *testing.T, tr *TCP, handshake bool) net.Conn {
	c, err := net.Dial("tcp", tr.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if handshake {
		h := hello{version: wireVersion, cluster: 7, from: 5, to: tr.ID(), kind: kindMessages}
		c.Write(h.appendTo(nil))
		if ack, err := readHello(c); err != nil || ack.kind != ackOK {
			t.Fatalf("handshake: %+v %v", ack, err)
		}
	}
	return c
}

// expectClosed waits for the server to hang up on c.
func expectClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("%s: connection not closed by server: %v", what, err)
	}
}

func TestTCPGarbageInput(t *testing.T) {
	checkNoLeaks(t)
	var logs syncBuffer
	var box inbox
	cl := newCluster(t, 2, func(c *Config) {
		c.Logger = testLogger(&logs)
		c.Handlers.Message = box.handler
		c.MaxFrame = 1 << 20
	})
	b := cl.ts[2]

	c := rawConn(t, b, false)
	c.Write([]byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"))
	expectClosed(t, c, "garbage handshake")

	c = rawConn(t, b, true)
	c.Write([]byte{0xff, 0xff, 0xff, 0xff})
	expectClosed(t, c, "oversized frame")
	waitFor(t, "oversize log", func() bool { return strings.Contains(logs.String(), "exceeds MaxFrame") })

	c = rawConn(t, b, true)
	c.Write([]byte{0, 0, 0, 6, 1, 0xff, 0xff, 0xff, 0xff, 0xff}) // payload length runs past the frame
	expectClosed(t, c, "malformed frame")

	c = rawConn(t, b, true)
	rng := rand.New(rand.NewPCG(uint64(testSeed(t)), 0))
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = byte(rng.IntN(256))
	}
	c.Write(junk)
	c.Close()

	cl.ts[1].Send(Message{Type: 1, To: 2, Payload: []byte("still alive")})
	waitFor(t, "a good message after the garbage", func() bool {
		for _, m := range box.all() {
			if m.From == 1 && string(m.Payload) == "still alive" {
				return true
			}
		}
		return false
	})
}

func TestTCPFaults(t *testing.T) {
	checkNoLeaks(t)
	boxes := map[uint64]*inbox{1: {}, 2: {}, 3: {}}
	faults := map[uint64]*Faults{}
	cl := newCluster(t, 3, func(c *Config) {
		faults[c.ID] = NewFaults(int64(c.ID), nil)
		c.Faults = faults[c.ID]
		c.Handlers.Message = boxes[c.ID].handler
		c.Handlers.Call = func(context.Context, uint64, []byte) ([]byte, error) { return nil, nil }
	})
	ctx := context.Background()

	// A cut known to the sender: dropped at Send, calls fail at once.
	must(faults[1].Cut(1, 2, 0))
	cl.ts[1].Send(Message{Type: 1, To: 2})
	if st := cl.ts[1].Stats(); st.DroppedFault != 1 {
		t.Fatalf("stats after cut %+v", st)
	}
	if _, err := cl.ts[1].Call(ctx, 2, nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("call across cut = %v", err)
	}
	if err := cl.ts[1].SendSnapshot(ctx, 2, nil, nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("snapshot across cut = %v", err)
	}
	faults[1].Heal()

	// Isolation applied on node 3 only still stops traffic into it; a call
	// from a node that does not know ends at its deadline.
	must(faults[3].Isolate(3, 0))
	cl.ts[1].Send(Message{Type: 1, To: 3})
	waitFor(t, "drop at the receiver", func() bool { return cl.ts[3].Stats().DroppedFault == 1 })
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := cl.ts[1].Call(tctx, 3, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call into one-sided isolation = %v", err)
	}
	if err := cl.ts[1].SendSnapshot(ctx, 3, []byte("h"), nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("snapshot into one-sided isolation = %v", err)
	}
	if boxes[3].len() != 0 {
		t.Fatal("isolated node received a message")
	}
	faults[3].Heal()

	// Delay without jitter keeps order and delays by at least d.
	must(faults[1].Delay(0, 30*time.Millisecond, 0, 0))
	start := time.Now()
	for i := range 50 {
		cl.ts[1].Send(Message{Type: 1, To: 2, Payload: seqPayload(i)})
	}
	waitFor(t, "delayed messages", func() bool { return boxes[2].len() == 50 })
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Fatalf("delayed messages arrived after %v", el)
	}
	if !slices.IsSorted(boxes[2].seqs()) {
		t.Fatal("delay without jitter reordered messages")
	}
}

// A call to a node that refuses connections certainly never reached it:
// the error says so (ErrNotSent), on the first attempt and while the
// reconnect backoff runs. A call to a peer that closes while serving it
// may have been acted on, so it is not ErrNotSent.
func TestTCPCallNotSentWhenNoConnection(t *testing.T) {
	checkNoLeaks(t)
	cl := newCluster(t, 2, func(c *Config) {
		c.Handlers.Call = func(ctx context.Context, _ uint64, _ []byte) ([]byte, error) { return []byte("ok"), nil }
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.ts[1].Call(ctx, 2, nil); err != nil {
		t.Fatal(err)
	}
	addr := cl.ts[2].Addr().String()
	cl.ts[2].Close() // the address now refuses connections
	waitFor(t, "the lost connection to be noticed", func() bool {
		_, err := cl.ts[1].Call(ctx, 2, nil)
		return errors.Is(err, ErrNotSent)
	})
	for i := 0; i < 5; i++ {
		_, err := cl.ts[1].Call(ctx, 2, nil)
		if !errors.Is(err, ErrNotSent) || !errors.Is(err, ErrUnreachable) {
			t.Fatalf("call %d to a refusing address %s: %v, want ErrNotSent", i, addr, err)
		}
	}
}
