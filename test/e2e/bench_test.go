package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/distkv/distkv/internal/bench"
)

// benchJSON runs `distkv bench ... --json` against c and decodes the
// result; it fails the test unless the run exited 0 and succeeded at
// least one operation. No thresholds: this is a smoke test.
func benchJSON(t *testing.T, c *cluster, args ...string) *bench.Result {
	t.Helper()
	args = append([]string{"bench", "--duration", "2s", "--warmup", "500ms", "--clients", "8", "--keys", "1000", "--json"}, args...)
	out, errs, code := c.cli(args...)
	if code != 0 {
		t.Fatalf("distkv %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("distkv %s: bad JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	if res.Ops == 0 || len(res.Series) == 0 {
		t.Fatalf("distkv %s: %d operations, %d seconds of series; errors %v", strings.Join(args, " "), res.Ops, len(res.Series), res.Errors)
	}
	t.Logf("%s %s: %d ops, %.0f ops/s, errors %v", res.Options.Target, res.Options.Workload, res.Ops, res.OpsPerSec, res.Errors)
	return &res
}

// TestBenchSmoke runs `distkv bench` for a few seconds against a real
// local cluster: writes and reads over HTTP, then writes through a
// node's Redis front end.
func TestBenchSmoke(t *testing.T) {
	c := startCluster(t, 3)
	benchJSON(t, c, "--workload", "w")
	if r := benchJSON(t, c, "--workload", "c"); r.Options.Consistency != bench.Linearizable {
		t.Errorf("consistency %q", r.Options.Consistency)
	}
	redisAddr := fmt.Sprintf("127.0.0.1:%d", c.basePort+201)
	benchJSON(t, c, "--target", "redis", "--endpoints", redisAddr, "--workload", "w")
}

// TestBenchCompareSmoke runs the etcd1 cell of `distkv bench compare`
// for a second per run when etcd is installed (it never installs it).
func TestBenchCompareSmoke(t *testing.T) {
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd is not installed")
	}
	c := &cluster{t: t}
	args := []string{"bench", "compare", "--cells", "etcd1", "--runs", "1", "--duration", "1s", "--warmup", "0s",
		"--keys", "200", "--clients", "4", "--workloads", "w,c", "--data-dir", t.TempDir(), "--json"}
	out, errs, code := c.cli(args...)
	if code != 0 {
		t.Fatalf("bench compare: exit %d\n%s%s", code, out, errs)
	}
	var cmp bench.Comparison
	if err := json.Unmarshal([]byte(out), &cmp); err != nil || len(cmp.Cells) != 1 {
		t.Fatalf("bench compare: %v\n%s", err, out)
	}
	cell := cmp.Cells[0]
	for _, side := range []bench.SideResult{cell.Distkv, cell.Peer} {
		if side.Skipped != "" || len(side.Workloads) != 2 || side.Workloads[0].Median.OpsPerSec <= 0 {
			t.Fatalf("%s side: %+v\nstderr:\n%s", side.System, side, errs)
		}
	}
	if cell.Ratios["w"].Throughput <= 0 {
		t.Errorf("no throughput ratio: %+v", cell.Ratios)
	}
}
