package resp

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"", "", true},
		{"", "a", false},
		{"a*", "abc", true},
		{"a*", "bac", false},
		{"*c", "abc", true},
		{"a*c", "ac", true},
		{"a*c", "abcbc", true},
		{"a*c", "abcb", false},
		{"h?llo", "hello", true},
		{"h?llo", "hllo", false},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true},
		{"h[b-a]llo", "hallo", true}, // reversed ranges are swapped
		{"h[a-b]llo", "hcllo", false},
		{`h\*llo`, "h*llo", true},
		{`h\*llo`, "hello", false},
		{`[\]]`, "]", true},
		{`[\-]`, "-", true},
		{"[]", "a", false},
		{"[abc", "b", true}, // an open set runs to the end of the pattern
		{`a\`, `a\`, true},  // a trailing backslash is itself
		{"user:*:name", "user:42:name", true},
		{"user:*:name", "user:42:email", false},
		{"*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"\xff*", "\xff\x00", true},
	} {
		if got := match([]byte(tc.p), []byte(tc.s)); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

// naiveMatch is the obvious recursive glob matcher (exponential, and
// trusted because it is obvious), against which match is checked.
func naiveMatch(p, s []byte) bool {
	if len(p) == 0 {
		return len(s) == 0
	}
	if p[0] == '*' {
		for i := 0; i <= len(s); i++ {
			if naiveMatch(p[1:], s[i:]) {
				return true
			}
		}
		return false
	}
	if len(s) == 0 {
		return false
	}
	width, ok := matchOne(p, 0, s[0])
	return ok && naiveMatch(p[width:], s[1:])
}

// TestMatchAgainstNaive compares match with naiveMatch, and checks that
// every matching key starts with the pattern's literal prefix (what makes
// scanning only that prefix correct), on random patterns and keys over a
// small alphabet.
func TestMatchAgainstNaive(t *testing.T) {
	const seed = 1
	rng := rand.New(rand.NewPCG(seed, seed))
	pick := func(alphabet string, n int) []byte {
		b := make([]byte, rng.IntN(n+1))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return b
	}
	matches := 0
	for range 200000 {
		p := pick(`ab*?[]^-\`, 7)
		s := pick("ab-]^*", 6)
		got, want := match(p, s), naiveMatch(p, s)
		if got != want {
			t.Fatalf("seed %d: match(%q, %q) = %v, naive says %v", seed, p, s, got, want)
		}
		if got {
			matches++
			if pre := literalPrefix(p); !bytes.HasPrefix(s, pre) {
				t.Fatalf("seed %d: %q matches %q but lacks its literal prefix %q", seed, s, p, pre)
			}
		}
	}
	if matches < 1000 {
		t.Fatalf("only %d matches: the generator tests too little", matches)
	}
}

func TestLiteralPrefix(t *testing.T) {
	for p, want := range map[string]string{
		"":           "",
		"*":          "",
		"user:*":     "user:",
		"user:?":     "user:",
		"user[12]":   "user",
		`a\*b*`:      "a*b",
		"exact":      "exact",
		`trailing\`:  `trailing\`,
		`esc\[x]*`:   "esc[x]",
		`\\double\*`: `\double*`,
	} {
		if got := literalPrefix([]byte(p)); string(got) != want {
			t.Errorf("literalPrefix(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestCursorTable(t *testing.T) {
	tab := newCursorTable(3)
	a := tab.issue("default", []byte("a"), 0)
	if again := tab.issue("default", []byte("a"), 0); again != a {
		t.Fatalf("same position, different cursors: %d, %d", a, again)
	}
	if after, ok := tab.lookup(a, "default"); !ok || string(after) != "a" {
		t.Fatalf("lookup = %q, %v", after, ok)
	}
	if _, ok := tab.lookup(a, "other"); ok {
		t.Fatal("a cursor of another namespace was accepted")
	}
	if _, ok := tab.lookup(12345, "default"); ok {
		t.Fatal("an unknown cursor was accepted")
	}
	// Presenting b forgets a, the cursor b was issued from; a client can
	// still retry b.
	b := tab.issue("default", []byte("b"), a)
	tab.lookup(b, "default")
	if _, ok := tab.lookup(a, "default"); ok {
		t.Fatal("the predecessor of a presented cursor is still known")
	}
	if _, ok := tab.lookup(b, "default"); !ok {
		t.Fatal("a cursor cannot be presented twice")
	}
	// The least recently used cursor goes first.
	c := tab.issue("default", []byte("c"), 0)
	d := tab.issue("default", []byte("d"), 0)
	tab.lookup(b, "default")
	e := tab.issue("default", []byte("e"), 0)
	if n := tab.mu.lru.Len(); n != 3 {
		t.Fatalf("%d cursors remembered, want 3", n)
	}
	for id, want := range map[uint64]bool{b: true, c: false, d: true, e: true} {
		if _, ok := tab.lookup(id, "default"); ok != want {
			t.Errorf("cursor %d known = %v, want %v", id, ok, want)
		}
	}
}
