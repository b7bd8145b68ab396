package node

import (
	"slices"
	"strings"
	"testing"

	"github.com/distkv/distkv/internal/keyspace"
)

// Seed 004's variables: with SHARD_COUNT every node of VIEW bootstraps a
// causal default namespace whose shards are VIEW cut in order; without it
// the node joins the others and is numbered by the cluster; both serve
// seed 004's API.
func TestSeed004Config(t *testing.T) {
	view := "10.10.0.2:8090,10.10.0.3:8090,10.10.0.4:8090,10.10.0.5:8090,10.10.0.6:8090,10.10.0.7:8090"
	cfg, err := Options{SocketAddress: "10.10.0.5:8090", View: view, ShardCount: 2}.Config()
	if err != nil {
		t.Fatal(err)
	}
	ns := cfg.defaultNamespace()
	if cfg.ID != 4 || cfg.PeerAddr != "10.10.0.5:9090" || len(cfg.Peers) != 6 || len(cfg.Join) != 0 {
		t.Fatalf("bootstrap node: id %s peer %s, %d peers, join %v", cfg.ID, cfg.PeerAddr, len(cfg.Peers), cfg.Join)
	}
	if ns.Mode != keyspace.ModeCausal || ns.Shards != 2 || ns.Pinned != "n1,n2,n3;n4,n5,n6" || ns.Replicas.N != 3 {
		t.Fatalf("default namespace %+v", ns)
	}
	if err := ns.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cfg.Compat, "seed004") {
		t.Fatalf("compat %v lacks seed004", cfg.Compat)
	}

	ring, err := Options{SocketAddress: "10.10.0.2:8090", View: view, ShardCount: 16}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if rns := ring.defaultNamespace(); rns.Pinned != "" || rns.Mode != keyspace.ModeStrong || rns.Shards != 16 {
		t.Fatalf("more shards than nodes: %+v, want the ring-placed strong namespace", rns)
	}

	late, err := Options{SocketAddress: "10.10.0.8:8090", View: view + ",10.10.0.8:8090"}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if !late.AssignID || late.ID != 0 || late.Peers != nil || len(late.Join) != 6 || late.Join[0] != "10.10.0.2:8090" {
		t.Fatalf("late node: assign %v id %s peers %v join %v", late.AssignID, late.ID, late.Peers, late.Join)
	}

	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{SocketAddress: "10.10.0.9:8090", View: view, ShardCount: 2}, "not in VIEW"},
		{Options{SocketAddress: "10.10.0.2:8090", View: "10.10.0.2:8090"}, "names no other node"},
		{Options{SocketAddress: "10.10.0.2:8090"}, "set together"},
	} {
		if _, err := tc.o.Config(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error containing %q", tc.o, err, tc.want)
		}
	}
}
