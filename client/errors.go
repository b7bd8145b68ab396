package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/distkv/distkv/api"
)

// Sentinel errors. An *Error matches the sentinel of its Code with
// errors.Is, so callers never compare codes by hand.
var (
	ErrNotFound          = errors.New("distkv: not found")           // api.CodeNotFound
	ErrExists            = errors.New("distkv: key exists")          // api.CodeExists
	ErrVersionMismatch   = errors.New("distkv: version mismatch")    // api.CodeVersionMismatch
	ErrUnavailable       = errors.New("distkv: unavailable")         // api.CodeUnavailable
	ErrTimeout           = errors.New("distkv: timeout")             // api.CodeTimeout
	ErrNamespaceNotFound = errors.New("distkv: namespace not found") // api.CodeNamespaceNotFound
	ErrNamespaceExists   = errors.New("distkv: namespace exists")    // api.CodeNamespaceExists
	ErrInvalid           = errors.New("distkv: invalid request")     // api.CodeInvalid
	ErrTooLarge          = errors.New("distkv: too large")           // api.CodeTooLarge
	// ErrConflict: a membership or namespace change contradicts the
	// cluster's state (a duplicate node, removing the last node, a second
	// reshard).
	ErrConflict = errors.New("distkv: conflicting change") // api.CodeConflict
	// ErrUnknown: a change names a member or namespace that does not exist.
	ErrUnknown = errors.New("distkv: no such member or namespace") // api.CodeUnknown

	// ErrOutcomeUnknown matches every *Error with OutcomeUnknown set: a
	// write that may or may not have been applied.
	ErrOutcomeUnknown = errors.New("distkv: outcome unknown")
	// ErrNoEndpoint is wrapped by the error of a call for which no endpoint
	// could be reached before the deadline.
	ErrNoEndpoint = errors.New("distkv: no endpoint reachable")
)

// CodeConnectionLost is a client-side code: the connection broke after a
// write was sent, so its outcome is unknown.
const CodeConnectionLost = "connection_lost"

var codeSentinels = map[string]error{
	api.CodeNotFound:          ErrNotFound,
	api.CodeExists:            ErrExists,
	api.CodeVersionMismatch:   ErrVersionMismatch,
	api.CodeUnavailable:       ErrUnavailable,
	api.CodeNotAllReplicas:    ErrUnavailable, // mode ca: not retried elsewhere, nothing was done
	api.CodeTimeout:           ErrTimeout,
	api.CodeNamespaceNotFound: ErrNamespaceNotFound,
	api.CodeNamespaceExists:   ErrNamespaceExists,
	api.CodeInvalid:           ErrInvalid,
	api.CodeTooLarge:          ErrTooLarge,
	api.CodeConflict:          ErrConflict,
	api.CodeUnknown:           ErrUnknown,
}

// Error is a failed call: an error response from a node, or a write whose
// outcome the client could not learn.
type Error struct {
	// Status is the HTTP status (0 when no response arrived).
	Status int
	// Code is the api error code (api.CodeNotFound, ...) or
	// CodeConnectionLost.
	Code    string
	Message string
	// Node is the node that answered ("" when none did).
	Node string
	// CurrentVersion is the key's version on a version mismatch (0: the
	// key does not exist).
	CurrentVersion uint64
	// OutcomeUnknown is set when a write may or may not have been applied.
	// Such a write is never retried by the client.
	OutcomeUnknown bool
	// Key and Holder name, for a conflict with a transaction's lock, the
	// locked key and the transaction that holds it.
	Key, Holder string

	cause error // what made the client give up, for client-side errors
}

// Error renders "code: message (node)".
func (e *Error) Error() string {
	s := e.Code
	if s == "" {
		s = fmt.Sprintf("HTTP %d", e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Node != "" {
		s += " (" + e.Node + ")"
	}
	if e.OutcomeUnknown {
		s += " [outcome unknown]"
	}
	return s
}

// Is reports whether target is the sentinel of e's Code, or
// ErrOutcomeUnknown when e.OutcomeUnknown is set.
func (e *Error) Is(target error) bool {
	if target == ErrOutcomeUnknown {
		return e.OutcomeUnknown
	}
	s, ok := codeSentinels[e.Code]
	return ok && s == target
}

// Unwrap returns the cause of a client-side error (a context or transport
// error), or nil.
func (e *Error) Unwrap() error { return e.cause }

// statusCodes names the codes of error responses that carry no JSON error
// body (a proxy, or the HTTP server itself, answered).
var statusCodes = map[int]string{
	http.StatusBadRequest:            api.CodeInvalid,
	http.StatusRequestEntityTooLarge: api.CodeTooLarge,
	http.StatusServiceUnavailable:    api.CodeUnavailable,
	http.StatusGatewayTimeout:        api.CodeTimeout,
}

// decodeError turns an error response into an *Error. A 504 on a write is
// always outcome-unknown, whatever its body says; a read never is.
func decodeError(status int, h http.Header, body []byte, write bool) *Error {
	e := &Error{Status: status, Node: h.Get(api.HeaderNode)}
	var eb api.ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
		e.CurrentVersion, e.OutcomeUnknown = eb.Error.CurrentVersion, eb.Error.OutcomeUnknown
		e.Key, e.Holder = eb.Error.Key, eb.Error.Holder
	} else {
		e.Code = statusCodes[status]
		e.Message = strings.TrimSpace(string(truncate(body, 200)))
		if e.Message == "" {
			e.Message = strings.ToLower(http.StatusText(status))
		}
	}
	// A read has no outcome to be unsure of.
	e.OutcomeUnknown = write && (e.OutcomeUnknown || status == http.StatusGatewayTimeout)
	return e
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
