package kv

import (
	"encoding/binary"
	"errors"
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

type opCode uint8

const (
	opPut opCode = iota + 1
	opDelete
)

// command is a write replicated through a shard's Raft log. Encoded
// compactly: it is on every write's path.
type command struct {
	op      opCode
	cond    Condition
	version uint64 // compare-and-set: expected current version, 0 = none
	key     []byte
	value   []byte
}

func (c *command) encode() []byte {
	buf := make([]byte, 0, 3+binary.MaxVarintLen64*2+len(c.key)+len(c.value))
	buf = append(buf, byte(c.op), byte(c.cond))
	buf = binary.AppendUvarint(buf, c.version)
	buf = binary.AppendUvarint(buf, uint64(len(c.key)))
	buf = append(buf, c.key...)
	return append(buf, c.value...)
}

var errBadCommand = errors.New("kv: malformed command")

func decodeCommand(b []byte) (command, error) {
	var c command
	if len(b) < 2 {
		return c, errBadCommand
	}
	c.op, c.cond = opCode(b[0]), Condition(b[1])
	b = b[2:]
	var n int
	if c.version, n = binary.Uvarint(b); n <= 0 {
		return c, errBadCommand
	}
	b = b[n:]
	kl, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < kl {
		return c, errBadCommand
	}
	c.key = b[n : n+int(kl)]
	c.value = b[n+int(kl):]
	return c, nil
}

// Stored values: a format byte, the version (the Raft index of the write
// that produced it) and the value bytes.
const valueFormat = 1

func encodeValue(version uint64, value []byte) []byte {
	buf := make([]byte, 0, 9+len(value))
	buf = append(buf, valueFormat)
	buf = binary.BigEndian.AppendUint64(buf, version)
	return append(buf, value...)
}

func decodeValue(b []byte) (version uint64, value []byte, err error) {
	if len(b) < 9 || b[0] != valueFormat {
		return 0, nil, errors.New("kv: corrupt stored value")
	}
	return binary.BigEndian.Uint64(b[1:9]), b[9:], nil
}
