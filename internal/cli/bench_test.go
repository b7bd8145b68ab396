package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/distkv/distkv/internal/bench"
)

func TestBenchAgainstFakeNode(t *testing.T) {
	s := newFakeAPI(t)
	ep := strings.TrimPrefix(s.URL, "http://")
	html := filepath.Join(t.TempDir(), "report.html")
	r := runCLI(t, ep, "", "bench", "--workload", "a", "--ops", "300", "--duration", "0", "--warmup", "0",
		"--clients", "4", "--keys", "50", "--json", "--html", html)
	if r.code != 0 {
		t.Fatalf("bench: exit %d: %s", r.code, r.err)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(r.out), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.out)
	}
	if res.Ops != 300 || res.TotalErrors() != 0 || res.Options.Endpoints[0] != ep || res.Options.Clients != 4 {
		t.Fatalf("result: ops %d errors %v config %+v", res.Ops, res.Errors, res.Options)
	}
	b, err := os.ReadFile(html)
	if err != nil || strings.Count(string(b), "<svg") != 2 {
		t.Fatalf("HTML report: %v, %d charts", err, strings.Count(string(b), "<svg"))
	}

	r = runCLI(t, ep, "", "bench", "--workload", "load", "--keys", "40", "--clients", "3")
	if r.code != 0 || !strings.Contains(r.out, "until done after 0s warmup") || !regexp.MustCompile(`write\s+40\s`).MatchString(r.out) {
		t.Fatalf("bench load: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

func TestBenchFailsWhenNothingSucceeds(t *testing.T) {
	s := newFakeAPI(t)
	ep := strings.TrimPrefix(s.URL, "http://")
	s.Close() // nothing listens there any more: every operation fails

	r := runCLI(t, ep, "", "bench", "--ops", "5", "--duration", "0", "--warmup", "0", "--clients", "1", "--timeout", "200ms")
	if r.code != ExitError || !strings.Contains(r.err, "no operation succeeded (5 failed)") || !strings.Contains(r.out, "unavailable 5") {
		t.Fatalf("exit %d\nout: %s\nerr: %s", r.code, r.out, r.err)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		err  string
	}{
		{[]string{"bench", "--endpoints", "10.0.0.5:7701"}, "10.0.0.5 is not a loopback address"},
		{[]string{"bench", "--endpoints", "[2001:db8::1]:1", "--target", "etcd"}, "--allow-remote"},
		{[]string{"bench", "--workload", "z"}, `unknown workload "z"`},
		{[]string{"bench", "--dist", "pareto"}, `unknown key distribution "pareto"`},
		{[]string{"bench", "--target", "mongo"}, `unknown target "mongo"`},
		{[]string{"bench", "--keys", "100000", "--key-size", "4"}, "key size 4 is too small for 100000 keys (need at least 6 bytes)"},
		{[]string{"bench", "--duration", "0"}, "give a duration or an operation count"},
		{[]string{"bench", "--target", "redis", "--consistency", "stale"}, "not available with --target redis"},
		{[]string{"bench", "--target", "etcd", "--ns", "users"}, "not available with --target etcd"},
		{[]string{"bench", "--consistency", "eventual"}, `unknown consistency "eventual"`},
		{[]string{"bench", "compare", "--cells", "etcd3,mysql"}, `unknown cell "mysql"`},
		{[]string{"bench", "compare", "--runs", "0"}, "--runs must be at least 1"},
		{[]string{"bench", "compare", "--workloads", "load"}, "compare a, b, c, w, hset or hgetall"},
		{[]string{"bench", "extra"}, "bench takes no arguments"},
	}
	for _, c := range cases {
		r := runCLI(t, "127.0.0.1:1", "", c.args...)
		if r.code != ExitUsage || !strings.Contains(r.err, c.err) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, r.code, r.err, ExitUsage, c.err)
		}
	}
}

func TestBenchDefaultEndpoints(t *testing.T) {
	a := &app{endpoints: "127.0.0.1:7701"}
	cmd := a.newBenchCmd() // no root: --endpoints was not given
	for target, want := range map[string]string{
		bench.TargetDistkv: "127.0.0.1:7701",
		bench.TargetEtcd:   defaultEtcdEndpoint,
		bench.TargetRedis:  defaultRedisEndpoint,
	} {
		if got := a.benchEndpoints(cmd, target); got != want {
			t.Errorf("target %s: endpoints %q, want %q", target, got, want)
		}
	}
	if got := argValue([]string{"server", "--redis-addr", "127.0.0.1:7901", "--x"}, "--redis-addr"); got != "127.0.0.1:7901" {
		t.Errorf("argValue = %q", got)
	}
}
