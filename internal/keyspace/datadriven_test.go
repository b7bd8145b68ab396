package keyspace

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// digitsHash makes ring positions readable by hand. A token key such as
// "n3#1" sits at the number its decimal digits spell, 31; ShardPoint's 8
// bytes for shard s of namespace ns sit at the number spelled by ns then
// s, so shard 5 of namespace 2 is at 25. With mod > 0 positions are taken
// modulo mod, which makes ties easy to arrange.
func digitsHash(mod uint64) HashFunc {
	return func(data []byte) uint64 {
		s := string(data)
		if !bytes.HasPrefix(data, []byte("n")) && len(data) == 8 {
			s = fmt.Sprint(binary.BigEndian.Uint32(data[:4]), binary.BigEndian.Uint32(data[4:]))
		}
		var v uint64
		for _, c := range []byte(s) {
			if '0' <= c && c <= '9' {
				v = v*10 + uint64(c-'0')
			}
		}
		if mod > 0 {
			v %= mod
		}
		return v
	}
}

func fnvHash(data []byte) uint64 {
	h := fnv.New64a()
	h.Write(data)
	return h.Sum64()
}

// ddState is the state a transcript builds up.
type ddState struct {
	ring *Ring
	last map[uint32][][]NodeID // previous placement per namespace, to mark moves
}

func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		st := &ddState{ring: NewRing(0, nil), last: map[uint32][][]NodeID{}}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return st.run(t, d)
		})
	})
}

func (st *ddState) run(t *testing.T, d *datadriven.TestData) string {
	switch d.Cmd {
	case "ring":
		return st.newRing(t, d)
	case "add", "remove":
		for _, arg := range d.CmdArgs {
			id, err := ParseNodeID(arg.Key)
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			if d.Cmd == "add" {
				st.ring.Add(id)
			} else {
				st.ring.Remove(id)
			}
		}
		return dumpRing(st.ring)
	case "successors":
		var point uint64
		var n int
		d.ScanArgs(t, "point", &point)
		d.ScanArgs(t, "n", &n)
		return nodeList(st.ring.Successors(point, n))
	case "walk":
		return st.walk(t, d)
	case "point":
		var ns uint32
		var shard int
		d.ScanArgs(t, "ns", &ns)
		d.ScanArgs(t, "shard", &shard)
		return strconv.FormatUint(st.ring.ShardPoint(ns, shard), 10)
	case "place":
		return st.place(t, d)
	case "shard":
		return shardKeys(t, d)
	case "validate":
		return validateJSON(d.Input)
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

func (st *ddState) newRing(t *testing.T, d *datadriven.TestData) string {
	var vnodes int
	var mod uint64
	name := "xxhash"
	d.MaybeScanArgs(t, "vnodes", &vnodes)
	d.MaybeScanArgs(t, "hash", &name)
	d.MaybeScanArgs(t, "mod", &mod)
	hashes := map[string]HashFunc{"xxhash": nil, "fnv": fnvHash, "digits": digitsHash(mod)}
	h, ok := hashes[name]
	if !ok {
		d.Fatalf(t, "unknown hash %q", name)
	}
	st.ring, st.last = NewRing(vnodes, h), map[uint32][][]NodeID{}
	return "ok"
}

// dumpRing lists a small ring's tokens as position:node, or a large ring's
// nodes.
func dumpRing(r *Ring) string {
	if len(r.tokens) > 24 {
		return fmt.Sprintf("%d nodes, %d tokens: %s", r.Len(), len(r.tokens), nodeList(r.Nodes()))
	}
	var b strings.Builder
	for i, tok := range r.tokens {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%v", tok.pos, tok.node)
	}
	if b.Len() == 0 {
		return "empty"
	}
	return b.String()
}

func nodeList(ids []NodeID) string {
	if len(ids) == 0 {
		return "(none)"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return strings.Join(s, " ")
}

// walk lists nodes in Walk order, stopping after the node named by stop.
func (st *ddState) walk(t *testing.T, d *datadriven.TestData) string {
	var point uint64
	var stop string
	d.ScanArgs(t, "point", &point)
	d.MaybeScanArgs(t, "stop", &stop)
	var seen []NodeID
	st.ring.Walk(point, func(id NodeID) bool {
		seen = append(seen, id)
		return id.String() != stop
	})
	return nodeList(seen)
}

// place prints each shard's point and replicas, the plain successors where
// they differ, '*' on a replica that is new since the namespace was last
// placed, and the per-node loads against Place's bounds.
func (st *ddState) place(t *testing.T, d *datadriven.TestData) string {
	var reps string
	ns := Namespace{Replicas: Replication{N: DefaultReplicas}}
	d.ScanArgs(t, "ns", &ns.ID)
	d.ScanArgs(t, "shards", &ns.Shards)
	if d.MaybeScanArgs(t, "replicas", &reps) {
		var err error
		if ns.Replicas, err = ParseReplication(reps); err != nil {
			d.Fatalf(t, "%v", err)
		}
	}
	p, prev := Place(st.ring, ns), st.last[ns.ID]
	if len(prev) != len(p) {
		prev = nil
	}
	st.last[ns.ID] = p
	var b strings.Builder
	n := ns.Replicas.Count(st.ring.Len())
	lo, hi := bounds(ns.Shards, n, max(st.ring.Len(), 1))
	fmt.Fprintf(&b, "replicas=%d bounds=%d..%d\n", n, lo, hi)
	for s, got := range p {
		point := st.ring.ShardPoint(ns.ID, s)
		fmt.Fprintf(&b, "s%d @%d: %s", s, point, markMoves(got, prev, s))
		if want := st.ring.Successors(point, n); !slices.Equal(got, want) {
			fmt.Fprintf(&b, " (plain: %s)", nodeList(want))
		}
		b.WriteByte('\n')
	}
	if prev != nil {
		fmt.Fprintf(&b, "moved: %.0f of %d\n", moved(prev, p)*float64(ns.Shards*n), ns.Shards*n)
	}
	b.WriteString("loads:")
	for _, id := range st.ring.Nodes() {
		fmt.Fprintf(&b, " %v=%d", id, loads(st.ring, p)[id])
	}
	return b.String()
}

func markMoves(got []NodeID, prev [][]NodeID, s int) string {
	if prev == nil {
		return nodeList(got)
	}
	out := make([]string, len(got))
	for i, id := range got {
		out[i] = id.String()
		if !slices.Contains(prev[s], id) {
			out[i] += "*"
		}
	}
	return strings.Join(out, " ")
}

// shardKeys prints the shard of each input line's key.
func shardKeys(t *testing.T, d *datadriven.TestData) string {
	var shards int
	sharding := "mod"
	d.ScanArgs(t, "shards", &shards)
	d.MaybeScanArgs(t, "sharding", &sharding)
	sch, err := ParseSharding(sharding)
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	l := Layout{Shards: shards, Sharding: sch}
	var b strings.Builder
	for _, key := range strings.Split(d.Input, "\n") {
		fmt.Fprintf(&b, "%q -> %d\n", key, l.ShardOf([]byte(key)))
	}
	return b.String()
}

// validateJSON decodes a Namespace and validates it, printing the first
// error a user would see.
func validateJSON(input string) string {
	var ns Namespace
	dec := json.NewDecoder(strings.NewReader(input))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ns); err != nil {
		return "decode error: " + err.Error()
	}
	if err := ns.Validate(); err != nil {
		return "invalid: " + err.Error()
	}
	return "ok"
}
