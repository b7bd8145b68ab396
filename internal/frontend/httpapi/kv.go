package httpapi

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/kv"
)

// key returns the {key...} path value, or answers 400 for an empty one.
func key(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	k := r.PathValue("key")
	if k == "" {
		badRequest(w, "empty key: use /v1/kv/{key}")
		return nil, false
	}
	return []byte(k), true
}

func readOptions(w http.ResponseWriter, r *http.Request) (kv.ReadOptions, bool) {
	switch c := r.URL.Query().Get(api.QueryConsistency); c {
	case "", api.Linearizable:
		return kv.ReadOptions{Consistency: kv.Linearizable}, true
	case api.Stale:
		return kv.ReadOptions{Consistency: kv.Stale}, true
	default:
		badRequest(w, "consistency must be linearizable or stale, got "+strconv.Quote(c))
		return kv.ReadOptions{}, false
	}
}

func writeOptions(w http.ResponseWriter, r *http.Request) (kv.WriteOptions, bool) {
	var o kv.WriteOptions
	q := r.URL.Query()
	switch c := q.Get(api.QueryIf); c {
	case "":
	case api.IfAbsent:
		o.Condition = kv.IfAbsent
	case api.IfPresent:
		o.Condition = kv.IfPresent
	default:
		badRequest(w, "if must be absent or present, got "+strconv.Quote(c))
		return o, false
	}
	if v := q.Get(api.QueryVersion); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			badRequest(w, "version must be a positive integer, got "+strconv.Quote(v))
			return o, false
		}
		o.Version = n
	}
	return o, true
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("key") == "" {
		h.list(w, r)
		return
	}
	k, ok := key(w, r)
	if !ok {
		return
	}
	opts, ok := readOptions(w, r)
	if !ok {
		return
	}
	format := r.URL.Query().Get(api.QueryFormat)
	if format != "" && format != "json" && format != "raw" {
		badRequest(w, "format must be json or raw, got "+strconv.Quote(format))
		return
	}
	e, err := h.cfg.KV.Get(r.Context(), r.PathValue("ns"), k, opts)
	if err != nil {
		writeKVError(w, err)
		return
	}
	w.Header().Set(api.HeaderVersion, strconv.FormatUint(e.Version, 10))
	if format == "json" {
		writeJSON(w, http.StatusOK, api.NewKV(string(k), e.Value, e.Version))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(e.Value)))
	_, _ = w.Write(e.Value)
}

func (h *Handler) put(w http.ResponseWriter, r *http.Request) {
	k, ok := key(w, r)
	if !ok {
		return
	}
	opts, ok := writeOptions(w, r)
	if !ok {
		return
	}
	limit := h.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, api.Error{Code: api.CodeTooLarge,
			Message: "value of " + strconv.FormatInt(r.ContentLength, 10) + " bytes exceeds the limit of " + strconv.FormatInt(limit, 10)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, api.Error{Code: api.CodeTooLarge,
				Message: "value exceeds the limit of " + strconv.FormatInt(limit, 10) + " bytes"})
			return
		}
		badRequest(w, "reading body: "+err.Error())
		return
	}
	res, err := h.cfg.KV.Put(r.Context(), r.PathValue("ns"), k, body, opts)
	if err != nil {
		writeKVError(w, err)
		return
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	writeJSON(w, status, api.WriteResult{Key: string(k), Version: res.Version, Created: res.Created})
}

func (h *Handler) del(w http.ResponseWriter, r *http.Request) {
	k, ok := key(w, r)
	if !ok {
		return
	}
	opts, ok := writeOptions(w, r)
	if !ok {
		return
	}
	if opts.Condition != kv.Always {
		badRequest(w, "if= does not apply to DELETE")
		return
	}
	v, err := h.cfg.KV.Delete(r.Context(), r.PathValue("ns"), k, opts)
	if err != nil {
		writeKVError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.WriteResult{Key: string(k), Version: v})
}

const defaultListLimit = 1000

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts, ok := readOptions(w, r)
	if !ok {
		return
	}
	so := kv.ScanOptions{Prefix: []byte(q.Get(api.QueryPrefix)), After: []byte(q.Get(api.QueryAfter)), Limit: defaultListLimit, ReadOptions: opts}
	if l := q.Get(api.QueryLimit); l != "" {
		n, err := strconv.Atoi(l)
		max := h.cfg.KV.Limits().MaxScan
		if err != nil || n < 1 || n > max {
			badRequest(w, "limit must be an integer from 1 to "+strconv.Itoa(max)+", got "+strconv.Quote(l))
			return
		}
		so.Limit = n
	}
	if v := q.Get(api.QueryValues); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			badRequest(w, "values must be true or false, got "+strconv.Quote(v))
			return
		}
		so.Values = b
	}
	res, err := h.cfg.KV.Scan(r.Context(), r.PathValue("ns"), so)
	if err != nil {
		writeKVError(w, err)
		return
	}
	out := api.ListResult{Keys: make([]api.KV, 0, len(res.Entries))}
	for _, e := range res.Entries {
		var v []byte
		if so.Values {
			v = e.Value
			if v == nil {
				v = []byte{}
			}
		}
		out.Keys = append(out.Keys, api.NewKV(string(e.Key), v, e.Version))
	}
	if res.More && len(res.Entries) > 0 {
		out.Next = string(res.Entries[len(res.Entries)-1].Key)
	}
	writeJSON(w, http.StatusOK, out)
}
