package transport

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/certs"
	"github.com/distkv/distkv/internal/tlsconf"
)

// peerTLS makes a CA in a new directory and returns a configuration hook
// giving a transport node certificate n<ID> of that CA.
func peerTLS(t *testing.T, ids ...uint64) func(c *Config) {
	t.Helper()
	dir := t.TempDir()
	if err := certs.InitCA(dir, time.Hour); err != nil {
		t.Fatal(err)
	}
	srcs := map[uint64]*tlsconf.Source{}
	for _, id := range ids {
		name := "n" + string(rune('0'+id))
		cert, key, err := certs.Node(dir, name, []string{"127.0.0.1"}, time.Time{}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		s, err := tlsconf.Load(tlsconf.Files{Cert: cert, Key: key, CA: filepath.Join(dir, certs.CACert)})
		if err != nil {
			t.Fatal(err)
		}
		srcs[id] = s
	}
	return func(c *Config) {
		s := srcs[c.ID]
		sc, err := s.ServerConfig(true)
		if err != nil {
			t.Fatal(err)
		}
		c.ServerTLS, c.ClientTLS = sc, s.ClientConfig
	}
}

// Peers with certificates of one CA exchange messages, calls and
// snapshots over mutual TLS; a peer whose certificate another CA signed
// is refused, and the refusal is logged on both sides.
func TestTCPMutualTLS(t *testing.T) {
	checkNoLeaks(t)
	var box inbox
	good := peerTLS(t, 1, 2)
	stranger := peerTLS(t, 3)
	logs := map[uint64]*syncBuffer{1: {}, 2: {}, 3: {}}
	cl := &cluster{ts: map[uint64]*TCP{}}
	for id, hook := range map[uint64]func(*Config){1: good, 2: good, 3: stranger} {
		cl.start(t, id, "127.0.0.1:0", func(c *Config) {
			hook(c)
			c.Logger = slog.New(slog.NewTextHandler(logs[c.ID], nil))
			c.Handlers.Message = box.handler
			c.Handlers.Call = func(_ context.Context, from uint64, req []byte) ([]byte, error) {
				return append([]byte("echo "), req...), nil
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := cl.ts[1].Call(ctx, 2, []byte("hi"))
	if err != nil || string(got) != "echo hi" {
		t.Fatalf("call over mutual TLS: %q, %v", got, err)
	}
	for i := range 100 {
		cl.ts[2].Send(Message{Type: 1, To: 1, Payload: seqPayload(i)})
	}
	waitFor(t, "messages over TLS", func() bool { return box.len() == 100 })

	// Node 3's CA is not ours, and ours is not its: neither way works.
	if _, err := cl.ts[3].Call(ctx, 1, []byte("let me in")); err == nil {
		t.Fatal("a peer with another CA's certificate got a call through")
	} else if !errors.Is(err, ErrNotSent) {
		t.Fatalf("refused TLS call: %v, want ErrNotSent (nothing reached the peer)", err)
	}
	if _, err := cl.ts[1].Call(ctx, 3, []byte("hello?")); err == nil {
		t.Fatal("a call reached a peer with another CA's certificate")
	}
	waitFor(t, "the refusals logged", func() bool {
		return strings.Contains(logs[1].String(), "refused a peer's TLS handshake") &&
			strings.Contains(logs[1].String(), "TLS handshake with a peer failed")
	})
	if box.len() != 100 {
		t.Fatalf("%d messages delivered, want the 100 from node 2 only", box.len())
	}
}
