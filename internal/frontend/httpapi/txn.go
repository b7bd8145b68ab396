package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

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

func (h *Handler) sessions(w http.ResponseWriter) bool {
	if h.cfg.Sessions == nil {
		writeError(w, http.StatusNotImplemented, api.Error{Code: api.CodeUnsupported, Message: "this node serves no interactive transactions"})
		return false
	}
	return true
}

// txnBegin opens an interactive transaction: POST /v1/txn/begin with an
// optional api.TxnBegin body.
func (h *Handler) txnBegin(w http.ResponseWriter, r *http.Request) {
	if !h.sessions(w) {
		return
	}
	var req api.TxnBegin
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		badRequest(w, "transaction begin body: "+err.Error())
		return
	}
	st, err := h.cfg.Sessions.Begin(r.PathValue("ns"), time.Duration(req.TTLMillis)*time.Millisecond)
	if err != nil {
		writeKVError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, st)
}

func (h *Handler) txnStatus(w http.ResponseWriter, r *http.Request) {
	if !h.sessions(w) {
		return
	}
	st, err := h.cfg.Sessions.Status(r.PathValue("id"))
	if err != nil {
		writeKVError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// txnStep is POST /v1/txn/{id}/prepare, /commit or /rollback. A failed
// step answers the error with the transaction's state left as it is.
func (h *Handler) txnStep(w http.ResponseWriter, r *http.Request) {
	if !h.sessions(w) {
		return
	}
	var step func(ctx context.Context, id string) (api.TxnState, error)
	switch r.PathValue("step") {
	case "prepare":
		step = h.cfg.Sessions.Prepare
	case "commit":
		step = h.cfg.Sessions.Commit
	case "rollback":
		step = h.cfg.Sessions.Rollback
	default:
		writeError(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound,
			Message: "no transaction step " + strconv.Quote(r.PathValue("step")) + " (use prepare, commit or rollback)"})
		return
	}
	st, err := step(r.Context(), r.PathValue("id"))
	if err != nil {
		writeKVError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// inTxn serves GET, PUT and DELETE of a key inside an interactive
// transaction (?txn=ID): it reports whether it did.
func (h *Handler) inTxn(w http.ResponseWriter, r *http.Request, k []byte, body []byte) bool {
	id := r.URL.Query().Get(api.QueryTxn)
	if id == "" {
		return false
	}
	if !h.sessions(w) {
		return true
	}
	for _, q := range []string{api.QueryIf, api.QueryVersion, api.QueryConsistency, api.QueryR, api.QueryW, api.QueryContext, api.QueryCausal} {
		if r.URL.Query().Has(q) {
			badRequest(w, q+"= does not apply inside a transaction (its reads are checked at prepare)")
			return true
		}
	}
	ns := r.PathValue("ns")
	switch r.Method {
	case http.MethodGet:
		e, err := h.cfg.Sessions.Read(r.Context(), ns, id, k)
		if err != nil {
			writeKVError(w, err)
			return true
		}
		w.Header().Set(api.HeaderVersion, strconv.FormatUint(e.Version, 10))
		if r.URL.Query().Get(api.QueryFormat) == "json" {
			writeJSON(w, http.StatusOK, entryJSON(k, e))
			return true
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(e.Value)
	default:
		if err := h.cfg.Sessions.Write(ns, id, k, body, r.Method == http.MethodDelete); err != nil {
			writeKVError(w, err)
			return true
		}
		writeJSON(w, http.StatusOK, api.WriteResult{Key: string(k), Txn: id})
	}
	return true
}
