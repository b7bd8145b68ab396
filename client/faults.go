package client

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/distkv/distkv/api"
)

// Fault injection. A fault lives in one node's transport; to act on the
// whole cluster, apply it to every node (the CLI does). These calls go to
// endpoint alone, with no failover. The node must run with
// --allow-fault-injection, or they fail with a 403 (code forbidden).

// AddFault installs a fault on endpoint and returns that node's faults.
func (c *Client) AddFault(ctx context.Context, endpoint string, f api.FaultRequest) (*api.FaultList, error) {
	body, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	return c.faultCall(ctx, endpoint, http.MethodPost, "/v1/admin/faults", body, http.StatusCreated)
}

// Faults lists endpoint's active faults.
func (c *Client) Faults(ctx context.Context, endpoint string) (*api.FaultList, error) {
	return c.faultCall(ctx, endpoint, http.MethodGet, "/v1/admin/faults", nil, http.StatusOK)
}

// HealFaults removes every fault on endpoint.
func (c *Client) HealFaults(ctx context.Context, endpoint string) (*api.FaultList, error) {
	return c.faultCall(ctx, endpoint, http.MethodDelete, "/v1/admin/faults", nil, http.StatusOK)
}

func (c *Client) faultCall(ctx context.Context, endpoint, method, path string, body []byte, want int) (*api.FaultList, error) {
	base, err := normalizeEndpoint(endpoint, c.scheme)
	if err != nil {
		return nil, err
	}
	// Fault changes are idempotent enough to retry like reads: installing
	// the same rule twice is harmless, and healing twice is a no-op.
	resp, err := c.do(ctx, &request{method: method, path: path, body: body, endpoint: base})
	if err != nil {
		return nil, err
	}
	if resp.status != want {
		return nil, decodeError(resp.status, resp.header, resp.body, false)
	}
	var fl api.FaultList
	if err := decodeJSON(resp, &fl); err != nil {
		return nil, err
	}
	return &fl, nil
}

// Plant puts a stale, divergent value of a leaderless key on one replica
// (fault injection), through endpoint alone.
func (c *Client) Plant(ctx context.Context, endpoint string, p api.PlantRequest) error {
	base, err := normalizeEndpoint(endpoint, c.scheme)
	if err != nil {
		return err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, &request{method: http.MethodPost, path: "/v1/admin/plant", body: body, endpoint: base, write: true})
	if err != nil {
		return err
	}
	if resp.status != http.StatusOK {
		return decodeError(resp.status, resp.header, resp.body, false)
	}
	return nil
}

// Repair runs one anti-entropy round of endpoint's leaderless replicas.
func (c *Client) Repair(ctx context.Context, endpoint string) (*api.RepairResult, error) {
	base, err := normalizeEndpoint(endpoint, c.scheme)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &request{method: http.MethodPost, path: "/v1/admin/repair", endpoint: base})
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, decodeError(resp.status, resp.header, resp.body, false)
	}
	var rr api.RepairResult
	return &rr, decodeJSON(resp, &rr)
}
