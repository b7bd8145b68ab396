package watch

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clock"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestHub(cfg Config) *Hub {
	if cfg.Clock == nil {
		cfg.Clock = clock.NewManual(t0)
	}
	if cfg.Node == "" {
		cfg.Node = "n1"
	}
	return NewHub(cfg)
}

func put(ns, key string, version uint64) Event {
	return Event{NS: ns, Key: key, Op: OpPut, Version: version, Value: []byte(fmt.Sprintf("%s@%d", key, version))}
}

func subscribe(t *testing.T, h *Hub, f Filter) *Subscription {
	t.Helper()
	s, err := h.Subscribe(f)
	if err != nil {
		t.Fatalf("Subscribe(%+v): %v", f, err)
	}
	t.Cleanup(s.Close)
	return s
}

// drain returns what is buffered on s without waiting, and whether the
// channel was closed.
func drain(s *Subscription) (evs []Event, closed bool) {
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return evs, true
			}
			evs = append(evs, ev)
		default:
			return evs, false
		}
	}
}

func keysOf(evs []Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%s/%s@%d", ev.Op, ev.Key, ev.Version))
	}
	return out
}

func expect(t *testing.T, s *Subscription, want ...string) {
	t.Helper()
	got, _ := drain(s)
	if !slices.Equal(keysOf(got), want) {
		t.Fatalf("got  %q\nwant %q", keysOf(got), want)
	}
}

func TestFilterPrefixAndExact(t *testing.T) {
	h := newTestHub(Config{})
	all := subscribe(t, h, Filter{NS: "a"})
	pre := subscribe(t, h, Filter{NS: "a", Prefix: "user/"})
	exact := subscribe(t, h, Filter{NS: "a", Key: "user/1", Prefix: "ignored/"})
	h.Publish([]Event{put("a", "user/1", 1), put("a", "user/10", 2), put("a", "item/1", 3),
		{NS: "a", Key: "user/1", Op: OpDelete, Version: 4}})

	expect(t, all, "put/user/1@1", "put/user/10@2", "put/item/1@3", "delete/user/1@4")
	expect(t, pre, "put/user/1@1", "put/user/10@2", "delete/user/1@4")
	expect(t, exact, "put/user/1@1", "delete/user/1@4")
}

func TestNamespacesAreIsolated(t *testing.T) {
	h := newTestHub(Config{})
	a := subscribe(t, h, Filter{NS: "a"})
	b := subscribe(t, h, Filter{NS: "b"})
	h.Publish([]Event{put("a", "k", 2), put("b", "k", 2), put("a", "k", 3)})
	expect(t, a, "put/k@2", "put/k@3")
	expect(t, b, "put/k@2")
	// History is per namespace too.
	expect(t, subscribe(t, h, Filter{NS: "b", Key: "k", From: 1}), "put/k@2")
}

func TestEventsAreStamped(t *testing.T) {
	h := newTestHub(Config{Node: "n7"})
	s := subscribe(t, h, Filter{NS: "a", Values: true})
	noValues := subscribe(t, h, Filter{NS: "a"})
	h.Publish([]Event{put("a", "k", 1)})
	got, _ := drain(s)
	if len(got) != 1 || got[0].Node != "n7" || !got[0].Time.Equal(t0) || string(got[0].Value) != "k@1" {
		t.Fatalf("event = %+v", got)
	}
	got, _ = drain(noValues)
	if len(got) != 1 || got[0].Value != nil {
		t.Fatalf("subscriber without Values got %+v", got)
	}
}

