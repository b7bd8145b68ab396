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

// Interactive transactions step by step, as seed 001's scripts run them:
// begin, put and get inside, status, prepare, commit from separate
// commands (any endpoint finds the transaction); the shell's BEGIN ...
// COMMIT and ROLLBACK; and the errors: an unknown ID, a step after the
// end, a read that changed before prepare (exit 4, conflict).
func TestInteractiveTxnCommands(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 8})
	c.WaitReady(30 * time.Second)
	eps := strings.TrimPrefix(c.HTTP(1).URL, "http://") + "," + strings.TrimPrefix(c.HTTP(2).URL, "http://")
	r := runCLI(t, eps, "", "txn", "begin", "--ttl", "30s")
	id := strings.TrimSpace(r.out)
	if r.code != 0 || id == "" {
		t.Fatalf("begin: %+v", r)
	}
	for _, args := range [][]string{{"put", "--txn", id, "alice", "40"}, {"put", "--txn", id, "bob", "60"}, {"del", "--txn", id, "carol"}} {
		if r := runCLI(t, eps, "", args...); r.code != 0 || !strings.Contains(r.out, "buffered") {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	if r := runCLI(t, eps, "", "get", "--txn", id, "alice"); r.code != 0 || strings.TrimSpace(r.out) != "40" {
		t.Fatalf("get inside: %+v", r)
	}
	if r := runCLI(t, eps, "", "get", "alice"); r.code != ExitNotFound {
		t.Fatalf("get outside before the commit: %+v, want not found", r)
	}
	if r := runCLI(t, eps, "", "txn", "prepare", id); r.code != 0 || !strings.Contains(r.out, ": prepared") || !strings.Contains(r.out, "commit point") {
		t.Fatalf("prepare: %+v", r)
	}
	if r := runCLI(t, eps, "", "txn", "commit", id); r.code != 0 || !strings.Contains(r.out, ": committed") {
		t.Fatalf("commit: %+v", r)
	}
	if r := runCLI(t, eps, "", "get", "bob"); strings.TrimSpace(r.out) != "60" {
		t.Fatalf("bob after the commit: %+v", r)
	}
	if r := runCLI(t, eps, "", "txn", "rollback", id); r.code == 0 || !strings.Contains(r.err, "committed") {
		t.Fatalf("rollback after commit: %+v, want an error", r)
	}
	if r := runCLI(t, eps, "", "txn", "status", "n7-nope"); r.code == 0 || r.err == "" {
		t.Fatalf("status of an unknown transaction: %+v", r)
	}
	if r := runCLI(t, eps, "", "put", "--txn", id, "--create-only", "x", "1"); r.code != ExitUsage {
		t.Fatalf("--txn with --create-only: %+v, want a usage error", r)
	}

	// A read that changed before prepare: the commit aborts, exit 4.
	id = strings.TrimSpace(runCLI(t, eps, "", "txn", "begin").out)
	runCLI(t, eps, "", "get", "--txn", id, "alice")
	runCLI(t, eps, "", "put", "--txn", id, "bob", "0")
	runCLI(t, eps, "", "put", "alice", "41")
	if r := runCLI(t, eps, "", "txn", "commit", id); r.code != ExitConflict || !strings.Contains(r.err, "changed") {
		t.Fatalf("commit after a read changed: %+v, want exit %d naming the change", r, ExitConflict)
	}

	script := "BEGIN\nPUT k1 one\nGET k1\nSET k2 x\nPREPARE\nCOMMIT\nGET k1\nBEGIN\nPUT k1 two\nROLLBACK\nGET k1\nCOMMIT\n"
	r = runCLI(t, eps, script, "shell")
	for _, want := range []string{"OK (transaction ", "QUEUED", "\none\n", "ERR usage: SET does not run inside a transaction",
		"OK (prepared on ", "OK (committed ", "OK (rolled back ", "ERR usage: COMMIT without a transaction"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("shell output lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Count(r.out, "\none\n") != 3 {
		t.Errorf("k1 should read one inside the transaction, after its commit and after the rollback:\n%s", r.out)
	}
}
