package shardsm

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Condition restricts a write.
type Condition uint8

const (
	// Always writes unconditionally.
	Always Condition = iota
	// IfAbsent writes only if the key does not exist (create-only).
	IfAbsent
	// IfPresent writes only if the key exists (update-only).
	IfPresent
)

// Op is a command's kind.
type Op uint8

const (
	OpPut Op = iota + 1
	OpDelete
	// OpMigrate is a step of a reshard (see Migrate).
	OpMigrate
	// OpHashSet sets several fields of the hash under Key in one write
	// (Fields; Value carries them encoded): all of them or, if the key
	// holds a string, none.
	OpHashSet
)

// Field is one field of an OpHashSet.
type Field struct{ Name, Value []byte }

// Command is a write replicated through a shard's Raft log. Puts and
// deletes are encoded compactly: they are on every write's path.
type Command struct {
	Op   Op
	Cond Condition
	// Version, if not 0, makes the write a compare-and-set: it applies only
	// if the key's current version equals it.
	Version uint64
	Key     []byte
	Value   []byte
	// Fields are an OpHashSet's fields (decoded from Value).
	Fields []Field
}

// Encode encodes a put, a delete or a hash set.
func (c *Command) Encode() []byte {
	if c.Op == OpHashSet {
		var v []byte
		v = binary.AppendUvarint(v, uint64(len(c.Fields)))
		for _, f := range c.Fields {
			v = binary.AppendUvarint(v, uint64(len(f.Name)))
			v = append(v, f.Name...)
			v = binary.AppendUvarint(v, uint64(len(f.Value)))
			v = append(v, f.Value...)
		}
		hs := *c
		hs.Op, hs.Value, hs.Fields = OpPut, v, nil
		buf := hs.Encode()
		buf[0] = byte(OpHashSet)
		return buf
	}
	buf := make([]byte, 0, 3+binary.MaxVarintLen64*2+len(c.Key)+len(c.Value))
	buf = append(buf, byte(c.Op), byte(c.Cond))
	buf = binary.AppendUvarint(buf, c.Version)
	buf = binary.AppendUvarint(buf, uint64(len(c.Key)))
	buf = append(buf, c.Key...)
	return append(buf, c.Value...)
}

var errBadCommand = errors.New("shardsm: malformed command")

// DecodeCommand decodes a put or delete (the slices alias b).
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	if len(b) < 2 {
		return c, errBadCommand
	}
	c.Op, c.Cond = Op(b[0]), Condition(b[1])
	if c.Op != OpPut && c.Op != OpDelete && c.Op != OpHashSet {
		return c, errBadCommand
	}
	b = b[2:]
	var n int
	if c.Version, n = binary.Uvarint(b); n <= 0 {
		return c, errBadCommand
	}
	b = b[n:]
	kl, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < kl {
		return c, errBadCommand
	}
	c.Key = b[n : n+int(kl)]
	c.Value = b[n+int(kl):]
	if c.Op == OpHashSet {
		return c, c.decodeFields()
	}
	return c, nil
}

// decodeFields decodes an OpHashSet's fields from its value (they alias it).
func (c *Command) decodeFields() error {
	b := c.Value
	next := func() ([]byte, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, false
		}
		out := b[n : n+int(l)]
		b = b[n+int(l):]
		return out, true
	}
	count, n := binary.Uvarint(b)
	if n <= 0 || count == 0 || count > uint64(len(b)) {
		return errBadCommand
	}
	b = b[n:]
	c.Fields = make([]Field, 0, count)
	for range count {
		name, ok := next()
		if !ok {
			return errBadCommand
		}
		value, ok := next()
		if !ok {
			return errBadCommand
		}
		c.Fields = append(c.Fields, Field{Name: name, Value: value})
	}
	if len(b) != 0 {
		return errBadCommand
	}
	return nil
}

// Stored values: a format byte, the version and the value bytes.
const valueFormat = 1

// EncodeValue encodes a stored value.
func EncodeValue(version uint64, value []byte) []byte {
	buf := make([]byte, 0, 9+len(value))
	buf = append(buf, valueFormat)
	buf = binary.BigEndian.AppendUint64(buf, version)
	return append(buf, value...)
}

