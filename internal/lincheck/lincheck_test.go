package lincheck

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// op builds a history entry; ret < 0 means an open end.
func op(client int, call, ret int64, in Input, out Output) porcupine.Operation {
	if ret < 0 {
		ret = maxInt64
	}
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

func put(k, v string) Input                  { return Input{Kind: Put, Key: k, Value: v} }
func get(k string) Input                     { return Input{Kind: Get, Key: k} }
func cas(k string, e uint64, v string) Input { return Input{Kind: CAS, Key: k, Expect: e, Value: v} }
func del(k string) Input                     { return Input{Kind: Delete, Key: k} }
func ok(v uint64) Output                     { return Output{OK: true, Version: v} }
func found(v string, ver uint64) Output      { return Output{Found: true, Value: v, Version: ver} }

var (
	missing = Output{}
	failed  = Output{}
	unknown = Output{Unknown: true}
)

func TestChecker(t *testing.T) {
	cases := []struct {
		name string
		h    []porcupine.Operation
		want Verdict
	}{
		{"sequential put then get", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(5)),
			op(0, 20, 30, get("x"), found("a", 5)),
		}, Linearizable},
		{"stale read after an acknowledged write", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(5)),
			op(0, 20, 30, put("x", "b"), ok(6)),
			op(1, 40, 50, get("x"), found("a", 5)),
		}, NotLinearizable},
		{"lost write: acknowledged, then never seen", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(5)),
			op(1, 20, 30, get("x"), missing),
		}, NotLinearizable},
		{"read of a value never written", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(5)),
			op(1, 20, 30, get("x"), found("zzz", 5)),
		}, NotLinearizable},
		{"concurrent read may see old or new", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(5)),
			op(0, 20, 40, put("x", "b"), ok(6)),
			op(1, 25, 35, get("x"), found("a", 5)),
		}, Linearizable},
		{"unknown write may be applied later", []porcupine.Operation{
			op(0, 0, -1, put("x", "a"), unknown),
			op(1, 20, 30, get("x"), missing),
			op(1, 40, 50, get("x"), found("a", 7)),
		}, Linearizable},
		{"unknown write may never apply", []porcupine.Operation{
			op(0, 0, -1, put("x", "a"), unknown),
			op(1, 20, 30, get("x"), missing),
		}, Linearizable},
		{"a write cannot un-apply", []porcupine.Operation{
			op(0, 0, -1, put("x", "a"), unknown),
			op(1, 20, 30, get("x"), found("a", 7)),
			op(1, 40, 50, get("x"), missing),
		}, NotLinearizable},
		{"cas on the current version succeeds", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(5)),
			op(0, 20, 30, cas("x", 5, "b"), ok(8)),
			op(1, 40, 50, get("x"), found("b", 8)),
		}, Linearizable},
		{"cas on an old version cannot succeed", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(5)),
			op(0, 20, 30, put("x", "b"), ok(6)),
			op(1, 40, 50, cas("x", 5, "c"), ok(9)),
		}, NotLinearizable},
		{"cas cannot fail on the current version", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(5)),
			op(1, 20, 30, cas("x", 5, "c"), failed),
		}, NotLinearizable},
		{"versions only grow", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(5)),
			op(0, 20, 30, put("x", "b"), ok(4)),
		}, NotLinearizable},
		{"delete then read", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(5)),
			op(0, 20, 30, del("x"), ok(6)),
			op(1, 40, 50, get("x"), missing),
			op(1, 60, 70, del("x"), failed),
		}, Linearizable},
		{"delete of a present key cannot fail", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(5)),
			op(1, 20, 30, del("x"), failed),
		}, NotLinearizable},
		{"keys are independent", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(5)),
			op(1, 0, 10, put("y", "b"), ok(5)),
			op(1, 20, 30, get("x"), found("a", 5)),
			op(0, 20, 30, get("y"), found("b", 5)),
		}, Linearizable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Check(c.h, 5*time.Second)
			if r.Verdict != c.want {
				t.Fatalf("verdict %q, want %q", r.Verdict, c.want)
			}
			if c.want == NotLinearizable && (r.FailingKey == "" || len(r.FailingOps) == 0) {
				t.Fatalf("no failing key history reported: %+v", r)
			}
		})
	}
}

func TestSmallestFailingKeyIsReported(t *testing.T) {
	h := []porcupine.Operation{
		// Key "big": fine but long.
		op(0, 0, 10, put("big", "a"), ok(1)),
		op(0, 20, 30, put("big", "b"), ok(2)),
		op(0, 40, 50, get("big"), found("b", 2)),
		// Key "small": a stale read.
		op(1, 0, 10, put("small", "a"), ok(1)),
		op(1, 20, 30, get("small"), missing),
	}
	r := Check(h, 5*time.Second)
	if r.Verdict != NotLinearizable || r.FailingKey != "small" || len(r.FailingOps) != 2 {
		t.Fatalf("got %+v", r)
	}
	path := t.TempDir() + "/h.html"
	if err := r.Visualize(path); err != nil {
		t.Fatal(err)
	}
}
