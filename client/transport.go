package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/distkv/distkv/api"
)

// Retry pacing: the pause after a round in which every endpoint failed.
const (
	firstBackoff = 25 * time.Millisecond
	maxBackoff   = time.Second
)

// maxResponseBytes bounds a buffered response body.
const maxResponseBytes = 64 << 20

// request is one logical call, possibly sent to several endpoints.
type request struct {
	method string
	path   string // already escaped: "/v1/kv/a%20b"
	query  url.Values
	body   []byte
	// write marks a request that may change state: it is retried only when
	// it certainly was not applied.
	write bool
	// endpoint, when set, is the only base URL to use (no failover).
	endpoint string
	// causal are the session's causal tokens sent with the request.
	causal []string
	// key, for a write of one key, lets the router pick the shard leader.
	key string
}

// response is a fully read response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// node is the node that answered.
func (r *response) node() string { return r.header.Get(api.HeaderNode) }

func (r *request) url(base string) string {
	u := base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	return u
}

// do sends r following the failover and retry rules in the package doc and
// returns the first answer that does not call for a retry (see retryable);
// error answers are returned as responses, for the caller to decode.
func (c *Client) do(ctx context.Context, r *request) (*response, error) {
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	r.causal = c.sess.pending(c.ns)
	resp, err := c.doCausal(ctx, r)
	if err == nil {
		c.sess.update(c.ns, r.causal, resp.header.Get(api.HeaderCausal))
	}
	return resp, err
}

func (c *Client) doCausal(ctx context.Context, r *request) (*response, error) {
	if r.endpoint != "" {
		return c.doOnce(ctx, r)
	}
	var f failures
	if pref := c.preferredEndpoint(r); pref != "" {
		// The shard leader first; on any answer that calls for a retry, or
		// a failure that certainly did nothing, carry on as usual.
		if resp, done, err := c.try(ctx, pref, r, &f); done {
			return resp, err
		}
	}
	for wait := firstBackoff; ; wait = min(2*wait, maxBackoff) {
		for range len(c.eps.urls) {
			i, base := c.eps.current()
			if resp, done, err := c.try(ctx, base, r, &f); done {
				return resp, err
			}
			c.eps.failed(i)
			if ctx.Err() != nil {
				return nil, f.giveUp(ctx, c.eps.urls)
			}
		}
		if !sleepCtx(ctx, wait) {
			return nil, f.giveUp(ctx, c.eps.urls)
		}
	}
}

// try sends r to base once. done reports a final outcome (an answer to
// return, or an error that must not be retried: a bad request, a write
// that may have been applied); otherwise the failure is recorded in f and
// the caller may try elsewhere.
func (c *Client) try(ctx context.Context, base string, r *request, f *failures) (_ *response, done bool, _ error) {
	resp, sent, err := c.attempt(ctx, base, r)
	if err == nil && c.router != nil {
		c.router.sawEpoch(epochOf(resp.header))
	}
	var bad *badRequestError
	switch {
	case errors.As(err, &bad):
		return nil, true, bad.err
	case err == nil && !retryable(r, resp):
		return resp, true, nil
	case err == nil:
		f.answer = decodeError(resp.status, resp.header, resp.body, r.write)
	case r.write && sent:
		return nil, true, outcomeUnknown(base, err)
	default:
		f.add(&endpointError{base: base, err: err}, sent)
	}
	return nil, false, nil
}

// preferredEndpoint is where a write goes first: its shard leader's
// endpoint when the client routes writes and knows it, else "".
func (c *Client) preferredEndpoint(r *request) string {
	if c.router == nil || !r.write || r.key == "" {
		return ""
	}
	return c.router.preferred(c.ns, r.key)
}

// retryable reports whether resp, an answer to r, calls for trying another
// endpoint: a 503 or 504 for a read; for a write, only a 503 "unavailable",
// which promises that nothing was done.
func retryable(r *request, resp *response) bool {
	switch resp.status {
	case http.StatusServiceUnavailable:
		return !r.write || decodeError(resp.status, resp.header, resp.body, true).Code == api.CodeUnavailable
	case http.StatusGatewayTimeout:
		return !r.write
	}
	return false
}

// doOnce sends r to r.endpoint alone, once.
func (c *Client) doOnce(ctx context.Context, r *request) (*response, error) {
	resp, sent, err := c.attempt(ctx, r.endpoint, r)
	var bad *badRequestError
	switch {
	case errors.As(err, &bad):
		return nil, bad.err
	case err == nil:
		return resp, nil
	case r.write && sent:
		return nil, outcomeUnknown(r.endpoint, err)
	}
	var f failures
	f.add(&endpointError{base: r.endpoint, err: err}, sent)
	return nil, f.giveUp(ctx, []string{r.endpoint})
}