// DecodeValue decodes a stored value (value aliases b).
func DecodeValue(b []byte) (version uint64, value []byte, err error) {
	if len(b) < 9 || b[0] != valueFormat {
		return 0, nil, errors.New("shardsm: corrupt stored value")
	}
	return binary.BigEndian.Uint64(b[1:9]), b[9:], nil
}

// Migrate steps.
const (
	// StepTrack starts a source's part: deletes of keys moving out are
	// recorded from now on, so the final copy can repeat them.
	StepTrack = "track"
	// StepBulkDone records the version mark of the bulk copy: keys written
	// after it have higher versions.
	StepBulkDone = "bulk_done"
	// StepFreeze makes a source refuse writes to keys moving out.
	StepFreeze = "freeze"
	// StepIngest writes copied keys (and repeats deletes) on a target.
	StepIngest = "ingest"
	// StepReady lets a target serve reads of the keys moving in: every
	// source's final copy has been ingested.
	StepReady = "ready"
	// StepSeal makes a source refuse every request for keys that moved out
	// (routing has switched to the new layout).
	StepSeal = "seal"
	// StepUnlock lets a target take writes to the keys that moved in.
	StepUnlock = "unlock"
	// StepFinish ends the reshard on a group: keys that moved out are
	// deleted and the new layout is recorded.
	StepFinish = "finish"
)

// Migrate is one step of a reshard on one group. Reshard describes the
// reshard as this group takes part in it.
type Migrate struct {
	Step    string    `json:"step"`
	Reshard Migration `json:"reshard"`
	// Watermark, for StepBulkDone.
	Watermark uint64 `json:"watermark,omitempty"`
	// Epoch, for StepSeal and StepFinish: the shard map epoch whose
	// routing no longer sends moved keys here.
	Epoch uint64 `json:"epoch,omitempty"`
	// Source and Final, for StepIngest: the old-layout shard the keys
	// come from, and whether they are its final copy (else its bulk copy).
	Source int  `json:"source,omitempty"`
	Final  bool `json:"final,omitempty"`
	// Entries and Deletes, for StepIngest (not in the JSON header).
	Entries []Entry  `json:"-"`
	Deletes [][]byte `json:"-"`
}

// Entry is a copied key.
type Entry struct {
	Key     []byte
	Version uint64
	Value   []byte
}

// Encode encodes the step: OpMigrate, the JSON header, then the entries
// and deletes in binary.
func (m *Migrate) Encode() []byte {
	hdr, _ := json.Marshal(m)
	size := 16 + len(hdr)
	for _, e := range m.Entries {
		size += len(e.Key) + len(e.Value) + 24
	}
	buf := make([]byte, 0, size)
	buf = append(buf, byte(OpMigrate))
	buf = appendBytes(buf, hdr)
	buf = binary.AppendUvarint(buf, uint64(len(m.Entries)))
	for _, e := range m.Entries {
		buf = appendBytes(buf, e.Key)
		buf = binary.AppendUvarint(buf, e.Version)
		buf = appendBytes(buf, e.Value)
	}
	buf = binary.AppendUvarint(buf, uint64(len(m.Deletes)))
	for _, k := range m.Deletes {
		buf = appendBytes(buf, k)
	}
	return buf
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

// DecodeMigrate decodes a step encoded by Encode.
func DecodeMigrate(b []byte) (*Migrate, error) {
	if len(b) == 0 || Op(b[0]) != OpMigrate {
		return nil, errBadCommand
	}
	r := reader{b: b[1:]}
	var m Migrate
	if err := json.Unmarshal(r.bytes(), &m); err != nil || r.err != nil {
		return nil, fmt.Errorf("%w: migrate header: %v %v", errBadCommand, err, r.err)
	}
	n := r.uvarint()
	if n > uint64(len(b)) {
		return nil, errBadCommand
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		m.Entries = append(m.Entries, Entry{Key: r.bytes(), Version: r.uvarint(), Value: r.bytes()})
	}
	n = r.uvarint()
	if n > uint64(len(b)) {
		return nil, errBadCommand
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		m.Deletes = append(m.Deletes, r.bytes())
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errBadCommand
	}
	return &m, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errBadCommand
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || uint64(len(r.b)) < n {
		r.err = errBadCommand
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}
