package node

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/distkv/distkv/internal/kv"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/replication/dynamo"
	"github.com/distkv/distkv/internal/watch"
	"github.com/prometheus/client_golang/prometheus"
)

// openDynamo starts the leaderless engine for eventual and causal
// namespaces.
func (n *Node) openDynamo() (*dynamo.Engine, error) {
	m := n.metrics
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		m.reg.MustRegister(c)
		return c
	}
	lww := counter("distkv_lww_discarded_total", "Writes discarded by last-writer-wins in leaderless namespaces.")
	repairs := counter("distkv_read_repairs_total", "Replicas repaired by reads in eventual namespaces.")
	stored := counter("distkv_hints_stored_total", "Hints stored for replicas thought down (sloppy quorum).")
	delivered := counter("distkv_hints_delivered_total", "Hints delivered to their owners.")
	ae := counter("distkv_anti_entropy_keys_total", "Keys exchanged by anti-entropy rounds.")
	return dynamo.New(dynamo.Config{
		NodeID: n.cfg.ID, Engine: n.engine, Transport: n.transport,
		Map:   n.meta.Current,
		Alive: func(id keyspace.NodeID) bool { return n.detector.State(id) == membership.Alive },
		Clock: n.cfg.Clock, Sync: !n.cfg.InMemory, Timeout: n.cfg.RequestTimeout,
		AntiEntropyInterval: n.cfg.AntiEntropyInterval, TombstoneGrace: n.cfg.TombstoneGrace,
		OnChange: n.publishLeaderless,
		Logger:   n.log.With("component", "dynamo"),
		Metrics: dynamo.Metrics{
			LWWDiscarded:   func(k int) { lww.Add(float64(k)) },
			ReadRepairs:    repairs.Inc,
			HintsStored:    stored.Inc,
			HintsDelivered: delivered.Inc,
			KeysRepaired:   func(k int) { ae.Add(float64(k)) },
		},
	})
}

// publishLeaderless turns a replica's new key states into watch events.
func (n *Node) publishLeaderless(ns *membership.NamespaceMap, chs []dynamo.Change) {
	now := n.cfg.Clock.Now()
	evs := make([]watch.Event, 0, len(chs))
	for _, ch := range chs {
		ev := watch.Event{NS: ns.Name, Key: string(ch.Key), Op: watch.OpPut, Value: ch.Value,
			Node: n.NodeID(), Time: now, Shard: keyspace.GroupID(ch.Group).Shard()}
		if ch.Deleted {
			ev.Op = watch.OpDelete
		}
		evs = append(evs, ev)
	}
	n.hub.Publish(evs)
}

// dumpLeaderless streams a leaderless shard replica's keys.
func (n *Node) dumpLeaderless(ctx context.Context, sh membership.Shard, fn func(api.DumpEntry) error) error {
	return n.dynamo.DumpLocal(ctx, uint64(sh.Group), func(e dynamo.DumpEntry) error {
		de := api.DumpEntry{Namespace: sh.Namespace.Name, Shard: sh.Index, Key: string(e.Key),
			Context: e.Context, Siblings: e.Siblings, Deleted: e.Deleted}
		if len(e.Values) > 0 {
			de.Value, de.Encoding = api.EncodeValue(e.Values[0])
		}
		return fn(de)
	})
}

// PendingHints counts the hints this node holds for other replicas.
func (n *Node) PendingHints() int { return n.dynamo.PendingHints() }

// PendingHintsIn counts the hints this node holds for replicas of group.
func (n *Node) PendingHintsIn(group keyspace.GroupID) int {
	return n.dynamo.PendingHintsIn(uint64(group))
}

func (n *Node) leaderlessRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/admin/repair", n.repair)
	mux.HandleFunc("POST /v1/admin/plant", n.plant)
}

// repair runs one anti-entropy round over this node's leaderless replicas.
func (n *Node) repair(w http.ResponseWriter, r *http.Request) {
	k, err := n.dynamo.Repair(r.Context())
	if err != nil {
		writeAPIError(w, http.StatusInternalServerError, api.CodeInternal, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(api.RepairResult{Node: n.NodeID(), Keys: k})
}

// plant puts a divergent value on one replica (fault injection).
func (n *Node) plant(w http.ResponseWriter, r *http.Request) {
	if !n.faultsAllowed(w) {
		return
	}
	var req api.PlantRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, int64(n.kv.Limits().MaxValue)+64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeAPIError(w, http.StatusBadRequest, api.CodeInvalid, "plant body: "+err.Error())
		return
	}
	target, err := keyspace.ParseNodeID(req.Node)
	if err != nil || req.Key == "" {
		writeAPIError(w, http.StatusBadRequest, api.CodeInvalid, "plant needs a node (n2) and a key")
		return
	}
	if err := n.kv.Plant(r.Context(), req.Namespace, target, []byte(req.Key), []byte(req.Value)); err != nil {
		status, code := http.StatusBadRequest, api.CodeInvalid
		if errors.Is(err, kv.ErrNoNamespace) {
			status, code = http.StatusNotFound, api.CodeNamespaceNotFound
		}
		writeAPIError(w, status, code, err.Error())
		return
	}
	n.log.Warn("fault injected: planted a divergent value", "ns", req.Namespace, "key", req.Key, "node", req.Node)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"planted": req.Key, "node": target.String()})
}
