package watchhttp_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/watch"
)

func TestSSEPrefixOrderAndValues(t *testing.T) {
	f := newFixture(t, watch.Config{}, nil)
	s := f.dialSSE(t, "prefix=user/&values=true", nil)
	f.publish(put("user/1", 3, "alice"), put("item/1", 4, "not watched"),
		watch.Event{NS: "other", Key: "user/1", Op: watch.OpPut, Version: 5}, // another namespace
		watch.Event{NS: "default", Key: "user/2", Op: watch.OpPut, Version: 6, Value: []byte{0xff, 0x00}, Shard: 2},
		del("user/1", 7), put("user/1", 9, ""))

	var got []string
	for range 4 {
		ev, b := s.next(t)
		got = append(got, ev.String())
		if b.event != ev.Op || b.id != fmt.Sprint(ev.Version) {
			t.Errorf("block id %q event %q for %v", b.id, b.event, ev)
		}
		if ev.NS != "default" || ev.Node != "n1" || !ev.Time.Equal(t0) {
			t.Errorf("event fields: %+v", ev)
		}
		switch ev.Version {
		case 3:
			checkValue(t, ev, "alice", "")
		case 6:
			checkValue(t, ev, "/wA=", api.EncodingBase64)
			if ev.Shard != 2 {
				t.Errorf("shard = %d, want 2", ev.Shard)
			}
		case 7:
			if ev.Value != nil {
				t.Errorf("delete carries a value: %+v", ev)
			}
		case 9:
			checkValue(t, ev, "", "")
		}
	}
	if want := []string{"put/user/1@3", "put/user/2@6", "delete/user/1@7", "put/user/1@9"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func checkValue(t *testing.T, ev event, value, encoding string) {
	t.Helper()
	if ev.Value == nil || *ev.Value != value || ev.Encoding != encoding {
		t.Errorf("%v: value %v encoding %q, want %q %q", ev, ev.Value, ev.Encoding, value, encoding)
	}
}

func TestSSEWithoutValuesAndExactKey(t *testing.T) {
	f := newFixture(t, watch.Config{}, nil)
	s := f.dialSSE(t, "sse=1&key=a&prefix=b", http.Header{"Accept": {"*/*"}})
	f.publish(put("ab", 1, "x"), put("b", 2, "x"), put("a", 3, "x"))
	ev, _ := s.next(t)
	if ev.String() != "put/a@3" || ev.Value != nil || ev.Encoding != "" {
		t.Fatalf("got %+v, want put/a@3 without a value", ev)
	}
}

func TestSSEPingsKeepTheStreamAlive(t *testing.T) {
	// Server timeouts far shorter than the stream: the handler must lift
	// the write timeout, or the stream would die.
	f := newFixture(t, watch.Config{}, func(s *httptest.Server) {
		s.Config.ReadTimeout = 50 * time.Millisecond
		s.Config.WriteTimeout = 50 * time.Millisecond
	})
	s := f.dialSSE(t, "prefix=", nil)
	pings := 0
	for pings < 8 { // 8 pings of 20ms: well past both timeouts
		b, ok := s.block()
		if !ok {
			t.Fatalf("stream ended after %d pings: %v", pings, s.lines.Err())
		}
		if slices.Contains(b.comments, "ping") {
			pings++
		}
	}
	f.publish(put("k", 1, "v"))
	if ev, _ := s.next(t); ev.String() != "put/k@1" {
		t.Fatalf("got %v", ev)
	}
}

// TestSSELaggedThenResume stalls a client until the server's writes block
// and its subscription overflows: the client reads what was sent, then a
// lagged event, then the end of the stream, and resumes from the last
// version it saw with nothing missing.
func TestSSELaggedThenResume(t *testing.T) {
	f := newFixture(t, watch.Config{Buffer: 1}, nil)
	s := f.dialSSE(t, "key=big&values=true", nil)
	const n = 100
	big := strings.Repeat("x", 256<<10) // n of these outgrow any socket buffers
	for v := uint64(1); v <= n; v++ {
		f.publish(put("big", v, big))
	}
	var last uint64
	for {
		ev, _ := s.next(t)
		if ev.Op == watch.OpLagged {
			break
		}
		if ev.Version != last+1 {
			t.Fatalf("version %d after %d", ev.Version, last)
		}
		last = ev.Version
	}
	if _, ok := s.block(); ok {
		t.Fatal("stream continued after the lagged event")
	}
	if last == n {
		t.Fatal("every event arrived: the client never lagged")
	}
	f.waitSubscribers(t, 0)

	r := f.dialSSE(t, fmt.Sprintf("key=big&from=%d", last), nil)
	for v := last + 1; v <= n; v++ {
		if ev, _ := r.next(t); ev.Version != v {
			t.Fatalf("resumed: version %d, want %d", ev.Version, v)
		}
	}
}

func TestSSELastEventIDResumesAKeyWatch(t *testing.T) {
	f := newFixture(t, watch.Config{}, nil)
	f.publish(put("k", 1, "a"), put("k", 2, "b"), put("k", 3, "c"))
	s := f.dialSSE(t, "key=k", http.Header{"Last-Event-Id": {"2"}})
	if ev, _ := s.next(t); ev.String() != "put/k@3" {
		t.Fatalf("got %v, want put/k@3", ev)
	}
}

func TestSSEEndsWhenClientOrHubGoes(t *testing.T) {
	f := newFixture(t, watch.Config{}, nil)
	gone := f.dialSSE(t, "prefix=", nil)
	stays := f.dialSSE(t, "prefix=", nil)
	f.waitSubscribers(t, 2)
	gone.close()
	f.waitSubscribers(t, 1)

	f.hub.Close()
	for {
		if _, ok := stays.block(); !ok {
			break
		}
	}
	f.waitSubscribers(t, 0)
}
