package multiraft

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/internal/storage"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Snapshots. Raft asks for one when a follower needs entries this replica
// has truncated. logStore.Snapshot only describes the applied position; the
// data is produced here, off the loop: a consistent engine snapshot of the
// group's replicated range is streamed to the follower over the transport's
// snapshot stream. Because the engine snapshot may be newer than the
// position Raft saw, the message's metadata is rewritten to the applied
// state inside the engine snapshot, so data and metadata always agree.
//
// Body format: a sequence of (uvarint key length, key, uvarint value
// length, value) over the group's replicated range. The receiver buffers it
// (up to MaxSnapshotBytes), steps the MsgSnap into Raft and installs it in
// the next cycle's batch: the group's range is cleared and rewritten, and
// its log is reset to start after the snapshot.

const snapshotTimeout = 10 * time.Minute

func (h *Host) sendSnapshot(r *replica, m *pb.Message) {
	key := snapKey{r.id, m.GetTo()} // a replica ID
	if h.sending[key] {
		return // one at a time per follower; Raft asks again later
	}
	h.sending[key] = true
	h.snapWG.Add(1)
	go func() {
		defer h.snapWG.Done()
		err := h.streamSnapshot(r.id, m)
		status := raft.SnapshotFinish
		if err != nil {
			status = raft.SnapshotFailure
			h.cfg.Logger.Warn("sending snapshot failed", "group", r.id, "to", m.GetTo(), "err", err)
		}
		_ = h.enqueue(event{kind: evFunc, fn: func() {
			delete(h.sending, key)
			if g := h.groups[key.group]; g != nil {
				g.rn.ReportSnapshot(key.to, status)
			}
		}})
	}()
}

func (h *Host) streamSnapshot(group uint64, m *pb.Message) error {
	snap := h.cfg.Engine.NewSnapshot()
	defer snap.Close()
	v, ok, err := snap.Get(storage.AppliedStateKey(group))
	if err != nil || !ok {
		return fmt.Errorf("reading applied state: found=%v err=%v", ok, err)
	}
	a, err := decodeApplied(v)
	if err != nil {
		return err
	}
	m.Snapshot = &pb.Snapshot{Metadata: &pb.SnapshotMetadata{
		Index: new(a.Index), Term: new(a.Term), ConfState: a.confState(),
	}}
	header := binary.AppendUvarint(nil, group)
	header, err = proto.MarshalOptions{}.MarshalAppend(header, m)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	var sent int64
	go func() {
		cw := &countingWriter{w: pw, n: &sent}
		bw := bufio.NewWriterSize(cw, 256<<10)
		start, end := storage.StateRange(group)
		var werr error
		serr := snap.Scan(start, end, func(k, v []byte) bool {
			werr = writeKV(bw, k, v)
			return werr == nil
		})
		if werr == nil {
			werr = serr
		}
		if werr == nil {
			werr = bw.Flush()
		}
		pw.CloseWithError(werr)
	}()
	ctx, cancel := context.WithTimeout(h.snapCtx, snapshotTimeout)
	defer cancel()
	err = h.cfg.Transport.SendSnapshot(ctx, nodeOf(m.GetTo()), header, pr)
	pr.CloseWithError(errors.New("snapshot send finished"))
	if err == nil {
		h.stats.snapshotsSent.Add(1)
		h.cfg.Logger.Info("sent snapshot", "group", group, "to", m.GetTo(), "index", a.Index, "bytes", atomic.LoadInt64(&sent))
		if h.cfg.Events.SnapshotSent != nil {
			h.cfg.Events.SnapshotSent(group, atomic.LoadInt64(&sent))
		}
	}
	return err
}

// countingWriter counts the bytes written through it (read by another
// goroutine, hence atomically).
type countingWriter struct {
	w io.Writer
	n *int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	atomic.AddInt64(c.n, int64(k))
	return k, err
}