// attempt sends r to base once, within the per-attempt timeout, and reads
// the whole response. sent is false when no connection was obtained, so
// the server certainly saw nothing.
func (c *Client) attempt(ctx context.Context, base string, r *request) (resp *response, sent bool, err error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.mux != nil {
		resp, sent, err := c.mux.roundTrip(actx, base, r)
		if !errors.Is(err, errMuxUnsupported) {
			return resp, sent, err
		}
	}
	var gotConn atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	})
	req, err := http.NewRequestWithContext(actx, r.method, r.url(base), bytes.NewReader(r.body))
	if err != nil {
		return nil, false, &badRequestError{err}
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	if len(r.causal) > 0 {
		req.Header.Set(api.HeaderCausal, strings.Join(r.causal, ","))
	}
	hr, err := c.hc.Do(req)
	if err != nil {
		return nil, gotConn.Load() && !isDialError(err), err
	}
	defer hr.Body.Close()
	body, err := io.ReadAll(io.LimitReader(hr.Body, maxResponseBytes+1))
	if err != nil {
		return nil, true, err
	}
	if len(body) > maxResponseBytes {
		return nil, true, fmt.Errorf("response from %s over %d bytes", base, maxResponseBytes)
	}
	return &response{status: hr.StatusCode, header: hr.Header, body: body}, true, nil
}

// badRequestError is a request that cannot be built: no endpoint would
// take it, so it is not retried.
type badRequestError struct{ err error }

func (e *badRequestError) Error() string { return e.err.Error() }

// isDialError reports whether err happened while connecting, before any
// byte of the request was written.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// endpointError is a transport failure talking to one endpoint.
type endpointError struct {
	base string
	err  error
}

func (e *endpointError) Error() string { return e.base + ": " + e.err.Error() }
func (e *endpointError) Unwrap() error { return e.err }

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// outcomeUnknown is the error of a write that was sent and got no answer.
func outcomeUnknown(base string, err error) *Error {
	e := &Error{Code: CodeConnectionLost, OutcomeUnknown: true, cause: err}
	if isTimeout(err) {
		e.Code = api.CodeTimeout
		e.Message = "no answer from " + base + " in time; the write may or may not have been applied"
		return e
	}
	e.Message = "connection to " + base + " lost after the write was sent (" + err.Error() +
		"); the write may or may not have been applied"
	return e
}

// failures accumulates why the attempts of a call failed.
type failures struct {
	answer  *Error // the last error answer from a node
	last    error  // the last transport failure
	cause   error  // the last transport failure that was not a deadline
	reached bool   // some attempt got a connection
}

func (f *failures) add(err error, sent bool) {
	f.last = err
	f.reached = f.reached || sent
	if !isTimeout(err) {
		f.cause = err
	}
}

// giveUp is the error of a call that ran out of time: the last error
// answer if a node gave one; a timeout if a node was reached but did not
// answer; else a NoEndpointError.
func (f *failures) giveUp(ctx context.Context, urls []string) error {
	switch {
	case f.answer != nil:
		return f.answer
	case f.last == nil:
		return ctx.Err()
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("%w (last error: %v)", ctx.Err(), f.last)
	case f.reached && isTimeout(f.last):
		return &Error{Code: api.CodeTimeout, Message: "no answer in time: " + f.last.Error(), cause: f.last}
	case f.cause != nil:
		return &NoEndpointError{Tried: urls, Err: f.cause}
	}
	return &NoEndpointError{Tried: urls, Err: f.last}
}

// NoEndpointError is the error of a call that reached no endpoint before
// its deadline. It matches ErrNoEndpoint and unwraps to the last failure.
type NoEndpointError struct {
	// Tried are the endpoints' base URLs.
	Tried []string
	// Err is the last transport failure.
	Err error
}

func (e *NoEndpointError) Error() string {
	return fmt.Sprintf("%v (tried %s): %v", ErrNoEndpoint, strings.Join(e.Tried, ", "), e.Err)
}

// Unwrap returns ErrNoEndpoint and the last failure.
func (e *NoEndpointError) Unwrap() []error { return []error{ErrNoEndpoint, e.Err} }

// sleepCtx waits d, or less if ctx ends first; it reports whether ctx is
// still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
