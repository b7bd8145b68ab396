package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestAddedNode: n4 copies n1's flags, with its own ID, data directory and
// ports continuing the numbering, and --join instead of --peers.
func TestAddedNode(t *testing.T) {
	o := upOptions{nodes: 3, basePort: 7700, shards: 8, faults: true, inMemory: true}
	plan := planCluster(o, "/data", "/old/distkv", serverFlags{"allow-fault-injection": true, "redis-addr": true, "ftp-addr": true, "shards": true})
	f := &clusterFile{Nodes: plan}
	tmpl, err := templateNode(f)
	if err != nil || tmpl.ID != "n1" {
		t.Fatalf("templateNode = %v, %v", tmpl, err)
	}
	n4, err := addedNode(*tmpl, 4, "/data", "/new/dk", []string{"127.0.0.1:7701", "127.0.0.1:7703"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/new/dk", "server", "--id", "n4", "--client-addr", "127.0.0.1:7704",
		"--peer-addr", "127.0.0.1:7804", "--data-dir", "/data/n4", "--in-memory",
		"--shards", "8", "--allow-fault-injection=true", "--redis-addr", "127.0.0.1:7904", "--ftp-addr", "127.0.0.1:8004",
		"--join", "127.0.0.1:7701,127.0.0.1:7703"}
	if !reflect.DeepEqual(n4.Args, want) {
		t.Errorf("n4's args\n got %q\nwant %q", n4.Args, want)
	}
	if n4.ClientAddr != "127.0.0.1:7704" || n4.PeerAddr != "127.0.0.1:7804" || n4.Log != "/data/n4/node.log" || !n4.Added {
		t.Errorf("n4 = %+v", n4)
	}
	if got := listenAddrs(n4); !reflect.DeepEqual(got, []string{"127.0.0.1:7704", "127.0.0.1:7804", "127.0.0.1:7904", "127.0.0.1:8004"}) {
		t.Errorf("listenAddrs(n4) = %q", got)
	}
	// Modelled on an added node (n4) and given inline values, n6 still
	// gets its own ports and a single --join.
	n4.Args = append(n4.Args[:2], "--id=n4", "--client-addr=127.0.0.1:7704", "--peer-addr", "127.0.0.1:7804", "--data-dir=/data/n4", "--join=x:1")
	n6, err := addedNode(n4, 6, "/data", "/new/dk", []string{"127.0.0.1:7701"})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"/new/dk", "server", "--id", "n6", "--client-addr", "127.0.0.1:7706", "--peer-addr", "127.0.0.1:7806",
		"--data-dir", "/data/n6", "--join", "127.0.0.1:7701"}
	if !reflect.DeepEqual(n6.Args, want) {
		t.Errorf("n6's args\n got %q\nwant %q", n6.Args, want)
	}
	if _, err := addedNode(*tmpl, 70000, "/data", "dk", nil); err == nil || !strings.Contains(err.Error(), "outside 1..65535") {
		t.Errorf("a port past 65535: %v", err)
	}
}

func TestNextNodeNumber(t *testing.T) {
	dir := t.TempDir()
	f := &clusterFile{Nodes: []nodeRecord{{ID: "n1"}, {ID: "n3"}, {ID: "x7"}}}
	if k := nextNodeNumber(f, dir); k != 4 {
		t.Errorf("next = %d, want 4", k)
	}
	// The directory of an earlier n5 (its data, its log) is never reused.
	os.Mkdir(filepath.Join(dir, "n5"), 0o755)
	os.WriteFile(filepath.Join(dir, "n9"), nil, 0o644) // a file, not a node
	if k := nextNodeNumber(f, dir); k != 6 {
		t.Errorf("next = %d, want 6", k)
	}
	for id, want := range map[string]bool{"n1": true, "n12": true, "n0": false, "n01": false, "n": false, "m2": false, "n-1": false} {
		if _, ok := nodeNumber(id); ok != want {
			t.Errorf("nodeNumber(%q) ok = %v", id, ok)
		}
	}
}

// TestAddedNodesOutliveUp: a new up over a cluster.json with an added n4
// keeps n4's record, stopped, unless it plans an n4 of its own.
func TestAddedNodesOutliveUp(t *testing.T) {
	plan := planCluster(upOptions{nodes: 3, basePort: 7700, shards: 16}, "/data", "/bin/distkv", serverFlags{})
	n4 := nodeRecord{ID: "n4", procIdentity: procIdentity{PID: 42, StartTime: 7}, Added: true, Args: []string{"dk", "server"}}
	f := &clusterFile{Nodes: append(slices.Clone(plan), n4)}
	got := addedNodes(f, plan)
	if len(got) != 1 || got[0].ID != "n4" || got[0].procIdentity != (procIdentity{}) || !got[0].Added {
		t.Errorf("addedNodes = %+v, want n4 stopped", got)
	}
	bigger := planCluster(upOptions{nodes: 4, basePort: 7700, shards: 16}, "/data", "/bin/distkv", serverFlags{})
	if got := addedNodes(f, bigger); len(got) != 0 {
		t.Errorf("addedNodes with n4 planned = %+v", got)
	}
}