func writeKV(w *bufio.Writer, k, v []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	for _, b := range [][]byte{k, v} {
		n := binary.PutUvarint(hdr[:], uint64(len(b)))
		if _, err := w.Write(hdr[:n]); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// HandleSnapshot receives a snapshot stream from the transport: it reads the
// body (bounded), attaches it to the MsgSnap and queues the message for the
// loop.
func (h *Host) HandleSnapshot(ctx context.Context, from uint64, header []byte, body io.Reader) error {
	group, n := binary.Uvarint(header)
	if n <= 0 {
		return errors.New("multiraft: malformed snapshot header")
	}
	msg := &pb.Message{}
	if err := proto.Unmarshal(header[n:], msg); err != nil {
		return fmt.Errorf("multiraft: snapshot header: %w", err)
	}
	if msg.GetType() != pb.MessageType_MsgSnap || msg.GetSnapshot().GetMetadata() == nil {
		return errors.New("multiraft: snapshot header is not a MsgSnap")
	}
	h.view.RLock()
	st, hosted := h.view.groups[group]
	h.view.RUnlock()
	if !hosted {
		return fmt.Errorf("%w: %d", ErrGroupNotFound, group)
	}
	if msg.GetTo() != st.ReplicaID {
		return fmt.Errorf("%w: group %d: the snapshot is for replica %d, this node has %d", ErrGroupNotFound, group, msg.GetTo(), st.ReplicaID)
	}
	data, err := io.ReadAll(io.LimitReader(body, h.cfg.MaxSnapshotBytes+1))
	if err != nil {
		return fmt.Errorf("multiraft: reading snapshot: %w", err)
	}
	if int64(len(data)) > h.cfg.MaxSnapshotBytes {
		return fmt.Errorf("multiraft: snapshot of group %d exceeds %d bytes", group, h.cfg.MaxSnapshotBytes)
	}
	if err := validateSnapshotData(group, data, msg.GetSnapshot().GetMetadata()); err != nil {
		return err
	}
	msg.Snapshot.Data = data
	return h.enqueue(event{kind: evMessage, group: group, msg: msg})
}

// validateSnapshotData checks every key lies in the group's range and that
// the applied state inside matches the metadata, before anything is written.
func validateSnapshotData(group uint64, data []byte, md *pb.SnapshotMetadata) error {
	start, end := storage.StateRange(group)
	appliedKey := storage.AppliedStateKey(group)
	sawApplied := false
	err := forEachKV(data, func(k, v []byte) error {
		if bytes.Compare(k, start) < 0 || bytes.Compare(k, end) >= 0 {
			return fmt.Errorf("multiraft: snapshot key %q outside group %d", k, group)
		}
		if bytes.Equal(k, appliedKey) {
			a, err := decodeApplied(v)
			if err != nil {
				return err
			}
			if a.Index != md.GetIndex() || a.Term != md.GetTerm() {
				return fmt.Errorf("multiraft: snapshot applied state %d/%d does not match metadata %d/%d", a.Index, a.Term, md.GetIndex(), md.GetTerm())
			}
			sawApplied = true
		}
		return nil
	})
	if err == nil && !sawApplied {
		err = errors.New("multiraft: snapshot carries no applied state")
	}
	return err
}

func forEachKV(data []byte, fn func(k, v []byte) error) error {
	for len(data) > 0 {
		var kv [2][]byte
		for i := range kv {
			l, n := binary.Uvarint(data)
			if n <= 0 || uint64(len(data)-n) < l {
				return errors.New("multiraft: truncated snapshot body")
			}
			kv[i] = data[n : n+int(l)]
			data = data[n+int(l):]
		}
		if err := fn(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// installSnapshot replaces a group's replicated state and log with the
// snapshot's, in b.
func installSnapshot(b *storage.Batch, group uint64, snap *pb.Snapshot) (appliedState, error) {
	md := snap.GetMetadata()
	start, end := storage.StateRange(group)
	if err := b.DeleteRange(start, end); err != nil {
		return appliedState{}, err
	}
	ls, le := storage.LogRange(group, 0, ^uint64(0))
	if err := b.DeleteRange(ls, le); err != nil {
		return appliedState{}, err
	}
	if err := forEachKV(snap.GetData(), func(k, v []byte) error { return b.Set(k, v) }); err != nil {
		return appliedState{}, err
	}
	pos := logPosition{md.GetIndex(), md.GetTerm()}
	if err := b.Set(storage.TruncatedStateKey(group), encodePosition(pos)); err != nil {
		return appliedState{}, err
	}
	return appliedState{Index: md.GetIndex(), Term: md.GetTerm()}.withConf(md.GetConfState()), nil
}
