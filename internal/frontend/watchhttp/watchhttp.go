// Package watchhttp serves the watch feed over HTTP: GET /v1/watch streams
// a namespace's applied writes as WebSocket messages or Server-Sent Events,
// and GET /ui/watch is a small live page that shows them and writes keys
// through the HTTP API.
//
// # GET /v1/watch
//
// Query: prefix (default: every key), key (one key exactly; prefix is then
// ignored), ns (default "default"), from (a version: first replay the
// retained events after it; see package watch for what it means for a
// prefix), values=true (include put values, encoded as api.EncodeValue
// does). A reconnecting EventSource's Last-Event-ID header stands for from
// in a single-key watch.
//
// A WebSocket upgrade (same-origin only) gets one JSON event per text
// message; a request that accepts text/event-stream, or says ?sse=1, gets
// Server-Sent Events ("id: <version>", "event: put|delete|lagged",
// "data: <json>", and ": ping" comments). Any other request is answered
// 400 with how to connect. A subscriber that falls behind gets a lagged
// event and the stream ends (a WebSocket closes with 1013); when the node
// shuts the feed down the stream ends too (WebSocket 1001).
//
// Errors, before any streaming, are JSON api.ErrorBody: 400 invalid for a
// bad parameter, 404 namespace_not_found, 410 invalid when from is older
// than the node's history, 503 unavailable while shutting down.
package watchhttp

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/watch"
)

// Query parameters of GET /v1/watch, beyond api.QueryPrefix,
// api.QueryNamespace and api.QueryValues.
const (
	queryKey  = "key"  // watch one key exactly (prefix is then ignored)
	queryFrom = "from" // resume: replay retained events after this version
	querySSE  = "sse"  // "1" or "true": Server-Sent Events without the Accept header
)

// Config configures the endpoints.
type Config struct {
	// Hub is the node's event hub. Required.
	Hub *watch.Hub
	// Namespaces reports whether a namespace exists; a watch of one that
	// does not is answered 404. Nil accepts every name.
	Namespaces func(name string) bool
	// Node names this node; the page shows it.
	Node   string
	Logger *slog.Logger
	// Ping is the keepalive interval of a stream: an SSE comment, or a
	// WebSocket ping that also detects a vanished client. Default 15s.
	Ping time.Duration
	// WriteTimeout bounds each write to a stream; a client that stops
	// reading for this long is disconnected. Default 10s.
	WriteTimeout time.Duration
}

type handler struct{ cfg Config }

// Register adds GET /v1/watch and GET /ui/watch to mux.
func Register(mux *http.ServeMux, cfg Config) {
	if cfg.Hub == nil {
		panic("watchhttp: Config.Hub is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Ping <= 0 {
		cfg.Ping = 15 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	h := &handler{cfg: cfg}
	mux.HandleFunc("GET /v1/watch", h.watch)
	mux.Handle("GET /ui/watch", newPage(cfg.Node))
}

const howToConnect = "GET /v1/watch streams events: connect with a WebSocket, or ask for " +
	"Server-Sent Events with the header 'Accept: text/event-stream' or ?sse=1 " +
	"(for example: curl -N 'http://HOST/v1/watch?prefix=user/&sse=1')"

func (h *handler) watch(w http.ResponseWriter, r *http.Request) {
	f, ok := h.filter(w, r)
	if !ok {
		return
	}
	ws := isWebSocket(r)
	sse, err := wantsSSE(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	if !ws && !sse {
		badRequest(w, howToConnect)
		return
	}
	sub, err := h.cfg.Hub.Subscribe(f)
	switch {
	case errors.Is(err, watch.ErrTooOld):
		writeError(w, http.StatusGone, api.Error{Code: api.CodeInvalid, Message: "events after version " +
			strconv.FormatUint(f.From, 10) + " are no longer retained by this node (its history is bounded " +
			"and starts when the node starts): watch without from, then read the current value"})
		return
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: "the watch feed is shutting down"})
		return
	}
	defer sub.Close()
	if ws {
		h.serveWebSocket(w, r, sub, f)
	} else {
		h.serveSSE(w, r, sub, f)
	}
}

// filter parses the query, or answers 400 or 404 and returns false.
func (h *handler) filter(w http.ResponseWriter, r *http.Request) (watch.Filter, bool) {
	q := r.URL.Query()
	f := watch.Filter{NS: q.Get(api.QueryNamespace), Prefix: q.Get(api.QueryPrefix), Key: q.Get(queryKey)}
	if f.NS == "" {
		f.NS = keyspace.DefaultNamespace
	}
	if v := q.Get(api.QueryValues); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			badRequest(w, "values must be true or false, got "+strconv.Quote(v))
			return f, false
		}
		f.Values = b
	}
	from, err := h.from(r, f.Key != "")
	if err != nil {
		badRequest(w, err.Error())
		return f, false
	}
	f.From = from
	if h.cfg.Namespaces != nil && !h.cfg.Namespaces(f.NS) {
		writeError(w, http.StatusNotFound, api.Error{Code: api.CodeNamespaceNotFound,
			Message: "namespace " + strconv.Quote(f.NS) + " does not exist"})
		return f, false
	}
	return f, true
}

// from parses ?from=, or for a single-key watch with no from the
// Last-Event-ID header a reconnecting EventSource sends. (For a prefix the
// last ID is one shard's version and would skip other shards' events.)
func (h *handler) from(r *http.Request, singleKey bool) (uint64, error) {
	v := r.URL.Query().Get(queryFrom)
	if v == "" && singleKey {
		v = r.Header.Get("Last-Event-ID")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, errors.New("from must be a version (a non-negative integer), got " + strconv.Quote(v))
	}
	return n, nil
}

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		headerHasToken(r.Header, "Connection", "upgrade")
}

func wantsSSE(r *http.Request) (bool, error) {
	if v := r.URL.Query().Get(querySSE); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, errors.New("sse must be 1 or true, got " + strconv.Quote(v))
		}
		return b, nil
	}
	return headerHasToken(r.Header, "Accept", "text/event-stream"), nil
}

// headerHasToken reports whether a comma-separated header lists token
// (ignoring case and parameters such as ";q=0.9").
func headerHasToken(h http.Header, name, token string) bool {
	for _, line := range h.Values(name) {
		for part := range strings.SplitSeq(line, ",") {
			part, _, _ = strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

func writeError(w http.ResponseWriter, status int, e api.Error) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: e})
}

func badRequest(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalid, Message: msg})
}
