package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/distkv/distkv/api"
)

// Membership: changing the cluster's shape. Each call returns once the
// change is recorded in the shard map; replicas then move in the
// background (watch them with Moves). A change the cluster's state
// contradicts fails with an *Error of code api.CodeConflict, a name it does
// not know with api.CodeUnknown, an impossible request with
// api.CodeInvalid. None of these calls is retried once it may have reached
// a node.

// AddMember asks the cluster to admit a node. A node started with
// `distkv server --join` does this itself; AddMember is for tools that
// register a node before starting it.
func (c *Client) AddMember(ctx context.Context, m api.MemberRequest) (*api.MemberChange, error) {
	if m.ID == "" || m.PeerAddr == "" {
		return nil, &Error{Code: api.CodeInvalid, Message: "a member needs an ID and a peer address"}
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var ch api.MemberChange
	if err := c.change(ctx, http.MethodPost, "/v1/admin/members", body, &ch); err != nil {
		return nil, err
	}
	return &ch, nil
}

// RemoveMember drains node id (its replicas and leaderships move away) and
// then removes it from the cluster.
func (c *Client) RemoveMember(ctx context.Context, id string) (*api.MemberChange, error) {
	if id == "" {
		return nil, &Error{Code: api.CodeInvalid, Message: "empty member ID"}
	}
	var ch api.MemberChange
	if err := c.change(ctx, http.MethodDelete, "/v1/admin/members/"+url.PathEscape(id), nil, &ch); err != nil {
		return nil, err
	}
	return &ch, nil
}

// UpdateNamespace changes a namespace's replication factor, shard count
// or (for a pinned namespace) pinning online.
func (c *Client) UpdateNamespace(ctx context.Context, name string, u api.NamespaceUpdate) (*api.NamespaceChange, error) {
	if name == "" {
		return nil, &Error{Code: api.CodeInvalid, Message: "empty namespace name"}
	}
	if u.Replicas == "" && u.Shards == 0 && u.Pinned == "" {
		return nil, &Error{Code: api.CodeInvalid, Message: "nothing to change: give replicas, shards or pinned"}
	}
	body, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	var ch api.NamespaceChange
	if err := c.change(ctx, http.MethodPatch, "/v1/ns/"+url.PathEscape(name), body, &ch); err != nil {
		return nil, err
	}
	return &ch, nil
}

// Moves lists the replica moves and reshards under way.
func (c *Client) Moves(ctx context.Context) (*api.MoveList, error) {
	var ml api.MoveList
	if err := c.getJSON(ctx, "/v1/admin/moves", nil, &ml); err != nil {
		return nil, err
	}
	return &ml, nil
}

// change sends a membership change and decodes its 202 answer.
func (c *Client) change(ctx context.Context, method, path string, body []byte, out any) error {
	resp, err := c.do(ctx, &request{method: method, path: path, body: body, write: true})
	if err != nil {
		return err
	}
	if resp.status != http.StatusAccepted {
		return decodeError(resp.status, resp.header, resp.body, true)
	}
	return decodeJSON(resp, out)
}

// epochOf reads a response's shard map epoch (0 if absent).
func epochOf(h http.Header) uint64 {
	e, _ := strconv.ParseUint(h.Get(api.HeaderEpoch), 10, 64)
	return e
}
