// Package httpapi is distkv's HTTP/JSON API (v1), served by every node. It
// translates requests into calls on the kv service and the node, and kv's
// errors into the API's codes.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/kv"
	"github.com/prometheus/client_golang/prometheus"
)

// KV is the key-value service as this API uses it (*kv.Service).
type KV interface {
	Get(ctx context.Context, ns string, key []byte, opts kv.ReadOptions) (kv.Entry, error)
	Put(ctx context.Context, ns string, key, value []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	Delete(ctx context.Context, ns string, key []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	Scan(ctx context.Context, ns string, opts kv.ScanOptions) (kv.ScanResult, error)
	Limits() kv.Limits
}

// Cluster is what the node tells about itself and the cluster.
type Cluster interface {
	// NodeID is this node's ID ("n1").
	NodeID() string
	Status(ctx context.Context) (api.Cluster, error)
	Namespaces() []api.Namespace
	// Namespace returns a namespace's configuration; ok is false if it
	// does not exist.
	Namespace(name string) (ns api.Namespace, ok bool)
	// CreateNamespace creates ns (its Name set) or confirms it exists with
	// the same settings (created=false). Errors are kv's.
	CreateNamespace(ctx context.Context, ns api.Namespace) (out api.Namespace, created bool, err error)
	Locate(ns, key string) (api.Location, error)
	// Dump streams this node's local replica contents.
	Dump(ctx context.Context, fn func(api.DumpEntry) error) error
	// Ready reports whether the node can serve requests, and why not.
	Ready() (bool, string)
	// Membership changes (errors are kv's).
	AddMember(ctx context.Context, req api.MemberRequest) (api.MemberChange, error)
	RemoveMember(ctx context.Context, id string) (api.MemberChange, error)
	UpdateNamespace(ctx context.Context, name string, u api.NamespaceUpdate) (api.NamespaceChange, error)
	Moves(ctx context.Context) api.MoveList
	// Epoch is this node's shard map epoch, sent on every response.
	Epoch() uint64
}

// Config configures the API handler.
type Config struct {
	KV      KV
	Cluster Cluster
	// Metrics serves /metrics; nil leaves it out.
	Metrics http.Handler
	// Registerer receives the API's request metrics; nil skips them.
	Registerer prometheus.Registerer
	// MaxBodyBytes bounds a PUT body; default: the value limit.
	MaxBodyBytes int64
	Logger       *slog.Logger
	// Extra registers more routes on the same mux (other components'
	// endpoints, such as fault injection or the watch feed).
	Extra func(mux *http.ServeMux)
	// Mux, when set, serves multiplexed connections at api.MuxPath.
	Mux *MuxServer
	// Txn runs transactions; nil answers 501.
	Txn Txns
	// Sessions holds interactive transactions; nil answers 501.
	Sessions Sessions
}

// Txns runs transactions (errors are kv's).
type Txns interface {
	Txn(ctx context.Context, ns string, req api.TxnRequest) (api.TxnResponse, error)
}

// Sessions are interactive transactions (package txn's Coordinator).
type Sessions interface {
	Begin(ns string, ttl time.Duration) (api.TxnState, error)
	Read(ctx context.Context, ns, id string, key []byte) (kv.Entry, error)
	Write(ns, id string, key, value []byte, del bool) error
	Prepare(ctx context.Context, id string) (api.TxnState, error)
	Commit(ctx context.Context, id string) (api.TxnState, error)
	Rollback(ctx context.Context, id string) (api.TxnState, error)
	Status(id string) (api.TxnState, error)
}

// Handler is the API's http.Handler.
type Handler struct {
	cfg     Config
	mux     *http.ServeMux
	metrics *metrics
}

// New builds the handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = int64(cfg.KV.Limits().MaxValue)
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), metrics: newMetrics(cfg.Registerer)}
	h.routes()
	return h
}

func (h *Handler) routes() {
	m := h.mux
	for _, prefix := range []string{"/v1", "/v1/ns/{ns}"} {
		m.HandleFunc("GET "+prefix+"/kv/{key...}", h.get)
		m.HandleFunc("PUT "+prefix+"/kv/{key...}", h.put)
		m.HandleFunc("DELETE "+prefix+"/kv/{key...}", h.del)
		m.HandleFunc("GET "+prefix+"/kv", h.list)
		m.HandleFunc("POST "+prefix+"/txn", h.txn)
		m.HandleFunc("POST "+prefix+"/txn/begin", h.txnBegin)
	}
	m.HandleFunc("GET /v1/txn/{id}", h.txnStatus)
	m.HandleFunc("POST /v1/txn/{id}/{step}", h.txnStep)
	m.HandleFunc("PUT /v1/ns/{ns}", h.createNamespace)
	m.HandleFunc("GET /v1/ns/{ns}", h.getNamespace)
	m.HandleFunc("GET /v1/ns", h.listNamespaces)
	m.HandleFunc("GET /v1/cluster", h.cluster)
	m.HandleFunc("GET /v1/locate/{key...}", h.locate)
	m.HandleFunc("GET /v1/admin/dump", h.dump)
	m.HandleFunc("POST /v1/admin/members", h.addMember)
	m.HandleFunc("DELETE /v1/admin/members/{id}", h.removeMember)
	m.HandleFunc("PATCH /v1/ns/{ns}", h.updateNamespace)
	m.HandleFunc("GET /v1/admin/moves", h.moves)
	m.HandleFunc("GET /healthz", h.healthz)
	m.HandleFunc("GET /readyz", h.readyz)
	if h.cfg.Metrics != nil {
		m.Handle("GET /metrics", h.cfg.Metrics)
	}
	if h.cfg.Mux != nil {
		m.Handle(muxRoute, h.cfg.Mux)
	}
	if h.cfg.Extra != nil {
		h.cfg.Extra(m)
	}
}

// ServeHTTP names the answering node on every response, records metrics,
// and turns the mux's own 404 and 405 answers into JSON errors.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(api.HeaderNode, h.cfg.Cluster.NodeID())
	w.Header().Set(api.HeaderEpoch, strconv.FormatUint(h.cfg.Cluster.Epoch(), 10))
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	handler, pattern := h.mux.Handler(r)
	if pattern == "" {
		h.noRoute(rec, r, handler)
	} else {
		h.mux.ServeHTTP(rec, r) // sets the path values
	}
	h.metrics.observe(pattern, r.Method, rec.status, time.Since(start))
}

// noRoute answers a request no pattern matched: 405 if the path exists
// for another method, else 404.
func (h *Handler) noRoute(w http.ResponseWriter, r *http.Request, muxHandler http.Handler) {
	probe := &probeWriter{header: http.Header{}}
	muxHandler.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		writeError(w, http.StatusMethodNotAllowed, api.Error{Code: api.CodeMethodNotAllowed,
			Message: r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + probe.header.Get("Allow")})
		return
	}
	writeError(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Message: "no such endpoint: " + r.URL.Path})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer (flushing,
// deadlines, hijacking).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header         { return p.header }
func (p *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *probeWriter) WriteHeader(code int)        { p.status = code }
