// Package seed002 serves seed 002's (the Flask replication manager's) API
// over the kv service, the membership API and the fault switchboard:
// write, read, delete, fail and recover a node, list the nodes and which
// of them hold a key, and switch the replication strategy (full or
// consistent hashing with N replicas) online. Every route wants the
// bearer token the node was given.
package seed002

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
)

// KV is the part of the kv service the API uses (*kv.Service).
type KV interface {
	Get(ctx context.Context, ns string, key []byte, opts kv.ReadOptions) (kv.Entry, error)
	Put(ctx context.Context, ns string, key, value []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	Delete(ctx context.Context, ns string, key []byte, opts kv.WriteOptions) (kv.WriteResult, error)
}

// Cluster is the node's view of the cluster and its namespaces (the node).
type Cluster interface {
	NodeID() string
	Status(ctx context.Context) (api.Cluster, error)
	Locate(ns, key string) (api.Location, error)
	UpdateNamespace(ctx context.Context, name string, u api.NamespaceUpdate) (api.NamespaceChange, error)
}

// Config configures the routes.
type Config struct {
	KV      KV
	Cluster Cluster
	// Token is the bearer token every request must carry. Required.
	Token string
	// HTTP reaches the other nodes' fault switchboards (default: a client
	// with a 5s timeout).
	HTTP *http.Client
}

const maxBody = 2 << 20

// Register adds seed 002's routes to mux.
func Register(mux *http.ServeMux, cfg Config) {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 5 * time.Second}
	}
	h := &handler{cfg: cfg}
	for pattern, fn := range map[string]http.HandlerFunc{
		"POST /write":                    h.write,
		"GET /read/{key}":                h.read,
		"DELETE /delete/{key}":           h.del,
		"POST /fail/{id}":                h.fail,
		"POST /recover/{id}":             h.recover,
		"GET /nodes":                     h.nodes,
		"POST /set_replication_strategy": h.strategy,
		"GET /nodes_for_key/{key}":       h.nodesForKey,
	} {
		mux.Handle(pattern, h.auth(fn))
	}
}

type handler struct{ cfg Config }

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

type message struct {
	Message string `json:"message"`
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message,omitempty"`
}

// auth answers 403 unless the request carries the bearer token.
func (h *handler) auth(next http.HandlerFunc) http.Handler {
	want := []byte("Bearer " + h.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			reply(w, http.StatusForbidden, errorBody{Error: "Unauthorized", Message: "send Authorization: Bearer <the node's --compat-token or API_TOKEN>"})
			return
		}
		next(w, r)
	})
}

func failure(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, kv.ErrNotFound):
		reply(w, http.StatusNotFound, errorBody{Error: "Key not found"})
	case errors.Is(err, kv.ErrExists):
		reply(w, http.StatusConflict, errorBody{Error: "Key already exists"})
	case errors.Is(err, kv.ErrInvalid), errors.Is(err, kv.ErrTooLarge), errors.Is(err, kv.ErrUnknownMember):
		reply(w, http.StatusBadRequest, errorBody{Error: err.Error()})
	case errors.Is(err, kv.ErrConflict):
		reply(w, http.StatusConflict, errorBody{Error: err.Error()})
	case errors.Is(err, kv.ErrUnknownOutcome):
		reply(w, http.StatusGatewayTimeout, errorBody{Error: "the write may or may not have been applied: " + err.Error()})
	default:
		reply(w, http.StatusServiceUnavailable, errorBody{Error: err.Error()})
	}
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		reply(w, http.StatusBadRequest, errorBody{Error: "bad JSON body: " + err.Error()})
		return false
	}
	return true
}

// write is POST /write {"key","value"}: 201, or 409 if the key exists.
func (h *handler) write(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Key == "" {
		reply(w, http.StatusBadRequest, errorBody{Error: "key is required"})
		return
	}
	if _, err := h.cfg.KV.Put(r.Context(), "", []byte(req.Key), []byte(req.Value), kv.WriteOptions{Condition: kv.IfAbsent}); err != nil {
		failure(w, err)
		return
	}
	reply(w, http.StatusCreated, message{fmt.Sprintf("Key %s written to its replicas", req.Key)})
}

