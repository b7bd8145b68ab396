package multiraft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Persistent formats. These are small fixed layouts rather than protobuf:
// they are written for every entry and state change on the hot path.

var errCorrupt = errors.New("multiraft: corrupt persisted state")

// encodeEntry stores an entry without its index (the index is in the key).
func encodeEntry(e *pb.Entry) []byte {
	buf := make([]byte, 0, len(e.GetData())+11)
	buf = binary.AppendUvarint(buf, e.GetTerm())
	buf = append(buf, byte(e.GetType()))
	return append(buf, e.GetData()...)
}

func decodeEntry(index uint64, v []byte) (*pb.Entry, error) {
	term, n := binary.Uvarint(v)
	if n <= 0 || len(v) < n+1 {
		return nil, fmt.Errorf("%w: entry %d", errCorrupt, index)
	}
	typ := pb.EntryType(v[n])
	data := v[n+1:]
	if len(data) == 0 {
		data = nil
	}
	return &pb.Entry{Term: new(term), Index: new(index), Type: &typ, Data: data}, nil
}

func entryTerm(index uint64, v []byte) (uint64, error) {
	term, n := binary.Uvarint(v)
	if n <= 0 {
		return 0, fmt.Errorf("%w: entry %d", errCorrupt, index)
	}
	return term, nil
}

func encodeHardState(hs *pb.HardState) []byte {
	buf := make([]byte, 0, 24)
	buf = binary.BigEndian.AppendUint64(buf, hs.GetTerm())
	buf = binary.BigEndian.AppendUint64(buf, hs.GetVote())
	return binary.BigEndian.AppendUint64(buf, hs.GetCommit())
}

func decodeHardState(v []byte) (*pb.HardState, error) {
	if len(v) != 24 {
		return nil, fmt.Errorf("%w: hard state of %d bytes", errCorrupt, len(v))
	}
	return &pb.HardState{
		Term:   new(binary.BigEndian.Uint64(v[0:8])),
		Vote:   new(binary.BigEndian.Uint64(v[8:16])),
		Commit: new(binary.BigEndian.Uint64(v[16:24])),
	}, nil
}

// logPosition is an (index, term) pair: the truncated state of a log.
type logPosition struct{ Index, Term uint64 }

func encodePosition(p logPosition) []byte {
	buf := make([]byte, 0, 16)
	buf = binary.BigEndian.AppendUint64(buf, p.Index)
	return binary.BigEndian.AppendUint64(buf, p.Term)
}

func decodePosition(v []byte) (logPosition, error) {
	if len(v) != 16 {
		return logPosition{}, fmt.Errorf("%w: log position of %d bytes", errCorrupt, len(v))
	}
	return logPosition{binary.BigEndian.Uint64(v[0:8]), binary.BigEndian.Uint64(v[8:16])}, nil
}

// appliedState is what a group's state machine has applied. It lives in the
// group's replicated range, so it is written atomically with the data it
// describes and travels inside snapshots.
//
// Its configuration part is the group's whole Raft ConfState: the voters
// and learners, and during a joint change the outgoing voters, the
// learners-to-be and whether Raft leaves the joint configuration by
// itself. States written before joint changes existed end after the
// learners; they decode as non-joint.
type appliedState struct {
	Index, Term    uint64
	Voters         []uint64
	Learners       []uint64
	VotersOutgoing []uint64
	LearnersNext   []uint64
	AutoLeave      bool
}

func encodeApplied(a appliedState) []byte {
	buf := make([]byte, 0, 32+8*len(a.Voters))
	buf = binary.BigEndian.AppendUint64(buf, a.Index)
	buf = binary.BigEndian.AppendUint64(buf, a.Term)
	buf = appendIDs(buf, a.Voters)
	buf = appendIDs(buf, a.Learners)
	if len(a.VotersOutgoing) == 0 && len(a.LearnersNext) == 0 && !a.AutoLeave {
		return buf
	}
	buf = appendIDs(buf, a.VotersOutgoing)
	buf = appendIDs(buf, a.LearnersNext)
	if a.AutoLeave {
		return append(buf, 1)
	}
	return append(buf, 0)
}

