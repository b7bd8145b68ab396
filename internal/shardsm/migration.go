package shardsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/distkv/distkv/internal/keyspace"
)

// Errors a shard answers with when a key is not (or not yet) its to
// serve. Both mean nothing was done.
var (
	// ErrMoving: the key is moving between shards by a reshard; the
	// request may be retried shortly (writes pause while the last copy is
	// made; reads of keys arriving wait for it).
	ErrMoving = errors.New("shardsm: key is moving to another shard")
)

// MovedError: the key is served by another shard in the layout of map
// epoch Epoch (0 if unknown); a caller routing by an older map should wait
// for a newer one and route again.
type MovedError struct{ Epoch uint64 }

func (e *MovedError) Error() string {
	if e.Epoch == 0 {
		return "shardsm: key is served by another shard"
	}
	return fmt.Sprintf("shardsm: key is served by another shard as of map epoch %d", e.Epoch)
}

// Migration is a reshard as one shard group takes part in it: the two
// layouts, the group's shard in each (-1: none), and how far it has gone
// here.
type Migration struct {
	ID       uint64          `json:"id"`
	Old      keyspace.Layout `json:"old"`
	New      keyspace.Layout `json:"new"`
	OldIndex int             `json:"old_index"`
	NewIndex int             `json:"new_index"`

	Frozen   bool `json:"frozen,omitempty"`
	Ready    bool `json:"ready,omitempty"`
	Sealed   bool `json:"sealed,omitempty"`
	Unlocked bool `json:"unlocked,omitempty"`
	// BulkDone records the bulk copy; Watermark is its version mark (0
	// for a group that had no keys, whose final copy sends everything).
	BulkDone  bool   `json:"bulk_done,omitempty"`
	Watermark uint64 `json:"watermark,omitempty"`
	Epoch     uint64 `json:"epoch,omitempty"`
	// FinalFrom, on a target: the old-layout shards whose final copy has
	// begun arriving; a bulk copy from them that arrives later is stale.
	FinalFrom []int `json:"final_from,omitempty"`
}

// keyClass is what a reshard does with a key, seen from one group.
type keyClass uint8

const (
	staying  keyClass = iota + 1 // here before and after
	outgoing                     // here before, elsewhere after
	incoming                     // elsewhere before, here after
	foreign                      // neither: not this group's key
)

func (m *Migration) class(key []byte) keyClass {
	before := m.OldIndex >= 0 && m.Old.ShardOf(key) == m.OldIndex
	after := m.NewIndex >= 0 && m.New.ShardOf(key) == m.NewIndex
	switch {
	case before && after:
		return staying
	case before:
		return outgoing
	case after:
		return incoming
	}
	return foreign
}

// record is a shard's own replicated record: what it adds to versions,
// the layout it serves (once a reshard recorded one) and the reshard under
// way.
type record struct {
	// VersionBase is added to the Raft index of a write to make its
	// version. It grows when keys copied from another shard arrive with
	// higher versions, so a key's version never goes backwards.
	VersionBase uint64 `json:"version_base,omitempty"`
	// Layout and Index: the layout and shard this group serves; Index -1
	// once a reshard dropped the group. Unset (Layout.Shards 0) for
	// groups that never took part in a reshard, which serve whatever they
	// are routed.
	Layout keyspace.Layout `json:"layout"`
	Index  int             `json:"index"`
	// MovedEpoch is the map epoch of the layout recorded.
	MovedEpoch uint64 `json:"moved_epoch,omitempty"`
	// FinishedID is the last reshard that finished here; its steps, if
	// repeated, change nothing.
	FinishedID uint64     `json:"finished_id,omitempty"`
	Migration  *Migration `json:"migration,omitempty"`
}

func decodeRecord(b []byte) (*record, error) {
	r := &record{}
	if len(b) == 0 {
		return r, nil
	}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("shardsm: corrupt shard record: %w", err)
	}
	return r, nil
}

func (r *record) encode() []byte {
	b, _ := json.Marshal(r)
	return b
}

func (r *record) clone() *record {
	c := *r
	if r.Migration != nil {
		m := *r.Migration
		m.FinalFrom = slices.Clone(m.FinalFrom)
		c.Migration = &m
	}
	return &c
}

func (r *record) moved() error { return &MovedError{Epoch: r.MovedEpoch} }

// admitWrite reports whether this group may apply a write of key now.
func (r *record) admitWrite(key []byte) error {
	if m := r.Migration; m != nil {
		switch m.class(key) {
		case outgoing:
			if m.Sealed {
				return &MovedError{Epoch: m.Epoch}
			}
			if m.Frozen {
				return ErrMoving
			}
		case incoming:
			if !m.Unlocked {
				return ErrMoving
			}
		case foreign:
			return &MovedError{Epoch: m.Epoch}
		}
		return nil
	}
	if r.Layout.Shards > 0 && r.Layout.ShardOf(key) != r.Index {
		return r.moved()
	}
	return nil
}

// admitRead reports whether this group may serve a read of key now.
func (r *record) admitRead(key []byte) error {
	if m := r.Migration; m != nil {
		switch m.class(key) {
		case outgoing:
			if m.Sealed {
				return &MovedError{Epoch: m.Epoch}
			}
		case incoming:
			if !m.Ready {
				return ErrMoving
			}
		case foreign:
			return &MovedError{Epoch: m.Epoch}
		}
		return nil
	}
	if r.Layout.Shards > 0 && r.Layout.ShardOf(key) != r.Index {
		return r.moved()
	}
	return nil
}

// admitScan reports whether this group may serve a scan routed by layout
// l as shard index, and which keys belong to it: the returned filter
// passes the keys the scan should see (nil: all).
func (r *record) admitScan(l keyspace.Layout, index int) (func(key []byte) bool, error) {
	if l.Shards <= 0 {
		return nil, nil // a caller that does not say: the whole range
	}
	of := func(key []byte) bool { return l.ShardOf(key) == index }
	if m := r.Migration; m != nil {
		switch {
		case l == m.Old && index == m.OldIndex:
			if m.Sealed {
				return nil, &MovedError{Epoch: m.Epoch}
			}
			return of, nil
		case l == m.New && index == m.NewIndex:
			if !m.Ready {
				return nil, ErrMoving
			}
			return of, nil
		}
		return nil, &MovedError{Epoch: m.Epoch}
	}
	if r.Layout.Shards > 0 && (l != r.Layout || index != r.Index) {
		return nil, r.moved()
	}
	return of, nil
}

// compatible reports whether a step of reshard m may apply: no reshard is
// under way here, or m is the one.
func (r *record) compatible(m Migration) error {
	if g := r.Migration; g != nil && (g.ID != m.ID || g.Old != m.Old || g.New != m.New ||
		g.OldIndex != m.OldIndex || g.NewIndex != m.NewIndex) {
		return fmt.Errorf("shardsm: reshard %d step refused: reshard %d is under way here", m.ID, g.ID)
	}
	return nil
}

// join records reshard m as the one under way, if none is.
func (r *record) join(m Migration) {
	if r.Migration == nil {
		mc := Migration{ID: m.ID, Old: m.Old, New: m.New, OldIndex: m.OldIndex, NewIndex: m.NewIndex}
		r.Migration = &mc
	}
}

// finished reports whether reshard m already finished here: its steps,
// repeated, change nothing.
func (r *record) finished(m Migration) bool {
	return r.Migration == nil && r.FinishedID == m.ID
}