// TestOrderUnderConcurrentShards publishes from one goroutine per shard,
// each in its own log order, while subscribers come and go, and checks that
// each subscriber sees every key's versions in order, with no gaps, from
// where it started.
func TestOrderUnderConcurrentShards(t *testing.T) {
	const shards, keysPerShard, writes = 4, 5, 400
	h := newTestHub(Config{Buffer: shards * writes, History: shards * writes})
	// versions[key] is the sequence of versions published for key.
	versions := map[string][]uint64{}
	plan := make([][]Event, shards)
	for s := range shards {
		for i := range writes {
			key := fmt.Sprintf("s%d-k%d", s, i%keysPerShard)
			v := uint64(10 + i*3) // Raft indexes: increasing, not contiguous
			plan[s] = append(plan[s], Event{NS: "ns", Key: key, Op: OpPut, Version: v, Shard: s})
			versions[key] = append(versions[key], v)
		}
	}
	whole := subscribe(t, h, Filter{NS: "ns"})
	var wg sync.WaitGroup
	for s := range shards {
		wg.Go(func() {
			for i := 0; i < writes; i += 7 {
				h.Publish(plan[s][i:min(i+7, writes)])
			}
		})
	}
	// Key watches that resume mid-stream from a version of their key.
	type resumed struct {
		sub  *Subscription
		key  string
		from uint64
	}
	var late []resumed
	for s := range shards {
		key := fmt.Sprintf("s%d-k1", s)
		from := versions[key][s*10]
		late = append(late, resumed{subscribe(t, h, Filter{NS: "ns", Key: key, From: from}), key, from})
	}
	wg.Wait()

	got, _ := drain(whole)
	perKey := map[string][]uint64{}
	for _, ev := range got {
		perKey[ev.Key] = append(perKey[ev.Key], ev.Version)
	}
	for key, want := range versions {
		if !slices.Equal(perKey[key], want) {
			t.Fatalf("%s: got versions %v, want %v", key, perKey[key], want)
		}
	}
	for _, r := range late {
		evs, _ := drain(r.sub)
		var vs []uint64
		for _, ev := range evs {
			vs = append(vs, ev.Version)
		}
		i := slices.Index(versions[r.key], r.from)
		if want := versions[r.key][i+1:]; !slices.Equal(vs, want) {
			t.Fatalf("%s from %d: got %v, want %v", r.key, r.from, vs, want)
		}
	}
}

func TestLaggedSubscriberIsDroppedWithoutBlocking(t *testing.T) {
	h := newTestHub(Config{Buffer: 2})
	slow := subscribe(t, h, Filter{NS: "a", Prefix: "k"})
	fast := subscribe(t, h, Filter{NS: "a", Prefix: "k"})
	for v := uint64(1); v <= 5; v++ {
		h.Publish([]Event{put("a", "k", v)}) // must not block on slow
		if v <= 2 {
			<-fast.Events()
		} else {
			expect(t, fast, fmt.Sprintf("put/k@%d", v))
		}
	}
	got, closed := drain(slow)
	if want := []string{"put/k@1", "put/k@2", "lagged/@0"}; !slices.Equal(keysOf(got), want) || !closed {
		t.Fatalf("slow subscriber got %q (closed %v), want %q then close", keysOf(got), closed, want)
	}
	if last := got[len(got)-1]; last.NS != "a" || last.Node != "n1" {
		t.Fatalf("lagged event = %+v", last)
	}

	// It resumes from the last version it saw and misses nothing.
	again := subscribe(t, h, Filter{NS: "a", Prefix: "k", From: 2})
	expect(t, again, "put/k@3", "put/k@4", "put/k@5")
	h.Publish([]Event{put("a", "k", 6)})
	expect(t, again, "put/k@6")
}

func TestResumeReplaysExactlyTheMissedEvents(t *testing.T) {
	h := newTestHub(Config{})
	h.Publish([]Event{put("a", "x", 5), put("a", "y", 6), put("a", "x", 8),
		{NS: "a", Key: "x", Op: OpDelete, Version: 9}, put("a", "x", 12)})
	expect(t, subscribe(t, h, Filter{NS: "a", Key: "x", From: 8}), "delete/x@9", "put/x@12")
	expect(t, subscribe(t, h, Filter{NS: "a", Key: "x", From: 12}))
	expect(t, subscribe(t, h, Filter{NS: "a", From: 5}), "put/y@6", "put/x@8", "delete/x@9", "put/x@12")

	s := subscribe(t, h, Filter{NS: "a", Key: "x", From: 4, Values: true})
	got, _ := drain(s)
	if len(got) != 4 || string(got[0].Value) != "x@5" || got[2].Value != nil {
		t.Fatalf("replay with values = %+v", got)
	}
}

