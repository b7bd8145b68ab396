// Package client is the Go client of distkv's HTTP API: typed calls over
// the api wire types, failover between endpoints, and retries only where
// they cannot apply a write twice.
//
// # Failover and retries
//
// A Client sticks to one endpoint and moves to the next one when a request
// fails to reach it. Reads (GET) are retried on the next endpoint after any
// transport failure, 503 or 504, until the call's deadline. Writes are retried
// only when the request certainly did not reach a server (the dial failed)
// or a server answered 503 "unavailable", which promises that nothing was
// done. A write that timed out (504) or whose connection broke after it was
// sent is never retried: it returns an *Error with OutcomeUnknown set, and
// the caller decides, typically by reading the key back.
//
// # Multiplexed connections
//
// With Config.Multiplex a Client keeps one connection per node, upgraded at
// GET /v1/mux to binary frames that carry many calls at once (see package
// api). The rules above are unchanged: a call whose connection breaks
// after its request was queued is a sent request, so a write returns an
// unknown outcome. Close the Client to close the connections.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero Config fields.
const (
	DefaultTimeout = 5 * time.Second
	// DefaultRetryTimeout bounds a call and its retries when its context
	// has no deadline.
	DefaultRetryTimeout = 15 * time.Second
	// DefaultNamespace is the namespace served under /v1/kv/.
	DefaultNamespace = "default"
)

// Config configures a Client. Only Endpoints is required.
type Config struct {
	// Endpoints are the nodes to talk to, as "host:port" or
	// "http://host:port". The client starts with the first one.
	Endpoints []string
	// Timeout bounds each HTTP attempt, from sending the request to reading
	// the whole response (for Dump: to the headers, and then between two
	// lines). Zero means DefaultTimeout.
	Timeout time.Duration
	// RetryTimeout bounds a whole call, retries included, when its context
	// has no deadline. Zero means DefaultRetryTimeout.
	RetryTimeout time.Duration
	// HTTPClient sends the requests; nil means a client with its own
	// connection pool. The Client never follows redirects, whatever
	// HTTPClient.CheckRedirect says: a redirected PUT must not become a GET.
	HTTPClient *http.Client
	// Namespace is the namespace keys live in; "" and "default" are the
	// default namespace.
	Namespace string
	// RouteWrites sends each write of a strong namespace first to its
	// shard's leader, when the leader is one of Endpoints, saving the hop
	// from the receiving node to the leader. The client learns leaders from
	// GET /v1/cluster in the background, at most every 3 s while writes
	// flow; a stale or missing entry only costs that hop. Worth it for
	// long-lived clients doing many writes; off by default.
	RouteWrites bool
	// Multiplex sends requests on one multiplexed connection per endpoint
	// (GET /v1/mux upgraded to binary frames, many requests in flight at
	// once, answered in any order) instead of one HTTP/1.1 request per
	// pooled connection: with many concurrent callers it costs the client
	// and the node far fewer system calls per request. Semantics, errors
	// and retries are those of HTTP; an endpoint that does not serve
	// multiplexed connections gets plain HTTP. Call Close when done.
	Multiplex bool
	// TLS configures connections to https endpoints (for a private CA
	// and client certificates: see TLSFromFiles). With it, endpoints
	// given as host:port mean https://host:port.
	TLS *tls.Config
}

// Client calls a distkv cluster. It is safe for concurrent use; copies made
// by WithNamespace share its endpoints and connections.
type Client struct {
	hc           *http.Client
	timeout      time.Duration
	retryTimeout time.Duration
	ns           string
	scheme       string // of endpoints given as host:port
	eps          *endpoints
	sess         *session
	router       *router  // nil unless Config.RouteWrites
	mux          *muxPool // nil unless Config.Multiplex
}

// session carries causal tokens between requests, per namespace, shared
// by every copy of a Client: each request sends the tokens received and
// not yet folded into a later answer; an answer's token covers everything
// its request sent, so it replaces them. With one request at a time that
// is a single token; concurrent requests may leave a few, which the next
// request hands to the server to merge.
type session struct {
	mu     sync.Mutex
	tokens map[string][]string
}

