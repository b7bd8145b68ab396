package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/clustertest"
	"github.com/distkv/distkv/internal/kv"
)

// TestHashesOverHTTP: a key holding a hash (written by the Redis front
// end's kv calls) reads as 409 wrong_type, lists never show the keys that
// store it, PUT replaces it and DELETE deletes it, as Redis's SET and
// DEL do; keys in the reserved internal form are refused.
func TestHashesOverHTTP(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Shards: 4})
	base := c.HTTP(c.IDs()[0]).URL
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := c.Node(c.IDs()[1]).KV()
	for _, f := range []string{"a", "b"} {
		if _, err := s.HashPut(ctx, "", []byte("rec"), []byte(f), []byte("v"), kv.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, do(t, "PUT", base+"/v1/kv/plain", []byte("p")), 201, "")
	expect(t, do(t, "GET", base+"/v1/kv/rec", nil), 409, api.CodeWrongType)
	r := do(t, "GET", base+"/v1/kv?values=true", nil)
	expect(t, r, 200, "")
	if !strings.Contains(string(r.body), `"plain"`) || strings.Contains(string(r.body), "rec") {
		t.Fatalf("list = %s; want plain only (a hash is not a string)", r.body)
	}
	expect(t, do(t, "PUT", base+"/v1/kv/%FF%00hrec", []byte("x")), 400, api.CodeInvalid)
	expect(t, do(t, "PUT", base+"/v1/kv/rec?if=absent", []byte("x")), 409, api.CodeExists)
	expect(t, do(t, "DELETE", base+"/v1/kv/rec", nil), 200, "")
	if res, err := s.HashScan(ctx, "", []byte("rec"), kv.ScanOptions{}); err != nil || len(res.Fields) != 0 {
		t.Fatalf("fields after DELETE: %+v, %v", res, err)
	}
	if _, err := s.HashPut(ctx, "", []byte("rec"), []byte("a"), []byte("v"), kv.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(t, do(t, "PUT", base+"/v1/kv/rec", []byte("now a string")), 200, "")
	r = do(t, "GET", base+"/v1/kv/rec", nil)
	expect(t, r, 200, "")
	if string(r.body) != "now a string" {
		t.Fatalf("GET after PUT over a hash = %q", r.body)
	}
}
