package watch

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestAgainstNaiveModel drives the hub with random publishes and resuming
// subscriptions, with a history small enough to evict, and checks every
// accepted subscription against a model that keeps every event forever:
// what it received must be exactly what it asked for.
func TestAgainstNaiveModel(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed) })
	}
}

type modelSub struct {
	sub    *Subscription
	filter Filter
	start  int // len(log) when it subscribed
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	const shards, keys = 3, 6
	h := newTestHub(Config{History: 15, Buffer: 10000})
	var (
		log      []Event
		subs     []modelSub
		next     = [shards]uint64{1, 40, 500} // Raft indexes differ per shard
		accepted int
		replayed int
	)
	for step := 0; step < 600; step++ {
		if rng.IntN(4) > 0 {
			s := rng.IntN(shards)
			var batch []Event
			for range 1 + rng.IntN(3) {
				next[s] += 1 + uint64(rng.IntN(3))
				k := s + shards*rng.IntN(keys/shards) // key k lives in shard k%shards
				batch = append(batch, Event{NS: "a", Key: fmt.Sprintf("k%d", k), Op: OpPut, Version: next[s], Shard: s})
			}
			h.Publish(batch)
			log = append(log, batch...)
			continue
		}
		f := Filter{NS: "a", Prefix: []string{"", "k", "k1"}[rng.IntN(3)]}
		if rng.IntN(2) == 0 {
			f.Key = fmt.Sprintf("k%d", rng.IntN(keys))
		}
		if len(log) > 0 {
			f.From = log[len(log)-1-rng.IntN(min(len(log), 20))].Version
		}
		s, err := h.Subscribe(f)
		if errors.Is(err, ErrTooOld) {
			continue
		}
		if err != nil {
			t.Fatalf("seed %d: Subscribe(%+v): %v", seed, f, err)
		}
		accepted++
		replayed += len(s.Events())
		subs = append(subs, modelSub{s, f, len(log)})
	}
	if accepted < 20 || replayed == 0 {
		t.Fatalf("seed %d: only %d subscriptions accepted, %d events replayed: the test checks too little", seed, accepted, replayed)
	}
	for _, ms := range subs {
		got, _ := drain(ms.sub)
		if want := modelEvents(log, ms); !slices.Equal(keysOf(got), keysOf(want)) {
			t.Fatalf("seed %d: subscription %+v at %d:\ngot  %q\nwant %q", seed, ms.filter, ms.start, keysOf(got), keysOf(want))
		}
	}
}

// modelEvents is what a subscription should have received: the events
// before it that match with a version above From, then every matching
// event after it (for a single key, still above From).
func modelEvents(log []Event, ms modelSub) []Event {
	var out []Event
	for i, ev := range log {
		f := ms.filter
		if !f.matches(ev.Key) {
			continue
		}
		if (i < ms.start || f.Key != "") && ev.Version <= f.From {
			continue
		}
		out = append(out, ev)
	}
	return out
}
