package dvv

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// ddState is what a transcript builds up: one Set per named replica
// ("n1", "n2", ...) and a step counter that stamps writes without ts=.
type ddState struct {
	sets map[string]Set
	step int64
}

// TestDataDriven runs the transcripts in testdata/. Commands:
//
//	update node=N [on=R] [ctx={..}|ctx=R] value=V [ts=T]  write V at R (default nN)
//	delete node=N [on=R] [ctx={..}|ctx=R] [ts=T]          write a tombstone
//	merge R1 R2 ...       R1 := Merge(R1, R2, ...)
//	sync R1 R2 ...        every replica gets the merge of all of them
//	lww R                 ResolveLWW on R
//	show R / values R / tombstone R / encode-roundtrip R / token R
//	vv a={..} b={..}      compare two version vectors
//
// A ctx of another replica's name means the client read that replica just
// before writing; no ctx is a blind write.
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		st := &ddState{sets: map[string]Set{}}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out, err := st.run(d)
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			return out
		})
	})
}

func (st *ddState) run(d *datadriven.TestData) (string, error) {
	names := make([]string, 0, len(d.CmdArgs))
	for _, a := range d.CmdArgs {
		names = append(names, a.Key)
	}
	switch d.Cmd {
	case "update", "delete":
		return st.update(d)
	case "merge":
		m := st.sets[names[0]]
		for _, n := range names[1:] {
			m = Merge(m, st.sets[n])
		}
		st.sets[names[0]] = m
		return showSet(names[0], m), nil
	case "sync":
		var m Set
		for _, n := range names {
			m = Merge(m, st.sets[n])
		}
		for _, n := range names {
			st.sets[n] = m
		}
		return showSet(strings.Join(names, ","), m), nil
	case "lww":
		s, n := st.sets[names[0]].ResolveLWW()
		st.sets[names[0]] = s
		return fmt.Sprintf("discarded %d\n%s", n, showSet(names[0], s)), nil
	case "show":
		return showSet(names[0], st.sets[names[0]]), nil
	case "values":
		return fmt.Sprintf("%q\n", st.sets[names[0]].Values()), nil
	case "tombstone":
		return fmt.Sprintf("%t\n", st.sets[names[0]].IsTombstone()), nil
	case "encode-roundtrip":
		return encodeRoundtrip(st.sets[names[0]])
	case "token":
		ctx := st.sets[names[0]].Context
		tok := EncodeToken(ctx)
		back, err := DecodeToken(tok)
		return fmt.Sprintf("token %s decodes to %v (equal %t)\n", tok, back, back.Equal(ctx)), err
	case "vv":
		return compareVVs(d)
	}
	return "", fmt.Errorf("unknown command %q", d.Cmd)
}

func (st *ddState) update(d *datadriven.TestData) (string, error) {
	var node uint64
	var ctx VV
	var value string
	on := ""
	st.step++
	ts := Timestamp{Wall: st.step}
	for _, a := range d.CmdArgs {
		v := a.Vals[0]
		var err error
		switch a.Key {
		case "node":
			node, err = strconv.ParseUint(v, 10, 64)
		case "on":
			on = v
		case "ctx":
			ctx, err = st.parseCtx(v)
		case "value":
			value = v
		case "ts":
			ts.Wall, err = strconv.ParseInt(v, 10, 64)
		default:
			err = fmt.Errorf("unknown argument %q", a.Key)
		}
		if err != nil {
			return "", err
		}
	}
	if on == "" {
		on = fmt.Sprintf("n%d", node)
	}
	s, dot := st.sets[on].Update(node, ctx, []byte(value), d.Cmd == "delete", ts)
	st.sets[on] = s
	return fmt.Sprintf("dot %v\n%s", dot, showSet(on, s)), nil
}

// parseCtx reads a literal vector "{1:2,3:1}" or a replica's name, meaning
// that replica's current context.
func (st *ddState) parseCtx(v string) (VV, error) {
	if !strings.HasPrefix(v, "{") {
		s, ok := st.sets[v]
		if !ok {
			return nil, fmt.Errorf("no replica %q", v)
		}
		return s.Context, nil
	}
	return parseVV(v)
}

// parseVV reads VV.String's format.
func parseVV(v string) (VV, error) {
	out := VV{}
	body := strings.TrimSuffix(strings.TrimPrefix(v, "{"), "}")
	if body == "" {
		return out, nil
	}
	for _, kv := range strings.Split(body, ",") {
		n, c, ok := strings.Cut(kv, ":")
		node, err1 := strconv.ParseUint(n, 10, 64)
		cnt, err2 := strconv.ParseUint(c, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad vector entry %q in %q", kv, v)
		}
		out[node] = cnt
	}
	return out, nil
}

// showSet prints a state: its context, then one sibling per line.
func showSet(name string, s Set) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s ctx=%v\n", name, s.Context)
	for _, x := range s.Siblings {
		val := strconv.Quote(string(x.Value))
		if x.Deleted {
			val = "<deleted>"
		}
		fmt.Fprintf(&b, "  %v %s @%v\n", x.Dot, val, x.Stamp)
	}
	return b.String()
}

func encodeRoundtrip(s Set) (string, error) {
	enc := s.Encode()
	back, err := Decode(enc)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d bytes: % x\nequal after decode: %t\n", len(enc), enc, back.Equal(s)), nil
}

func compareVVs(d *datadriven.TestData) (string, error) {
	var a, b VV
	for _, arg := range d.CmdArgs {
		v, err := parseVV(arg.Vals[0])
		if err != nil {
			return "", err
		}
		if arg.Key == "a" {
			a = v
		} else {
			b = v
		}
	}
	rel := "a || b (concurrent)"
	switch {
	case a.Equal(b):
		rel = "a == b"
	case a.Descends(b):
		rel = "a > b"
	case b.Descends(a):
		rel = "a < b"
	}
	return fmt.Sprintf("%s\nmerge %v\n", rel, a.Merge(b)), nil
}
