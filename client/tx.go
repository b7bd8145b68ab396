package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/distkv/distkv/api"
)

// Tx is an interactive transaction (two-phase commit in explicit steps):
// reads see the keys' current state and are checked at Prepare, writes
// are buffered until Commit. Every call goes to the node that began it,
// which holds it; if that node is lost before the commit is recorded, the
// transaction rolls back after its TTL.
type Tx struct {
	c        *Client
	endpoint string
	// ID names the transaction (GET /v1/txn/{id}).
	ID string
}

// Begin opens an interactive transaction in the client's namespace on the
// first endpoint that takes it; ttl 0 is the server's default (60s).
func (c *Client) Begin(ctx context.Context, ttl time.Duration) (*Tx, error) {
	body, err := json.Marshal(api.TxnBegin{TTLMillis: ttl.Milliseconds()})
	if err != nil {
		return nil, err
	}
	var last error
	for range len(c.eps.urls) {
		i, base := c.eps.current()
		var st api.TxnState
		err := c.pinned(ctx, base, http.MethodPost, c.nsPrefix()+"/txn/begin", nil, body, http.StatusCreated, &st)
		if err == nil {
			return &Tx{c: c, endpoint: base, ID: st.Txn}, nil
		}
		var e *Error
		if errors.As(err, &e) && e.Code != api.CodeUnavailable && e.Code != CodeConnectionLost {
			return nil, err // the namespace's answer, not the node's trouble
		}
		last = err
		c.eps.failed(i)
	}
	return nil, last
}

// ResumeTxn finds transaction id (begun by this or another process) on
// the client's endpoints.
func (c *Client) ResumeTxn(ctx context.Context, id string) (*Tx, error) {
	var last error
	for _, base := range c.eps.urls {
		var st api.TxnState
		err := c.pinned(ctx, base, http.MethodGet, "/v1/txn/"+url.PathEscape(id), nil, nil, http.StatusOK, &st)
		if err == nil {
			return &Tx{c: c, endpoint: base, ID: st.Txn}, nil
		}
		last = err
	}
	return nil, fmt.Errorf("transaction %s is open on none of the endpoints: %w", id, last)
}

// pinned sends one request to base alone and decodes a want answer into
// out.
func (c *Client) pinned(ctx context.Context, base, method, path string, q url.Values, body []byte, want int, out any) error {
	resp, err := c.do(ctx, &request{method: method, path: path, query: q, body: body, write: method != http.MethodGet, endpoint: base})
	if err != nil {
		return err
	}
	if resp.status != want {
		return decodeError(resp.status, resp.header, resp.body, method != http.MethodGet)
	}
	if out == nil {
		return nil
	}
	return decodeJSON(resp, out)
}

// Get reads key inside the transaction (its own write if it made one).
func (t *Tx) Get(ctx context.Context, key string) (*Entry, error) {
	p, err := t.c.keyPath(key)
	if err != nil {
		return nil, err
	}
	resp, err := t.c.do(ctx, &request{method: http.MethodGet, path: p, query: url.Values{api.QueryTxn: {t.ID}}, endpoint: t.endpoint})
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, decodeError(resp.status, resp.header, resp.body, false)
	}
	e := &Entry{Key: key, Value: resp.body, Node: resp.node()}
	if h := resp.header.Get(api.HeaderVersion); h != "" {
		if e.Version, err = strconv.ParseUint(h, 10, 64); err != nil {
			return nil, fmt.Errorf("bad %s header %q from %s", api.HeaderVersion, h, resp.node())
		}
	}
	return e, nil
}

// Put buffers a write of key.
func (t *Tx) Put(ctx context.Context, key string, value []byte) error {
	return t.write(ctx, http.MethodPut, key, value)
}

// Delete buffers a delete of key.
func (t *Tx) Delete(ctx context.Context, key string) error {
	return t.write(ctx, http.MethodDelete, key, nil)
}

func (t *Tx) write(ctx context.Context, method, key string, value []byte) error {
	p, err := t.c.keyPath(key)
	if err != nil {
		return err
	}
	return t.c.pinned(ctx, t.endpoint, method, p, url.Values{api.QueryTxn: {t.ID}}, value, http.StatusOK, nil)
}

// Prepare locks the transaction's keys on every shard it touches and
// checks its reads are still current; a conflict aborts it (ErrConflict).
func (t *Tx) Prepare(ctx context.Context) (*api.TxnState, error) { return t.step(ctx, "prepare") }

// Commit commits the transaction (preparing it first if need be). An
// error with OutcomeUnknown leaves it prepared: Commit again to learn.
func (t *Tx) Commit(ctx context.Context) (*api.TxnState, error) { return t.step(ctx, "commit") }

// Rollback abandons the transaction and releases its locks.
func (t *Tx) Rollback(ctx context.Context) (*api.TxnState, error) { return t.step(ctx, "rollback") }

func (t *Tx) step(ctx context.Context, step string) (*api.TxnState, error) {
	var st api.TxnState
	if err := t.c.pinned(ctx, t.endpoint, http.MethodPost, "/v1/txn/"+url.PathEscape(t.ID)+"/"+step, nil, nil, http.StatusOK, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Status describes the transaction.
func (t *Tx) Status(ctx context.Context) (*api.TxnState, error) {
	var st api.TxnState
	if err := t.c.pinned(ctx, t.endpoint, http.MethodGet, "/v1/txn/"+url.PathEscape(t.ID), nil, nil, http.StatusOK, &st); err != nil {
		return nil, err
	}
	return &st, nil
}