// read is GET /read/<key>; the message names the replica that answered.
func (h *handler) read(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	e, err := h.cfg.KV.Get(r.Context(), "", []byte(key), kv.ReadOptions{})
	if err != nil {
		failure(w, err)
		return
	}
	by := h.cfg.Cluster.NodeID()
	if loc, err := h.cfg.Cluster.Locate("", key); err == nil && loc.Leader != "" {
		by = loc.Leader // a strong read is answered by the shard's leader
	}
	reply(w, http.StatusOK, struct {
		Key     string `json:"key"`
		Value   string `json:"value"`
		Message string `json:"message"`
	}{key, string(e.Value), fmt.Sprintf("Read from replica %s", by)})
}

// del is DELETE /delete/<key>.
func (h *handler) del(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if _, err := h.cfg.KV.Delete(r.Context(), "", []byte(key), kv.WriteOptions{}); err != nil {
		failure(w, err)
		return
	}
	reply(w, http.StatusOK, message{fmt.Sprintf("Key %s deleted", key)})
}

// nodeID accepts "n2" or "2".
func nodeID(s string) (string, error) {
	if n, err := strconv.Atoi(s); err == nil {
		s = "n" + strconv.Itoa(n)
	}
	id, err := keyspace.ParseNodeID(s)
	if err != nil {
		return "", fmt.Errorf("%w: node %q: use n1, n2, ... (or 1, 2, ...)", kv.ErrInvalid, s)
	}
	return id.String(), nil
}

// members returns every node's client address, checking that id is one.
func (h *handler) members(ctx context.Context, id string) (map[string]string, error) {
	st, err := h.cfg.Cluster.Status(ctx)
	if err != nil {
		return nil, err
	}
	addrs := map[string]string{}
	for _, n := range st.Nodes {
		if n.Membership != "removed" && n.ClientAddr != "" {
			addrs[n.ID] = n.ClientAddr
		}
	}
	if _, ok := addrs[id]; !ok && id != "" {
		return nil, fmt.Errorf("%w: no node %s in the cluster", kv.ErrUnknownMember, id)
	}
	return addrs, nil
}

// fail is POST /fail/<id>: the node is cut off from every peer (the fault
// switchboard's isolate, on every node), as if it had failed.
func (h *handler) fail(w http.ResponseWriter, r *http.Request) {
	id, err := nodeID(r.PathValue("id"))
	if err != nil {
		failure(w, err)
		return
	}
	addrs, err := h.members(r.Context(), id)
	if err != nil {
		failure(w, err)
		return
	}
	body, _ := json.Marshal(api.FaultRequest{Kind: api.FaultIsolate, Nodes: []string{id}})
	for n, addr := range addrs {
		if err := h.call(r.Context(), http.MethodPost, addr, "/v1/admin/faults", body, http.StatusCreated, nil); err != nil {
			reply(w, http.StatusServiceUnavailable, errorBody{Error: fmt.Sprintf("isolating %s on %s: %v", id, n, err)})
			return
		}
	}
	reply(w, http.StatusOK, message{fmt.Sprintf("Node %s failed (isolated from every peer)", id)})
}

