package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/distkv/distkv/api"
)

// TestMalformedRequestsGetDocumentedErrors sends bad input to a real node:
// each gets its documented status and a JSON error naming the problem, and
// nothing is written.
func TestMalformedRequestsGetDocumentedErrors(t *testing.T) {
	c := startCluster(t, 3, "--allow-fault-injection=false")
	base := "http://" + c.addr(1)
	cases := []struct {
		name, method, path string
		body               []byte
		status             int
		code               string
	}{
		{"bad namespace JSON", "PUT", "/v1/ns/x", []byte(`{"shards":`), 400, api.CodeInvalid},
		{"unknown namespace field", "PUT", "/v1/ns/x", []byte(`{"shard":4}`), 400, api.CodeInvalid},
		{"bad namespace name", "PUT", "/v1/ns/NO!", []byte(`{}`), 400, api.CodeInvalid},
		{"oversized key", "PUT", "/v1/kv/" + strings.Repeat("k", 5000), []byte("v"), 413, api.CodeTooLarge},
		{"oversized value", "PUT", "/v1/kv/big", make([]byte, 1<<20+10), 413, api.CodeTooLarge},
		{"oversized namespace body", "PUT", "/v1/ns/y", bytes.Repeat([]byte(" "), 70<<10), 413, api.CodeTooLarge},
		{"unknown namespace", "GET", "/v1/ns/ghost/kv/a", nil, 404, api.CodeNamespaceNotFound},
		{"bad version", "PUT", "/v1/kv/a?version=-1", []byte("v"), 400, api.CodeInvalid},
		{"bad condition", "PUT", "/v1/kv/a?if=sometimes", []byte("v"), 400, api.CodeInvalid},
		{"bad consistency", "GET", "/v1/kv/a?consistency=strongish", nil, 400, api.CodeInvalid},
		{"bad limit", "GET", "/v1/kv?limit=lots", nil, 400, api.CodeInvalid},
		{"empty key", "PUT", "/v1/kv/", []byte("v"), 400, api.CodeInvalid},
		{"unknown route", "GET", "/v2/kv/a", nil, 404, api.CodeNotFound},
		{"wrong method", "PATCH", "/v1/kv/a", nil, 405, api.CodeMethodNotAllowed},
		{"faults disabled", "POST", "/v1/admin/faults", []byte(`{"kind":"drop","prob":0.5}`), 403, api.CodeForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, bytes.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var e api.ErrorBody
			if resp.StatusCode != tc.status || json.Unmarshal(b, &e) != nil || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Fatalf("%s %s: %d %s; want %d %s", tc.method, tc.path[:min(len(tc.path), 40)], resp.StatusCode, b, tc.status, tc.code)
			}
		})
	}
	// Nothing above was written.
	if out := c.mustCLI("scan", "", "--json"); strings.TrimSpace(out) != "" {
		t.Fatalf("malformed requests left keys behind: %q", out)
	}
}
