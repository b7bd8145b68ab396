package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// result is what one in-process run of the command line produced.
type result struct {
	out, err string
	code     int
}

// runCLI runs the command line against endpoints with stdin.
func runCLI(t *testing.T, endpoints, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		if k == EnvEndpoints {
			return endpoints
		}
		return ""
	}
	code := Run(context.Background(), args, Stdio{In: strings.NewReader(stdin), Out: &out, Err: &errb}, getenv)
	return result{out.String(), errb.String(), code}
}

func TestExitCodes(t *testing.T) {
	s := newFakeAPI(t)
	ep := strings.TrimPrefix(s.URL, "http://")
	if r := runCLI(t, ep, "", "put", "k", "v1"); r.code != 0 || r.out != "OK version=1 (created)\n" {
		t.Fatalf("put: %+v", r)
	}
	cases := []struct {
		args []string
		code int
		err  string // the whole stderr line, or a prefix ending in "..."
	}{
		{[]string{"get", "nope"}, ExitNotFound, `distkv: key "nope" not found (n1)`},
		{[]string{"get", "nope", "--ns", "logs"}, ExitNotFound, `distkv: namespace "logs" not found (n1)`},
		{[]string{"upd", "nope", "v"}, ExitNotFound, `distkv: key "nope" not found (n1)`},
		{[]string{"del", "nope"}, ExitNotFound, `distkv: key "nope" not found (n1)`},
		{[]string{"put", "k", "v", "--create-only"}, ExitConflict, `distkv: key "k" already exists (n1)`},
		{[]string{"put", "k", "v", "--version", "9"}, ExitConflict, `distkv: key "k" is at version 1 (version mismatch) (n1)`},
		{[]string{"del", "k", "--version", "9"}, ExitConflict, `distkv: key "k" is at version 1 (version mismatch) (n1)`},
		{[]string{"ns", "create", "default", "--mode", "eventual"}, ExitConflict, `distkv: namespace "default" already exists with other settings (n1)`},
		{[]string{"get", "busy", "--timeout", "300ms"}, ExitUnavailable, `distkv: get "busy": unavailable: shard 2 has no quorum (n1)`},
		{[]string{"put", "slow", "v"}, ExitUnavailable, `distkv: put "slow": outcome unknown, the write may or may not have been applied: timeout: deadline exceeded (n1)`},
		{[]string{"put", "huge", "v"}, ExitError, `distkv: put "huge": too_large: value over 1048576 bytes (n1)`},
		{[]string{"get"}, ExitUsage, `distkv: get takes KEY, got 0 argument(s) (see 'distkv get --help')`},
		{[]string{"frobnicate"}, ExitUsage, `distkv: unknown command "frobnicate" for "distkv"`},
		{[]string{"put", "k", "v", "--bogus"}, ExitUsage, `distkv: unknown flag: --bogus (see 'distkv put --help')`},
		{[]string{"put", "k", "v", "--create-only", "--update-only"}, ExitUsage, "distkv: if any flags in the group..."},
		{[]string{"get", "k", "--consistency", "eventual"}, ExitUsage, `distkv: --consistency must be linearizable or stale, got "eventual"`},
		{[]string{"ns", "create", "x", "--replicas", "two"}, ExitUsage, `distkv: --replicas must be a positive number or all, got "two"`},
		{[]string{"get", "k", "--timeout", "0s"}, ExitUsage, "distkv: --timeout must be positive, got 0s"},
		{[]string{"get", "k", "--endpoints", "ftp://x"}, ExitUsage, "distkv: bad endpoint..."},
		{[]string{"server"}, ExitUsage, `distkv: --id: node ID "" is not of the form n3 or 3`},
		{[]string{"server", "--id", "n1", "--client-addr", "127.0.0.1:1", "--peer-addr", "127.0.0.1:2", "--in-memory", "--peers", "n1=nohost"}, ExitUsage, `distkv: --peers: n1: address nohost: missing port in address`},
		{[]string{"node", "stop", "n1", "--data-dir", t.TempDir()}, ExitError, "distkv: no local cluster in..."},
	}
	for _, tc := range cases {
		r := runCLI(t, ep, "", tc.args...)
		line, ok := strings.CutSuffix(r.err, "\n")
		match := line == tc.err
		if p, isPrefix := strings.CutSuffix(tc.err, "..."); isPrefix {
			match = strings.HasPrefix(line, p)
		}
		if r.code != tc.code || !ok || strings.Contains(line, "\n") || !match {
			t.Errorf("distkv %s: exit %d, stderr %q; want exit %d, %q", strings.Join(tc.args, " "), r.code, r.err, tc.code, tc.err)
		}
	}
}

