package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/distkv/distkv/api"
)

func TestFormatStatus(t *testing.T) {
	var b bytes.Buffer
	formatStatus(&b, testCluster(), percent)
	want := `coordinator n2, epoch 7 (as seen by n1)

NODE  MEMBER  STATE  CLIENT          PEER            LAST SEEN
n1    -       alive  127.0.0.1:7701  127.0.0.1:7801  12ms ago
n2 *  -       alive  127.0.0.1:7702  127.0.0.1:7802  40ms ago
n10   -       dead   127.0.0.1:7710  -               9s ago
(* coordinator)

NAMESPACE  MODE    REPLICAS  SHARDS
default    strong  3         2

SHARD      LEADER  REPLICAS   KEYS  TERM  APPLIED
default/0  n1      n1,n2,n10  42    2     99
default/1  NONE    n1,n2,n10  ?     3     0
2 shards, 42 keys, 1 WITHOUT A LEADER

FAULT  KIND       DETAIL
1      partition  groups=n1|n2,n10 until=30s
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestFormatStatusEmpty(t *testing.T) {
	var b bytes.Buffer
	formatStatus(&b, &api.Cluster{Node: "n1"}, percent)
	want := "coordinator -, epoch 0 (as seen by n1)\n\nNODE  MEMBER  STATE  CLIENT  PEER  LAST SEEN\n(* coordinator)\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestStatusLine(t *testing.T) {
	want := "coordinator n2; nodes n1 alive, n2 alive, n10 dead; 2 shards, 1 without a leader; 42 keys; 1 active fault(s)"
	if got := statusLine(testCluster()); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestStatusCommand(t *testing.T) {
	s := newFakeAPI(t)
	r := runCLI(t, s.URL, "", "status")
	if r.code != 0 || !strings.HasPrefix(r.out, "coordinator n2, epoch 7") {
		t.Errorf("status: %+v", r)
	}
	r = runCLI(t, s.URL, "", "status", "--json")
	if r.code != 0 || !strings.Contains(r.out, `"coordinator": "n2"`) {
		t.Errorf("status --json: %+v", r)
	}
}

func TestFormatStatusMembership(t *testing.T) {
	cl := &api.Cluster{Node: "n1", Coordinator: "n1", Epoch: 12,
		Nodes: []api.Node{
			{ID: "n1", State: "alive", Membership: api.MemberActive},
			{ID: "n2", State: "alive", Membership: api.MemberDraining},
			{ID: "n4", State: "alive", Membership: api.MemberJoining},
		},
		Namespaces: []api.Namespace{{Name: "default", Mode: "strong", Replicas: "3", Shards: 16,
			Reshard: &api.Reshard{Namespace: "default", From: 16, To: 24, Phase: "copying"}}},
		Moves: []api.Move{{ID: 3, Namespace: "default", Shard: 5, From: "n2", To: "n4", Step: "catching up", Progress: 0.5, Reason: "drain"}},
	}
	var b bytes.Buffer
	formatStatus(&b, cl, progressBar)
	want := `coordinator n1, epoch 12 (as seen by n1)

NODE  MEMBER    STATE  CLIENT  PEER  LAST SEEN
n1 *  active    alive  -       -     -
n2    draining  alive  -       -     -
n4    joining   alive  -       -     -
(* coordinator)

NAMESPACE  MODE    REPLICAS  SHARDS
default    strong  3         16

MOVE  SHARD      FROM  TO  STEP         PROGRESS                     WHY
3     default/5  n2    n4  catching up  [##########..........]  50%  drain

RESHARD  SHARDS    PHASE    STEP
default  16 -> 24  copying  -
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
