package keyspace

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Mode is a namespace's consistency mode, which also picks its engine:
// strong namespaces are replicated by Raft, eventual and causal ones by the
// leaderless engine. The zero Mode means "unset" and does not validate.
type Mode uint8

const (
	ModeStrong Mode = iota + 1
	ModeEventual
	ModeCausal
)

var modeNames = [...]string{ModeStrong: "strong", ModeEventual: "eventual", ModeCausal: "causal"}

// String returns "strong", "eventual" or "causal"; other values print as
// "Mode(7)", and the zero Mode as "Mode(0)".
func (m Mode) String() string {
	if m.valid() {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

func (m Mode) valid() bool { return m >= ModeStrong && m <= ModeCausal }

// ParseMode parses a mode name, ignoring case and surrounding space.
func ParseMode(s string) (Mode, error) {
	for m := ModeStrong; m <= ModeCausal; m++ {
		if strings.EqualFold(strings.TrimSpace(s), modeNames[m]) {
			return m, nil
		}
	}
	return 0, invalidf("mode %q is not one of strong, eventual or causal", s)
}

// MarshalText encodes a Mode by name, so its JSON form is "strong". The zero
// Mode encodes as "" (unset); other unknown values are an error.
func (m Mode) MarshalText() ([]byte, error) {
	if m == 0 {
		return []byte{}, nil
	}
	if !m.valid() {
		return nil, invalidf("mode %d is not a known mode", uint8(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText is the inverse of MarshalText: "" decodes to the zero Mode.
func (m *Mode) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*m = 0
		return nil
	}
	v, err := ParseMode(string(b))
	if err == nil {
		*m = v
	}
	return err
}

// Conflicts says how a leaderless namespace resolves concurrent writes to a
// key. The zero value means "unset", which the engine treats as LWW.
type Conflicts uint8

const (
	// ConflictsLWW keeps the write with the highest timestamp.
	ConflictsLWW Conflicts = iota + 1
	// ConflictsSiblings keeps every concurrent value and lets the reader
	// resolve them by writing back.
	ConflictsSiblings
)

var conflictNames = [...]string{ConflictsLWW: "lww", ConflictsSiblings: "siblings"}

// String returns "lww" or "siblings"; other values print as "Conflicts(7)".
func (c Conflicts) String() string {
	if c.valid() {
		return conflictNames[c]
	}
	return fmt.Sprintf("Conflicts(%d)", uint8(c))
}

func (c Conflicts) valid() bool { return c == ConflictsLWW || c == ConflictsSiblings }

// ParseConflicts parses "lww" or "siblings", ignoring case and surrounding
// space.
func ParseConflicts(s string) (Conflicts, error) {
	for c := ConflictsLWW; c <= ConflictsSiblings; c++ {
		if strings.EqualFold(strings.TrimSpace(s), conflictNames[c]) {
			return c, nil
		}
	}
	return 0, invalidf("conflicts %q is not one of lww or siblings", s)
}

// MarshalText encodes Conflicts by name. The zero value encodes as "" and
// other unknown values are an error.
func (c Conflicts) MarshalText() ([]byte, error) {
	if c == 0 {
		return []byte{}, nil
	}
	if !c.valid() {
		return nil, invalidf("conflicts %d is not a known policy", uint8(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText is the inverse of MarshalText: "" decodes to the zero value.
func (c *Conflicts) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*c = 0
		return nil
	}
	v, err := ParseConflicts(string(b))
	if err == nil {
		*c = v
	}
	return err
}

// Replication is a replication factor: N copies, or, when All is set, one
// copy on every node (full replication), in which case N is ignored.
type Replication struct {
	N   int
	All bool
}

// ParseReplication parses a positive number such as "3", or "all" (any case).
func ParseReplication(s string) (Replication, error) {
	t := strings.TrimSpace(s)
	if strings.EqualFold(t, "all") {
		return Replication{All: true}, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 1 {
		return Replication{}, invalidf("replicas %q is not a positive number or \"all\"", s)
	}
	return Replication{N: n}, nil
}

// String returns "all" or the number, the forms ParseReplication accepts.
func (r Replication) String() string {
	if r.All {
		return "all"
	}
	return strconv.Itoa(r.N)
}

// Count returns how many replicas a shard gets in a cluster of nodes nodes:
// all of them for All, otherwise N but never more than there are nodes
// (and never negative).
func (r Replication) Count(nodes int) int {
	if r.All {
		return max(nodes, 0)
	}
	return max(min(r.N, nodes), 0)
}

// MarshalJSON encodes All as the string "all" and a number as a number.
func (r Replication) MarshalJSON() ([]byte, error) {
	if r.All {
		return []byte(`"all"`), nil
	}
	return []byte(strconv.Itoa(r.N)), nil
}

// UnmarshalJSON accepts a number (3) or a string ("3" or "all"). Like
// ParseReplication it rejects numbers below 1. JSON null leaves r alone.
func (r *Replication) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	} else {
		s = string(b)
	}
	v, err := ParseReplication(s)
	if err == nil {
		*r = v
	}
	return err
}
