// Package seed003 serves seed 003's (the UTM datastore's) HTTP API over
// the kv service: GET /?key=K, GET / (the whole store as one JSON object,
// streamed), POST / with a JSON object of keys (an atomic bulk upsert),
// DELETE /?key=K, and GET /client, the live watch page. Values are kept
// as their JSON text, so every JSON value round-trips exactly.
package seed003

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/kv"
)

// Limits. GET / streams at most DumpLimit keys (the X-Distkv-Truncated
// trailer says when there were more); POST / takes at most BulkLimit keys
// in one body of at most MaxBody bytes.
const (
	DumpLimit = 100000
	BulkLimit = 1024
	MaxBody   = 8 << 20
	pageSize  = 1000
)

// KV is the part of the kv service the API uses (*kv.Service).
type KV interface {
	Get(ctx context.Context, ns string, key []byte, opts kv.ReadOptions) (kv.Entry, error)
	Put(ctx context.Context, ns string, key, value []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	Delete(ctx context.Context, ns string, key []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	Scan(ctx context.Context, ns string, opts kv.ScanOptions) (kv.ScanResult, error)
}

// Txns runs the bulk upsert as one transaction (the node).
type Txns interface {
	Txn(ctx context.Context, ns string, req api.TxnRequest) (api.TxnResponse, error)
}

// Config configures the routes.
type Config struct {
	KV  KV
	Txn Txns
	// Page serves GET /client (the watch page).
	Page http.Handler
}

// Register adds seed 003's routes to mux.
func Register(mux *http.ServeMux, cfg Config) {
	h := &handler{cfg: cfg}
	mux.HandleFunc("GET /{$}", h.get)
	mux.HandleFunc("POST /{$}", h.post)
	mux.HandleFunc("DELETE /{$}", h.del)
	if cfg.Page != nil {
		mux.Handle("GET /client", cfg.Page)
	}
}

type handler struct{ cfg Config }

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

type errorBody struct {
	Error string `json:"Error"`
}

func fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, kv.ErrNotFound):
		reply(w, http.StatusNotFound, errorBody{"Key Not Found"})
	case errors.Is(err, kv.ErrInvalid), errors.Is(err, kv.ErrTooLarge):
		reply(w, http.StatusBadRequest, errorBody{err.Error()})
	default:
		reply(w, http.StatusServiceUnavailable, errorBody{err.Error()})
	}
}

// jsonValue is a stored value as JSON: its own text when it is JSON (as
// POST / stores them), else a JSON string (a value written another way).
func jsonValue(v []byte) json.RawMessage {
	if json.Valid(v) {
		return v
	}
	b, _ := json.Marshal(string(v))
	return b
}

// get is GET /?key=K ({"K": value}) or, without key, GET /: every key.
func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	if !r.URL.Query().Has("key") {
		h.dump(w, r)
		return
	}
	key := r.URL.Query().Get("key")
	if key == "" {
		reply(w, http.StatusBadRequest, errorBody{"key is empty"})
		return
	}
	e, err := h.cfg.KV.Get(r.Context(), "", []byte(key), kv.ReadOptions{})
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, http.StatusOK, map[string]json.RawMessage{key: jsonValue(e.Value)})
}

// dump streams the default namespace as one JSON object, a page at a time.
func (h *handler) dump(w http.ResponseWriter, r *http.Request) {
	opts := kv.ScanOptions{Limit: pageSize, Values: true}
	res, err := h.cfg.KV.Scan(r.Context(), "", opts)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Trailer", "X-Distkv-Truncated")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "{")
	n := 0
	for {
		for _, e := range res.Entries {
			if n == DumpLimit {
				w.Header().Set("X-Distkv-Truncated", "only the first "+strconv.Itoa(DumpLimit)+" keys")
				io.WriteString(w, "}\n")
				return
			}
			k, _ := json.Marshal(string(e.Key))
			if n > 0 {
				io.WriteString(w, ",")
			}
			w.Write(k)
			io.WriteString(w, ":")
			w.Write(jsonValue(e.Value))
			n++
		}
		if !res.More || len(res.Entries) == 0 {
			break
		}
		opts.After = res.Entries[len(res.Entries)-1].Key
		if res, err = h.cfg.KV.Scan(r.Context(), "", opts); err != nil {
			// The status is sent: end the object and say why in the trailer.
			w.Header().Set("X-Distkv-Truncated", "the scan failed: "+err.Error())
			break
		}
	}
	io.WriteString(w, "}\n")
}

// post is POST / with {"k1": v1, "k2": v2, ...}: every key written, or
// none, in one transaction. A leaderless default namespace (MODE=AP) has
// no transactions: there each key is its own write.
func (h *handler) post(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		reply(w, http.StatusRequestEntityTooLarge, errorBody{fmt.Sprintf("the body exceeds %d bytes", MaxBody)})
		return
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		reply(w, http.StatusBadRequest, errorBody{"the body must be a JSON object of keys and values"})
		return
	}
	if len(obj) == 0 || len(obj) > BulkLimit {
		reply(w, http.StatusBadRequest, errorBody{fmt.Sprintf("the object must have 1 to %d keys, got %d", BulkLimit, len(obj))})
		return
	}
	var req api.TxnRequest
	for k, v := range obj {
		var compact bytes.Buffer
		_ = json.Compact(&compact, v)
		req.Success = append(req.Success, api.TxnOp{Op: "put", Key: k, Value: compact.String()})
	}
	_, err = h.cfg.Txn.Txn(r.Context(), "", req)
	if errors.Is(err, kv.ErrWrongMode) {
		err = nil
		for _, o := range req.Success {
			if _, err = h.cfg.KV.Put(r.Context(), "", []byte(o.Key), []byte(o.Value), kv.WriteOptions{}); err != nil {
				break
			}
		}
	}
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, http.StatusOK, obj)
}

// del is DELETE /?key=K.
func (h *handler) del(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	if key == "" {
		reply(w, http.StatusBadRequest, errorBody{"DELETE needs ?key="})
		return
	}
	if _, err := h.cfg.KV.Delete(r.Context(), "", []byte(key), kv.WriteOptions{}); err != nil {
		fail(w, err)
		return
	}
	reply(w, http.StatusOK, map[string]string{"deleted": key})
}