func (s *session) pending(ns string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens[ns]...)
}

func (s *session) update(ns string, sent []string, got string) {
	if got == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := []string{got}
	for _, t := range s.tokens[ns] {
		if t != got && !slices.Contains(sent, t) {
			keep = append(keep, t)
		}
	}
	s.tokens[ns] = keep
}

// CausalToken returns the session's causal token(s) for the client's
// namespace, comma-separated, as sent in X-Distkv-Causal ("" when none).
func (c *Client) CausalToken() string { return strings.Join(c.sess.pending(c.ns), ",") }

// endpoints is the endpoint list and the sticky current one, shared by
// every copy of a Client.
type endpoints struct {
	urls []string // base URLs, "http://host:port"
	mu   struct {
		sync.Mutex
		cur int
	}
}

// New checks cfg and returns a Client. It does not contact the cluster.
func New(cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("client: no endpoints")
	}
	eps := &endpoints{}
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	for _, e := range cfg.Endpoints {
		u, err := normalizeEndpoint(e, scheme)
		if err != nil {
			return nil, err
		}
		eps.urls = append(eps.urls, u)
	}
	c := &Client{
		timeout:      cfg.Timeout,
		retryTimeout: cfg.RetryTimeout,
		ns:           cfg.Namespace,
		scheme:       scheme,
		eps:          eps,
		sess:         &session{tokens: map[string][]string{}},
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.retryTimeout <= 0 {
		c.retryTimeout = DefaultRetryTimeout
	}
	if cfg.RouteWrites {
		c.router = &router{c: c}
	}
	if cfg.Multiplex {
		c.mux = newMuxPool(cfg.TLS)
	}
	tr := newTransport()
	tr.TLSClientConfig = cfg.TLS
	hc := http.Client{Transport: tr}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	return c, nil
}

// newTransport is http.DefaultTransport's configuration with a pool sized
// for a handful of nodes.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	return t
}

// Close closes the client's multiplexed connections and idle HTTP
// connections. Calls in flight on a multiplexed connection fail. Copies
// made by WithNamespace share the connections and are closed with it.
func (c *Client) Close() error {
	if c.mux != nil {
		c.mux.close()
	}
	c.hc.CloseIdleConnections()
	return nil
}

// WithNamespace returns a copy of c bound to namespace ns ("" or "default"
// for the default namespace).
func (c *Client) WithNamespace(ns string) *Client {
	cp := *c
	cp.ns = ns
	return &cp
}

// NamespaceName is the namespace c is bound to ("default" when unset).
func (c *Client) NamespaceName() string {
	if c.ns == "" {
		return DefaultNamespace
	}
	return c.ns
}

// Endpoints returns the base URLs c talks to, in order.
func (c *Client) Endpoints() []string {
	return append([]string(nil), c.eps.urls...)
}

// normalizeEndpoint turns "host:port" (meaning scheme://host:port) or
// "http://host:port/" into "http://host:port".
func normalizeEndpoint(e, scheme string) (string, error) {
	e = strings.TrimSpace(e)
	if e == "" {
		return "", errors.New("client: empty endpoint")
	}
	if !strings.Contains(e, "://") {
		e = scheme + "://" + e
	}
	u, err := url.Parse(e)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("client: bad endpoint %q: want host:port or http://host:port", e)
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/"), nil
}

// current returns the sticky endpoint's index and URL.
func (e *endpoints) current() (int, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mu.cur, e.urls[e.mu.cur]
}

// failed moves past endpoint i if it is still the current one, so that
// concurrent failures of the same endpoint advance only once.
func (e *endpoints) failed(i int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.cur == i {
		e.mu.cur = (i + 1) % len(e.urls)
	}
}

// withDeadline gives ctx the client's RetryTimeout when it has no deadline.
func (c *Client) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.retryTimeout)
}
