package txn_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/shardsm"
	"github.com/distkv/distkv/internal/txn"
)

// participantSetup is a five-node cluster and two keys: kept on a shard
// whose replicas include the record shard's, and lost on a shard two of
// whose replicas hold neither (freezing those two takes the lost key's
// shard below quorum and leaves the rest of the transaction able to run).
type participantSetup struct {
	c          *clustertest.Cluster
	kept, lost string
	freeze     []keyspace.NodeID
	coord      *txn.Coordinator // on a node the freeze spares
	coordNode  keyspace.NodeID
}

func newParticipantSetup(t *testing.T, prefix string) participantSetup {
	c := clustertest.New(t, clustertest.Options{Nodes: 5, Replicas: 3, Shards: 16, RequestTimeout: 2 * time.Second})
	c.WaitReady(60 * time.Second)
	ns := c.Node(1).Map().Namespace(keyspace.DefaultNamespace)
	record := ns.Shard(0)
	for a := range ns.Shards {
		for b := range ns.Shards {
			sa, sb := ns.Shard(a), ns.Shard(b)
			if a == 0 || a == b {
				continue
			}
			var free []keyspace.NodeID
			for _, n := range sa.Replicas {
				if !slices.Contains(sb.Replicas, n) && !slices.Contains(record.Replicas, n) {
					free = append(free, n)
				}
			}
			coord := commonNode(sb, record, free)
			if len(free) < 2 || coord == 0 {
				continue
			}
			s := participantSetup{c: c, freeze: free[:2], coordNode: coord}
			s.kept, s.lost = keyOn(t, ns, prefix+"k", b), keyOn(t, ns, prefix+"l", a)
			s.coord = c.Node(coord).Transactions()
			t.Logf("kept %s on shard %d %v, lost %s on shard %d %v, record %v, freezing %v, coordinator %s",
				s.kept, b, sb.Replicas, s.lost, a, sa.Replicas, record.Replicas, s.freeze, coord)
			return s
		}
	}
	for i := range ns.Shards {
		t.Logf("shard %d: %v", i, ns.Shard(i).Replicas)
	}
	t.Fatalf("no two shards of %d have the placement this test needs", ns.Shards)
	return participantSetup{}
}

// commonNode is a node holding both shards that the freeze spares.
func commonNode(a, b membership.Shard, frozen []keyspace.NodeID) keyspace.NodeID {
	for _, n := range a.Replicas {
		if slices.Contains(b.Replicas, n) && !slices.Contains(frozen, n) {
			return n
		}
	}
	return 0
}

func keyOn(t *testing.T, ns *membership.NamespaceMap, prefix string, shard int) string {
	for i := range 100000 {
		k := fmt.Sprintf("%s%d", prefix, i)
		if ns.Locate([]byte(k)).Index == shard {
			return k
		}
	}
	t.Fatalf("no key on shard %d", shard)
	return ""
}

func (s participantSetup) freezeAll(t *testing.T) {
	for _, n := range s.freeze {
		if _, err := s.c.Faults().Freeze(uint64(n), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
}

func (s participantSetup) heal() {
	for _, n := range s.freeze {
		s.c.Faults().Unfreeze(uint64(n))
	}
}

// A participant that cannot vote (its shard lost its quorum before the
// prepare) fails the transaction with nothing applied anywhere; once it is
// back, whatever it had taken of the prepare is rolled back too, and no
// lock stays.
func TestParticipantDiesBeforeVoting(t *testing.T) {
	s := newParticipantSetup(t, "b")
	s.freezeAll(t)
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.coord.Run(c, "", txn.Request{Success: []shardsm.TxnOp{put(s.kept, "1"), put(s.lost, "1")}})
	if err == nil {
		t.Fatal("a transaction with a participant below quorum committed")
	}
	if errors.Is(err, kv.ErrUnknownOutcome) {
		t.Fatalf("nothing was decided, yet the outcome is unknown: %v", err)
	}
	t.Logf("the transaction failed: %v", err)
	if _, _, ok := mustGet(t, s.c.Node(s.coordNode), s.kept); ok {
		t.Fatalf("%s of a failed transaction is visible", s.kept)
	}
	s.heal()
	if _, _, ok := mustGet(t, s.c.Node(s.coordNode), s.lost); ok {
		t.Fatalf("%s of a failed transaction is visible after the heal", s.lost)
	}
	waitNoLocks(t, s.c)
}

// A participant that voted (prepared) and then lost its quorum before the
// resolve: the decision on the record stands, the other participant is
// resolved by its readers at once, and the lost one when it is back.
func TestParticipantDiesAfterVoting(t *testing.T) {
	s := newParticipantSetup(t, "a")
	dead := txn.New(txn.Config{KV: s.c.Node(s.coordNode).KV(), NodeID: "dead"})
	s.c.Node(s.coordNode).KV().SetLockResolver(s.coord)
	txn.StopAfter(dead, "decide")
	if _, err := dead.Run(ctx(t), "", txn.Request{Success: []shardsm.TxnOp{put(s.kept, "v"), put(s.lost, "v")}}); err == nil {
		t.Fatal("the stopped transaction reported success")
	}
	s.freezeAll(t)
	if v, _, ok := mustGet(t, s.c.Node(s.coordNode), s.kept); !ok || v != "v" {
		t.Fatalf("%s = %q (found %v) after its transaction's commit was recorded, want v", s.kept, v, ok)
	}
	c, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err := s.c.Node(s.coordNode).KV().Get(c, "", []byte(s.lost), kv.ReadOptions{})
	cancel()
	if err == nil {
		t.Fatalf("a read of %s answered while its shard is below quorum", s.lost)
	}
	s.heal()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		e, err := s.c.Node(s.coordNode).KV().Get(c, "", []byte(s.lost), kv.ReadOptions{})
		cancel()
		if err == nil && string(e.Value) == "v" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after the heal: %q, %v; want the committed v", s.lost, e.Value, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitNoLocks(t, s.c)
}
