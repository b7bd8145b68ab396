package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/distkv/distkv/api"
)

// decodeBody decodes a small JSON body strictly into v, answering 400 or
// 413 itself (false) when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, what string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			writeError(w, http.StatusRequestEntityTooLarge, api.Error{Code: api.CodeTooLarge, Message: what + " body exceeds 64 KiB"})
		case errors.Is(err, io.EOF):
			badRequest(w, what+" body is empty")
		default:
			badRequest(w, what+" body: "+err.Error())
		}
		return false
	}
	return true
}

// addMember admits a node: POST /v1/admin/members {"id","peer_addr",...}.
func (h *Handler) addMember(w http.ResponseWriter, r *http.Request) {
	var req api.MemberRequest
	if !decodeBody(w, r, &req, "member") {
		return
	}
	if req.ID == "" || req.PeerAddr == "" {
		badRequest(w, "a member needs an id and a peer_addr")
		return
	}
	ch, err := h.cfg.Cluster.AddMember(r.Context(), req)
	if err != nil {
		writeKVError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, ch)
}

// removeMember drains and then removes a node: DELETE /v1/admin/members/{id}.
func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request) {
	ch, err := h.cfg.Cluster.RemoveMember(r.Context(), r.PathValue("id"))
	if err != nil {
		writeKVError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, ch)
}

// updateNamespace changes replicas and/or shards: PATCH /v1/ns/{name}.
func (h *Handler) updateNamespace(w http.ResponseWriter, r *http.Request) {
	var u api.NamespaceUpdate
	if !decodeBody(w, r, &u, "namespace update") {
		return
	}
	ch, err := h.cfg.Cluster.UpdateNamespace(r.Context(), r.PathValue("ns"), u)
	if err != nil {
		writeKVError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, ch)
}

// moves lists the moves and reshards under way: GET /v1/admin/moves.
func (h *Handler) moves(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.cfg.Cluster.Moves(r.Context()))
}