func TestTooOld(t *testing.T) {
	h := newTestHub(Config{History: 3})
	// Shard 0 at versions 1..5, shard 1 at 100 and 101.
	h.Publish([]Event{put("a", "p", 1), put("a", "p", 2), put("a", "q", 3)})
	h.Publish([]Event{put("a", "p", 4), put("a", "p", 5)}) // evicts 1 and 2
	h.Publish([]Event{{NS: "a", Key: "r", Op: OpPut, Version: 100, Shard: 1}})

	for _, tc := range []struct {
		f    Filter
		want error
	}{
		{Filter{NS: "a", Key: "p", From: 1}, ErrTooOld},   // version 2 was evicted
		{Filter{NS: "a", Key: "p", From: 3}, nil},         // 4, 5 retained
		{Filter{NS: "a", Key: "r", From: 99}, nil},        // shard 1 complete after 99
		{Filter{NS: "a", Key: "r", From: 98}, ErrTooOld},  // the hub never saw shard 1 before 100
		{Filter{NS: "a", Key: "zz", From: 50}, ErrTooOld}, // unknown key: every shard counts
		{Filter{NS: "a", From: 3}, ErrTooOld},             // prefix: shard 1 starts at 100
		{Filter{NS: "a", From: 99}, nil},
		{Filter{NS: "other", From: 1}, nil}, // nothing was ever published there
	} {
		_, err := h.Subscribe(tc.f)
		if !errors.Is(err, tc.want) {
			t.Errorf("Subscribe(%+v) = %v, want %v", tc.f, err, tc.want)
		}
	}
}

func TestHistoryBytesBound(t *testing.T) {
	h := newTestHub(Config{HistoryBytes: 3 * (eventOverhead + 1 + 1000)})
	for v := uint64(1); v <= 10; v++ {
		h.Publish([]Event{{NS: "a", Key: "k", Op: OpPut, Version: v, Value: make([]byte, 1000)}})
	}
	if _, err := h.Subscribe(Filter{NS: "a", Key: "k", From: 6}); !errors.Is(err, ErrTooOld) {
		t.Fatalf("From 6 = %v, want ErrTooOld", err)
	}
	expect(t, subscribe(t, h, Filter{NS: "a", Key: "k", From: 7}), "put/k@8", "put/k@9", "put/k@10")
}

func TestClose(t *testing.T) {
	h := newTestHub(Config{})
	s := subscribe(t, h, Filter{NS: "a"})
	gone := subscribe(t, h, Filter{NS: "a"})
	h.Publish([]Event{put("a", "k", 1)})

	if n := h.Subscribers(); n != 2 {
		t.Fatalf("Subscribers() = %d, want 2", n)
	}
	gone.Close()
	gone.Close()
	if n := h.Subscribers(); n != 1 {
		t.Fatalf("Subscribers() after a Close = %d, want 1", n)
	}
	if got, closed := drain(gone); len(got) != 1 || !closed {
		t.Fatalf("after Subscription.Close: %v, closed %v; want the buffered event, then close", got, closed)
	}
	h.Publish([]Event{put("a", "k", 2)})

	h.Close()
	if got, closed := drain(s); len(got) != 2 || !closed {
		t.Fatalf("after Hub.Close: %q, closed %v", keysOf(got), closed)
	}
	s.Close()
	if n := h.Subscribers(); n != 0 {
		t.Fatalf("Subscribers() after Hub.Close = %d, want 0", n)
	}
	h.Publish([]Event{put("a", "k", 3)})
	if _, err := h.Subscribe(Filter{NS: "a"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
	}
}

// A seeded floor (a restarted node's applied version) makes older From
// values fail rather than silently replay nothing.
func TestSeedRefusesResumptionBelowTheFloor(t *testing.T) {
	h := NewHub(Config{Node: "n1"})
	defer h.Close()
	h.Seed("default", 3, 619)
	if _, err := h.Subscribe(Filter{NS: "default", Key: "gap", From: 1}); !errors.Is(err, ErrTooOld) {
		t.Fatalf("resume from 1 below a floor of 619: %v, want ErrTooOld", err)
	}
	s, err := h.Subscribe(Filter{NS: "default", Key: "gap", From: 619})
	if err != nil {
		t.Fatalf("resume from the floor itself: %v", err)
	}
	s.Close()
}
