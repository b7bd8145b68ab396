package lincheck

import (
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is a check's outcome.
type Verdict string

const (
	Linearizable    Verdict = "linearizable"
	NotLinearizable Verdict = "not linearizable"
	// Inconclusive: the checker ran out of time.
	Inconclusive Verdict = "inconclusive"
)

// Result summarizes a check.
type Result struct {
	Verdict Verdict
	// Ops counts operations checked; Unknown those with an open end.
	Ops, Unknown int
	// Keys counts keys checked.
	Keys int
	// FailingKey and FailingOps describe the smallest key history that is
	// not linearizable, when there is one.
	FailingKey string
	FailingOps []string
	info       porcupine.LinearizationInfo
	model      porcupine.Model
}

// Check checks history within timeout.
func Check(history []porcupine.Operation, timeout time.Duration) Result {
	m := Model.ToModel()
	res, info := porcupine.CheckOperationsVerbose(m, history, timeout)
	r := Result{Ops: len(history), info: info, model: m}
	keys := map[string]int{}
	for _, op := range history {
		keys[op.Input.(Input).Key]++
		if op.Output.(Output).Unknown {
			r.Unknown++
		}
	}
	r.Keys = len(keys)
	switch res {
	case porcupine.Ok:
		r.Verdict = Linearizable
	case porcupine.Illegal:
		r.Verdict = NotLinearizable
		r.FailingKey, r.FailingOps = smallestFailure(m, history, keys, timeout)
	default:
		r.Verdict = Inconclusive
	}
	return r
}

// smallestFailure checks each key alone and describes the failing key with
// the fewest operations.
func smallestFailure(m porcupine.Model, history []porcupine.Operation, keys map[string]int, timeout time.Duration) (string, []string) {
	var best string
	var bestOps []porcupine.Operation
	for _, part := range m.Partition(history) {
		k := part[0].Input.(Input).Key
		if bestOps != nil && len(part) >= len(bestOps) {
			continue
		}
		if porcupine.CheckOperationsTimeout(m, part, timeout) == porcupine.Illegal {
			best, bestOps = k, part
		}
	}
	var lines []string
	for _, op := range bestOps {
		end := "open"
		if op.Return != maxInt64 {
			end = fmt.Sprint(time.Duration(op.Return))
		}
		lines = append(lines, fmt.Sprintf("client %d [%v, %s] %s", op.ClientId, time.Duration(op.Call), end, m.DescribeOperation(op.Input, op.Output)))
	}
	return best, lines
}

const maxInt64 = 1<<63 - 1

// Visualize writes porcupine's interactive HTML view of the checked
// history to path.
func (r Result) Visualize(path string) error {
	return porcupine.VisualizePath(r.model, r.info, path)
}
