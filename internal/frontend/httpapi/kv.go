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
	var o kv.ReadOptions
	switch c := r.URL.Query().Get(api.QueryConsistency); c {
	case "", api.Linearizable:
	case api.Stale:
		o.Consistency = kv.Stale
	default:
		badRequest(w, "consistency must be linearizable or stale, got "+strconv.Quote(c))
		return o, false
	}
	var ok bool
	if o.R, ok = quorumParam(w, r, api.QueryR); !ok {
		return o, false
	}
	o.Token = headerOrQuery(r, api.HeaderCausal, api.QueryCausal)
	return o, true
}

// quorumParam parses ?r= or ?w=: a positive number, one, quorum or all.
func quorumParam(w http.ResponseWriter, r *http.Request, name string) (int, bool) {
	v := r.URL.Query().Get(name)
	switch v {
	case "":
		return 0, true
	case "one":
		return 1, true
	case "quorum", "majority":
		return kv.MajorityReplicas, true
	case "all":
		return kv.AllReplicas, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1024 {
		badRequest(w, name+" must be a positive number, one, quorum or all, got "+strconv.Quote(v))
		return 0, false
	}
	return n, true
}

func headerOrQuery(r *http.Request, header, query string) string {
	if v := r.Header.Get(header); v != "" {
		return v
	}
	return r.URL.Query().Get(query)
}

// setCausalHeaders returns a leaderless key's context and a causal token.
func setCausalHeaders(w http.ResponseWriter, context, token string) {
	if context != "" {
		w.Header().Set(api.HeaderContext, context)
	}
	if token != "" {
		w.Header().Set(api.HeaderCausal, token)
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
	var ok bool
	if o.W, ok = quorumParam(w, r, api.QueryW); !ok {
		return o, false
	}
	o.Context = headerOrQuery(r, api.HeaderContext, api.QueryContext)
	o.Token = headerOrQuery(r, api.HeaderCausal, api.QueryCausal)
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
	if h.inTxn(w, r, k, nil) {
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
		var nf *kv.NotFoundError
		if errors.As(err, &nf) {
			setCausalHeaders(w, nf.Entry.Context, nf.Entry.Token)
		}
		writeKVError(w, err)
		return
	}
	setCausalHeaders(w, e.Context, e.Token)
	if e.Context != "" {
		w.Header().Set(api.HeaderVersion, e.Context) // a leaderless key's version is its context
	} else {
		w.Header().Set(api.HeaderVersion, strconv.FormatUint(e.Version, 10))
	}
	if len(e.Siblings) > 0 {
		writeJSON(w, http.StatusMultipleChoices, entryJSON(k, e))
		return
	}
	if format == "json" {
		writeJSON(w, http.StatusOK, entryJSON(k, e))
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
	if h.inTxn(w, r, k, body) {
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
	setCausalHeaders(w, res.Context, res.Token)
	writeJSON(w, status, api.WriteResult{Key: string(k), Version: res.Version, Created: res.Created, Context: res.Context, Causal: res.Token})
}

func (h *Handler) del(w http.ResponseWriter, r *http.Request) {
	k, ok := key(w, r)
	if !ok {
		return
	}
	if h.inTxn(w, r, k, nil) {
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
	res, err := h.cfg.KV.Delete(r.Context(), r.PathValue("ns"), k, opts)
	if err != nil {
		writeKVError(w, err)
		return
	}
	setCausalHeaders(w, res.Context, res.Token)
	writeJSON(w, http.StatusOK, api.WriteResult{Key: string(k), Version: res.Version, Context: res.Context, Causal: res.Token})
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
		kvj := api.NewKV(string(e.Key), v, e.Version)
		kvj.Siblings = siblingsJSON(e.Siblings)
		out.Keys = append(out.Keys, kvj)
	}
	if res.More && len(res.Entries) > 0 {
		out.Next = string(res.Entries[len(res.Entries)-1].Key)
	}
	writeJSON(w, http.StatusOK, out)
}

// entryJSON renders an entry, with its siblings and causal metadata.
func entryJSON(k []byte, e kv.Entry) api.KV {
	out := api.NewKV(string(k), e.Value, e.Version)
	out.Siblings = siblingsJSON(e.Siblings)
	out.Context, out.Causal = e.Context, e.Token
	return out
}

func siblingsJSON(vals [][]byte) []api.Value {
	var out []api.Value
	for _, v := range vals {
		s, enc := api.EncodeValue(v)
		out = append(out, api.Value{Value: s, Encoding: enc})
	}
	return out
}
