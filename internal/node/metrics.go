package node

import (
	"context"
	"time"

	"github.com/distkv/distkv/internal/coordinator"
	"github.com/distkv/distkv/internal/membership"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// nodeMetrics are one node's Prometheus metrics, in a registry of its own
// (no process-global registration, so many nodes can share a test process).
type nodeMetrics struct {
	reg       *prometheus.Registry
	proposals prometheus.Counter
	// Membership: replicas added and removed by moves, moves begun and
	// ended, snapshot bytes this node streamed to new or lagging replicas.
	replicasAdded, replicasRemoved prometheus.Counter
	moves                          *prometheus.CounterVec
	snapshotBytes                  prometheus.Counter
	leaderChange                   *prometheus.CounterVec
	fsync                          prometheus.Histogram
	groupsSynced                   prometheus.Histogram
}

func newNodeMetrics() *nodeMetrics {
	m := &nodeMetrics{
		reg: prometheus.NewRegistry(),
		proposals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distkv_raft_proposals_total", Help: "Commands proposed to Raft groups led by this node.",
		}),
		leaderChange: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distkv_raft_leader_changes_total", Help: "Leader changes seen by this node's replicas, by kind of group.",
		}, []string{"group_kind"}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "distkv_fsync_duration_seconds", Help: "Duration of each synced storage commit (one per Raft cycle that needs it).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		}),
		groupsSynced: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "distkv_raft_groups_per_sync", Help: "Raft groups persisted by one synced commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		replicasAdded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distkv_replicas_added_total", Help: "Shard replicas added by moves this node coordinated.",
		}),
		replicasRemoved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distkv_replicas_removed_total", Help: "Shard replicas removed by moves this node coordinated.",
		}),
		moves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distkv_moves_total", Help: "Replica moves this node coordinated, by event (started, completed, abandoned).",
		}, []string{"event"}),
		snapshotBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distkv_snapshot_bytes_sent_total", Help: "Bytes of Raft snapshots this node streamed to other replicas.",
		}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.proposals, m.leaderChange, m.fsync, m.groupsSynced, m.replicasAdded, m.replicasRemoved, m.moves, m.snapshotBytes)
	return m
}

// registerNode adds the metrics computed from the node's state at scrape
// time.
func (m *nodeMetrics) registerNode(n *Node) {
	status := func() (led, lag float64) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		sts, err := n.host.Status(ctx)
		if err != nil {
			return 0, 0
		}
		for _, st := range sts {
			if st.IsLeader {
				led++
			}
			lag += float64(st.Commit - st.Applied)
		}
		return led, lag
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "distkv_raft_groups_led", Help: "Raft groups this node leads."},
			func() float64 { led, _ := status(); return led }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "distkv_raft_apply_lag_entries", Help: "Committed but not yet applied entries, summed over this node's replicas."},
			func() float64 { _, lag := status(); return lag }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "distkv_raft_groups", Help: "Raft group replicas hosted by this node."},
			func() float64 { return float64(len(n.host.Groups())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "distkv_moves_in_flight", Help: "Replica moves under way in the cluster, as this node's shard map records them."},
			func() float64 { return float64(len(n.meta.Current().Moves)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "distkv_shard_map_epoch", Help: "Epoch of the shard map this node has applied."},
			func() float64 { return float64(n.meta.Current().Epoch) }),
	)
	for _, st := range []membership.State{membership.Alive, membership.Suspect, membership.Dead} {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "distkv_peers", Help: "Cluster members by failure-detector state (this node counts itself alive).",
			ConstLabels: prometheus.Labels{"state": st.String()},
		}, func() float64 {
			c := 0
			for _, ps := range n.detector.Status(n.cfg.Clock.Now()) {
				if ps.State == st {
					c++
				}
			}
			return float64(c)
		}))
	}
	counter := func(name, help string, f func() uint64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) }))
	}
	counter("distkv_transport_messages_sent_total", "Messages handed to peer connections.", func() uint64 { return n.transport.Stats().MessagesSent })
	counter("distkv_transport_messages_received_total", "Messages received from peers.", func() uint64 { return n.transport.Stats().MessagesReceived })
	counter("distkv_transport_messages_dropped_total", "Messages dropped (queue full, fault, no connection, invalid).", func() uint64 {
		s := n.transport.Stats()
		return s.DroppedQueueFull + s.DroppedFault + s.DroppedNoConn + s.DroppedInvalid
	})
	counter("distkv_transport_frames_written_total", "Frames written to peers (each carries every message queued for that peer).", func() uint64 { return n.transport.Stats().FramesWritten })
	counter("distkv_raft_snapshots_sent_total", "Raft snapshots sent to lagging replicas.", func() uint64 { return n.host.Stats().SnapshotsSent })
	counter("distkv_raft_snapshots_applied_total", "Raft snapshots installed here.", func() uint64 { return n.host.Stats().SnapshotsApplied })
}

// coordinatorEvents feeds the coordinator's driver's events to metrics.
func (m *nodeMetrics) coordinatorEvents() coordinator.Events {
	return coordinator.Events{
		MoveStarted: func(membership.Move) { m.moves.WithLabelValues("started").Inc() },
		MoveFinished: func(_ membership.Move, completed bool) {
			if completed {
				m.moves.WithLabelValues("completed").Inc()
			} else {
				m.moves.WithLabelValues("abandoned").Inc()
			}
		},
		ReplicaAdded:   m.replicasAdded.Inc,
		ReplicaRemoved: m.replicasRemoved.Inc,
	}
}
