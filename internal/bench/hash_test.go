package bench

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// hashDriver is an in-memory store of records: hashes of fields.
type hashDriver struct {
	mapDriver
	mu      sync.Mutex
	records map[string]map[string][]byte
	hsets   int
}

func (d *hashDriver) Session(int) Session { return d }

func (d *hashDriver) HSetRecord(_ context.Context, key []byte, fields [][]byte, value []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := map[string][]byte{}
	for _, f := range fields {
		r[string(f)] = value
	}
	d.records[string(key)] = r
	return nil
}

func (d *hashDriver) HSet(_ context.Context, key, field, value []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hsets++
	if d.records[string(key)] == nil {
		d.records[string(key)] = map[string][]byte{}
	}
	d.records[string(key)][string(field)] = value
	return nil
}

func (d *hashDriver) HGetAll(_ context.Context, key []byte) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.records[string(key)]) > 0, nil
}

// TestHashWorkloads: hload writes every record whole, hset one field of
// an existing record per operation, hgetall reads records; none touches
// strings.
func TestHashWorkloads(t *testing.T) {
	d := &hashDriver{mapDriver: *newMapDriver(), records: map[string]map[string][]byte{}}
	run := func(w string, ops int64) *Result {
		t.Helper()
		res, err := Run(context.Background(), mustValidate(t, Options{Target: TargetRedis, Workload: w, Keys: 50, Clients: 3, Ops: ops, Seed: 4}), d, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := run("hload", 0); res.Ops != 50 || len(d.records) != 50 {
		t.Fatalf("hload: %d ops, %d records", res.Ops, len(d.records))
	}
	for k, r := range d.records {
		if len(r) != RecordFields || k[0] != 'r' {
			t.Fatalf("record %s has %d fields after hload, want %d (and a key starting with r)", k, len(r), RecordFields)
		}
	}
	if res := run("hset", 300); res.Ops != 300 || d.hsets != 300 || len(d.records) != 50 {
		t.Fatalf("hset: %d ops, %d HSETs, %d records", res.Ops, d.hsets, len(d.records))
	}
	for k, r := range d.records {
		if len(r) != RecordFields {
			t.Fatalf("record %s has %d fields after hset, want %d (hset updates a field of a record)", k, len(r), RecordFields)
		}
	}
	if res := run("hgetall", 200); res.Ops != 200 || res.Misses != 0 || res.Latency["read"].Count != 200 {
		t.Fatalf("hgetall: %d ops, %d misses, latency %+v", res.Ops, res.Misses, res.Latency)
	}
	if len(d.m) != 0 {
		t.Fatalf("hash workloads wrote %d strings", len(d.m))
	}
}

func TestHashWorkloadsNeedRedis(t *testing.T) {
	for _, target := range []string{TargetDistkv, TargetEtcd} {
		o := Options{Target: target, Workload: "hset", Endpoints: []string{"127.0.0.1:1"}, Ops: 1}
		if _, err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--target redis") {
			t.Errorf("hset with target %s: %v", target, err)
		}
	}
	// A driver without hashes is refused before anything runs.
	o := mustValidate(t, Options{Target: TargetRedis, Workload: "hgetall", Ops: 1})
	if _, err := Run(context.Background(), o, newMapDriver(), nil); err == nil {
		t.Error("hgetall ran on a driver without hashes")
	}
}

// TestCompareCellWorkloads: the hash workloads run in the cells that have
// them only, and their records are loaded first.
func TestCompareCellWorkloads(t *testing.T) {
	all := []string{"w", "c", "hset", "hgetall"}
	for _, c := range cellDefs {
		got := c.workloads(all)
		if want := map[bool]int{true: 4, false: 2}[c.Hashes]; len(got) != want {
			t.Errorf("cell %s runs %v", c.Name, got)
		}
	}
	if r, h := needsLoad([]string{"w", "hset"}); r || !h {
		t.Errorf("needsLoad(w, hset) = %v, %v", r, h)
	}
	if r, h := needsLoad([]string{"c"}); !r || h {
		t.Errorf("needsLoad(c) = %v, %v", r, h)
	}
}