func TestNoEndpointExit(t *testing.T) {
	r := runCLI(t, "127.0.0.1:1", "", "get", "k", "--timeout", "300ms")
	want := `distkv: get "k": no node reachable (tried 127.0.0.1:1): connect: connection refused` + "\n"
	if r.code != ExitUnavailable || r.err != want {
		t.Errorf("exit %d, stderr %q; want %d, %q", r.code, r.err, ExitUnavailable, want)
	}
}

func TestKVCommands(t *testing.T) {
	s := newFakeAPI(t)
	ep := s.URL
	steps := []struct {
		stdin string
		args  []string
		out   string
	}{
		{"", []string{"put", "a/b c", "hello world"}, "OK version=1 (created)\n"},
		{"from\nstdin", []string{"put", "k2", "-"}, "OK version=2 (created)\n"},
		{"", []string{"put", "k2", "again", "--version", "2"}, "OK version=3\n"},
		{"", []string{"upd", "k2", "more"}, "OK version=4\n"},
		{"", []string{"get", "a/b c"}, "hello world"},
		{"", []string{"get", "k2", "--json"}, "{\n  \"key\": \"k2\",\n  \"value\": \"more\",\n  \"version\": 4,\n  \"node\": \"n1\"\n}\n"},
		{"", []string{"put", "k3", "\x00bin"}, "OK version=5 (created)\n"},
		{"", []string{"scan", "k", "--values"}, "KEY  VERSION  VALUE\nk2   4        more\nk3   5        \"\\x00bin\"\n"},
		{"", []string{"scan", "--limit", "2"}, "KEY    VERSION\na/b c  1\nk2     4\n"},
		{"", []string{"scan", "k", "--json"}, "{\"key\":\"k2\",\"version\":4}\n{\"key\":\"k3\",\"version\":5}\n"},
		{"", []string{"del", "k3"}, "OK deleted version=5\n"},
		{"", []string{"ns", "create", "logs", "--mode", "strong", "--replicas", "all", "--shards", "4"}, "OK namespace \"logs\" created\n"},
		{"", []string{"ns", "create", "logs", "--mode", "strong"}, "OK namespace \"logs\" already exists with these settings\n"},
		{"", []string{"put", "x", "1", "--ns", "logs"}, "OK version=6 (created)\n"},
		{"", []string{"locate", "x", "--ns", "logs"}, "key \"x\": namespace logs, shard 2 (group default/2), leader n2, replicas n1,n2,n3\n"},
		{"", []string{"dump", "--node", strings.TrimPrefix(ep, "http://")}, "SHARD      KEY  VERSION  LEADER  VALUE\ndefault/1  a    3        *       1\ndefault/2  b    4                \"\\xff\"\n"},
	}
	for _, st := range steps {
		r := runCLI(t, ep, st.stdin, st.args...)
		if r.code != 0 || r.out != st.out || r.err != "" {
			t.Errorf("distkv %s: exit %d\nstdout %q\nstderr %q\nwant stdout %q", strings.Join(st.args, " "), r.code, r.out, r.err, st.out)
		}
	}
	r := runCLI(t, ep, "", "ns", "list")
	if r.code != 0 || !strings.Contains(r.out, "logs     2   strong  all       4") {
		t.Errorf("ns list: %+v", r)
	}
}

func TestDumpUnknownNode(t *testing.T) {
	s := newFakeAPI(t)
	r := runCLI(t, s.URL, "", "dump", "--node", "n7")
	want := `distkv: no node "n7" in the cluster (nodes: n1, n2, n10)` + "\n"
	if r.code != ExitError || r.err != want {
		t.Errorf("exit %d, stderr %q; want %q", r.code, r.err, want)
	}
}
