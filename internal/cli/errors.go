package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/distkv/distkv/client"
)

// Exit codes of the distkv command.
const (
	ExitOK          = 0
	ExitError       = 1 // any other failure
	ExitUsage       = 2 // bad flags, arguments or command
	ExitNotFound    = 3 // key, namespace or member not found
	ExitConflict    = 4 // key exists, version mismatch, namespace exists with other settings, conflicting cluster change
	ExitUnavailable = 5 // unavailable, timeout, no node reachable, write outcome unknown
)

// usageError is a command line that cannot be run as given.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// asUsage marks err as a usage error.
func asUsage(err error) error {
	var ue *usageError
	if errors.As(err, &ue) {
		return err
	}
	return &usageError{err.Error()}
}

// exitCode classifies err.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, client.ErrOutcomeUnknown):
		return ExitUnavailable
	case errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrNamespaceNotFound),
		errors.Is(err, client.ErrUnknown):
		return ExitNotFound
	case errors.Is(err, client.ErrExists), errors.Is(err, client.ErrVersionMismatch),
		errors.Is(err, client.ErrNamespaceExists), errors.Is(err, client.ErrConflict):
		return ExitConflict
	case errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrTimeout),
		errors.Is(err, client.ErrNoEndpoint), errors.Is(err, context.DeadlineExceeded):
		return ExitUnavailable
	}
	return ExitError
}

// opError is a failed client call on a key or namespace, worded for a
// person: `key "x" not found (n2)`.
type opError struct {
	op  string // "get", "put", "create namespace", ...
	key string // "" when the call is not about a key
	ns  string // the namespace ("" or "default": the default one)
	err error
}

func (e *opError) Unwrap() error { return e.err }

func (e *opError) Error() string {
	if msg, ok := e.specific(); ok {
		return msg
	}
	return e.what() + ": " + describe(e.err)
}

// specific words the errors that have words of their own: not found,
// exists, version mismatch, outcome unknown.
func (e *opError) specific() (string, bool) {
	var ce *client.Error
	node := ""
	if errors.As(e.err, &ce) && ce.Node != "" {
		node = " (" + ce.Node + ")"
	}
	subject := fmt.Sprintf("key %q", e.key)
	if e.ns != "" && e.ns != client.DefaultNamespace {
		subject += fmt.Sprintf(" in namespace %q", e.ns)
	}
	switch {
	case errors.Is(e.err, client.ErrOutcomeUnknown):
		return fmt.Sprintf("%s: outcome unknown, the write may or may not have been applied: %s: %s%s",
			e.what(), ce.Code, ce.Message, node), true
	case errors.Is(e.err, client.ErrNamespaceNotFound):
		return fmt.Sprintf("namespace %q not found%s", e.nsName(), node), true
	case errors.Is(e.err, client.ErrNamespaceExists):
		return fmt.Sprintf("namespace %q already exists with other settings%s", e.nsName(), node), true
	case e.key == "":
	case errors.Is(e.err, client.ErrNotFound):
		return subject + " not found" + node, true
	case errors.Is(e.err, client.ErrExists):
		return subject + " already exists" + node, true
	case errors.Is(e.err, client.ErrVersionMismatch) && ce.CurrentVersion == 0:
		return subject + " does not exist (version mismatch)" + node, true
	case errors.Is(e.err, client.ErrVersionMismatch):
		return fmt.Sprintf("%s is at version %d (version mismatch)%s", subject, ce.CurrentVersion, node), true
	}
	return "", false
}

// what names the operation: `put "x"`.
func (e *opError) what() string {
	if e.key == "" {
		return e.op
	}
	return fmt.Sprintf("%s %q", e.op, e.key)
}

func (e *opError) nsName() string {
	if e.ns == "" {
		return client.DefaultNamespace
	}
	return e.ns
}

// describe words any error for one line: transport errors are cut down to
// their cause ("connect: connection refused").
func describe(err error) string {
	var ce *client.Error
	var ne *client.NoEndpointError
	switch {
	case errors.As(err, &ce):
		return strings.TrimPrefix(ce.Error(), "distkv: ")
	case errors.As(err, &ne):
		cause := ne.Err.Error()
		if op := (*net.OpError)(nil); errors.As(ne.Err, &op) {
			cause = op.Err.Error()
		}
		tried := strings.ReplaceAll(strings.Join(ne.Tried, ", "), "http://", "")
		return fmt.Sprintf("no node reachable (tried %s): %s", tried, cause)
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	return strings.TrimPrefix(err.Error(), "distkv: ")
}

// errorLine is the one line printed for err.
func errorLine(err error) string {
	var oe *opError
	if errors.As(err, &oe) {
		return oe.Error()
	}
	return describe(err)
}

// lineBreaks turns line breaks and tabs into spaces.
var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ")

// oneLine folds s onto a single line.
func oneLine(s string) string {
	return strings.TrimSpace(lineBreaks.Replace(s))
}
