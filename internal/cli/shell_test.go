package cli

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitWords(t *testing.T) {
	cases := []struct {
		line string
		want []string
		err  string
	}{
		{"", nil, ""},
		{"   \t ", nil, ""},
		{"SET a 1", []string{"SET", "a", "1"}, ""},
		{"  set\ta   1  ", []string{"set", "a", "1"}, ""},
		{`SET k "hello world"`, []string{"SET", "k", "hello world"}, ""},
		{`SET k ""`, []string{"SET", "k", ""}, ""},
		{`SET k 'it''s'`, []string{"SET", "k", "its"}, ""},
		{`SET k 'a "b" \n'`, []string{"SET", "k", `a "b" \n`}, ""},
		{`SET k "a \"b\" \\ \n\t"`, []string{"SET", "k", "a \"b\" \\ \n\t"}, ""},
		{`SET k a"b c"d`, []string{"SET", "k", "ab cd"}, ""},
		{`SET k\ 1 v`, []string{"SET", "k 1", "v"}, ""},
		{`SET "ünï cødé" ✓`, []string{"SET", "ünï cødé", "✓"}, ""},
		{`SET k "open`, nil, `unterminated " quote`},
		{`SET k 'open`, nil, "unterminated ' quote"},
		{`SET k "a\`, nil, `unterminated " quote`},
		{`SET k "\q"`, nil, `unknown escape \q`},
		{`SET k \`, nil, `lone \`},
	}
	for _, tc := range cases {
		got, err := splitWords(tc.line)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("splitWords(%q) = %q, %v; want error %q", tc.line, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
}

// TestShellScript runs the shell on a script, as `printf ... | distkv
// shell` does.
func TestShellScript(t *testing.T) {
	s := newFakeAPI(t)
	script := strings.Join([]string{
		"# a comment",
		"SET a 1",
		"set a 2",
		`PUT greeting "hello world"`,
		"GET greeting",
		"UPD a 3",
		"UPD missing 1",
		"get a",
		"GET missing",
		"PUT multi word value",
		"GET multi",
		"SCAN",
		"DEL a",
		"DEL a",
		"GET",
		`SET "unterminated`,
		"FLY away",
		"STATUS",
		"USE nowhere",
		"USE default",
		"PUT busy x",
		"EXIT",
		"GET greeting",
	}, "\n")
	r := runCLI(t, s.URL, script, "shell", "--timeout", "300ms")
	want := strings.Join([]string{
		"OK (version 1)",
		`ERR exists: key "a" already exists (n1)`,
		"OK (version 2)",
		"hello world",
		"OK (version 3)",
		"(not found)",
		"3",
		"(not found)",
		"OK (version 4)",
		"word value",
		"a = 3",
		"greeting = hello world",
		"multi = word value",
		"(3 keys)",
		"OK (deleted version 3)",
		"(not found)",
		"ERR usage: GET key",
		`ERR usage: unterminated " quote`,
		`ERR usage: unknown command "FLY" (HELP lists them)`,
		"coordinator n2; nodes n1 alive, n2 alive, n10 dead; 2 shards, 1 without a leader; 42 keys; 1 active fault(s)",
		`ERR namespace_not_found: namespace "nowhere" not found (n1)`,
		"OK (namespace default)",
		"ERR unavailable: shard 2 has no quorum (n1)",
	}, "\n") + "\n"
	if r.code != 0 || r.out != want || r.err != "" {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.err, r.out, want)
	}
}

func TestShellNamespaces(t *testing.T) {
	s := newFakeAPI(t)
	if r := runCLI(t, s.URL, "", "ns", "create", "logs"); r.code != 0 {
		t.Fatalf("ns create: %+v", r)
	}
	r := runCLI(t, s.URL, "USE logs\nSET k in-logs\nUSE default\nGET k\nUSE logs\nGET k\nhelp\n", "shell")
	if !strings.HasPrefix(r.out, "OK (namespace logs)\nOK (version 1)\nOK (namespace default)\n(not found)\nOK (namespace logs)\nin-logs\nCommands") {
		t.Errorf("got %q", r.out)
	}
}
