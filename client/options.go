package client

import (
	"net/url"
	"strconv"

	"github.com/distkv/distkv/api"
)

// ReadOption adjusts a Get.
type ReadOption interface{ applyRead(*readOptions) }

// WriteOption adjusts a Put or Delete.
type WriteOption interface{ applyWrite(*writeOptions) }

// ListOption adjusts a List or ListAll.
type ListOption interface{ applyList(*listOptions) }

type writeFunc func(*writeOptions)

func (f writeFunc) applyWrite(o *writeOptions) { f(o) }

type listFunc func(*listOptions)

func (f listFunc) applyList(o *listOptions) { f(o) }

type readOptions struct {
	stale bool
	r     string
}

type writeOptions struct {
	cond    string // api.IfAbsent, api.IfPresent or ""
	version uint64
	hasVer  bool
	w       string
	context string
}

type listOptions struct {
	limit  int
	after  string
	values bool
	stale  bool
}

// StaleOption is the option Stale returns: both a ReadOption and a
// ListOption.
type StaleOption struct{}

// Stale lets any replica answer a Get or List from its local state, which
// may lag the latest write (consistency=stale).
func Stale() StaleOption { return StaleOption{} }

func (StaleOption) applyRead(o *readOptions) { o.stale = true }
func (StaleOption) applyList(o *listOptions) { o.stale = true }

// CreateOnly makes a Put fail with ErrExists when the key exists.
func CreateOnly() WriteOption { return writeFunc(func(o *writeOptions) { o.cond = api.IfAbsent }) }

// UpdateOnly makes a Put fail with ErrNotFound when the key does not exist.
func UpdateOnly() WriteOption { return writeFunc(func(o *writeOptions) { o.cond = api.IfPresent }) }

// IfVersion makes a Put or Delete fail with ErrVersionMismatch unless the
// key is at version n (compare-and-set).
func IfVersion(n uint64) WriteOption {
	return writeFunc(func(o *writeOptions) { o.version, o.hasVer = n, true })
}

// ReadQuorum sets how many replicas of an eventual namespace must answer a
// Get: a number, "one", "quorum" or "all".
func ReadQuorum(q string) ReadOption { return readFunc(func(o *readOptions) { o.r = q }) }

// WriteQuorum sets how many replicas of an eventual namespace must store a
// Put or Delete: a number, "one", "quorum" or "all".
func WriteQuorum(q string) WriteOption { return writeFunc(func(o *writeOptions) { o.w = q }) }

// WithContext makes a write in a leaderless namespace supersede the values
// read with that causal context (Entry.Context), resolving siblings.
func WithContext(ctx string) WriteOption {
	return writeFunc(func(o *writeOptions) { o.context = ctx })
}

type readFunc func(*readOptions)

func (f readFunc) applyRead(o *readOptions) { f(o) }

// Limit caps a List page, or the whole of a ListAll, at n keys.
func Limit(n int) ListOption { return listFunc(func(o *listOptions) { o.limit = n }) }

// After starts a List after the key cursor (a ListPage.Next).
func After(cursor string) ListOption { return listFunc(func(o *listOptions) { o.after = cursor }) }

// WithValues makes a List return values as well as keys.
func WithValues() ListOption { return listFunc(func(o *listOptions) { o.values = true }) }

func (o *readOptions) query() url.Values {
	q := url.Values{}
	if o.stale {
		q.Set(api.QueryConsistency, api.Stale)
	}
	if o.r != "" {
		q.Set(api.QueryR, o.r)
	}
	return q
}

func (o *writeOptions) query() url.Values {
	q := url.Values{}
	if o.cond != "" {
		q.Set(api.QueryIf, o.cond)
	}
	if o.hasVer {
		q.Set(api.QueryVersion, strconv.FormatUint(o.version, 10))
	}
	if o.w != "" {
		q.Set(api.QueryW, o.w)
	}
	if o.context != "" {
		q.Set(api.QueryContext, o.context)
	}
	return q
}

func (o *listOptions) query(prefix string) url.Values {
	q := url.Values{}
	q.Set(api.QueryPrefix, prefix)
	if o.limit > 0 {
		q.Set(api.QueryLimit, strconv.Itoa(o.limit))
	}
	if o.after != "" {
		q.Set(api.QueryAfter, o.after)
	}
	if o.values {
		q.Set(api.QueryValues, "true")
	}
	if o.stale {
		q.Set(api.QueryConsistency, api.Stale)
	}
	return q
}
