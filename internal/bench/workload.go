package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
)

// Workload is a YCSB-style operation mix.
type Workload struct {
	// Name is the --workload name: load, a, b, c, w, or a hash workload.
	Name string
	// ReadFraction is the share of operations that read; the rest update
	// (an unconditional write of an existing key).
	ReadFraction float64
	// Load inserts keys 0..N-1 once each, in order across all workers,
	// and ends when they are all written.
	Load bool
	// Hash: each key is a Redis hash of RecordFields fields (a record).
	// A read is HGETALL of the record, an update HSET of one of its
	// fields, chosen uniformly, and a load HSET of the whole record. Only
	// the Redis protocol has hashes.
	Hash bool
	// Txn, if not 0, makes every operation one transaction that writes
	// Txn keys: the operation's key and Txn-1 others spread over the key
	// space (on distkv usually on as many shards).
	Txn int
}

// RecordFields is the number of fields of a record of the hash
// workloads.
const RecordFields = 10

// workloads are the named mixes, as in YCSB: a is update heavy, b read
// mostly, c read only; w (write only) is ours. hset and hgetall are their
// hash forms of w and c (records loaded by hload). txn1 and txn4 write 1
// and 4 keys per transaction (etcd's Txn, Redis's MULTI/EXEC, distkv's
// /v1/txn).
var workloads = map[string]Workload{
	"load":    {Name: "load", Load: true},
	"a":       {Name: "a", ReadFraction: 0.5},
	"b":       {Name: "b", ReadFraction: 0.95},
	"c":       {Name: "c", ReadFraction: 1},
	"w":       {Name: "w", ReadFraction: 0},
	"hload":   {Name: "hload", Load: true, Hash: true},
	"hset":    {Name: "hset", ReadFraction: 0, Hash: true},
	"hgetall": {Name: "hgetall", ReadFraction: 1, Hash: true},
	"txn1":    {Name: "txn1", Txn: 1},
	"txn4":    {Name: "txn4", Txn: 4},
}

// WorkloadNames lists the workload names, sorted.
func WorkloadNames() []string {
	return slices.Sorted(func(yield func(string) bool) {
		for n := range workloads {
			if !yield(n) {
				return
			}
		}
	})
}

// ParseWorkload returns the workload called name.
func ParseWorkload(name string) (Workload, error) {
	w, ok := workloads[name]
	if !ok {
		return Workload{}, fmt.Errorf("unknown workload %q (want one of %v)", name, WorkloadNames())
	}
	return w, nil
}

// Key distributions of --dist.
const (
	DistUniform = "uniform"
	DistZipfian = "zipfian"
)

// NewKeyChooser returns the chooser of distribution dist over n keys.
func NewKeyChooser(dist string, n uint64) (KeyChooser, error) {
	switch dist {
	case DistUniform:
		return Uniform{N: n}, nil
	case DistZipfian:
		return NewZipfian(n, ZipfTheta), nil
	}
	return nil, fmt.Errorf("unknown key distribution %q (want %s or %s)", dist, DistUniform, DistZipfian)
}

// OpKind is what an operation does.
type OpKind uint8

// Operation kinds.
const (
	OpRead  OpKind = iota // Get
	OpWrite               // Put: an update, or an insert of workload load
	numOpKinds
)

// String is "read" or "write".
func (k OpKind) String() string {
	if k == OpRead {
		return "read"
	}
	return "write"
}

// Op is one operation to run: a kind and a key index, and for an
// update of a hash workload the field it writes.
type Op struct {
	Kind  OpKind
	Key   uint64
	Field int
}

// Generator produces a workload's operations. One Generator is shared by
// all workers; each passes its own random source to Next, so a seeded run
// is reproducible per worker. Only workload load has shared state (the
// next key to insert).
type Generator struct {
	w      Workload
	n      uint64
	keys   KeyChooser
	loaded atomic.Uint64 // workload load: keys handed out so far
}

// NewGenerator returns the generator of w over n keys chosen by keys
// (ignored by workload load, which inserts in order).
func NewGenerator(w Workload, n uint64, keys KeyChooser) *Generator {
	return &Generator{w: w, n: n, keys: keys}
}

// Next returns the next operation, or false when the workload is done
// (only load ends by itself: after key n-1 has been handed out).
func (g *Generator) Next(r *rand.Rand) (Op, bool) {
	if g.w.Load {
		k := g.loaded.Add(1) - 1
		return Op{Kind: OpWrite, Key: k}, k < g.n
	}
	kind := OpWrite
	if g.w.ReadFraction >= 1 || (g.w.ReadFraction > 0 && r.Float64() < g.w.ReadFraction) {
		kind = OpRead
	}
	op := Op{Kind: kind, Key: g.keys.Next(r)}
	if g.w.Hash && kind == OpWrite {
		op.Field = r.IntN(RecordFields)
	}
	return op, true
}

// FieldName is the name of field i of a hash workload's records.
func FieldName(i int) []byte { return []byte("f" + strconv.Itoa(i)) }

// MinKeySize is the smallest key size that can name n distinct keys:
// the "k" prefix and the decimal digits of n-1.
func MinKeySize(n uint64) int {
	return 1 + len(strconv.FormatUint(max(n, 1)-1, 10))
}

// AppendKey appends the key of index i, size bytes long, to dst: "k"
// followed by i in decimal, zero-padded to size-1 digits. size must be at
// least MinKeySize of the key count, so that keys never collide.
func AppendKey(dst []byte, i uint64, size int) []byte { return appendKey(dst, 'k', i, size) }

// AppendRecordKey is AppendKey for the records of the hash workloads,
// which begin with "r": they never collide with the keys of the others,
// which hold strings.
func AppendRecordKey(dst []byte, i uint64, size int) []byte { return appendKey(dst, 'r', i, size) }

func appendKey(dst []byte, prefix byte, i uint64, size int) []byte {
	dst = append(dst, prefix)
	digits := strconv.AppendUint(nil, i, 10)
	for range size - 1 - len(digits) {
		dst = append(dst, '0')
	}
	return append(dst, digits...)
}

// NewValue returns a value of size bytes of random lower-case letters.
// Values are drawn once per worker: none of the stores compresses, so
// their content does not matter, only their size.
func NewValue(r *rand.Rand, size int) []byte {
	v := make([]byte, size)
	for i := range v {
		v[i] = byte('a' + r.IntN(26))
	}
	return v
}
