package node

import (
	"context"
	"time"

	"github.com/distkv/distkv/internal/membership"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// nodeMetrics are one node's Prometheus metrics, in a registry of its own
// (no process-global registration, so many nodes can share a test process).
type nodeMetrics struct {
	reg          *prometheus.Registry
	proposals    prometheus.Counter
	leaderChange *prometheus.CounterVec
	fsync        prometheus.Histogram
	groupsSynced prometheus.Histogram
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
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.proposals, m.leaderChange, m.fsync, m.groupsSynced)
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
