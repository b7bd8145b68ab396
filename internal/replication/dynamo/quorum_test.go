package dynamo

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestQuorumTranscripts reads testdata/quorum: how requested quorum sizes
// resolve, and when a read has heard enough.
func TestQuorumTranscripts(t *testing.T) {
	datadriven.RunTest(t, "testdata/quorum", func(t *testing.T, d *datadriven.TestData) string {
		arg := func(k string) int {
			for _, a := range d.CmdArgs {
				if a.Key == k {
					switch a.Vals[0] {
					case "all":
						return AllReplicas
					case "majority":
						return MajorityReplicas
					}
					n, err := strconv.Atoi(a.Vals[0])
					if err != nil {
						t.Fatalf("%s=%s: %v", k, a.Vals[0], err)
					}
					return n
				}
			}
			return 0
		}
		switch d.Cmd {
		case "quorum":
			return fmt.Sprintf("%d\n", quorum(arg("asked"), arg("default"), arg("n")))
		case "read":
			tally := readTally{r: arg("r"), targets: arg("alive")}
			var out strings.Builder
			for i, ans := range strings.Fields(d.Input) {
				if tally.done() {
					fmt.Fprintf(&out, "(answers from %d on are not waited for)\n", i+1)
					break
				}
				tally.add(ans == "found", ans == "error")
				fmt.Fprintf(&out, "%-8s found=%d empty=%d failed=%d done=%v\n", ans, tally.found, tally.empty, tally.fails, tally.done())
			}
			switch {
			case !tally.done():
				out.WriteString("still waiting (until the deadline: unavailable)\n")
			case tally.ok() && tally.found > 0:
				out.WriteString("answer: the merge of the found values\n")
			case tally.ok():
				out.WriteString("answer: not found\n")
			default:
				out.WriteString("answer: unavailable\n")
			}
			return out.String()
		}
		t.Fatalf("unknown command %q", d.Cmd)
		return ""
	})
}
