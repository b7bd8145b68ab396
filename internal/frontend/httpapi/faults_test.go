package httpapi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/kv"
)

func TestFaultEndpointsDisabledByDefault(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 1})
	base := c.HTTP(c.IDs()[0]).URL
	r := do(t, "POST", base+"/v1/admin/faults", []byte(`{"kind":"freeze","nodes":["n2"]}`))
	expect(t, r, 403, api.CodeForbidden)
	expect(t, do(t, "DELETE", base+"/v1/admin/faults", nil), 403, api.CodeForbidden)
}

func TestFreezeMovesLeadershipAndHealRestores(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 2, AllowFaultInjection: true})
	base := c.HTTP(c.IDs()[0]).URL
	expect(t, do(t, "POST", base+"/v1/admin/faults", []byte(`{"kind":"explode"}`)), 400, api.CodeInvalid)
	expect(t, do(t, "POST", base+"/v1/admin/faults", []byte(`{"kind":"freeze","nodes":["n9"]}`)), 400, api.CodeInvalid)
	expect(t, do(t, "POST", base+"/v1/admin/faults", []byte(`{"kind":"drop","prob":1.5}`)), 400, api.CodeInvalid)
	expect(t, do(t, "POST", base+"/v1/admin/faults", []byte(`{"kind":"delay","delay":"soon"}`)), 400, api.CodeInvalid)

	r := do(t, "POST", base+"/v1/admin/faults", []byte(`{"kind":"freeze","nodes":["n2"]}`))
	expect(t, r, 201, "")
	var fl api.FaultList
	_ = json.Unmarshal(r.body, &fl)
	if len(fl.Faults) != 1 || fl.Faults[0].Kind != "freeze" {
		t.Fatalf("faults after freeze: %s", r.body)
	}
	// n2 leads nothing once the others notice it is gone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var cl api.Cluster
		_ = json.Unmarshal(do(t, "GET", base+"/v1/cluster", nil).body, &cl)
		ledByN2 := 0
		for _, s := range cl.Shards {
			if s.Leader == "n2" || s.Leader == "" {
				ledByN2++
			}
		}
		if ledByN2 == 0 && cl.Coordinator != "n2" && len(cl.Faults) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shards still led by frozen n2: %+v", cl.Shards)
		}
		time.Sleep(50 * time.Millisecond)
	}
	expect(t, do(t, "PUT", base+"/v1/kv/while-frozen", []byte("x")), 201, "")
	expect(t, do(t, "DELETE", base+"/v1/admin/faults", nil), 200, "")
	c.WaitConverged(10 * time.Second)
	e, err := c.Node(c.IDs()[1]).KV().Get(t.Context(), "", []byte("while-frozen"), kvStale)
	if err != nil || string(e.Value) != "x" {
		t.Fatalf("thawed n2 did not catch up: %q %v", e.Value, err)
	}
}

var kvStale = kv.ReadOptions{Consistency: kv.Stale}
