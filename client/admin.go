package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/api"
)

// CreateNamespace creates ns (ns.Name is required). created is false when
// an identical namespace already existed; a namespace of that name with
// other settings fails with ErrNamespaceExists. Creating a namespace is
// idempotent, so unlike other writes it is retried like a read.
func (c *Client) CreateNamespace(ctx context.Context, ns api.Namespace) (created bool, err error) {
	if ns.Name == "" {
		return false, &Error{Code: api.CodeInvalid, Message: "empty namespace name"}
	}
	body, err := json.Marshal(ns)
	if err != nil {
		return false, err
	}
	resp, err := c.do(ctx, &request{method: http.MethodPut, path: "/v1/ns/" + url.PathEscape(ns.Name), body: body})
	if err != nil {
		return false, err
	}
	switch resp.status {
	case http.StatusCreated:
		return true, nil
	case http.StatusOK:
		return false, nil
	}
	return false, decodeError(resp.status, resp.header, resp.body, false)
}

// Namespaces lists every namespace.
func (c *Client) Namespaces(ctx context.Context) ([]api.Namespace, error) {
	var nl api.NamespaceList
	if err := c.getJSON(ctx, "/v1/ns", nil, &nl); err != nil {
		return nil, err
	}
	return nl.Namespaces, nil
}

// Namespace returns the namespace called name, or ErrNamespaceNotFound.
func (c *Client) Namespace(ctx context.Context, name string) (*api.Namespace, error) {
	if name == "" {
		return nil, &Error{Code: api.CodeInvalid, Message: "empty namespace name"}
	}
	var ns api.Namespace
	if err := c.getJSON(ctx, "/v1/ns/"+url.PathEscape(name), nil, &ns); err != nil {
		return nil, err
	}
	return &ns, nil
}

// Cluster returns the cluster as the answering node sees it.
func (c *Client) Cluster(ctx context.Context) (*api.Cluster, error) {
	var cl api.Cluster
	if err := c.getJSON(ctx, "/v1/cluster", nil, &cl); err != nil {
		return nil, err
	}
	return &cl, nil
}

// Locate returns the shard, replicas and leader of key in c's namespace.
func (c *Client) Locate(ctx context.Context, key string) (*api.Location, error) {
	if key == "" {
		return nil, &Error{Code: api.CodeInvalid, Message: "empty key"}
	}
	var q url.Values
	if c.ns != "" && c.ns != DefaultNamespace {
		q = url.Values{api.QueryNamespace: {c.ns}}
	}
	var loc api.Location
	if err := c.getJSON(ctx, "/v1/locate/"+escapeKey(key), q, &loc); err != nil {
		return nil, err
	}
	return &loc, nil
}

// Health asks endpoint (and only it) whether its process is up.
func (c *Client) Health(ctx context.Context, endpoint string) (*api.Health, error) {
	return c.health(ctx, endpoint, "/healthz")
}

// Ready asks endpoint (and only it) whether it serves requests. A node that
// is up but not ready answers with its Health and an ErrUnavailable error.
func (c *Client) Ready(ctx context.Context, endpoint string) (*api.Health, error) {
	return c.health(ctx, endpoint, "/readyz")
}

func (c *Client) health(ctx context.Context, endpoint, path string) (*api.Health, error) {
	base, err := normalizeEndpoint(endpoint, c.scheme)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: path, endpoint: base})
	if err != nil {
		return nil, err
	}
	var h api.Health
	jsonErr := json.Unmarshal(resp.body, &h)
	switch {
	case resp.status == http.StatusOK && jsonErr == nil:
		return &h, nil
	case resp.status == http.StatusServiceUnavailable && jsonErr == nil && h.Status != "":
		return &h, &Error{Status: resp.status, Code: api.CodeUnavailable, Message: h.Reason, Node: resp.node()}
	case resp.status == http.StatusOK:
		return nil, decodeJSON(resp, &h)
	}
	return nil, decodeError(resp.status, resp.header, resp.body, false)
}

// Dump streams endpoint's local replicas (GET /v1/admin/dump, that node
// only, no failover) to fn, one entry at a time; an error from fn stops the
// stream and is returned. The stream fails with ErrTimeout when the node
// sends nothing for the client's Timeout.
func (c *Client) Dump(ctx context.Context, endpoint string, fn func(api.DumpEntry) error) error {
	base, err := normalizeEndpoint(endpoint, c.scheme)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var idle atomic.Bool
	timer := time.AfterFunc(c.timeout, func() { idle.Store(true); cancel() })
	defer timer.Stop()
	stalled := func(err error) error {
		if idle.Load() {
			return &Error{Code: api.CodeTimeout, Message: fmt.Sprintf("dump from %s: nothing received for %v", base, c.timeout), cause: err}
		}
		return err
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/admin/dump", nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return stalled(&NoEndpointError{Tried: []string{base}, Err: err})
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return decodeError(resp.StatusCode, resp.Header, body, false)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		timer.Reset(c.timeout)
		var e api.DumpEntry
		err := dec.Decode(&e)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return stalled(fmt.Errorf("dump from %s: %w", base, err))
		}
		timer.Stop()
		if err := fn(e); err != nil {
			return err
		}
	}
}

// getJSON GETs path with failover and decodes a 200 answer into out.
func (c *Client) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: path, query: q})
	if err != nil {
		return err
	}
	if resp.status != http.StatusOK {
		return decodeError(resp.status, resp.header, resp.body, false)
	}
	return decodeJSON(resp, out)
}
