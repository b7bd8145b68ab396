package client

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/distkv/distkv/api"
)

// Entry is a key as read: its value (nil when a listing was made without
// values), its version, and the node that answered.
type Entry struct {
	Key     string
	Value   []byte
	Version uint64
	Node    string
	// Siblings, in a leaderless namespace that keeps concurrent writes,
	// are all of the key's values (Value is the first).
	Siblings [][]byte
	// Context, in a leaderless namespace, is the key's causal context:
	// pass it to WithContext to supersede these values.
	Context string
}

// WriteResult is the outcome of a successful Put or Delete.
type WriteResult struct {
	Key string
	// Version is the key's version after a Put, or the deleted version.
	Version uint64
	// Created is true when a Put created the key.
	Created bool
	Node    string
	// Context, in a leaderless namespace, is the key's new causal context.
	Context string
}

// ListPage is one page of a List, in key order.
type ListPage struct {
	Entries []Entry
	// Next, when not empty, is the cursor of the next page (pass it to
	// After).
	Next string
	Node string
}

// Get reads key. It fails with ErrNotFound when the key does not exist.
func (c *Client) Get(ctx context.Context, key string, opts ...ReadOption) (*Entry, error) {
	var o readOptions
	for _, opt := range opts {
		opt.applyRead(&o)
	}
	p, err := c.keyPath(key)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: p, query: o.query()})
	if err != nil {
		return nil, err
	}
	switch resp.status {
	case http.StatusOK:
	case http.StatusMultipleChoices:
		return c.siblings(key, resp)
	default:
		return nil, decodeError(resp.status, resp.header, resp.body, false)
	}
	e := &Entry{Key: key, Value: resp.body, Node: resp.node(), Context: resp.header.Get(api.HeaderContext)}
	if h := resp.header.Get(api.HeaderVersion); h != "" && e.Context == "" {
		if e.Version, err = strconv.ParseUint(h, 10, 64); err != nil {
			return nil, fmt.Errorf("bad %s header %q from %s", api.HeaderVersion, h, resp.node())
		}
	}
	return e, nil
}

// siblings decodes a 300 answer: concurrent values of a leaderless key.
func (c *Client) siblings(key string, resp *response) (*Entry, error) {
	var kv api.KV
	if err := decodeJSON(resp, &kv); err != nil {
		return nil, err
	}
	e := &Entry{Key: key, Node: resp.node(), Context: kv.Context}
	for _, s := range kv.Siblings {
		v, err := api.DecodeValue(s.Value, s.Encoding)
		if err != nil {
			return nil, fmt.Errorf("sibling of %q from %s: %w", key, resp.node(), err)
		}
		e.Siblings = append(e.Siblings, v)
	}
	if len(e.Siblings) > 0 {
		e.Value = e.Siblings[0]
	}
	return e, nil
}

// Put writes value at key. CreateOnly, UpdateOnly and IfVersion make it
// conditional (failing with ErrExists, ErrNotFound, ErrVersionMismatch).
func (c *Client) Put(ctx context.Context, key string, value []byte, opts ...WriteOption) (*WriteResult, error) {
	if value == nil {
		value = []byte{}
	}
	return c.write(ctx, http.MethodPut, key, value, opts)
}

// Delete removes key; with IfVersion, only at that version. It fails with
// ErrNotFound when the key does not exist.
func (c *Client) Delete(ctx context.Context, key string, opts ...WriteOption) (*WriteResult, error) {
	return c.write(ctx, http.MethodDelete, key, nil, opts)
}

func (c *Client) write(ctx context.Context, method, key string, body []byte, opts []WriteOption) (*WriteResult, error) {
	var o writeOptions
	for _, opt := range opts {
		opt.applyWrite(&o)
	}
	p, err := c.keyPath(key)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &request{method: method, path: p, query: o.query(), body: body, write: true, key: key})
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK && resp.status != http.StatusCreated {
		return nil, decodeError(resp.status, resp.header, resp.body, true)
	}
	var wr api.WriteResult
	if err := decodeJSON(resp, &wr); err != nil {
		return nil, err
	}
	return &WriteResult{
		Key:     key,
		Version: wr.Version,
		Created: wr.Created || resp.status == http.StatusCreated,
		Node:    resp.node(),
		Context: wr.Context,
	}, nil
}

