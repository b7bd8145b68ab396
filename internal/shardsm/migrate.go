package shardsm

import (
	"fmt"
	"slices"

	"github.com/distkv/distkv/internal/storage"
)

// A reshard, from one shard's side. Every step is a command in the
// shard's Raft log, so every replica goes through the same states, and
// every step can be repeated (a coordinator that takes over repeats the
// current phase):
//
//	source: track, (bulk copy out), bulk_done, freeze, (final copy out), seal, finish
//	target: ingest..., ready, unlock, finish
//
// A group can be both: keys moving out and keys moving in are disjoint.
// Between freeze and unlock writes to moving keys are refused with
// ErrMoving (callers retry); reads of them are served by the source until
// it is sealed and by the target once it is ready, which is before the
// shard map switches routing; so a moving key is always readable, and
// writable everywhere but in that window.

var validStep = map[string]bool{StepTrack: true, StepBulkDone: true, StepFreeze: true, StepIngest: true,
	StepReady: true, StepSeal: true, StepUnlock: true, StepFinish: true}

// migrate applies one step.
func (sm *SM) migrate(b *storage.Batch, index uint64, m *Migrate) Outcome {
	rec := sm.current()
	switch {
	case rec.finished(m.Reshard):
		return Outcome{}
	case !validStep[m.Step]:
		return Outcome{Err: fmt.Errorf("%w: unknown reshard step %q", errBadCommand, m.Step)}
	}
	if err := rec.compatible(m.Reshard); err != nil {
		return Outcome{Err: err}
	}
	if m.Step == StepFreeze && sm.anyLock() {
		// A prepared transaction's keys must not freeze: its resolve could
		// no longer write them. The driver tries again.
		return Outcome{Err: fmt.Errorf("%w: the shard holds prepared transactions' locks; the reshard freezes once they resolve", ErrLocked)}
	}
	rec = sm.editable()
	rec.join(m.Reshard)
	mg := rec.Migration
	switch m.Step {
	case StepTrack:
	case StepBulkDone:
		mg.BulkDone, mg.Watermark = true, max(mg.Watermark, m.Watermark)
	case StepFreeze:
		mg.Frozen = true
	case StepIngest:
		sm.ingest(b, index, rec, m)
	case StepReady:
		mg.Ready = true
	case StepSeal:
		mg.Frozen, mg.Sealed, mg.Epoch = true, true, max(mg.Epoch, m.Epoch)
	case StepUnlock:
		mg.Unlocked = true
	case StepFinish:
		sm.finish(b, rec, m.Epoch)
	}
	sm.saveRecord(b)
	return Outcome{}
}

// ingest writes copied keys: only keys moving in are taken (anything else
// would be a coordinator's mistake, and is skipped), keeping their
// versions, and the version base grows so later writes here get higher
// versions than any key copied in.
//
// A copy can arrive late: an export whose caller gave up may still be
// proposing, and a proposal of unknown outcome can commit after its retry.
// So a key is only overwritten by a higher version; a bulk copy from a
// source whose final copy has begun arriving is dropped (it could bring
// back a key the final copy deleted); and once the target is ready (every
// final copy is in, and writes may follow) every copy is dropped.
func (sm *SM) ingest(b *storage.Batch, index uint64, rec *record, m *Migrate) {
	mg := rec.Migration
	if mg.Ready || (!m.Final && slices.Contains(mg.FinalFrom, m.Source)) {
		return
	}
	if m.Final && !slices.Contains(mg.FinalFrom, m.Source) {
		mg.FinalFrom = append(mg.FinalFrom, m.Source)
	}
	for _, e := range m.Entries {
		if mg.class(e.Key) != incoming {
			continue
		}
		cur, found := sm.version(b, storage.DataKey(sm.group, e.Key), e.Key)
		if found && cur >= e.Version {
			continue
		}
		sm.set(b, e.Key, e.Version, e.Value, found)
		if e.Version > rec.VersionBase+index {
			rec.VersionBase = e.Version - index
		}
	}
	for _, k := range m.Deletes {
		if mg.class(k) != incoming {
			continue
		}
		if _, found := sm.version(b, storage.DataKey(sm.group, k), k); found {
			sm.del(b, k)
		}
	}
}

