// Package seed001 serves seed 001's (sysdist's) HTTP API over the kv
// service, so its scripts and curls run unchanged against distkv:
// POST /database/:key/:val, GET /database/:key, GET /admin/dump and
// GET /admin/clean, every response naming the node in X-Sys-Id. It has no
// semantics of its own: the mode (seed 001's MODE=CA|CP|AP) is the default
// namespace's, chosen at bootstrap.
package seed001

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/distkv/distkv/internal/kv"
)

// HeaderSysID names the answering node, as seed 001's X-Sys-Id does.
const HeaderSysID = "X-Sys-Id"

// dumpLimit bounds GET /admin/dump (the seed dumps a demo's few keys).
const dumpLimit = 10000

// KV is the part of the kv service the API uses (*kv.Service).
type KV interface {
	Get(ctx context.Context, ns string, key []byte, opts kv.ReadOptions) (kv.Entry, error)
	Put(ctx context.Context, ns string, key, value []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	Scan(ctx context.Context, ns string, opts kv.ScanOptions) (kv.ScanResult, error)
}

// Config configures the routes.
type Config struct {
	KV     KV
	NodeID string
	Logger *slog.Logger
	// Screen is where GET /admin/clean pushes its blank lines and
	// /admin/dump prints the data (the node's terminal: stdout).
	Screen io.Writer
}

// Register adds seed 001's routes to mux.
func Register(mux *http.ServeMux, cfg Config) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Screen == nil {
		cfg.Screen = io.Discard
	}
	h := &handler{cfg: cfg}
	mux.HandleFunc("POST /database/{key}/{val}", h.set)
	mux.HandleFunc("GET /database/{key}", h.get)
	mux.HandleFunc("GET /admin/dump", h.dump)
	mux.HandleFunc("GET /admin/clean", h.clean)
}

type handler struct{ cfg Config }

func (h *handler) reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set(HeaderSysID, h.cfg.NodeID)
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

type errorBody struct {
	Error string `json:"error"`
}

// set is POST /database/:key/:val: 201 with no body once the write is
// acknowledged, 422 with the reason otherwise (as the seed answers a
// failed two-phase commit or quorum).
func (h *handler) set(w http.ResponseWriter, r *http.Request) {
	key, val := r.PathValue("key"), r.PathValue("val")
	if _, err := h.cfg.KV.Put(r.Context(), "", []byte(key), []byte(val), kv.WriteOptions{}); err != nil {
		h.reply(w, http.StatusUnprocessableEntity, errorBody{Error: describe(err)})
		return
	}
	h.reply(w, http.StatusCreated, nil)
}

// get is GET /database/:key: {"key","val"} or 404.
func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	e, err := h.cfg.KV.Get(r.Context(), "", []byte(key), kv.ReadOptions{})
	switch {
	case errors.Is(err, kv.ErrNotFound):
		h.reply(w, http.StatusNotFound, errorBody{Error: fmt.Sprintf("Value for key %s not present", key)})
	case err != nil:
		h.reply(w, http.StatusServiceUnavailable, errorBody{Error: describe(err)})
	default:
		val := string(e.Value)
		if len(e.Siblings) > 1 {
			// An eventual (MODE=AP) key with concurrent values: the seed
			// keeps one; distkv shows them all.
			var vs []string
			for _, s := range e.Siblings {
				vs = append(vs, string(s))
			}
			val = strings.Join(vs, ",")
		}
		h.reply(w, http.StatusOK, struct {
			Key string `json:"key"`
			Val string `json:"val"`
		}{key, val})
	}
}

// dump is GET /admin/dump: this node's view of the default namespace
// (each shard read from its nearest replica), answered and printed to the
// node's screen as the seed does.
func (h *handler) dump(w http.ResponseWriter, r *http.Request) {
	data := map[string]string{}
	opts := kv.ScanOptions{Limit: dumpLimit, Values: true, ReadOptions: kv.ReadOptions{Consistency: kv.Stale}}
	res, err := h.cfg.KV.Scan(r.Context(), "", opts)
	if err != nil {
		h.reply(w, http.StatusServiceUnavailable, errorBody{Error: describe(err)})
		return
	}
	for _, e := range res.Entries {
		data[string(e.Key)] = string(e.Value)
	}
	b, _ := json.Marshal(data)
	fmt.Fprintf(h.cfg.Screen, "%s database dump (%d keys): %s\n", h.cfg.NodeID, len(data), b)
	if res.More {
		w.Header().Set("X-Distkv-Truncated", fmt.Sprintf("only the first %d keys", dumpLimit))
	}
	h.reply(w, http.StatusOK, data)
}

// clean is GET /admin/clean: blank lines on the node's screen.
func (h *handler) clean(w http.ResponseWriter, r *http.Request) {
	fmt.Fprint(h.cfg.Screen, strings.Repeat("\n", 100))
	h.reply(w, http.StatusOK, nil)
}

func describe(err error) string {
	return strings.TrimPrefix(err.Error(), "kv: ")
}
