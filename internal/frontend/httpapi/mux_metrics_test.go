package httpapi

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMuxUpgradeNotInLatency: the upgrade request is counted, but its
// duration (the connection's lifetime) stays out of the latency histogram.
func TestMuxUpgradeNotInLatency(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	m.observe(muxRoute, "GET", 101, time.Hour)
	m.observe("GET /v1/kv/{key...}", "GET", 200, time.Millisecond)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string][]string{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "route" {
					routes[f.GetName()] = append(routes[f.GetName()], l.GetValue())
				}
			}
		}
	}
	if got := routes["distkv_http_requests_total"]; len(got) != 2 {
		t.Errorf("request counter routes %v, want the upgrade and the key route", got)
	}
	if got := routes["distkv_http_request_duration_seconds"]; len(got) != 1 || got[0] != "GET /v1/kv/{key...}" {
		t.Errorf("latency routes %v, want the key route only", got)
	}
}
