package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/distkv/distkv/api"
)

func TestFormatStatus(t *testing.T) {
	var b bytes.Buffer
	formatStatus(&b, testCluster())
	want := `coordinator n2, epoch 7 (as seen by n1)

NODE  STATE  CLIENT          PEER            LAST SEEN
n1    alive  127.0.0.1:7701  127.0.0.1:7801  12ms ago
n2 *  alive  127.0.0.1:7702  127.0.0.1:7802  40ms ago
n10   dead   127.0.0.1:7710  -               9s ago
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
	formatStatus(&b, &api.Cluster{Node: "n1"})
	want := "coordinator -, epoch 0 (as seen by n1)\n\nNODE  STATE  CLIENT  PEER  LAST SEEN\n(* coordinator)\n"
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
