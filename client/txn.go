package client

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/distkv/distkv/api"
)

// Txn runs a transaction in the client's (strong) namespace: if every
// comparison holds, the success operations run, else the failure ones, all
// or nothing, whichever shards the keys are on. Build one with NewTxn.
//
// A conflict with another transaction that outlasts the request fails
// with ErrConflict (Error.Key and Error.Holder name the lock); a
// transaction whose commit may or may not have been recorded fails with
// Error.OutcomeUnknown and is not retried.
func (c *Client) Txn(ctx context.Context, req api.TxnRequest) (*api.TxnResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, &Error{Code: api.CodeInvalid, Message: err.Error()}
	}
	resp, err := c.do(ctx, &request{method: http.MethodPost, path: c.nsPrefix() + "/txn", body: body, write: true})
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, decodeError(resp.status, resp.header, resp.body, true)
	}
	var out api.TxnResponse
	if err := decodeJSON(resp, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// TxnBuilder assembles a transaction: comparisons with If*, then the
// success branch's operations, then (after Else) the failure branch's.
type TxnBuilder struct {
	req   api.TxnRequest
	else_ bool
}

// NewTxn starts a transaction.
func NewTxn() *TxnBuilder { return &TxnBuilder{} }

// IfVersion holds when key's version is version (0: the key is absent).
func (b *TxnBuilder) IfVersion(key string, version uint64) *TxnBuilder {
	return b.If(api.TxnCompare{Key: key, Target: "version", Op: "=", Version: version})
}

// IfValue holds when key's value is value.
func (b *TxnBuilder) IfValue(key, value string) *TxnBuilder {
	return b.If(api.TxnCompare{Key: key, Target: "value", Op: "=", Value: value})
}

// IfExists holds when key exists (exists true) or does not (false).
func (b *TxnBuilder) IfExists(key string, exists bool) *TxnBuilder {
	return b.If(api.TxnCompare{Key: key, Target: "exists", Op: "=", Exists: exists})
}

// If adds any comparison.
func (b *TxnBuilder) If(c api.TxnCompare) *TxnBuilder {
	b.req.Compare = append(b.req.Compare, c)
	return b
}

// Else switches to the failure branch.
func (b *TxnBuilder) Else() *TxnBuilder {
	b.else_ = true
	return b
}

// Put writes key in the current branch.
func (b *TxnBuilder) Put(key, value string) *TxnBuilder {
	return b.op(api.TxnOp{Op: "put", Key: key, Value: value})
}

// Delete deletes key in the current branch (a missing key is no error).
func (b *TxnBuilder) Delete(key string) *TxnBuilder { return b.op(api.TxnOp{Op: "delete", Key: key}) }

// Get reads key in the current branch.
func (b *TxnBuilder) Get(key string) *TxnBuilder { return b.op(api.TxnOp{Op: "get", Key: key}) }

func (b *TxnBuilder) op(o api.TxnOp) *TxnBuilder {
	if b.else_ {
		b.req.Failure = append(b.req.Failure, o)
	} else {
		b.req.Success = append(b.req.Success, o)
	}
	return b
}

// Request returns the transaction to pass to Client.Txn.
func (b *TxnBuilder) Request() api.TxnRequest { return b.req }