// List returns one page of the keys starting with prefix, in key order.
func (c *Client) List(ctx context.Context, prefix string, opts ...ListOption) (*ListPage, error) {
	var o listOptions
	for _, opt := range opts {
		opt.applyList(&o)
	}
	return c.list(ctx, prefix, &o)
}

// ListAll iterates over every key starting with prefix, following cursors;
// Limit caps the total rather than a page. It yields at most one error,
// last.
func (c *Client) ListAll(ctx context.Context, prefix string, opts ...ListOption) iter.Seq2[Entry, error] {
	var o listOptions
	for _, opt := range opts {
		opt.applyList(&o)
	}
	total := o.limit
	return func(yield func(Entry, error) bool) {
		q, n := o, 0
		for {
			if total > 0 {
				q.limit = total - n
			}
			page, err := c.list(ctx, prefix, &q)
			if err != nil {
				yield(Entry{}, err)
				return
			}
			for _, e := range page.Entries {
				if !yield(e, nil) {
					return
				}
				if n++; total > 0 && n >= total {
					return
				}
			}
			if page.Next == "" {
				return
			}
			if page.Next == q.after {
				yield(Entry{}, fmt.Errorf("listing %q: %s returned its own cursor %q again", prefix, page.Node, page.Next))
				return
			}
			q.after = page.Next
		}
	}
}

func (c *Client) list(ctx context.Context, prefix string, o *listOptions) (*ListPage, error) {
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: c.nsPrefix() + "/kv", query: o.query(prefix)})
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, decodeError(resp.status, resp.header, resp.body, false)
	}
	var lr api.ListResult
	if err := decodeJSON(resp, &lr); err != nil {
		return nil, err
	}
	page := &ListPage{Next: lr.Next, Node: resp.node(), Entries: make([]Entry, 0, len(lr.Keys))}
	for _, kv := range lr.Keys {
		e := Entry{Key: kv.Key, Version: kv.Version, Node: page.Node}
		if kv.Value != nil {
			if e.Value, err = api.DecodeValue(*kv.Value, kv.Encoding); err != nil {
				return nil, fmt.Errorf("listing %q: key %q from %s: %w", prefix, kv.Key, page.Node, err)
			}
		}
		page.Entries = append(page.Entries, e)
	}
	return page, nil
}

// nsPrefix is the path prefix of c's namespace: "/v1" for the default one,
// else "/v1/ns/NAME".
func (c *Client) nsPrefix() string {
	if c.ns == "" || c.ns == DefaultNamespace {
		return "/v1"
	}
	return "/v1/ns/" + url.PathEscape(c.ns)
}

// keyPath is the escaped path of key in c's namespace.
func (c *Client) keyPath(key string) (string, error) {
	if key == "" {
		return "", &Error{Code: api.CodeInvalid, Message: "empty key"}
	}
	return c.nsPrefix() + "/kv/" + escapeKey(key), nil
}

// escapeKey renders key as URL path text that a net/http ServeMux pattern
// "{key...}" maps back to exactly key. Each '/'-separated segment is
// escaped, keeping the slashes readable; but a key that ServeMux would
// "clean" (with empty, "." or ".." segments) is escaped whole, its slashes
// as %2F and a bare "." or ".." as %2E, since the mux cleans the escaped
// path.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		if s == "." || s == ".." || (s == "" && i < len(segs)-1) {
			e := url.PathEscape(key)
			if e == "." || e == ".." {
				e = strings.ReplaceAll(e, ".", "%2E")
			}
			return e
		}
	}
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// decodeJSON decodes a success response's JSON body into out.
func decodeJSON(resp *response, out any) error {
	if err := json.Unmarshal(resp.body, out); err != nil {
		return fmt.Errorf("bad JSON from %s (HTTP %d): %w", nodeOrUnknown(resp.node()), resp.status, err)
	}
	return nil
}

func nodeOrUnknown(n string) string {
	if n == "" {
		return "server"
	}
	return n
}
