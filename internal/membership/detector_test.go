package membership

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clock"
	"github.com/distkv/distkv/internal/keyspace"
)

// A two-node exchange driven by a manual clock: n2 goes silent, is
// suspected, then declared dead, and becomes alive when it speaks again.
func TestDetectorStates(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	var changes []string
	var toN1 [][]byte
	d1 := NewDetector(DetectorConfig{
		Self:         1,
		Send:         func(to keyspace.NodeID, p []byte) {},
		SuspectAfter: time.Second, DeadAfter: 3 * time.Second,
		OnChange: func(id keyspace.NodeID, from, to State) {
			changes = append(changes, fmt.Sprintf("%s %s->%s", id, from, to))
		},
	}, []keyspace.NodeID{1, 2}, clk.Now())
	d2 := NewDetector(DetectorConfig{
		Self:     2,
		Announce: Heartbeat{ClientAddr: "127.0.0.1:7702", Started: 42},
		Send:     func(to keyspace.NodeID, p []byte) { toN1 = append(toN1, p) },
	}, []keyspace.NodeID{1, 2}, clk.Now())

	exchange := func() {
		d2.Tick(clk.Now())
		for _, p := range toN1 {
			d1.Observe(p, clk.Now())
		}
		toN1 = nil
	}
	exchange()
	if d1.State(2) != Alive {
		t.Fatalf("after a heartbeat: %s", d1.State(2))
	}
	if got := d1.Status(clk.Now())[2].Info.ClientAddr; got != "127.0.0.1:7702" {
		t.Fatalf("announced client address = %q", got)
	}
	for i := 0; i < 5; i++ { // 2.5s of silence
		clk.Advance(500 * time.Millisecond)
		d1.Tick(clk.Now())
	}
	if d1.State(2) != Suspect {
		t.Fatalf("after 2.5s of silence: %s, want suspect", d1.State(2))
	}
	clk.Advance(time.Second)
	d1.Tick(clk.Now())
	if d1.State(2) != Dead {
		t.Fatalf("after 3.5s of silence: %s, want dead", d1.State(2))
	}
	exchange()
	if d1.State(2) != Alive {
		t.Fatalf("after speaking again: %s", d1.State(2))
	}
	want := "n2 suspect->alive; n2 alive->suspect; n2 suspect->dead; n2 dead->alive"
	if got := strings.Join(changes, "; "); got != want {
		t.Fatalf("transitions:\n got %s\nwant %s", got, want)
	}
}

func TestDetectorIgnoresGarbageAndSelf(t *testing.T) {
	d := NewDetector(DetectorConfig{Self: 1, Send: func(keyspace.NodeID, []byte) {}}, []keyspace.NodeID{1, 2}, time.Unix(0, 0))
	d.Observe([]byte("not json"), time.Unix(1, 0))
	d.Observe([]byte(`{"id":1}`), time.Unix(1, 0))
	if d.State(2) != Suspect || d.State(1) != Alive {
		t.Fatalf("states: n1 %s n2 %s", d.State(1), d.State(2))
	}
}

func TestClusterIDIsFixedAtBootstrap(t *testing.T) {
	members := []Member{{ID: 1, PeerAddr: "a:1"}, {ID: 2, PeerAddr: "a:2"}, {ID: 3, PeerAddr: "a:3"}}
	ns := keyspace.Namespace{Mode: keyspace.ModeStrong, Replicas: keyspace.Replication{N: 3}, Shards: 4}
	m1, err := Bootstrap(members, ns)
	if err != nil {
		t.Fatal(err)
	}
	withAddr := append([]Member(nil), members...)
	withAddr[0].ClientAddr = "a:7701"
	m2, _ := Bootstrap(withAddr, ns)
	if m1.ClusterID() != m2.ClusterID() || m1.ClusterID() == 0 {
		t.Fatalf("client addresses changed the cluster ID: %d vs %d", m1.ClusterID(), m2.ClusterID())
	}
	other := append([]Member(nil), members...)
	other[2].PeerAddr = "b:3"
	if m3, _ := Bootstrap(other, ns); m3.ClusterID() == m1.ClusterID() {
		t.Fatal("a different peer list gave the same cluster ID")
	}
	later, _, err := m1.withNamespace(keyspace.Namespace{Name: "users", Mode: keyspace.ModeStrong, Replicas: keyspace.Replication{N: 3}, Shards: 2})
	if err != nil || later.ClusterID() != m1.ClusterID() {
		t.Fatalf("creating a namespace changed the cluster ID: %v", err)
	}
}
