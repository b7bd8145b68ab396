package keyspace

import (
	"bytes"
	"encoding/binary"
)

// Internal keys are distkv's own keys inside a namespace's key space: the
// storage of a Redis hash. They all begin with InternalPrefix, which the
// kv service refuses in the keys users send, so no user key is ever
// mistaken for one (and no user can forge one).
//
// A hash under user key K is a marker and one key per field:
//
//	marker  FF 00 'h' K
//	field   FF 00 'f' uvarint(len K) K gen(8 bytes, big-endian) F
//
// The marker says K holds a hash; its version (the write that created
// it) is the hash's generation, and a field key carries the generation of
// the hash it belongs to. Versions only grow, so a hash deleted and
// created again has a new generation, and no field of the old one can
// reappear in it. In a command or read, generation 0 stands for "the
// hash's current generation", resolved by the shard that applies it.
//
// Every internal key routes by K (see RoutingKey, used by ShardOf): a
// hash's marker and fields live in the shard of K itself, with K's string
// value if it has one, so a hash's reads and writes go to one shard and
// a reshard moves it whole.
const InternalPrefix = "\xff\x00"

// Internal key forms: the byte after InternalPrefix.
const (
	FormHashMarker byte = 'h'
	FormHashField  byte = 'f'
)

// IsInternal reports whether key is in the reserved internal form.
func IsInternal(key []byte) bool {
	return len(key) >= 2 && key[0] == InternalPrefix[0] && key[1] == InternalPrefix[1]
}

// HashMarkerKey is the marker of the hash under user key key.
func HashMarkerKey(key []byte) []byte {
	b := make([]byte, 0, len(InternalPrefix)+1+len(key))
	b = append(b, InternalPrefix...)
	b = append(b, FormHashMarker)
	return append(b, key...)
}

// HashMarkerPrefix is the prefix of the markers of every hash whose user
// key begins with prefix (markers sort by user key).
func HashMarkerPrefix(prefix []byte) []byte { return HashMarkerKey(prefix) }

// HashFieldKey is the key of field of the hash under key, generation gen
// (0: the current one, in commands and reads).
func HashFieldKey(key []byte, gen uint64, field []byte) []byte {
	return append(HashFieldPrefix(key, gen), field...)
}

// HashFieldPrefix is the prefix of every field key of generation gen of
// the hash under key.
func HashFieldPrefix(key []byte, gen uint64) []byte {
	b := hashFieldsPrefix(key, 8)
	return binary.BigEndian.AppendUint64(b, gen)
}

// HashFieldsPrefix is the prefix of the field keys of every generation of
// the hash under key.
func HashFieldsPrefix(key []byte) []byte { return hashFieldsPrefix(key, 0) }

func hashFieldsPrefix(key []byte, extra int) []byte {
	b := make([]byte, 0, len(InternalPrefix)+1+binary.MaxVarintLen64+len(key)+extra)
	b = append(b, InternalPrefix...)
	b = append(b, FormHashField)
	b = binary.AppendUvarint(b, uint64(len(key)))
	return append(b, key...)
}

// InternalKey is an internal key taken apart.
type InternalKey struct {
	Form  byte   // FormHashMarker or FormHashField
	Key   []byte // the user key it belongs to
	Gen   uint64 // a field's generation
	Field []byte // a field's name
}

// ParseInternal takes an internal key apart; ok is false for a key that
// is not internal or is malformed. The slices alias k.
func ParseInternal(k []byte) (ik InternalKey, ok bool) {
	if !IsInternal(k) || len(k) < 3 {
		return ik, false
	}
	rest := k[3:]
	switch ik.Form = k[2]; ik.Form {
	case FormHashMarker:
		if len(rest) == 0 {
			return ik, false
		}
		ik.Key = rest
		return ik, true
	case FormHashField:
		n, w := binary.Uvarint(rest)
		if w <= 0 || n == 0 || uint64(len(rest)-w) < n+8 {
			return ik, false
		}
		rest = rest[w:]
		ik.Key = rest[:n:n]
		ik.Gen = binary.BigEndian.Uint64(rest[n : n+8])
		ik.Field = rest[n+8:]
		return ik, true
	}
	return ik, false
}

// RoutingKey is the key that decides key's shard: the user key an
// internal key belongs to, and any other key itself. A malformed internal
// key (which no user can send) routes by itself.
func RoutingKey(key []byte) []byte {
	if !IsInternal(key) {
		return key
	}
	if ik, ok := ParseInternal(key); ok {
		return ik.Key
	}
	return key
}

// InternalRange returns [start, end) covering every internal key, in the
// order of user keys: a scan of user keys skips it.
func InternalRange() (start, end []byte) {
	return []byte(InternalPrefix), []byte{InternalPrefix[0], InternalPrefix[1] + 1}
}

// HashFieldOf returns the field name of a field key of generation gen of
// the hash under key, or ok false if k is not one.
func HashFieldOf(k, key []byte, gen uint64) (field []byte, ok bool) {
	p := HashFieldPrefix(key, gen)
	if !bytes.HasPrefix(k, p) {
		return nil, false
	}
	return k[len(p):], true
}
