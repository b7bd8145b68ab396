// Package seed004 serves seed 004's (the sharded, causally consistent
// course store's) HTTP API over the kv service and the shard map: /kvs
// reads and writes carrying causal metadata, /view, and /shard (ids,
// members, key counts, add-member, reshard). Its shards are the default
// namespace's, a causal namespace pinned to disjoint sets of nodes; its
// causal metadata is the causal engine's client token.
package seed004

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
)

// Bounds: keys longer than MaxKey are refused (the seed's 50 characters);
// a request body is at most MaxBody; key-count scans at most MaxCount keys;
// add-member and reshard wait at most ChangeWait for the data to be in
// place.
const (
	MaxKey     = 50
	MaxBody    = 8 << 20
	MaxCount   = 1 << 20
	ChangeWait = 60 * time.Second
	pageSize   = 1000
)

// KV is the part of the kv service the API uses (*kv.Service).
type KV interface {
	Get(ctx context.Context, ns string, key []byte, opts kv.ReadOptions) (kv.Entry, error)
	Put(ctx context.Context, ns string, key, value []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	Delete(ctx context.Context, ns string, key []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	Scan(ctx context.Context, ns string, opts kv.ScanOptions) (kv.ScanResult, error)
	ProposeMeta(ctx context.Context, c membership.Command) (kv.MetaOutcome, error)
}

// Cluster is what the API needs of the node.
type Cluster interface {
	Map() *membership.Map
	Self() keyspace.NodeID
	// Up reports whether the failure detector still counts node id up
	// (not silent past its dead threshold).
	Up(id keyspace.NodeID) bool
	AddMember(ctx context.Context, req api.MemberRequest) (api.MemberChange, error)
	RemoveMember(ctx context.Context, id string) (api.MemberChange, error)
	// PeerAddr is the peer address of the node serving clients at addr.
	PeerAddr(addr string) (string, error)
}

// Config configures the routes.
type Config struct {
	KV      KV
	Cluster Cluster
	// Namespace holds the store; default "default".
	Namespace string
}

// Register adds seed 004's routes to mux.
func Register(mux *http.ServeMux, cfg Config) {
	if cfg.Namespace == "" {
		cfg.Namespace = keyspace.DefaultNamespace
	}
	h := &handler{cfg: cfg}
	mux.HandleFunc("GET /kvs/{key...}", h.get)
	mux.HandleFunc("PUT /kvs/{key...}", h.put)
	mux.HandleFunc("DELETE /kvs/{key...}", h.del)
	mux.HandleFunc("GET /view", h.view)
	mux.HandleFunc("PUT /view", h.viewAdd)
	mux.HandleFunc("DELETE /view", h.viewDelete)
	mux.HandleFunc("GET /shard/ids", h.shardIDs)
	mux.HandleFunc("GET /shard/node-shard-id", h.nodeShard)
	mux.HandleFunc("GET /shard/members/{id}", h.shardMembers)
	mux.HandleFunc("GET /shard/key-count/{id}", h.keyCount)
	mux.HandleFunc("PUT /shard/add-member/{id}", h.addMember)
	mux.HandleFunc("PUT /shard/reshard", h.reshard)
}

type handler struct{ cfg Config }

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// body is every field a seed 004 request may carry.
type body struct {
	Value          *json.RawMessage `json:"value"`
	CausalMetadata json.RawMessage  `json:"causal-metadata"`
	SocketAddress  string           `json:"socket-address"`
	ShardCount     *json.RawMessage `json:"shard-count"`
}

// readBody decodes the request's JSON body, which may be absent.
func readBody(r *http.Request) (body, error) {
	var b body
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return b, fmt.Errorf("reading the body: %w", err)
	}
	if len(raw) > MaxBody {
		return b, fmt.Errorf("the body exceeds %d bytes", MaxBody)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return b, nil
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return b, fmt.Errorf("the body is not a JSON object: %v", err)
	}
	return b, nil
}

// token reads causal-metadata: a token this API returned, or nothing
// (absent, null, "", {} or 0: the client's first request).
func (b body) token() (string, error) {
	m := bytes.TrimSpace(b.CausalMetadata)
	switch string(m) {
	case "", "null", `""`, "{}", "0":
		return "", nil
	}
	var s string
	if json.Unmarshal(m, &s) != nil {
		return "", errors.New("causal-metadata must be what a previous response returned (or null)")
	}
	return s, nil
}

// kvReq is a /kvs request, its key checked and its body read.
type kvReq struct {
	key   string
	body  body
	token string
}

func (h *handler) kvRequest(w http.ResponseWriter, r *http.Request) (kvReq, bool) {
	q := kvReq{key: r.PathValue("key")}
	if len(q.key) > MaxKey {
		reply(w, http.StatusBadRequest, map[string]any{"error": "Key is too long"})
		return q, false
	}
	if q.key == "" {
		reply(w, http.StatusBadRequest, map[string]any{"error": "Key is empty"})
		return q, false
	}
	var err error
	if q.body, err = readBody(r); err == nil {
		q.token, err = q.body.token()
	}
	if err != nil {
		reply(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return q, false
	}
	return q, true
}

// fail answers a kv error, echoing the client's metadata so it loses
// nothing by retrying.
func fail(w http.ResponseWriter, err error, token string) {
	status := http.StatusServiceUnavailable
	msg := err.Error()
	switch {
	case errors.Is(err, kv.ErrCausalDeps):
		msg = "Causal dependencies not satisfied; try again later"
	case errors.Is(err, kv.ErrInvalid), errors.Is(err, kv.ErrTooLarge):
		status = http.StatusBadRequest
	case errors.Is(err, kv.ErrUnavailable), errors.Is(err, kv.ErrTimeout), errors.Is(err, kv.ErrUnknownOutcome):
	default:
		status = http.StatusInternalServerError
	}
	reply(w, status, map[string]any{"error": msg, "causal-metadata": metadata(token)})
}

// metadata is the causal-metadata field of an answer: the token, or null
// before the client has one.
func metadata(token string) any {
	if token == "" {
		return nil
	}
	return token
}

// notFound answers 404 with the token the read returned.
func notFound(w http.ResponseWriter, err error, token string) {
	var nf *kv.NotFoundError
	if errors.As(err, &nf) && nf.Entry.Token != "" {
		token = nf.Entry.Token
	}
	reply(w, http.StatusNotFound, map[string]any{"error": "Key does not exist", "causal-metadata": metadata(token)})
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	q, ok := h.kvRequest(w, r)
	if !ok {
		return
	}
	e, err := h.cfg.KV.Get(r.Context(), h.cfg.Namespace, []byte(q.key), kv.ReadOptions{Token: q.token})
	switch {
	case errors.Is(err, kv.ErrNotFound):
		notFound(w, err, q.token)
	case err != nil:
		fail(w, err, q.token)
	default:
		reply(w, http.StatusOK, map[string]any{"result": "found", "value": string(e.Value), "causal-metadata": metadata(e.Token)})
	}
}

// put writes the value after reading the key at the same replica, with
// the client's dependencies: the read says whether the key is created or
// replaced, and its causal context makes the write supersede what was
// read.
func (h *handler) put(w http.ResponseWriter, r *http.Request) {
	q, ok := h.kvRequest(w, r)
	if !ok {
		return
	}
	if q.body.Value == nil || string(bytes.TrimSpace(*q.body.Value)) == "null" {
		reply(w, http.StatusBadRequest, map[string]any{"error": "PUT request does not specify a value"})
		return
	}
	var value string
	if err := json.Unmarshal(*q.body.Value, &value); err != nil {
		reply(w, http.StatusBadRequest, map[string]any{"error": "value must be a string"})
		return
	}
	existed, prior, err := h.prior(r.Context(), q)
	if err != nil {
		fail(w, err, q.token)
		return
	}
	res, err := h.cfg.KV.Put(r.Context(), h.cfg.Namespace, []byte(q.key), []byte(value), kv.WriteOptions{Token: prior.Token, Context: prior.Context})
	if err != nil {
		fail(w, err, prior.Token)
		return
	}
	status, result := http.StatusCreated, "created"
	if existed {
		status, result = http.StatusOK, "replaced"
	}
	reply(w, status, map[string]any{"result": result, "causal-metadata": metadata(res.Token)})
}

func (h *handler) del(w http.ResponseWriter, r *http.Request) {
	q, ok := h.kvRequest(w, r)
	if !ok {
		return
	}
	existed, prior, err := h.prior(r.Context(), q)
	if err != nil {
		fail(w, err, q.token)
		return
	}
	if !existed {
		reply(w, http.StatusNotFound, map[string]any{"error": "Key does not exist", "causal-metadata": metadata(prior.Token)})
		return
	}
	res, err := h.cfg.KV.Delete(r.Context(), h.cfg.Namespace, []byte(q.key), kv.WriteOptions{Token: prior.Token, Context: prior.Context})
	if err != nil {
		fail(w, err, prior.Token)
		return
	}
	reply(w, http.StatusOK, map[string]any{"result": "deleted", "causal-metadata": metadata(res.Token)})
}

// prior reads the key with the client's token; the entry's Token and
// Context are what the write that follows carries.
func (h *handler) prior(ctx context.Context, q kvReq) (bool, kv.Entry, error) {
	e, err := h.cfg.KV.Get(ctx, h.cfg.Namespace, []byte(q.key), kv.ReadOptions{Token: q.token})
	if errors.Is(err, kv.ErrNotFound) {
		var nf *kv.NotFoundError
		if errors.As(err, &nf) {
			e = nf.Entry
		}
		if e.Token == "" {
			e.Token = q.token
		}
		return false, e, nil
	}
	return err == nil, e, err
}

// live lists the members that hold or may hold data (not removed or
// draining), in ID order.
func live(m *membership.Map) []membership.Member {
	var out []membership.Member
	for _, mb := range m.Members {
		if mb.State != membership.MemberRemoved && mb.State != membership.MemberDraining {
			out = append(out, mb)
		}
	}
	return out
}

func (h *handler) view(w http.ResponseWriter, r *http.Request) {
	view := []string{}
	for _, mb := range live(h.cfg.Cluster.Map()) {
		if mb.ID == h.cfg.Cluster.Self() || h.cfg.Cluster.Up(mb.ID) {
			view = append(view, mb.ClientAddr)
		}
	}
	reply(w, http.StatusOK, map[string]any{"view": view})
}

// socketAddress reads the body's socket-address.
func socketAddress(w http.ResponseWriter, r *http.Request) (string, bool) {
	b, err := readBody(r)
	if err == nil && b.SocketAddress == "" {
		err = errors.New("the body must name a socket-address")
	}
	if err != nil {
		reply(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return "", false
	}
	return b.SocketAddress, true
}

// memberAt finds the live member serving clients at addr.
func memberAt(m *membership.Map, addr string) (membership.Member, bool) {
	for _, mb := range live(m) {
		if mb.ClientAddr == addr {
			return mb, true
		}
	}
	return membership.Member{}, false
}

// viewAdd admits the node at the address (it joins when it starts, with
// VIEW and no SHARD_COUNT); one already in the cluster is left as it is.
func (h *handler) viewAdd(w http.ResponseWriter, r *http.Request) {
	addr, ok := socketAddress(w, r)
	if !ok {
		return
	}
	m := h.cfg.Cluster.Map()
	if _, ok := memberAt(m, addr); ok {
		reply(w, http.StatusOK, map[string]any{"result": "already present"})
		return
	}
	peer, err := h.cfg.Cluster.PeerAddr(addr)
	if err != nil {
		reply(w, http.StatusBadRequest, map[string]any{"error": "socket-address: " + err.Error()})
		return
	}
	var top keyspace.NodeID
	for _, mb := range m.Members {
		top = max(top, mb.ID)
	}
	if _, err := h.cfg.Cluster.AddMember(r.Context(), api.MemberRequest{ID: (top + 1).String(), PeerAddr: peer, ClientAddr: addr}); err != nil {
		changeFailed(w, err)
		return
	}
	reply(w, http.StatusCreated, map[string]any{"result": "added"})
}

// viewDelete drains the node at the address and removes it.
func (h *handler) viewDelete(w http.ResponseWriter, r *http.Request) {
	addr, ok := socketAddress(w, r)
	if !ok {
		return
	}
	mb, ok := memberAt(h.cfg.Cluster.Map(), addr)
	if !ok {
		reply(w, http.StatusNotFound, map[string]any{"error": "View has no such replica"})
		return
	}
	if _, err := h.cfg.Cluster.RemoveMember(r.Context(), mb.ID.String()); err != nil {
		changeFailed(w, err)
		return
	}
	reply(w, http.StatusOK, map[string]any{"result": "deleted"})
}

// changeFailed answers a refused or failed membership change.
func changeFailed(w http.ResponseWriter, err error) {
	status := http.StatusServiceUnavailable
	switch {
	case errors.Is(err, kv.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, kv.ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, kv.ErrUnknownMember):
		status = http.StatusNotFound
	}
	reply(w, status, map[string]any{"error": err.Error()})
}

// namespace is the store's namespace and its shards' node groups.
func (h *handler) namespace(w http.ResponseWriter) (*membership.NamespaceMap, [][]keyspace.NodeID, bool) {
	ns := h.cfg.Cluster.Map().Namespace(h.cfg.Namespace)
	if ns == nil || ns.Pinned == "" {
		reply(w, http.StatusServiceUnavailable, map[string]any{"error": "this node has no sharded store yet (it waits for the shard map)"})
		return nil, nil, false
	}
	gs, err := ns.Pinned.Groups()
	if err != nil {
		reply(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
		return nil, nil, false
	}
	return ns, gs, true
}

// shardArg reads the {id} of a /shard route: 1 to the shard count.
func (h *handler) shardArg(w http.ResponseWriter, r *http.Request) (*membership.NamespaceMap, [][]keyspace.NodeID, int, bool) {
	ns, gs, ok := h.namespace(w)
	if !ok {
		return nil, nil, 0, false
	}
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 || id > len(gs) {
		reply(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("Shard %q does not exist", r.PathValue("id"))})
		return nil, nil, 0, false
	}
	return ns, gs, id - 1, true
}

func (h *handler) shardIDs(w http.ResponseWriter, _ *http.Request) {
	_, gs, ok := h.namespace(w)
	if !ok {
		return
	}
	ids := make([]int, len(gs))
	for s := range gs {
		ids[s] = s + 1
	}
	reply(w, http.StatusOK, map[string]any{"shard-ids": ids})
}

func (h *handler) nodeShard(w http.ResponseWriter, _ *http.Request) {
	ns, _, ok := h.namespace(w)
	if !ok {
		return
	}
	if s, ok := ns.Pinned.ShardOf(h.cfg.Cluster.Self()); ok {
		reply(w, http.StatusOK, map[string]any{"node-shard-id": s + 1})
		return
	}
	reply(w, http.StatusOK, map[string]any{"node-shard-id": nil}) // not yet added to a shard
}

func (h *handler) shardMembers(w http.ResponseWriter, r *http.Request) {
	_, gs, s, ok := h.shardArg(w, r)
	if !ok {
		return
	}
	m := h.cfg.Cluster.Map()
	out := []string{}
	for _, mb := range live(m) {
		if slices.Contains(gs[s], mb.ID) {
			out = append(out, mb.ClientAddr)
		}
	}
	reply(w, http.StatusOK, map[string]any{"shard-members": out})
}

// keyCount counts the keys the shard holds by scanning the namespace
// (every node scans the same replicas' answers, so every node answers
// alike once writes have spread).
func (h *handler) keyCount(w http.ResponseWriter, r *http.Request) {
	ns, _, s, ok := h.shardArg(w, r)
	if !ok {
		return
	}
	layout := ns.Layout()
	n, seen := 0, 0
	var after []byte
	for {
		page, err := h.cfg.KV.Scan(r.Context(), h.cfg.Namespace, kv.ScanOptions{After: after, Limit: pageSize})
		if err != nil {
			fail(w, err, "")
			return
		}
		for _, e := range page.Entries {
			if layout.ShardOf(e.Key) == s {
				n++
			}
		}
		seen += len(page.Entries)
		if !page.More || len(page.Entries) == 0 {
			break
		}
		if seen >= MaxCount {
			reply(w, http.StatusServiceUnavailable, map[string]any{"error": fmt.Sprintf("the store has more than %d keys; key-count counts at most that many", MaxCount)})
			return
		}
		after = page.Entries[len(page.Entries)-1].Key
	}
	reply(w, http.StatusOK, map[string]any{"shard-key-count": n})
}

// addMember pins the node at the address to the shard (moving it from
// another shard if it was in one) and waits until it holds the shard.
func (h *handler) addMember(w http.ResponseWriter, r *http.Request) {
	_, gs, s, ok := h.shardArg(w, r)
	if !ok {
		return
	}
	addr, ok := socketAddress(w, r)
	if !ok {
		return
	}
	m := h.cfg.Cluster.Map()
	mb, ok := memberAt(m, addr)
	if !ok {
		reply(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("%s is not in the view: start it with VIEW (and no SHARD_COUNT), or PUT /view first", addr)})
		return
	}
	if !slices.Contains(gs[s], mb.ID) {
		gs = m.LiveGroups(m.Namespace(h.cfg.Namespace))
		for i := range gs {
			gs[i] = slices.DeleteFunc(gs[i], func(id keyspace.NodeID) bool { return id == mb.ID })
		}
		gs[s] = append(gs[s], mb.ID)
		if _, err := h.cfg.KV.ProposeMeta(r.Context(), membership.Command{Op: membership.OpSetPinning, NS: h.cfg.Namespace, Pinned: keyspace.MakePinning(gs)}); err != nil {
			changeFailed(w, err)
			return
		}
	}
	if err := h.settle(r.Context()); err != nil {
		reply(w, http.StatusServiceUnavailable, map[string]any{"error": "node recorded in the shard, but its copy of the data is still under way: " + err.Error()})
		return
	}
	reply(w, http.StatusOK, map[string]any{"result": "node added to shard"})
}

// reshard changes the shard count, cutting the members anew into that
// many shards of at least two nodes each, and waits until the keys and
// replicas are where the new shards put them.
func (h *handler) reshard(w http.ResponseWriter, r *http.Request) {
	ns, _, ok := h.namespace(w)
	if !ok {
		return
	}
	b, err := readBody(r)
	var count int
	if err == nil && (b.ShardCount == nil || json.Unmarshal(*b.ShardCount, &count) != nil || count < 1) {
		err = errors.New("the body must give a shard-count, a positive integer")
	}
	if err != nil {
		reply(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	m := h.cfg.Cluster.Map()
	if len(live(m))/count < 2 {
		reply(w, http.StatusBadRequest, map[string]any{"error": "Not enough nodes to provide fault tolerance with requested shard count"})
		return
	}
	pin := m.Repin(ns, count)
	cmd := membership.Command{Op: membership.OpSetPinning, NS: h.cfg.Namespace, Pinned: pin}
	if count != ns.Shards {
		cmd = membership.Command{Op: membership.OpStartReshard, NS: h.cfg.Namespace, Shards: count, Pinned: pin}
	}
	if pin != ns.Pinned || count != ns.Shards {
		if _, err := h.cfg.KV.ProposeMeta(r.Context(), cmd); err != nil {
			changeFailed(w, err)
			return
		}
	}
	if err := h.settle(r.Context()); err != nil {
		reply(w, http.StatusServiceUnavailable, map[string]any{"error": "the reshard has started and is still under way: " + err.Error()})
		return
	}
	reply(w, http.StatusOK, map[string]any{"result": "resharded"})
}

// settle waits, at most ChangeWait, until the namespace has no reshard or
// replica move under way and every shard's replicas are its live pinned
// nodes.
func (h *handler) settle(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ChangeWait)
	defer cancel()
	for {
		why := h.unsettled()
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %v: %s", ChangeWait, why)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// unsettled says what the namespace still waits for ("" for nothing).
func (h *handler) unsettled() string {
	m := h.cfg.Cluster.Map()
	ns := m.Namespace(h.cfg.Namespace)
	if ns == nil {
		return "the namespace is gone"
	}
	if ns.Reshard != nil {
		return "the reshard is " + ns.Reshard.Phase.String()
	}
	for _, mv := range m.Moves {
		if mv.Namespace == h.cfg.Namespace {
			return "replicas are moving (" + mv.String() + ")"
		}
	}
	gs, _ := ns.Pinned.Groups()
	for _, g := range gs {
		for _, id := range g {
			if mb, ok := m.Member(id); ok && mb.State == membership.MemberJoining {
				return id.String() + " is still joining the cluster"
			}
		}
	}
	want := keyspace.Place(m.Ring(), ns.Namespace)
	for s, cur := range ns.Placement {
		for _, id := range want[s] {
			if !slices.Contains(cur, id) {
				return fmt.Sprintf("shard %d has no replica on %s yet", s+1, id)
			}
		}
	}
	return ""
}