func appendIDs(buf []byte, ids []uint64) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(ids)))
	for _, id := range ids {
		buf = binary.AppendUvarint(buf, id)
	}
	return buf
}

func decodeApplied(v []byte) (appliedState, error) {
	var a appliedState
	if len(v) < 16 {
		return a, fmt.Errorf("%w: applied state of %d bytes", errCorrupt, len(v))
	}
	a.Index = binary.BigEndian.Uint64(v[0:8])
	a.Term = binary.BigEndian.Uint64(v[8:16])
	rest := v[16:]
	var err error
	if a.Voters, rest, err = readIDs(rest); err != nil {
		return a, err
	}
	if a.Learners, rest, err = readIDs(rest); err != nil {
		return a, err
	}
	if len(rest) == 0 {
		return a, nil
	}
	if a.VotersOutgoing, rest, err = readIDs(rest); err != nil {
		return a, err
	}
	if a.LearnersNext, rest, err = readIDs(rest); err != nil {
		return a, err
	}
	if len(rest) != 1 || rest[0] > 1 {
		return a, fmt.Errorf("%w: applied state's auto-leave flag", errCorrupt)
	}
	a.AutoLeave = rest[0] == 1
	return a, nil
}

func readIDs(v []byte) ([]uint64, []byte, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || n > 1<<16 {
		return nil, nil, fmt.Errorf("%w: id list", errCorrupt)
	}
	v = v[k:]
	ids := make([]uint64, 0, n)
	for i := uint64(0); i < n; i++ {
		id, k := binary.Uvarint(v)
		if k <= 0 {
			return nil, nil, fmt.Errorf("%w: id list", errCorrupt)
		}
		ids = append(ids, id)
		v = v[k:]
	}
	return ids, v, nil
}

func (a appliedState) confState() *pb.ConfState {
	cs := &pb.ConfState{Voters: slices.Clone(a.Voters), Learners: slices.Clone(a.Learners),
		VotersOutgoing: slices.Clone(a.VotersOutgoing), LearnersNext: slices.Clone(a.LearnersNext)}
	if a.AutoLeave {
		cs.AutoLeave = new(true)
	}
	return cs
}

// withConf returns a with the configuration of cs.
func (a appliedState) withConf(cs *pb.ConfState) appliedState {
	a.Voters, a.Learners = slices.Clone(cs.GetVoters()), slices.Clone(cs.GetLearners())
	a.VotersOutgoing, a.LearnersNext = slices.Clone(cs.GetVotersOutgoing()), slices.Clone(cs.GetLearnersNext())
	a.AutoLeave = cs.GetAutoLeave()
	return a
}

// conf is the applied configuration in this package's terms.
func (a appliedState) conf() Conf {
	return Conf{Voters: slices.Clone(a.Voters), Learners: slices.Clone(a.Learners),
		VotersOutgoing: slices.Clone(a.VotersOutgoing), LearnersNext: slices.Clone(a.LearnersNext), AutoLeave: a.AutoLeave}
}

// Proposal framing. Every normal entry's data starts with the proposing
// node and a proposal ID, so the proposer can match the applied entry to the
// waiting caller exactly once.
const entryVersion = 1

func encodeProposal(node, id uint64, cmd []byte) []byte {
	buf := make([]byte, 0, len(cmd)+21)
	buf = append(buf, entryVersion)
	buf = binary.AppendUvarint(buf, node)
	buf = binary.AppendUvarint(buf, id)
	return append(buf, cmd...)
}

func decodeProposal(data []byte) (node, id uint64, cmd []byte, err error) {
	if len(data) < 1 || data[0] != entryVersion {
		return 0, 0, nil, fmt.Errorf("%w: proposal framing", errCorrupt)
	}
	data = data[1:]
	node, n := binary.Uvarint(data)
	if n <= 0 {
		return 0, 0, nil, fmt.Errorf("%w: proposal node", errCorrupt)
	}
	data = data[n:]
	id, n = binary.Uvarint(data)
	if n <= 0 {
		return 0, 0, nil, fmt.Errorf("%w: proposal id", errCorrupt)
	}
	return node, id, data[n:], nil
}
