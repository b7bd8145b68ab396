package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/distkv/distkv/api"
)

const maxJSONBody = 64 << 10

func (h *Handler) createNamespace(w http.ResponseWriter, r *http.Request) {
	var ns api.Namespace
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ns); err != nil && !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, api.Error{Code: api.CodeTooLarge, Message: "namespace body exceeds 64 KiB"})
			return
		}
		badRequest(w, "namespace body: "+err.Error())
		return
	}
	if ns.Name != "" && ns.Name != r.PathValue("ns") {
		badRequest(w, "the body names namespace "+ns.Name+" but the path names "+r.PathValue("ns"))
		return
	}
	ns.Name = r.PathValue("ns")
	out, created, err := h.cfg.Cluster.CreateNamespace(r.Context(), ns)
	if err != nil {
		writeKVError(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, out)
}

func (h *Handler) getNamespace(w http.ResponseWriter, r *http.Request) {
	ns, ok := h.cfg.Cluster.Namespace(r.PathValue("ns"))
	if !ok {
		writeError(w, http.StatusNotFound, api.Error{Code: api.CodeNamespaceNotFound, Message: "namespace \"" + r.PathValue("ns") + "\" does not exist"})
		return
	}
	writeJSON(w, http.StatusOK, ns)
}

func (h *Handler) listNamespaces(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.NamespaceList{Namespaces: h.cfg.Cluster.Namespaces()})
}

func (h *Handler) cluster(w http.ResponseWriter, r *http.Request) {
	st, err := h.cfg.Cluster.Status(r.Context())
	if err != nil {
		writeKVError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *Handler) locate(w http.ResponseWriter, r *http.Request) {
	k := r.PathValue("key")
	if k == "" {
		badRequest(w, "empty key: use /v1/locate/{key}")
		return
	}
	loc, err := h.cfg.Cluster.Locate(r.URL.Query().Get(api.QueryNamespace), k)
	if err != nil {
		writeKVError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, loc)
}

// dump streams this node's local contents as JSON lines.
func (h *Handler) dump(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	err := h.cfg.Cluster.Dump(r.Context(), func(e api.DumpEntry) error { return enc.Encode(e) })
	if err != nil {
		// Headers may be gone already; end the stream with an error line.
		_ = enc.Encode(api.ErrorBody{Error: api.Error{Code: api.CodeInternal, Message: "dump interrupted: " + err.Error()}})
	}
	_ = bw.Flush()
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.Health{Status: "ok", Node: h.cfg.Cluster.NodeID()})
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	ok, why := h.cfg.Cluster.Ready()
	if !ok {
		writeJSON(w, http.StatusServiceUnavailable, api.Health{Status: "unavailable", Node: h.cfg.Cluster.NodeID(), Reason: why})
		return
	}
	writeJSON(w, http.StatusOK, api.Health{Status: "ok", Node: h.cfg.Cluster.NodeID()})
}