// recover is POST /recover/<id>: the isolation of the node is lifted
// everywhere; the node catches up with what it missed.
func (h *handler) recover(w http.ResponseWriter, r *http.Request) {
	id, err := nodeID(r.PathValue("id"))
	if err != nil {
		failure(w, err)
		return
	}
	addrs, err := h.members(r.Context(), id)
	if err != nil {
		failure(w, err)
		return
	}
	for n, addr := range addrs {
		var list api.FaultList
		if err := h.call(r.Context(), http.MethodGet, addr, "/v1/admin/faults", nil, http.StatusOK, &list); err != nil {
			reply(w, http.StatusServiceUnavailable, errorBody{Error: fmt.Sprintf("listing faults on %s: %v", n, err)})
			return
		}
		for _, f := range list.Faults {
			if f.Kind == api.FaultIsolate && len(f.Nodes) == 1 && f.Nodes[0] == id {
				if err := h.call(r.Context(), http.MethodDelete, addr, "/v1/admin/faults/"+strconv.FormatUint(f.ID, 10), nil, http.StatusOK, nil); err != nil {
					reply(w, http.StatusServiceUnavailable, errorBody{Error: fmt.Sprintf("lifting the isolation of %s on %s: %v", id, n, err)})
					return
				}
			}
		}
	}
	reply(w, http.StatusOK, message{fmt.Sprintf("Node %s recovered", id)})
}

// call sends one request to a node's v1 API.
func (h *handler) call(ctx context.Context, method, addr, path string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := h.cfg.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode != want {
		var eb api.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Message != "" {
			return fmt.Errorf("%d %s", resp.StatusCode, eb.Error.Message)
		}
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// nodes is GET /nodes: each node and whether it is alive.
func (h *handler) nodes(w http.ResponseWriter, r *http.Request) {
	st, err := h.cfg.Cluster.Status(r.Context())
	if err != nil {
		failure(w, err)
		return
	}
	type node struct {
		ID     string `json:"id"`
		Status string `json:"status"` // alive or dead
		State  string `json:"state"`  // the failure detector's word: alive, suspect, dead
	}
	out := struct {
		Nodes []node `json:"nodes"`
	}{Nodes: []node{}}
	for _, n := range st.Nodes {
		if n.Membership == "removed" {
			continue
		}
		status := "alive"
		if n.State != api.StateAlive {
			status = "dead"
		}
		out.Nodes = append(out.Nodes, node{ID: n.ID, Status: status, State: n.State})
	}
	reply(w, http.StatusOK, out)
}

// strategy is POST /set_replication_strategy {"strategy", "replication_factor"}:
// full replication (every node) or consistent hashing with N replicas,
// applied to the default namespace online.
func (h *handler) strategy(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Strategy          string `json:"strategy"`
		ReplicationFactor int    `json:"replication_factor"`
	}
	if !decode(w, r, &req) {
		return
	}
	var u api.NamespaceUpdate
	switch strings.ToLower(req.Strategy) {
	case "full":
		u.Replicas = "all"
	case "consistent":
		if req.ReplicationFactor < 1 {
			reply(w, http.StatusBadRequest, errorBody{Error: "consistent hashing needs a replication_factor of at least 1"})
			return
		}
		u.Replicas = api.Replicas(strconv.Itoa(req.ReplicationFactor))
	default:
		reply(w, http.StatusBadRequest, errorBody{Error: fmt.Sprintf("unknown strategy %q: use full or consistent", req.Strategy)})
		return
	}
	ch, err := h.cfg.Cluster.UpdateNamespace(r.Context(), keyspace.DefaultNamespace, u)
	if err != nil {
		failure(w, err)
		return
	}
	reply(w, http.StatusOK, struct {
		Message  string   `json:"message"`
		Replicas string   `json:"replicas"`
		Started  []string `json:"started,omitempty"`
	}{fmt.Sprintf("Replication strategy set to %s", strings.ToLower(req.Strategy)), string(ch.Namespace.Replicas), ch.Started})
}

// nodesForKey is GET /nodes_for_key/<key>: the replicas of its shard.
func (h *handler) nodesForKey(w http.ResponseWriter, r *http.Request) {
	loc, err := h.cfg.Cluster.Locate("", r.PathValue("key"))
	if err != nil {
		failure(w, err)
		return
	}
	reply(w, http.StatusOK, struct {
		Key    string   `json:"key"`
		Nodes  []string `json:"nodes"`
		Leader string   `json:"leader,omitempty"`
		Shard  int      `json:"shard"`
	}{loc.Key, loc.Replicas, loc.Leader, loc.Shard})
}
