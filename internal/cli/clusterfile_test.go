package cli

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestClusterFileConcurrentUpdates increments a counter from many
// goroutines, each with its own lock file description, as separate distkv
// processes would: no update may be lost.
func TestClusterFileConcurrentUpdates(t *testing.T) {
	dir := t.TempDir()
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- updateClusterFile(dir, func(f *clusterFile) error {
				if len(f.Nodes) == 0 {
					f.Nodes = []nodeRecord{{ID: "n1"}}
				}
				f.Nodes[0].PID++ // read-modify-write under the lock
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	f, err := readClusterFile(dir)
	if err != nil || f.Nodes[0].PID != n {
		t.Fatalf("counter = %+v, %v; want %d", f, err, n)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// TestClusterFileFailedUpdate leaves the file as it was.
func TestClusterFileFailedUpdate(t *testing.T) {
	dir := t.TempDir()
	if err := updateClusterFile(dir, func(f *clusterFile) error {
		f.Nodes = []nodeRecord{{ID: "n1", procIdentity: procIdentity{PID: 7}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, clusterFileName))
	err := updateClusterFile(dir, func(f *clusterFile) error {
		f.Nodes[0].PID = 8
		return os.ErrInvalid
	})
	after, _ := os.ReadFile(filepath.Join(dir, clusterFileName))
	if err == nil || string(before) != string(after) {
		t.Errorf("failed update: %v; file changed from %s to %s", err, before, after)
	}
}

func TestClusterFileLockTimeout(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDir(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := lockDir(dir, 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "held by another distkv command") {
		t.Errorf("second lock: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("waited %v for a 100ms lock timeout", d)
	}
	unlock()
	unlock2, err := lockDir(dir, 100*time.Millisecond)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

func TestReadClusterFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := readClusterFile(dir); err == nil || !strings.Contains(err.Error(), "distkv up --data-dir") {
		t.Errorf("missing file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, clusterFileName), []byte("{not json"), 0o644)
	if _, err := readClusterFile(dir); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("corrupt file: %v", err)
	}
}
