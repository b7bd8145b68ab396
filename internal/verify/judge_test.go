package verify

import (
	"strings"
	"testing"
)

func TestDescribeDiffNamesWhatIsMissingWhere(t *testing.T) {
	same := map[string]string{"a": "1", "b": "2"}
	if d := describeDiff(same, map[string]string{"b": "2", "a": "1"}, "n1", "n2"); d != "" {
		t.Fatalf("equal contents described as %q", d)
	}
	if d := describeDiff(nil, nil, "n1", "n2"); d != "" {
		t.Fatalf("two empty replicas described as %q", d)
	}
	d := describeDiff(map[string]string{"a": "1", "b": "2", "c": "3"}, map[string]string{"a": "1", "b": "9", "d": "4"}, "n1", "n2")
	for _, want := range []string{"n1 holds 3 keys, n2 3", "3 differ (1 only on n1, 1 only on n2)", "b (n1: 2; n2: 9)", "c (n1: 3; n2: absent)", "d (n1: absent; n2: 4)"} {
		if !strings.Contains(d, want) {
			t.Errorf("%q lacks %q", d, want)
		}
	}
}
