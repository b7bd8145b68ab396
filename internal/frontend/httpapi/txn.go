package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/distkv/distkv/api"
)

// maxTxnBody bounds a transaction's JSON body (its values included).
const maxTxnBody = 8 << 20

func (h *Handler) txn(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Txn == nil {
		writeError(w, http.StatusNotImplemented, api.Error{Code: api.CodeUnsupported, Message: "this node serves no transactions"})
		return
	}
	var req api.TxnRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxTxnBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, api.Error{Code: api.CodeTooLarge, Message: "transaction body exceeds 8 MiB"})
			return
		}
		badRequest(w, "transaction body: "+err.Error())
		return
	}
	res, err := h.cfg.Txn.Txn(r.Context(), r.PathValue("ns"), req)
	if err != nil {
		writeKVError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
