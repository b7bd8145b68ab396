package watchhttp_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/distkv/distkv/internal/watch"
)

// TestWebSocketOrderAcrossShards publishes interleaved batches of several
// shards and checks the client sees each key's versions in order, and only
// the watched prefix.
func TestWebSocketOrderAcrossShards(t *testing.T) {
	f := newFixture(t, watch.Config{}, nil)
	c := f.dialWS(t, "prefix=k")
	const shards, perShard = 3, 50
	want := map[string][]uint64{}
	for i := range perShard {
		for s := range shards {
			key := fmt.Sprintf("k%d-%d", s, i%4)
			v := uint64(100*s + i + 1)
			want[key] = append(want[key], v)
			f.publish(watch.Event{NS: "default", Key: key, Op: watch.OpPut, Version: v, Shard: s},
				put("skip", v, "other prefix"))
		}
	}
	got := map[string][]uint64{}
	for range shards * perShard {
		ev := readWS(t, c)
		if !strings.HasPrefix(ev.Key, "k") || ev.Value != nil {
			t.Fatalf("unexpected event %+v", ev)
		}
		got[ev.Key] = append(got[ev.Key], ev.Version)
	}
	for key, vs := range want {
		if fmt.Sprint(got[key]) != fmt.Sprint(vs) {
			t.Fatalf("%s: got %v, want %v", key, got[key], vs)
		}
	}
}

func TestWebSocketValues(t *testing.T) {
	f := newFixture(t, watch.Config{}, nil)
	c := f.dialWS(t, "ns=other&key=k&values=true")
	f.hub.Publish([]watch.Event{{NS: "other", Key: "k", Op: watch.OpPut, Version: 4, Value: []byte("héllo")},
		{NS: "other", Key: "k", Op: watch.OpPut, Version: 5, Value: []byte{0x80}}})
	checkValue(t, readWS(t, c), "héllo", "")
	checkValue(t, readWS(t, c), "gA==", "base64")
}

func TestWebSocketLaggedThenResume(t *testing.T) {
	f := newFixture(t, watch.Config{Buffer: 1}, nil)
	c := f.dialWS(t, "key=big&values=true")
	const n = 100
	big := strings.Repeat("y", 256<<10)
	for v := uint64(1); v <= n; v++ {
		f.publish(put("big", v, big))
	}
	var last uint64
	for {
		ev := readWS(t, c)
		if ev.Op == watch.OpLagged {
			break
		}
		if ev.Version != last+1 {
			t.Fatalf("version %d after %d", ev.Version, last)
		}
		last = ev.Version
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
		t.Fatalf("after lagged: %v, want close 1013", err)
	}
	if last == n {
		t.Fatal("every event arrived: the client never lagged")
	}

	r := f.dialWS(t, fmt.Sprintf("key=big&from=%d", last))
	for v := last + 1; v <= n; v++ {
		if ev := readWS(t, r); ev.Version != v {
			t.Fatalf("resumed: version %d, want %d", ev.Version, v)
		}
	}
}

func TestWebSocketEndsWhenClientOrHubGoes(t *testing.T) {
	f := newFixture(t, watch.Config{}, nil)
	gone := f.dialWS(t, "prefix=")
	stays := f.dialWS(t, "prefix=")
	f.waitSubscribers(t, 2)
	gone.Close(websocket.StatusNormalClosure, "bye")
	f.waitSubscribers(t, 1)

	f.hub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := stays.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("after hub close: %v, want close 1001", err)
	}
	f.waitSubscribers(t, 0)
}

func TestWebSocketOutlivesServerTimeouts(t *testing.T) {
	f := newFixture(t, watch.Config{}, func(s *httptest.Server) {
		s.Config.ReadTimeout = 50 * time.Millisecond
		s.Config.WriteTimeout = 50 * time.Millisecond
	})
	c := f.dialWS(t, "prefix=")
	got := make(chan string, 1)
	go func() { // reading also answers the server's pings
		_, data, err := c.Read(context.Background())
		got <- fmt.Sprint(string(data), err)
	}()
	time.Sleep(200 * time.Millisecond) // several pings, well past both timeouts
	f.publish(put("k", 1, "v"))
	if msg := <-got; !strings.Contains(msg, `"key":"k"`) {
		t.Fatalf("got %s", msg)
	}
}
