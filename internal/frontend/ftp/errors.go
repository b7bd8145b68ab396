package ftp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/distkv/distkv/internal/kv"
)

// Errors of the file system. Their text reaches FTP clients, after the path
// they concern; reply maps them (and the kv service's) to reply codes.
var (
	errNotFound   = errors.New("no such file or directory")
	errIsDir      = errors.New("is a directory")
	errNotDir     = errors.New("not a directory")
	errExists     = errors.New("already exists")
	errNotEmpty   = errors.New("directory not empty")
	errDirRename  = errors.New("renaming directories is not supported")
	errRoot       = errors.New("the root directory cannot be removed")
	errBadName    = errors.New("file name not allowed")
	errBadOffset  = errors.New("restart offset is past the end of the file")
	errTooLarge   = errors.New("file exceeds the size limit")
	errConflict   = errors.New("the file was changed by another client meanwhile; try again")
	errChanged    = errors.New("the file was replaced or deleted during the transfer; try again")
	errCorrupt    = errors.New("stored file is corrupt")
	errChecksum   = errors.New("SHA-256 of the content does not match its manifest; the file is corrupt")
	errTransfer   = errors.New("data connection failed; transfer aborted")
	errNoDataConn = errors.New("no data connection; send PASV or EPSV first")
	errNoRNFR     = errors.New("send RNFR before RNTO")
	errClosing    = errors.New("server is shutting down")
)

// reply returns the FTP reply code and a one-line text for err.
func reply(err error) (int, string) {
	code, text := classify(err)
	if text == "" {
		text = err.Error()
	}
	return code, oneLine(text)
}

func classify(err error) (int, string) {
	switch {
	case errors.Is(err, kv.ErrUnknownOutcome): // first: it matters even while closing
		return 451, "storage could not confirm the change: it may or may not have been applied; check before retrying"
	case errors.Is(err, errClosing), errors.Is(err, context.Canceled):
		return 421, errClosing.Error()
	case errors.Is(err, errTooLarge):
		return 552, ""
	case errors.Is(err, errBadName), errors.Is(err, kv.ErrTooLarge):
		return 553, ""
	case errors.Is(err, errBadOffset):
		return 554, ""
	case errors.Is(err, errTransfer):
		return 426, ""
	case errors.Is(err, errNoDataConn):
		return 425, ""
	case errors.Is(err, errNoRNFR):
		return 503, ""
	case errors.Is(err, errNotFound), errors.Is(err, errIsDir), errors.Is(err, errNotDir),
		errors.Is(err, errExists), errors.Is(err, errNotEmpty), errors.Is(err, errDirRename),
		errors.Is(err, errRoot), errors.Is(err, kv.ErrNotFound):
		return 550, ""
	case errors.Is(err, errConflict), errors.Is(err, errChanged):
		return 450, ""
	case errors.Is(err, kv.ErrUnavailable):
		return 450, "storage unavailable (no quorum); nothing was changed, try again later"
	case errors.Is(err, kv.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return 451, "storage timed out; try again"
	case errors.Is(err, kv.ErrNoNamespace), errors.Is(err, kv.ErrWrongMode):
		return 451, "file storage is not available: " + err.Error()
	case errors.Is(err, errChecksum), errors.Is(err, errCorrupt):
		return 451, ""
	}
	return 451, "local error: " + err.Error()
}

// oneLine keeps a reply on one line: kv errors may be joined with newlines.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}

// pathErr attaches the path an error concerns.
func pathErr(p string, err error) error { return fmt.Errorf("%s: %w", p, err) }

// settled reports whether a failed kv write certainly did not happen, so
// that what it would have pointed to may be deleted.
func settled(err error) bool {
	for _, e := range []error{kv.ErrUnavailable, kv.ErrVersionMismatch, kv.ErrExists, kv.ErrNotFound,
		kv.ErrInvalid, kv.ErrTooLarge, kv.ErrNoNamespace, kv.ErrWrongMode} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