// finish deletes the keys that moved out (without change events: they
// moved, they were not deleted) and the delete records, and records the
// new layout as the one this group serves (none, if it dropped the group).
func (sm *SM) finish(b *storage.Batch, rec *record, epoch uint64) {
	mg := rec.Migration
	var gone [][]byte
	start, end := storage.DataRange(sm.group, nil)
	err := b.Scan(start, end, func(k, _ []byte) bool {
		key := storage.UserKey(k)
		if c := mg.class(key); c == outgoing || c == foreign {
			gone = append(gone, append([]byte(nil), key...))
		}
		return true
	})
	if err != nil {
		panic(fmt.Sprintf("shardsm: scanning group %d to finish a reshard: %v", sm.group, err))
	}
	for _, k := range gone {
		sm.del(b, k)
	}
	ts, te := storage.MovedDeleteRange(sm.group)
	if err := b.DeleteRange(ts, te); err != nil {
		panic(fmt.Sprintf("shardsm: clearing delete records of group %d: %v", sm.group, err))
	}
	// A group the new layout drops serves nothing from now on (index -1
	// is no shard's): a write routed by the old layout, from a router
	// that paused on ErrMoving and tried again, must be told the key
	// moved, not applied where no read will look.
	rec.Layout, rec.Index = mg.New, mg.NewIndex
	rec.MovedEpoch = max(rec.MovedEpoch, epoch, mg.Epoch)
	rec.FinishedID = mg.ID
	rec.Migration = nil
}

// ExportFunc receives the keys a source sends one target shard (its index
// in the new layout): entries to write and keys to delete.
type ExportFunc func(target int, e *Entry, deleted []byte) error

// Export reads, from r (a consistent snapshot of a node that has applied
// the source's latest steps), the keys of group that move out under its
// reshard. The bulk copy (final false) sends all of them; the final copy
// sends those written since the bulk copy's watermark and repeats the
// deletes of moving keys since the reshard began. It returns the highest
// version of any key of the group: every later write gets a higher one,
// which makes it the watermark the final copy starts from.
func Export(r storage.Reader, group uint64, final bool, emit ExportFunc) (watermark uint64, err error) {
	b, _, err := r.Get(storage.ShardRecordKey(group))
	if err != nil {
		return 0, err
	}
	rec, err := decodeRecord(b)
	if err != nil {
		return 0, err
	}
	mg := rec.Migration
	if mg == nil {
		return 0, fmt.Errorf("shardsm: group %d has no reshard under way", group)
	}
	var since uint64
	if final {
		if !mg.Frozen || !mg.BulkDone {
			return 0, fmt.Errorf("shardsm: group %d: a final copy needs a recorded bulk copy and frozen writes", group)
		}
		since = mg.Watermark
	}
	var ferr error
	start, end := storage.DataRange(group, nil)
	err = r.Scan(start, end, func(k, v []byte) bool {
		key := storage.UserKey(k)
		ver, val, derr := DecodeValue(v)
		if derr != nil {
			ferr = derr
			return false
		}
		watermark = max(watermark, ver)
		if ver <= since || mg.class(key) != outgoing {
			return true
		}
		ferr = emit(mg.New.ShardOf(key), &Entry{Key: append([]byte(nil), key...), Version: ver, Value: append([]byte(nil), val...)}, nil)
		return ferr == nil
	})
	if err == nil {
		err = ferr
	}
	if err != nil || !final {
		return watermark, err
	}
	ts, te := storage.MovedDeleteRange(group)
	prefix := len(ts)
	err = r.Scan(ts, te, func(k, _ []byte) bool {
		key := append([]byte(nil), k[prefix:]...)
		ferr = emit(mg.New.ShardOf(key), nil, key)
		return ferr == nil
	})
	if err == nil {
		err = ferr
	}
	return watermark, err
}
