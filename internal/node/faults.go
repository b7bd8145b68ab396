package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/keyspace"
)

// Fault injection over HTTP. Faults act inside this node's transport (and,
// for a freeze of this node, on its client traffic too), so they need no
// root, iptables or tc. A cluster-wide fault is applied by posting it to
// every node; each node enforces the rules that involve its own links.

const faultsDisabled = "fault injection is disabled on this node; start it with --allow-fault-injection (distkv up enables it)"

func (n *Node) faultRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/admin/faults", n.listFaults)
	mux.HandleFunc("POST /v1/admin/faults", n.addFault)
	mux.HandleFunc("DELETE /v1/admin/faults", n.healFaults)
	mux.HandleFunc("DELETE /v1/admin/faults/{id}", n.removeFault)
}

func (n *Node) faultsAllowed(w http.ResponseWriter) bool {
	if !n.cfg.AllowFaultInjection || n.faults == nil {
		writeAPIError(w, http.StatusForbidden, api.CodeForbidden, faultsDisabled)
		return false
	}
	return true
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Error{Code: code, Message: msg}})
}

func (n *Node) writeFaults(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.FaultList{Node: n.NodeID(), Faults: n.faultList()})
}

func (n *Node) listFaults(w http.ResponseWriter, r *http.Request) {
	if n.faultsAllowed(w) {
		n.writeFaults(w, http.StatusOK)
	}
}

func (n *Node) healFaults(w http.ResponseWriter, r *http.Request) {
	if !n.faultsAllowed(w) {
		return
	}
	n.faults.Heal()
	n.log.Warn("fault injection: all faults healed")
	n.writeFaults(w, http.StatusOK)
}

func (n *Node) removeFault(w http.ResponseWriter, r *http.Request) {
	if !n.faultsAllowed(w) {
		return
	}
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || !n.faults.Remove(id) {
		writeAPIError(w, http.StatusNotFound, api.CodeNotFound, "no active fault with id "+strconv.Quote(r.PathValue("id")))
		return
	}
	n.writeFaults(w, http.StatusOK)
}

func (n *Node) addFault(w http.ResponseWriter, r *http.Request) {
	if !n.faultsAllowed(w) {
		return
	}
	var req api.FaultRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeAPIError(w, http.StatusBadRequest, api.CodeInvalid, "fault body: "+err.Error())
		return
	}
	if err := n.applyFault(req); err != nil {
		writeAPIError(w, http.StatusBadRequest, api.CodeInvalid, err.Error())
		return
	}
	n.log.Warn("fault injected", "kind", req.Kind, "nodes", req.Nodes, "groups", req.Groups, "for", req.For)
	n.writeFaults(w, http.StatusCreated)
}

// applyFault validates req against the cluster's members and installs it.
func (n *Node) applyFault(req api.FaultRequest) error {
	dur, err := optDuration("for", req.For)
	if err != nil {
		return err
	}
	nodes, err := n.nodeIDs(req.Nodes)
	if err != nil {
		return err
	}
	switch req.Kind {
	case api.FaultFreeze, api.FaultIsolate:
		if len(nodes) == 0 {
			return fmt.Errorf("%s needs nodes", req.Kind)
		}
		for _, id := range nodes {
			if req.Kind == api.FaultFreeze {
				_, err = n.faults.Freeze(id, dur)
			} else {
				_, err = n.faults.Isolate(id, dur)
			}
			if err != nil {
				return err
			}
		}
		return nil
	case api.FaultUnfreeze:
		if len(nodes) == 0 {
			return errors.New("unfreeze needs nodes")
		}
		for _, id := range nodes {
			n.faults.Unfreeze(id)
		}
		return nil
	case api.FaultPartition:
		if len(req.Groups) < 2 {
			return errors.New("partition needs at least two groups of nodes")
		}
		var groups [][]uint64
		for _, g := range req.Groups {
			ids, err := n.nodeIDs(g)
			if err != nil {
				return err
			}
			groups = append(groups, ids)
		}
		_, err = n.faults.Partition(groups, dur)
		return err
	case api.FaultCut:
		from, err := n.nodeIDs([]string{req.From})
		if err != nil {
			return err
		}
		to, err := n.nodeIDs([]string{req.To})
		if err != nil {
			return err
		}
		_, err = n.faults.Cut(from[0], to[0], dur)
		return err
	case api.FaultDelay:
		d, err := optDuration("delay", req.Delay)
		if err != nil || d <= 0 {
			return fmt.Errorf("delay needs a positive delay, got %q", req.Delay)
		}
		j, err := optDuration("jitter", req.Jitter)
		if err != nil {
			return err
		}
		return n.perNode(nodes, func(id uint64) error { _, err := n.faults.Delay(id, d, j, dur); return err })
	case api.FaultDrop:
		return n.perNode(nodes, func(id uint64) error { _, err := n.faults.Drop(id, req.Prob, dur); return err })
	}
	return fmt.Errorf("unknown fault kind %q (freeze, unfreeze, partition, isolate, cut, delay, drop)", req.Kind)
}

// perNode applies fn to each node, or once to all links (id 0).
func (n *Node) perNode(nodes []uint64, fn func(uint64) error) error {
	if len(nodes) == 0 {
		return fn(0)
	}
	for _, id := range nodes {
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) nodeIDs(names []string) ([]uint64, error) {
	m := n.meta.Current()
	var out []uint64
	for _, s := range names {
		id, err := keyspace.ParseNodeID(s)
		if err != nil {
			return nil, err
		}
		if _, ok := m.Member(id); !ok {
			return nil, fmt.Errorf("%s is not a member of this cluster", id)
		}
		out = append(out, uint64(id))
	}
	return out, nil
}

func optDuration(name, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s must be a duration such as 10s or 200ms, got %q", name, s)
	}
	return d, nil
}

// frozenGate holds client requests while this node is frozen, as a cut-off
// machine would: the request waits (up to its own deadline or 30s) and is
// answered only if the node thaws. Fault administration stays reachable so
// the node can be unfrozen.
func (n *Node) frozenGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.faults == nil || !n.faults.Frozen(uint64(n.cfg.ID)) || isFaultAdmin(r) {
			next.ServeHTTP(w, r)
			return
		}
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		giveUp := time.After(30 * time.Second)
		for n.faults.Frozen(uint64(n.cfg.ID)) {
			select {
			case <-r.Context().Done():
				return
			case <-giveUp:
				w.Header().Set(api.HeaderNode, n.NodeID())
				writeAPIError(w, http.StatusServiceUnavailable, api.CodeUnavailable, "node is frozen (fault injection)")
				return
			case <-t.C:
			}
		}
		next.ServeHTTP(w, r)
	})
}

func isFaultAdmin(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/v1/admin/faults")
}
