package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/kv"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, e api.Error) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, api.ErrorBody{Error: e})
}

func badRequest(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalid, Message: msg})
}

// writeKVError translates an error from the kv service or the node into a
// status and an API error. This is the one place those errors become codes.
func writeKVError(w http.ResponseWriter, err error) {
	status, e := classify(err)
	writeError(w, status, e)
}

func classify(err error) (int, api.Error) {
	msg := err.Error()
	var vm *kv.VersionMismatchError
	var locked *kv.LockedError
	switch {
	case errors.As(err, &locked):
		return http.StatusConflict, api.Error{Code: api.CodeConflict, Message: msg, Key: string(locked.Key), Holder: locked.Txn}
	case errors.Is(err, kv.ErrTxnAborted):
		return http.StatusConflict, api.Error{Code: api.CodeConflict, Message: msg}
	case errors.As(err, &vm):
		return http.StatusConflict, api.Error{Code: api.CodeVersionMismatch, Message: msg, CurrentVersion: vm.Current}
	case errors.Is(err, kv.ErrNotFound):
		return http.StatusNotFound, api.Error{Code: api.CodeNotFound, Message: "key not found"}
	case errors.Is(err, kv.ErrNoNamespace):
		return http.StatusNotFound, api.Error{Code: api.CodeNamespaceNotFound, Message: msg}
	case errors.Is(err, kv.ErrExists):
		return http.StatusConflict, api.Error{Code: api.CodeExists, Message: "key already exists"}
	case errors.Is(err, kv.ErrWrongType):
		return http.StatusConflict, api.Error{Code: api.CodeWrongType, Message: "the key holds a hash, not a string (read it with the Redis hash commands; PUT replaces it, DELETE deletes it)"}
	case errors.Is(err, kv.ErrNamespaceExists):
		return http.StatusConflict, api.Error{Code: api.CodeNamespaceExists, Message: msg}
	case errors.Is(err, kv.ErrConflict):
		return http.StatusConflict, api.Error{Code: api.CodeConflict, Message: msg}
	case errors.Is(err, kv.ErrNoTxn):
		return http.StatusNotFound, api.Error{Code: api.CodeUnknown, Message: msg}
	case errors.Is(err, kv.ErrUnknownMember):
		return http.StatusNotFound, api.Error{Code: api.CodeUnknown, Message: msg}
	case errors.Is(err, kv.ErrInvalid):
		return http.StatusBadRequest, api.Error{Code: api.CodeInvalid, Message: msg}
	case errors.Is(err, kv.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, api.Error{Code: api.CodeTooLarge, Message: msg}
	case errors.Is(err, kv.ErrWrongMode):
		return http.StatusNotImplemented, api.Error{Code: api.CodeUnsupported, Message: msg}
	case errors.Is(err, kv.ErrUnknownOutcome):
		return http.StatusGatewayTimeout, api.Error{Code: api.CodeTimeout, OutcomeUnknown: true,
			Message: "the write may or may not have been applied (outcome unknown): " + msg}
	case errors.Is(err, kv.ErrCausalDeps):
		return http.StatusServiceUnavailable, api.Error{Code: api.CodeCausalDeps, Message: msg}
	case errors.Is(err, kv.ErrNotAllReplicas):
		return http.StatusServiceUnavailable, api.Error{Code: api.CodeNotAllReplicas, Message: msg}
	case errors.Is(err, kv.ErrUnavailable):
		return http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: msg}
	case errors.Is(err, kv.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, api.Error{Code: api.CodeTimeout, Message: msg}
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: "request cancelled"}
	}
	return http.StatusInternalServerError, api.Error{Code: api.CodeInternal, Message: msg}
}
