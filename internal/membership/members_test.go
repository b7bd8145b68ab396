package membership

import (
	"errors"
	"strings"
	"testing"

	"github.com/distkv/distkv/internal/keyspace"
)

// A join request is what a node with an empty data directory sends. The
// same request again while the node is joining is its retry; once the
// member is past joining it is the node having lost its data, and it is
// refused whatever state the member is in.
func TestRejoinWithEmptyDataIsRefusedPastJoining(t *testing.T) {
	m, err := Bootstrap([]Member{{ID: 1, PeerAddr: "h:1"}, {ID: 2, PeerAddr: "h:2"}},
		keyspace.Namespace{Name: "default", Mode: keyspace.ModeStrong, Replicas: keyspace.Replication{N: 1}, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	add := func(m *Map, mb Member) Result {
		return Command{Op: OpAddMember, Member: &mb}.Apply(m)
	}
	r := add(m, Member{ID: 3, PeerAddr: "h:3"})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	joining := r.Map
	if again := add(joining, Member{ID: 3, PeerAddr: "h:3"}); again.Err != nil || again.Map != joining {
		t.Fatalf("a joining node's retry: map changed or failed: %v", again.Err)
	}
	// n1 is active since bootstrap.
	if r := add(joining, Member{ID: 1, PeerAddr: "h:1"}); !errors.Is(r.Err, ErrConflict) || !strings.Contains(r.Err.Error(), "empty data directory") {
		t.Fatalf("re-join of active n1: %v, want a conflict naming the empty data directory", r.Err)
	}
	for _, st := range []MemberState{MemberActive, MemberDead, MemberDraining} {
		r := Command{Op: OpMemberState, Node: 3, State: st}.Apply(joining)
		if r.Err != nil {
			t.Fatalf("n3 -> %s: %v", st, r.Err)
		}
		if again := add(r.Map, Member{ID: 3, PeerAddr: "h:3"}); !errors.Is(again.Err, ErrConflict) {
			t.Errorf("re-join of %s n3: %v, want a conflict", st, again.Err)
		}
	}
}
