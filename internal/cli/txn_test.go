package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clustertest"
)

// distkv txn against an in-process cluster: the success branch, the
// failure branch, --json, and usage errors (exit 2, nothing sent).
func TestTxnCommand(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 8})
	c.WaitReady(30 * time.Second)
	ep := strings.TrimPrefix(c.HTTP(1).URL, "http://")
	r := runCLI(t, ep, "", "txn", "--if-absent", "alice", "--put", "alice=100", "--put", "bob=50", "--get", "alice")
	if r.code != 0 || !strings.HasPrefix(r.out, "committed: success branch ran") || !strings.Contains(r.out, "get alice = 100 (version ") {
		t.Fatalf("first txn: %+v", r)
	}
	r = runCLI(t, ep, "", "txn", "--if-absent", "alice", "--put", "alice=1", "--else-get", "alice", "--else-get", "carol")
	if r.code != 0 || !strings.Contains(r.out, "failure (--else) branch ran") || !strings.Contains(r.out, "get alice = 100") ||
		!strings.Contains(r.out, "get carol: not found") {
		t.Fatalf("second txn: %+v", r)
	}
	r = runCLI(t, ep, "", "--json", "txn", "--get", "bob")
	if r.code != 0 || !strings.Contains(r.out, `"value": "50"`) || !strings.Contains(r.out, `"succeeded": true`) {
		t.Fatalf("--json: %+v", r)
	}
	for _, args := range [][]string{
		{"txn"},
		{"txn", "--put", "novalue"},
		{"txn", "--if", "alice=seven", "--get", "alice"},
	} {
		if r := runCLI(t, ep, "", args...); r.code != ExitUsage || r.err == "" {
			t.Errorf("%v: %+v, want a usage error", args, r)
		}
	}
	if r := runCLI(t, ep, "", "txn", "--if-value", "bob=50", "--put", "bob=51"); r.code != 0 {
		t.Fatalf("value comparison: %+v", r)
	}
	if r := runCLI(t, ep, "", "get", "bob"); r.out != "51\n" && r.out != "51" {
		t.Fatalf("bob after the transaction: %+v", r)
	}
}
