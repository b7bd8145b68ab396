package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
)

// A node whose start fails returns the error (it used to panic closing a
// nil node) and releases what it had opened, so a second start with the
// same data directory in the same process succeeds.
func TestNewFailureReleasesWhatItOpened(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	refused := errors.New("the cluster refused to admit this node")
	_, err := New(Config{
		ID:       1,
		DataDir:  dir,
		PeerAddr: "127.0.0.1:0",
		Logger:   quiet,
		JoinFunc: func(context.Context, api.MemberRequest) (api.MemberChange, error) {
			return api.MemberChange{}, refused
		},
	})
	if !errors.Is(err, refused) {
		t.Fatalf("New with a refused join: err = %v, want %v", err, refused)
	}

	// The peer port is taken: New fails after storage is open.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	peers := []membership.Member{{ID: 1, PeerAddr: l.Addr().String()}}
	if _, err := New(Config{ID: 1, DataDir: dir, PeerAddr: l.Addr().String(), Peers: peers, Logger: quiet}); err == nil {
		t.Fatal("New on a peer address already in use succeeded")
	}

	// Storage's lock was released both times: the same directory opens.
	n, err := New(Config{ID: 1, DataDir: dir, PeerAddr: "127.0.0.1:0", Peers: []membership.Member{{ID: keyspace.NodeID(1), PeerAddr: "127.0.0.1:0"}}, Logger: quiet})
	if err != nil {
		t.Fatalf("New after two failed starts: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
